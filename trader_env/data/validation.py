"""The second stage of loading: raw bars -> bars that satisfy the data contract, plus a report.

Refused (the first offending row, by file and line): missing values, prices that are not finite
and > 0, volume that is not finite and >= 0, ``high < low``, the same timestamp twice for a
symbol. Repaired and counted: "bad prints", bars whose open or close lies outside
``[low, high]`` while ``high >= low`` (high and low are widened to include open and close).
Sorted and counted: rows out of (symbol, ts) order. Nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from trader_env.calendars import CALENDARS, MarketType, detect_market
from trader_env.contracts import BAR_KEYS, BARS_SCHEMA, PRICE_COLUMNS
from trader_env.data.errors import DataValidationError
from trader_env.data.parsing import parse_numbers
from trader_env.data.raw import RawBars, frame_to_raw
from trader_env.data.report import Repair, ValidationReport, session_statistics

#: Name used in messages for rows of a DataFrame passed in directly.
FRAME_LABEL = "<in-memory frame>"
BAD_PRINT = "bad_print"
N_EXAMPLES = 5

_UTC = pl.Datetime("us", "UTC")
Reason = Callable[[dict[str, Any]], str]


def _coerce(raw: RawBars) -> pl.DataFrame:
    """``raw.frame`` with canonical dtypes; refuses missing columns and unusable types."""
    frame = raw.frame
    label = raw.files[0] if raw.files else FRAME_LABEL
    for column in BARS_SCHEMA:
        if column not in frame.columns:
            raise DataValidationError("missing required column", label, 1, column)
    if frame.height == 0:
        raise DataValidationError("no bars to validate", label)
    ts_type = frame.schema["ts"]
    if not isinstance(ts_type, pl.Datetime) or ts_type.time_zone is None:
        raise DataValidationError(
            f"ts must be a timezone-aware datetime column (got {ts_type}); localise naive "
            "times with .dt.replace_time_zone(...)",
            label,
            1,
            "ts",
        )
    numbers = [
        parse_numbers(frame, column, label).alias(column)
        for column in BARS_SCHEMA
        if column not in BAR_KEYS
    ]
    return frame.with_columns(
        pl.col("symbol").cast(pl.String),
        pl.col("ts").dt.convert_time_zone("UTC").cast(_UTC),
        *numbers,
    )


def _price_reason(column: str) -> Reason:
    """The reason given for a row whose ``column`` price is not finite and > 0."""
    return lambda row: f"price must be finite and > 0 (got {row[column]!r})"


def _checks() -> list[tuple[str, pl.Expr, Reason]]:
    """(canonical column, expression true on an offending row, reason) in priority order."""
    checks: list[tuple[str, pl.Expr, Reason]] = [
        (column, pl.col(column).is_null(), lambda row: "missing value") for column in BARS_SCHEMA
    ]
    for column in PRICE_COLUMNS:
        checks.append(
            (
                column,
                ~(pl.col(column).is_finite() & (pl.col(column) > 0)),
                _price_reason(column),
            )
        )
    checks.append(
        (
            "volume",
            ~(pl.col("volume").is_finite() & (pl.col("volume") >= 0)),
            lambda row: f"volume must be finite and >= 0 (got {row['volume']!r})",
        )
    )
    checks.append(
        (
            "high",
            pl.col("high") < pl.col("low"),
            lambda row: f"high < low (high={row['high']!r}, low={row['low']!r})",
        )
    )
    return checks


def _refuse_first_problem(frame: pl.DataFrame, raw: RawBars) -> None:
    """Raise for the earliest offending row (ties: the first check in priority order)."""
    checks = _checks()
    duplicate = ~pl.struct(*BAR_KEYS).is_first_distinct()
    first = frame.select(
        *[expr.arg_true().first().alias(f"check_{i}") for i, (_, expr, _) in enumerate(checks)],
        duplicate.arg_true().first().alias("duplicate"),
    ).row(0, named=True)
    found = [(pos, i) for i, pos in enumerate(first.values()) if pos is not None]
    if not found:
        return
    position, index = min(found)
    row = frame.row(position, named=True)
    file, line = row["source_file"], row["source_line"]
    if index < len(checks):
        column, _, reason = checks[index]
        raise DataValidationError(reason(row), file, line, raw.column_name(file, column))
    original = (
        frame.filter((pl.col("symbol") == row["symbol"]) & (pl.col("ts") == row["ts"]))
        .head(1)
        .row(0, named=True)
    )
    raise DataValidationError(
        f"duplicate timestamp {row['ts'].isoformat()} for symbol {row['symbol']!r} "
        f"(first at {original['source_file']}, line {original['source_line']})",
        file,
        line,
        raw.column_name(file, "ts"),
    )


def _repair_bad_prints(frame: pl.DataFrame) -> tuple[pl.DataFrame, Repair]:
    """Widen high/low to include open and close where they do not; count and show examples."""
    bad = (pl.max_horizontal("open", "close") > pl.col("high")) | (
        pl.min_horizontal("open", "close") < pl.col("low")
    )
    repaired_high = pl.max_horizontal("high", "open", "close")
    repaired_low = pl.min_horizontal("low", "open", "close")
    offenders = frame.filter(bad)
    examples = offenders.head(N_EXAMPLES).select(
        pl.col("source_file").alias("file"),
        pl.col("source_line").alias("line"),
        "symbol",
        pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%S%:z").alias("ts"),
        *PRICE_COLUMNS,
        repaired_high.alias("repaired_high"),
        repaired_low.alias("repaired_low"),
    )
    repair = Repair(
        kind=BAD_PRINT,
        count=offenders.height,
        description=(
            "open or close outside [low, high] while high >= low: high and low widened to "
            "include open and close"
        ),
        examples=tuple(examples.iter_rows(named=True)),
    )
    if offenders.height == 0:
        return frame, repair
    return frame.with_columns(repaired_high.alias("high"), repaired_low.alias("low")), repair


def validate_bars(
    raw: RawBars | pl.DataFrame,
    session_timezone: str | None = None,
    market: MarketType | None = None,
) -> tuple[pl.DataFrame, ValidationReport]:
    """Check, repair and sort raw bars into exactly :data:`trader_env.contracts.BARS_SCHEMA`.

    ``raw`` is what :func:`read_raw_bars` returned, or a bars DataFrame (messages then name
    ``<in-memory frame>`` and line = row index + 2). The report names the market type
    (``market``, or detected from the bars when None) and its sessions follow the session
    clock ``session_timezone`` (None: the market calendar's). Raises
    :class:`DataValidationError` for the first refused row.
    """
    if isinstance(raw, pl.DataFrame):
        raw = frame_to_raw(raw, source="frame", label=FRAME_LABEL)
    frame = _coerce(raw)
    _refuse_first_problem(frame, raw)
    frame, bad_prints = _repair_bad_prints(frame)
    ordered = frame.with_row_index("_position").sort(BAR_KEYS)
    reordered = ordered.select((pl.col("_position") != pl.int_range(pl.len())).sum()).item()
    bars = ordered.select(list(BARS_SCHEMA)).cast(BARS_SCHEMA)
    per_symbol = bars.group_by("symbol", maintain_order=True).len()
    ts_range = bars.select(pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last"))
    detection = detect_market(bars)
    if market is None:
        market, evidence = detection.market, f"detected: {detection.evidence()}"
    elif detection.market != market:
        evidence = f"data.yaml (the bars look like {detection.market}: {detection.evidence()})"
    else:
        evidence = "data.yaml (agrees with the bars)"
    clock = session_timezone or CALENDARS[market].session_clock
    report = ValidationReport(
        source=raw.source,
        rows_in=raw.frame.height,
        rows_out=bars.height,
        files=raw.files,
        rows_per_file=dict(raw.rows_per_file),
        repairs=(bad_prints,),
        rows_reordered=int(reordered),
        symbols=tuple(per_symbol["symbol"]),
        rows_per_symbol=dict(zip(per_symbol["symbol"], per_symbol["len"], strict=True)),
        first_ts=ts_range["first"][0].isoformat(),
        last_ts=ts_range["last"][0].isoformat(),
        session_timezone=clock,
        market=market,
        market_evidence=evidence,
        detected_market=detection.market,
        stats=session_statistics(bars, clock),
        notes=raw.notes,
    )
    return bars, report
