"""Arrays of chosen sessions, normalised like training, with the bars an observation needs.

The environment's first decision is at bar ``window - 1``: to trade a session from its first
bar, the arrays must start ``window - 1`` bars earlier (the end of the previous session). With
``flatten_at_session_end`` (every phase from 1 on) the decision taken at that previous
session's last bar is forced flat, so the warm-up bars earn nothing and cost nothing.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from trader_env.contracts import MarketArrays
from trader_env.dataset import Dataset
from trader_env.features import to_market_arrays


def stored_sessions(market: Dataset) -> list[date]:
    """Every session date with features, sorted (what the stored ``features`` cover)."""
    return market.features["session"].unique().sort().to_list()


def forward_sessions(market: Dataset, after: date) -> list[date]:
    """Stored sessions strictly after ``after``, sorted."""
    return [session for session in stored_sessions(market) if session > after]


def arrays_for_sessions(
    market: Dataset,
    first: date,
    last: date,
    warmup_bars: int,
    symbols: list[str] | None = None,
) -> list[MarketArrays]:
    """One :class:`MarketArrays` per symbol with bars in sessions ``first..last`` (inclusive),
    preceded by exactly ``warmup_bars`` bars of earlier sessions.

    Features are normalised with the statistics of the training split (``market.splits``),
    as in training: nothing after a bar informs it. ``symbols`` restricts the symbols. Raises
    ``ValueError`` naming the symbol when fewer than ``warmup_bars`` bars precede ``first``.
    """
    sessions = stored_sessions(market)
    earlier = [session for session in sessions if session < first]
    # Every session has at least one bar: warmup_bars sessions back always cover the warm-up.
    back = min(warmup_bars, len(earlier))
    start = earlier[-back] if back > 0 else first
    bars = market.bars
    if symbols is not None:
        bars = bars.filter(pl.col("symbol").is_in(symbols))
    result = []
    for arrays in to_market_arrays(
        bars, market.features, market.regimes, market.splits, "test", between=(start, last)
    ):
        first_day = int((first - date(1970, 1, 1)).days)
        in_range = (arrays.session_id >= first_day).nonzero()[0]
        if len(in_range) == 0:
            continue  # the symbol has no bar in first..last
        begin = int(in_range[0]) - warmup_bars
        if begin < 0:
            raise ValueError(
                f"{arrays.symbol}: {int(in_range[0])} bar(s) before session {first}, the "
                f"observation window needs {warmup_bars}"
            )
        result.append(arrays.tail(begin))
    return result
