"""Checks of incoming frames and the window-group key shared by features and regimes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import polars as pl

from trader_env.contracts import BARS_SCHEMA

#: Column holding the window-group id (one id per symbol, or per symbol and session).
WINDOW_GROUP = "_window_group"

#: Polars engine for plans full of ``.over`` window expressions: polars 2.1's default
#: (``auto``) ran them ~1.5x slower than the in-memory engine on 4M bars (measured).
WINDOW_ENGINE: Final = "in-memory"


def require_columns(frame: pl.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise ``ValueError`` naming ``what`` and every missing column."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; present: {frame.columns}")


def require_bars(bars: pl.DataFrame, what: str = "bars") -> None:
    """Check the bars contract that feature computation relies on.

    Raises ``ValueError`` naming the offending column or row: schema of
    :data:`~trader_env.contracts.BARS_SCHEMA`, no nulls, sorted by (symbol, ts) with unique
    keys, prices finite and > 0, volume finite and >= 0. Extra columns are ignored.
    """
    require_columns(bars, BARS_SCHEMA, what)
    wrong = {
        name: str(bars.schema[name])
        for name, dtype in BARS_SCHEMA.items()
        if bars.schema[name] != dtype
    }
    if wrong:
        expected = {name: str(BARS_SCHEMA[name]) for name in wrong}
        raise ValueError(f"{what}: wrong dtypes {wrong}, expected {expected}")
    if bars.height == 0:
        raise ValueError(f"{what}: no rows")
    symbol, ts = pl.col("symbol"), pl.col("ts")
    prices_ok = pl.all_horizontal(
        [pl.col(c).is_finite() & (pl.col(c) > 0) for c in ("open", "high", "low", "close")]
    )
    problems = {
        "null value": pl.any_horizontal([pl.col(c).is_null() for c in BARS_SCHEMA]),
        "not sorted by (symbol, ts) or duplicate (symbol, ts)": (symbol < symbol.shift())
        | ((symbol == symbol.shift()) & (ts <= ts.shift())),
        "price not finite or <= 0": ~prices_ok,
        "volume not finite or < 0": ~(pl.col("volume").is_finite() & (pl.col("volume") >= 0)),
    }
    found = bars.select(
        [expr.fill_null(False).any().alias(f"any {name}") for name, expr in problems.items()]
        + [expr.fill_null(False).arg_max().alias(f"row {name}") for name, expr in problems.items()]
    ).row(0, named=True)
    for name in problems:
        if found[f"any {name}"]:
            row = found[f"row {name}"]
            values = bars.row(row, named=True)
            raise ValueError(
                f"{what}: row {row} (symbol={values['symbol']!r}, ts={values['ts']}): {name}; "
                f"row values {values}"
            )


def session_start_expr() -> pl.Expr:
    """True on the first bar of each (symbol, session) of a (symbol, ts)-sorted frame with a
    ``session`` column."""
    return group_start_expr(per_session=True)


def group_start_expr(per_session: bool) -> pl.Expr:
    """True on the first bar of each window group of a (symbol, ts)-sorted frame with a
    ``session`` column: each symbol's first bar and, if ``per_session``, each session's."""
    change = pl.col("symbol") != pl.col("symbol").shift()
    if per_session:
        change = change | (pl.col("session") != pl.col("session").shift())
    return change.fill_null(True)


def window_group_expr(start: str) -> pl.Expr:
    """Sorted integer id of the window group, from the boolean group-start column ``start``.

    A sorted integer key makes ``.over(WINDOW_GROUP)`` about 2x faster on 4M bars than
    ``.over(["symbol", "session"])``, with identical groups.
    """
    return pl.col(start).cum_sum().set_sorted().alias(WINDOW_GROUP)


def position_in_group_expr(start: str) -> pl.Expr:
    """0-based position of each row inside its window group, from the group-start column.

    Shifts and differences are exact, so taking them on the whole column and nulling the first
    ``k`` positions of every group gives exactly the per-group result without a window pass.
    """
    index = pl.int_range(pl.len(), dtype=pl.Int64)
    return index - pl.when(pl.col(start)).then(index).forward_fill()
