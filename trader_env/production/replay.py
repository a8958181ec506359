"""A replay of live operation: stored bars handed to the drop folder one session at a time.

The history before the replayed sessions goes into ``history.parquet``; each replayed session
then arrives as its own ``<session>.parquet`` (all symbols), as a data vendor's nightly export
would. Files are written under a hidden temporary name and renamed when complete, so the
``new_market_files`` sensor (which ignores hidden files) never sees a partial file. The files
hold the columns the ``files`` source reads: ``symbol``, ``timestamp`` (UTC), OHLCV.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from trader_env.atomic import atomic_path
from trader_env.sessions import session_date_expr

HISTORY_FILE = "history.parquet"


def with_sessions(bars: pl.DataFrame, timezone: str) -> pl.DataFrame:
    """``bars`` with their ``session`` date in ``timezone``."""
    return bars.with_columns(session_date_expr(timezone))


def replay_sessions(bars: pl.DataFrame, timezone: str, months: float) -> list[date]:
    """The sessions of the last ``months`` months of ``bars`` (30.44-day months), sorted."""
    sessions = with_sessions(bars, timezone)["session"].unique().sort()
    last = sessions[-1]
    cutoff = date.fromordinal(last.toordinal() - round(months * 30.44))
    return [session for session in sessions.to_list() if session > cutoff]


def _write(frame: pl.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        frame.select(
            "symbol", pl.col("ts").alias("timestamp"), "open", "high", "low", "close", "volume"
        ).write_parquet(tmp)
    return path


def write_history(bars: pl.DataFrame, folder: Path, before: date, timezone: str) -> Path:
    """Write every bar of the sessions before ``before`` to ``folder/history.parquet``."""
    rows = with_sessions(bars, timezone).filter(pl.col("session") < before)
    if rows.height == 0:
        raise ValueError(f"no bars before {before}: nothing to start the replay from")
    return _write(rows, folder / HISTORY_FILE)


def write_session(bars: pl.DataFrame, folder: Path, session: date, timezone: str) -> Path:
    """Write the bars of ``session`` (every symbol) to ``folder/<session>.parquet``."""
    rows = with_sessions(bars, timezone).filter(pl.col("session") == session)
    if rows.height == 0:
        raise ValueError(f"no bars in session {session}")
    return _write(rows, folder / f"{session.isoformat()}.parquet")
