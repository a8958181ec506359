"""Turning file columns into typed columns, refusing the first value that cannot be read.

Every function takes a table that carries a ``source_line`` column (1-based line in ``file``)
and raises :class:`DataValidationError` naming file, line, column and the offending value.
Offending rows are located with vectorised polars expressions.
"""

from __future__ import annotations

import re
from typing import Any

import polars as pl

from trader_env.data.errors import DataValidationError

LINE = "source_line"

#: ISO 8601 layouts accepted when no ``timestamp_format`` is configured, after the date/time
#: separator ``T`` is replaced by a space and a trailing ``Z`` by ``+00:00``. ``%.f`` makes the
#: fraction optional. Day-first / month-first layouts are deliberately absent: they are
#: ambiguous (01/02/2020), so they need an explicit format.
_ISO_WITH_OFFSET = ("%Y-%m-%d %H:%M:%S%.f%z", "%Y-%m-%d %H:%M%z")
_ISO_NAIVE = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%d")
_UTC = pl.Datetime("us", "UTC")


def first_row(table: pl.DataFrame, mask: pl.Series) -> dict[str, Any] | None:
    """The first row of ``table`` where ``mask`` is true (nulls count as false), or None."""
    positions = mask.fill_null(False).arg_true()
    return None if positions.is_empty() else table.row(positions[0], named=True)


def parse_numbers(table: pl.DataFrame, column: str, file: str) -> pl.Series:
    """``table[column]`` as Float64. Empty cells become null; anything else non-numeric is refused.

    ``nan`` / ``inf`` parse as floats on purpose: validation refuses them with a clearer reason.
    """
    values = table[column]
    if values.dtype.is_numeric():
        return values.cast(pl.Float64)
    if values.dtype != pl.String:
        raise DataValidationError(
            f"expected numbers, the column holds {values.dtype}", file, 1, column
        )
    text = values.str.strip_chars()
    numbers = text.cast(pl.Float64, strict=False)
    bad = first_row(table, numbers.is_null() & text.is_not_null() & (text != ""))
    if bad is not None:
        raise DataValidationError(f"not a number (got {bad[column]!r})", file, bad[LINE], column)
    return numbers


def parse_symbols(table: pl.DataFrame, column: str, file: str) -> pl.Series:
    """``table[column]`` as stripped text; a missing symbol is refused."""
    symbols = table[column].cast(pl.String).str.strip_chars()
    bad = first_row(table, symbols.is_null() | (symbols == ""))
    if bad is not None:
        raise DataValidationError("missing symbol", file, bad[LINE], column)
    return symbols


def _localize(naive: pl.Series, timezone: str) -> pl.Series:
    """Naive wall-clock times in ``timezone`` -> UTC; DST gaps and overlaps become null."""
    return (
        naive.cast(pl.Datetime("us"))
        .dt.replace_time_zone(timezone, ambiguous="null", non_existent="null")
        .dt.convert_time_zone("UTC")
    )


def _to_utc(parsed: pl.Series, timezone: str) -> pl.Series:
    """A parsed datetime series to UTC: aware values are converted, naive ones localised."""
    if isinstance(parsed.dtype, pl.Datetime) and parsed.dtype.time_zone is None:
        return _localize(parsed, timezone)
    return parsed.dt.convert_time_zone("UTC").cast(_UTC)


#: An hour directive (24- or 12-hour clock) in a strftime format.
_HOUR_WITHOUT_MINUTE = re.compile(r"%[HIkl]")


def _parse_text(text: pl.Series, fmt: str | None, timezone: str) -> tuple[pl.Series, pl.Series]:
    """Parse stripped text -> (UTC timestamps, whether the text itself parsed)."""
    if fmt is not None:
        if _HOUR_WITHOUT_MINUTE.search(fmt) and "%M" not in fmt:
            # Hourly exports such as '2024-03-05 09-PM' ('%Y-%m-%d %I-%p'): the parser needs
            # minutes whenever it reads an hour, so read every value at minute 00.
            text, fmt = text + ":00", fmt + ":%M"
        parsed = text.str.to_datetime(fmt, strict=False, time_unit="us")
        return _to_utc(parsed, timezone), parsed.is_not_null()
    normalized = text.str.replace(r"^(\d{4}-\d{2}-\d{2})T", "$1 ").str.replace(r"Z$", "+00:00")
    with_offset = pl.select(
        pl.coalesce(
            [normalized.str.to_datetime(f, strict=False, time_unit="us") for f in _ISO_WITH_OFFSET]
        )
    ).to_series()
    naive = pl.select(
        pl.coalesce(
            [normalized.str.to_datetime(f, strict=False, time_unit="us") for f in _ISO_NAIVE]
        )
    ).to_series()
    utc = with_offset.cast(_UTC).fill_null(_localize(naive, timezone))
    return utc, with_offset.is_not_null() | naive.is_not_null()


def parse_timestamps(
    table: pl.DataFrame,
    column: str,
    file: str,
    *,
    timezone: str,
    fmt: str | None = None,
) -> pl.Series:
    """``table[column]`` as ``Datetime[us, UTC]``.

    Text is parsed with ``fmt`` (strftime) or, when None, as ISO 8601. Values without an offset,
    and naive datetime columns, are wall-clock times in ``timezone``. Dates become midnight.
    Refuses missing values, unparseable text and local times that do not exist or are ambiguous
    (daylight-saving changes), naming the first offending line.
    """
    values = table[column]
    dtype = values.dtype
    if dtype == pl.String:
        text = values.str.strip_chars()
        try:
            utc, text_parsed = _parse_text(text, fmt, timezone)
        except pl.exceptions.PolarsError as exc:
            reason = f"cannot use files.timestamp_format {fmt!r}: {exc}"
            raise DataValidationError(reason, file, 1, column) from None
    elif isinstance(dtype, pl.Datetime):
        text, utc = values.cast(pl.String), _to_utc(values, timezone)
        text_parsed = values.is_not_null()
    elif dtype == pl.Date:
        text, utc = values.cast(pl.String), _localize(values.cast(pl.Datetime("us")), timezone)
        text_parsed = values.is_not_null()
    else:
        raise DataValidationError(
            f"timestamps stored as {dtype} are not supported (expected text, date or datetime)",
            file,
            1,
            column,
        )
    bad = first_row(
        table.with_columns(text.alias("_text"), text_parsed.alias("_ok")), utc.is_null()
    )
    if bad is None:
        return utc.alias("ts")
    value = bad["_text"]
    if value is None or value == "":
        reason = "missing timestamp"
    elif bad["_ok"]:
        reason = (
            f"local time {value!r} does not exist or is ambiguous in {timezone} "
            "(daylight-saving change); store timestamps with an offset or in UTC"
        )
    elif fmt is not None:
        reason = f"timestamp {value!r} does not match files.timestamp_format {fmt!r}"
    else:
        reason = (
            f"cannot parse timestamp {value!r} (expected ISO 8601 such as "
            "'2020-01-02 09:30:00' or '2020-01-02T14:30:00Z'; set files.timestamp_format "
            "for other layouts)"
        )
    raise DataValidationError(reason, file, bad[LINE], column)
