"""The mirror image of a market: every price ``p`` of a symbol replaced by ``c**2 / p``.

``c`` is the symbol's first close, so the mirrored series starts where the real one does and
stays at a similar price level (per-share costs stay comparable). Every log return is negated
exactly, every bar's range keeps its size in log terms (the high becomes ``c**2 / low``), and
volumes are unchanged: volatility, volume and the time of day are the same, only the direction
is reversed. Training on a market and its mirror gives a policy no direction to prefer: what
it earns on one it loses on the other unless its position depends on the observation.
Used for training only (``training.mirror``); nothing is ever evaluated on a mirror.
"""

from __future__ import annotations

import polars as pl


def mirror_bars(bars: pl.DataFrame) -> pl.DataFrame:
    """``bars`` (the bars contract) with each symbol's prices reflected about its first close.

    Same rows, same schema, same order; ``open``, ``close`` map to ``c**2 / open``,
    ``c**2 / close``, and ``high``, ``low`` to ``c**2 / low``, ``c**2 / high`` (so high >= low
    still holds). Mirroring twice gives the bars back (up to floating-point rounding).
    """
    order = bars.columns
    anchor = pl.col("close").sort_by("ts").first().over("symbol")
    square = anchor * anchor
    return bars.with_columns(
        (square / pl.col("open")).alias("open"),
        (square / pl.col("low")).alias("high"),
        (square / pl.col("high")).alias("low"),
        (square / pl.col("close")).alias("close"),
    ).select(order)
