"""What validation did to the bars and what the bars look like, as plain, JSON-able facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from trader_env.scalars import as_float
from trader_env.sessions import clock_timezone, session_date_expr

#: Sessions with fewer bars than this share of their symbol's median count are "short".
SHORT_SESSION_SHARE = 0.9
#: Lists in :meth:`ValidationReport.to_metadata` are cut to this many entries.
MAX_LISTED = 20


@dataclass(frozen=True)
class Repair:
    """One kind of repair validation applied, with how many rows and a few examples.

    ``examples`` are plain dicts (file, line, symbol, ts, values before and after).
    """

    kind: str
    count: int
    description: str
    examples: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class SessionStats:
    """Session structure of validated bars (sessions = calendar days in the session timezone).

    ``half_day_sessions``: short sessions (fewer than 90 % of the symbol's median bars) that
    open at the symbol's usual first-bar time (early closes). ``late_open_sessions``: short
    sessions whose first bar comes later than usual (missing data at the open).
    ``intra_session_gaps``: consecutive bars of a session further apart than the symbol's
    usual bar interval (the most common spacing).
    """

    sessions: int
    bars_per_session: dict[str, float]
    bar_interval_seconds: dict[str, int]
    half_day_sessions: tuple[dict[str, Any], ...]
    late_open_sessions: tuple[dict[str, Any], ...]
    intra_session_gaps: int
    missing_bars_in_gaps: int
    gap_examples: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class ValidationReport:
    """Everything validation counted: rows, repairs, re-ordering and session structure."""

    source: str
    rows_in: int
    rows_out: int
    files: tuple[str, ...]
    rows_per_file: dict[str, int]
    repairs: tuple[Repair, ...]
    rows_reordered: int
    symbols: tuple[str, ...]
    rows_per_symbol: dict[str, int]
    first_ts: str
    last_ts: str
    session_timezone: str
    stats: SessionStats
    market: str = "us_equity"
    market_evidence: str = "data.yaml"
    detected_market: str = "us_equity"
    notes: tuple[str, ...] = field(default=())

    @property
    def repaired_rows(self) -> int:
        """Rows changed by any repair (a row repaired twice counts twice)."""
        return sum(repair.count for repair in self.repairs)

    def repair_count(self, kind: str) -> int:
        """Rows repaired by ``kind`` (0 when that repair was not needed)."""
        return sum(repair.count for repair in self.repairs if repair.kind == kind)

    def to_metadata(self) -> dict[str, Any]:
        """Plain JSON-able values (str, int, float, bool, lists, dicts) for asset metadata."""
        stats = self.stats
        return {
            "source": self.source,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "files": list(self.files[:MAX_LISTED]),
            "n_files": len(self.files),
            "rows_per_file": dict(list(self.rows_per_file.items())[:MAX_LISTED]),
            "repaired_rows": self.repaired_rows,
            "repairs": {
                repair.kind: {
                    "count": repair.count,
                    "description": repair.description,
                    "examples": list(repair.examples),
                }
                for repair in self.repairs
            },
            "rows_reordered": self.rows_reordered,
            "symbols": list(self.symbols),
            "rows_per_symbol": dict(self.rows_per_symbol),
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "market": self.market,
            "market_evidence": self.market_evidence,
            "detected_market": self.detected_market,
            "session_timezone": self.session_timezone,
            "sessions": stats.sessions,
            "bars_per_session": dict(stats.bars_per_session),
            "bar_interval_seconds": dict(stats.bar_interval_seconds),
            "n_half_day_sessions": len(stats.half_day_sessions),
            "half_day_sessions": list(stats.half_day_sessions[:MAX_LISTED]),
            "n_late_open_sessions": len(stats.late_open_sessions),
            "late_open_sessions": list(stats.late_open_sessions[:MAX_LISTED]),
            "intra_session_gaps": stats.intra_session_gaps,
            "missing_bars_in_gaps": stats.missing_bars_in_gaps,
            "gap_examples": list(stats.gap_examples),
            "notes": list(self.notes),
        }


def _session_rows(frame: pl.DataFrame, timezone: str) -> tuple[dict[str, Any], ...]:
    local = [
        pl.col(name).dt.convert_time_zone(clock_timezone(timezone)).dt.strftime("%H:%M")
        for name in ("first", "last")
    ]
    rows = frame.select(
        "symbol",
        pl.col("session").dt.to_string("%Y-%m-%d"),
        pl.col("bars").cast(pl.Int64),
        local[0].alias("first_bar"),
        local[1].alias("last_bar"),
    )
    return tuple(rows.iter_rows(named=True))


def session_statistics(bars: pl.DataFrame, clock: str, n_examples: int = 5) -> SessionStats:
    """Session structure of sorted, validated ``bars`` (see :class:`SessionStats`); sessions
    follow the session clock ``clock`` (:mod:`trader_env.sessions`)."""
    timezone = clock_timezone(clock)
    with_session = bars.select("symbol", "ts", session_date_expr(clock)).with_columns(
        pl.col("ts").diff().over("symbol", "session").alias("step")
    )
    per_session = with_session.group_by("symbol", "session", maintain_order=True).agg(
        pl.len().alias("bars"), pl.col("ts").min().alias("first"), pl.col("ts").max().alias("last")
    )
    per_symbol = (
        per_session.group_by("symbol", maintain_order=True)
        .agg(
            pl.col("bars").median().alias("median_bars"),
            pl.col("first")
            .dt.convert_time_zone(timezone)
            .dt.time()
            .mode()
            .sort()
            .first()
            .alias("usual_open"),
        )
        .join(
            with_session.drop_nulls("step")
            .group_by("symbol")
            .agg(pl.col("step").mode().sort().first().alias("interval")),
            on="symbol",
            how="left",
        )
    )
    sessions = per_session.join(per_symbol, on="symbol")
    short = sessions.filter(pl.col("bars") < SHORT_SESSION_SHARE * pl.col("median_bars"))
    opens_as_usual = pl.col("first").dt.convert_time_zone(timezone).dt.time() == pl.col(
        "usual_open"
    )
    gaps = with_session.join(per_symbol.select("symbol", "interval"), on="symbol").filter(
        pl.col("step") > pl.col("interval")
    )
    missing = gaps.select((pl.col("step") / pl.col("interval") - 1).round().sum()).item()
    gap_examples = gaps.head(n_examples).select(
        "symbol",
        pl.col("session").dt.to_string("%Y-%m-%d"),
        (pl.col("ts") - pl.col("step"))
        .dt.convert_time_zone(timezone)
        .dt.strftime("%H:%M")
        .alias("from"),
        pl.col("ts").dt.convert_time_zone(timezone).dt.strftime("%H:%M").alias("to"),
        (pl.col("step") / pl.col("interval") - 1).round().cast(pl.Int64).alias("missing_bars"),
    )
    counts = per_session["bars"]
    intervals = per_symbol.drop_nulls("interval")
    return SessionStats(
        sessions=per_session.height,
        bars_per_session={
            "min": as_float(counts.min(), "fewest bars in a session"),
            "median": as_float(counts.median(), "median bars per session"),
            "max": as_float(counts.max(), "most bars in a session"),
        },
        bar_interval_seconds={
            symbol: int(interval.total_seconds())
            for symbol, interval in zip(intervals["symbol"], intervals["interval"], strict=True)
        },
        half_day_sessions=_session_rows(short.filter(opens_as_usual), timezone),
        late_open_sessions=_session_rows(short.filter(~opens_as_usual), timezone),
        intra_session_gaps=gaps.height,
        missing_bars_in_gaps=int(missing or 0),
        gap_examples=tuple(gap_examples.iter_rows(named=True)),
    )
