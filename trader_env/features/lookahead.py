"""Empirical no-look-ahead check: deleting future bars must not change any past value."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from trader_env.contracts import BAR_KEYS
from trader_env.features.frames import require_columns

_MISSING_ROW = "<row>"


class LookaheadMismatch(BaseModel):
    """First value of a cut that differs between the full and the truncated computation."""

    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(description="Symbol of the offending row.")
    ts: datetime = Field(description="Bar start (UTC) of the offending row.")
    column: str = Field(description=f"Offending column ({_MISSING_ROW!r}: row in one side only).")
    full_value: str = Field(description="Value computed on all bars (repr).")
    truncated_value: str = Field(description="Value computed on the truncated bars (repr).")


class LookaheadCut(BaseModel):
    """One symbol's cut in one trial."""

    model_config = ConfigDict(extra="forbid")

    trial: int = Field(description="Trial index (0..n_cuts-1).")
    symbol: str = Field(description="Symbol truncated.")
    cut_ts: datetime = Field(description="Last bar kept (UTC); later bars were deleted.")
    rows_compared: int = Field(description="Output rows at or before the cut compared.")
    mismatched_rows: int = Field(description="Rows with at least one differing value.")
    first_mismatch: LookaheadMismatch | None = Field(
        default=None, description="Earliest differing value, if any."
    )


class LookaheadResult(BaseModel):
    """Outcome of :func:`check_no_lookahead`."""

    model_config = ConfigDict(extra="forbid")

    passed: bool = Field(description="True when no value at or before any cut changed.")
    n_cuts: int = Field(description="Trials (each truncates every symbol at its own cut).")
    seed: int = Field(description="Seed of the cut positions.")
    rows_compared: int = Field(description="Rows compared over all trials and symbols.")
    mismatched_rows: int = Field(description="Rows that differed over all trials and symbols.")
    columns: list[str] = Field(description="Columns compared (besides symbol and ts).")
    cuts: list[LookaheadCut] = Field(description="Every cut with its own counts.")

    @property
    def first_mismatch(self) -> LookaheadMismatch | None:
        """The earliest mismatch of the first failing cut, if any."""
        return next((c.first_mismatch for c in self.cuts if c.first_mismatch), None)

    def summary(self) -> str:
        """One line for logs and asset-check descriptions."""
        head = (
            f"no look-ahead: {self.rows_compared} rows compared over {self.n_cuts} cuts "
            f"x {len({c.symbol for c in self.cuts})} symbols"
        )
        first = self.first_mismatch
        if first is None:
            return f"{head}: passed"
        return (
            f"{head}: FAILED, {self.mismatched_rows} rows differ; first: column {first.column!r} "
            f"at {first.symbol} {first.ts} (full {first.full_value}, truncated "
            f"{first.truncated_value})"
        )


def check_no_lookahead(
    bars: pl.DataFrame,
    compute: Callable[[pl.DataFrame], pl.DataFrame],
    n_cuts: int = 5,
    seed: int = 0,
) -> LookaheadResult:
    """Recompute ``compute`` on ``bars`` truncated at random cuts and compare with the full run.

    In each of ``n_cuts`` trials every symbol is cut after a bar drawn uniformly (seeded) from
    all but its last bar; ``compute`` runs on the truncated bars and every output row with
    ``ts <= cut`` must equal the full output exactly (NaN equals NaN, null equals null), and
    the two outputs must hold the same such rows. ``compute`` must return ``symbol`` and ``ts``
    columns; every other column shared by both outputs is compared. Anything derived from the
    whole data (e.g. the bars-per-session of annualisation) must be pinned inside ``compute``.
    """
    if n_cuts < 1:
        raise ValueError(f"check_no_lookahead: n_cuts must be >= 1, got {n_cuts}")
    require_columns(bars, BAR_KEYS, "check_no_lookahead bars")
    full = compute(bars)
    require_columns(full, BAR_KEYS, "check_no_lookahead: output of compute")
    rng = np.random.default_rng(seed)
    sizes = bars.group_by("symbol", maintain_order=True).agg(n=pl.len(), ts=pl.col("ts"))
    cuts: list[LookaheadCut] = []
    columns: list[str] = []
    for trial in range(n_cuts):
        cut_ts = [
            ts_list[int(rng.integers(0, max(n - 1, 1)))]
            for n, ts_list in zip(sizes["n"], sizes["ts"], strict=True)
        ]
        cut_frame = pl.DataFrame(
            {"symbol": sizes["symbol"], "_cut": pl.Series(cut_ts, dtype=bars.schema["ts"])}
        )
        truncated = _before_cut(bars, cut_frame)
        partial = compute(truncated)
        columns = [c for c in full.columns if c in partial.columns and c not in BAR_KEYS]
        cuts += _compare(_before_cut(full, cut_frame), partial, columns, cut_frame, trial)
    mismatched = sum(c.mismatched_rows for c in cuts)
    return LookaheadResult(
        passed=mismatched == 0,
        n_cuts=n_cuts,
        seed=seed,
        rows_compared=sum(c.rows_compared for c in cuts),
        mismatched_rows=mismatched,
        columns=columns,
        cuts=cuts,
    )


def _before_cut(frame: pl.DataFrame, cut_frame: pl.DataFrame) -> pl.DataFrame:
    return (
        frame.join(cut_frame, on="symbol", how="inner", maintain_order="left")
        .filter(pl.col("ts") <= pl.col("_cut"))
        .drop("_cut")
    )


def _compare(
    full: pl.DataFrame,
    partial: pl.DataFrame,
    columns: list[str],
    cut_frame: pl.DataFrame,
    trial: int,
) -> list[LookaheadCut]:
    """Per-symbol comparison of the rows at or before each cut."""
    left = full.select(*BAR_KEYS, *columns).with_columns(_in_full=pl.lit(True))
    right = partial.select(*BAR_KEYS, *columns).with_columns(_in_partial=pl.lit(True))
    joined = left.join(right, on=list(BAR_KEYS), how="full", coalesce=True, suffix="_partial")
    differs = {
        column: ~pl.col(column).eq_missing(pl.col(f"{column}_partial")) for column in columns
    }
    flagged = joined.with_columns(
        _row_missing=pl.col("_in_full").is_null() | pl.col("_in_partial").is_null(),
        **{f"_differs_{c}": expr for c, expr in differs.items()},
    ).with_columns(_bad=pl.any_horizontal("_row_missing", *[f"_differs_{c}" for c in columns]))
    results = []
    for symbol, cut in cut_frame.iter_rows():
        rows = flagged.filter(pl.col("symbol") == symbol).sort("ts")
        bad = rows.filter("_bad")
        first = None
        if bad.height:
            row = bad.row(0, named=True)
            if row["_row_missing"]:
                column = _MISSING_ROW
                full_value = "present" if row["_in_full"] else "absent"
                partial_value = "present" if row["_in_partial"] else "absent"
            else:
                column = next(c for c in columns if row[f"_differs_{c}"])
                full_value, partial_value = repr(row[column]), repr(row[f"{column}_partial"])
            first = LookaheadMismatch(
                symbol=symbol,
                ts=row["ts"],
                column=column,
                full_value=full_value,
                truncated_value=partial_value,
            )
        results.append(
            LookaheadCut(
                trial=trial,
                symbol=symbol,
                cut_ts=cut,
                rows_compared=rows.height,
                mismatched_rows=bad.height,
                first_mismatch=first,
            )
        )
    return results
