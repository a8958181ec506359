"""Bar frequency and session length, derived from the data for annualisation."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from trader_env.features.frames import require_columns, session_start_expr
from trader_env.scalars import as_float


@dataclass(frozen=True)
class BarFrequency:
    """Sampling of a bar series.

    ``bar_seconds``: median spacing of consecutive bars inside a session (seconds).
    ``bars_per_session``: median over (symbol, session) of the session's span in bars,
    ``(last ts - first ts) / bar_seconds + 1``; unlike a bar count it is not lowered by
    missing bars inside a session.
    """

    bar_seconds: float
    bars_per_session: float

    def bars_per_year(self, sessions_per_year: float) -> float:
        """Bars in a year of ``sessions_per_year`` regular sessions."""
        return self.bars_per_session * sessions_per_year


def infer_bar_frequency(frame: pl.DataFrame) -> BarFrequency:
    """Derive :class:`BarFrequency` from a (symbol, ts)-sorted frame with a ``session`` column.

    Medians make it robust to half days and short gaps. With one bar per session (daily
    bars) the spacing is taken across sessions and ``bars_per_session`` is 1.
    """
    require_columns(frame, ("symbol", "ts", "session"), "infer_bar_frequency")
    if frame.height == 0:
        raise ValueError("infer_bar_frequency: empty frame")
    step_us = pl.col("ts").diff().dt.total_microseconds()
    same_symbol = pl.col("symbol") == pl.col("symbol").shift()
    spacing = frame.select(
        within=step_us.filter(~session_start_expr()).median(),
        across=step_us.filter(same_symbol.fill_null(False)).median(),
    ).row(0, named=True)
    if spacing["within"] is None:
        if spacing["across"] is None:
            raise ValueError("infer_bar_frequency: every symbol has a single bar")
        return BarFrequency(bar_seconds=spacing["across"] / 1e6, bars_per_session=1.0)
    bar_us = float(spacing["within"])
    if bar_us <= 0:
        raise ValueError("infer_bar_frequency: timestamps are not increasing within sessions")
    spans = (
        frame.select("ts", _group=session_start_expr().cum_sum())
        .group_by("_group")
        .agg(span=(pl.col("ts").max() - pl.col("ts").min()).dt.total_microseconds())
    )
    median_span = as_float(spans["span"].median(), "median session span")
    return BarFrequency(bar_seconds=bar_us / 1e6, bars_per_session=median_span / bar_us + 1.0)
