"""The ``files`` source: CSV and Parquet files in a folder, read into :class:`RawBars`.

Folder rules: files are read in name order, not recursively. ``*.csv`` is read as
comma-separated UTF-8 text with a header line; ``*.parquet`` / ``*.pq`` as Parquet (any case).
Hidden files (``.*``), ``README*`` and sub-folders are ignored (sub-folders are noted); any
other file is refused, because silently skipping a file someone dropped there loses data.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from trader_env.data.columns import resolve_columns
from trader_env.data.config import DataConfig
from trader_env.data.errors import DataValidationError, display_path
from trader_env.data.parsing import LINE, parse_numbers, parse_symbols, parse_timestamps
from trader_env.data.raw import RAW_SCHEMA, RawBars

CSV_SUFFIXES: tuple[str, ...] = (".csv",)
PARQUET_SUFFIXES: tuple[str, ...] = (".parquet", ".pq")
NUMERIC_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
_SNIFF_BYTES = 65_536


def _is_ignored(path: Path) -> bool:
    return path.name.startswith(".") or path.name.upper().startswith("README")


def list_data_files(path: Path) -> tuple[list[Path], list[str]]:
    """The data files under ``path`` (a folder or one file) and notes about skipped entries."""
    if not path.exists():
        raise DataValidationError("folder or file not found", display_path(path))
    if path.is_file():
        return [path], []
    files: list[Path] = []
    notes: list[str] = []
    for entry in sorted(path.iterdir()):
        if _is_ignored(entry):
            continue
        if entry.is_dir():
            notes.append(f"sub-folder {display_path(entry)} ignored (folders are not recursed)")
        elif entry.suffix.lower() in CSV_SUFFIXES + PARQUET_SUFFIXES:
            files.append(entry)
        else:
            raise DataValidationError(
                f"unsupported file type {entry.suffix or '(no extension)'!r}: the files source "
                "reads .csv, .parquet and .pq files (hidden files, README* and sub-folders are "
                f"ignored); move this file out of {display_path(path)}",
                display_path(entry),
            )
    if not files:
        raise DataValidationError(
            "no .csv, .parquet or .pq files in the folder", display_path(path)
        )
    return files, notes


def _first_ragged_line(path: Path, n_fields: int) -> int | None:
    """1-based line of the first row with more comma-separated fields than the header."""
    lines = pl.read_csv(
        path,
        has_header=False,
        separator="\x1f",
        quote_char=None,
        infer_schema=False,
        new_columns=["text"],
    )
    too_long = (lines["text"].str.count_matches(",", literal=True) + 1 > n_fields).arg_true()
    return None if too_long.is_empty() else int(too_long[0]) + 1


def read_csv_table(path: Path, file: str) -> tuple[pl.DataFrame, int]:
    """All columns of a CSV file as text plus ``source_line``, and the number of blank rows dropped.

    Refuses empty, binary and non-UTF-8 files, ragged rows and a header without data rows.
    """
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if not head.strip():
        raise DataValidationError("file is empty", file)
    if head.startswith(b"PAR1"):
        raise DataValidationError("this is a Parquet file named like a CSV; rename it", file)
    if b"\x00" in head:
        raise DataValidationError("binary content: not a CSV text file", file)
    try:
        # All text: numbers and timestamps are parsed afterwards so that a bad value can be
        # reported with its line instead of failing schema inference somewhere in the file.
        table = pl.read_csv(path, infer_schema=False)
    except pl.exceptions.NoDataError:
        raise DataValidationError("file is empty", file) from None
    except pl.exceptions.PolarsError as exc:
        message = str(exc).splitlines()[0]
        if "utf-8" in message.lower():
            raise DataValidationError("not UTF-8 text: cannot be read as CSV", file) from None
        if "more fields" in message:
            n_fields = len(pl.read_csv(path, infer_schema=False, n_rows=0).columns)
            line = _first_ragged_line(path, n_fields)
            raise DataValidationError(
                f"more fields than the {n_fields} columns of the header", file, line
            ) from None
        raise DataValidationError(f"cannot be read as CSV: {message}", file) from None
    table = table.with_columns(pl.int_range(2, pl.len() + 2, dtype=pl.Int64).alias(LINE))
    blank = pl.all_horizontal(pl.exclude(LINE).is_null())
    n_rows = table.height
    table = table.filter(~blank)
    if table.height == 0:
        raise DataValidationError("header but no data rows", file, 1)
    return table, n_rows - table.height


def read_parquet_table(path: Path, file: str) -> pl.DataFrame:
    """A Parquet file plus ``source_line`` (data row ``i`` = line ``i + 2``, as in a CSV)."""
    if path.stat().st_size == 0:
        raise DataValidationError("file is empty", file)
    try:
        table = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataValidationError(f"not a readable Parquet file ({message})", file) from None
    if table.height == 0:
        raise DataValidationError("no data rows", file, 1)
    return table.with_columns(pl.int_range(2, pl.len() + 2, dtype=pl.Int64).alias(LINE))


def to_raw_frame(
    table: pl.DataFrame,
    mapping: dict[str, str],
    file: str,
    *,
    symbol: str | None,
    timezone: str,
    timestamp_format: str | None,
) -> pl.DataFrame:
    """Typed bars in :data:`RAW_SCHEMA` from a table and its column ``mapping``.

    ``symbol`` is used for every row when given, else ``mapping["symbol"]`` must exist.
    """
    ts = parse_timestamps(table, mapping["ts"], file, timezone=timezone, fmt=timestamp_format)
    numbers = {field: parse_numbers(table, mapping[field], file) for field in NUMERIC_FIELDS}
    symbols = (
        pl.Series("symbol", [symbol], dtype=pl.String).new_from_index(0, table.height)
        if symbol is not None
        else parse_symbols(table, mapping["symbol"], file)
    )
    frame = pl.DataFrame(
        {
            "symbol": symbols,
            "ts": ts,
            **numbers,
            "source_file": pl.Series([file], dtype=pl.String).new_from_index(0, table.height),
            "source_line": table[LINE],
        }
    )
    return frame.cast(RAW_SCHEMA)


def read_files_source(config: DataConfig) -> RawBars:
    """Read every data file of ``config.files`` into :class:`RawBars` (rows as read)."""
    settings = config.files
    paths, notes = list_data_files(settings.path)
    # From (field, column) pairs: a dict keyed by the Literal field names is not a dict[str, ...].
    explicit: dict[str, str | None] = dict(
        settings.column_map.items(), ts=settings.timestamp_column
    )
    frames: list[pl.DataFrame] = []
    rows_per_file: dict[str, int] = {}
    columns: dict[str, dict[str, str]] = {}
    for path in paths:
        file = display_path(path)
        if path.suffix.lower() in PARQUET_SUFFIXES:
            table, blank_rows = read_parquet_table(path, file), 0
        else:
            table, blank_rows = read_csv_table(path, file)
        names = [name for name in table.columns if name != LINE]
        mapping = resolve_columns(names, file, explicit)
        if settings.symbol is not None:
            mapping.pop("symbol", None)
        fixed_symbol = settings.symbol or (None if "symbol" in mapping else path.stem.upper())
        frame = to_raw_frame(
            table,
            mapping,
            file,
            symbol=fixed_symbol,
            timezone=settings.timezone,
            timestamp_format=settings.timestamp_format,
        )
        if blank_rows:
            notes.append(f"{file}: {blank_rows} blank line(s) skipped")
        if fixed_symbol is not None and settings.symbol is None:
            notes.append(f"{file}: no symbol column, symbol {fixed_symbol!r} taken from file name")
        frames.append(frame)
        rows_per_file[file] = frame.height
        columns[file] = mapping
    return RawBars(
        source="files",
        frame=pl.concat(frames, how="vertical"),
        files=tuple(rows_per_file),
        rows_per_file=rows_per_file,
        notes=tuple(notes),
        columns=columns,
    )
