"""The budget-held oracle: the best intraday policy that knows the true drift and is held to
the phase's costs and daily turnover budget.

The synthetic market's own oracle (:func:`trader_env.workflow.oracle.oracle_daily_returns`)
follows the drift sign and trades ~18x its capital a day, far beyond the 3x that phase 2's gate
accepts, so "a fraction of it" measured the agent against a policy it is not allowed to be.
This oracle is the optimum of the same problem the agent faces: per session and symbol, the
path of positions ``p_t`` in ``{-1, 0, 1}`` x ``size`` (the env's fixed sizing, a fraction of
equity), decided at each bar's close and held over the next bar, that maximises the expected
P&L net of costs,

    sum_t  size * p_t * mu_t  -  cost * size * |p_t - p_{t-1}|,

starting flat, flat on the session's last bar (the env flattens at the close), with the day's
traded notional ``size * sum_t |p_t - p_{t-1}|`` (the closing trade included) at most
``budget`` x capital. ``mu_t`` is the true expected return of bar ``t + 1`` given the hidden
state at bar ``t``'s close (:attr:`SyntheticMarket.oracle` ``expected_next``), ``cost`` the cost
per side as a fraction of notional. Dynamic programming over (position, turnover units used)
solves it exactly: with ``K = floor(budget / size)`` units of ``size`` notional a day, a change
of position uses ``|p_t - p_{t-1}|`` units (a flip uses two), so the state space is ``3 x
(K + 1)`` per bar. The budget is held on every session (stricter than the gate, which bounds the
mean over sessions), so the policy is feasible for the gate whatever the session mix.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl

from trader_env.dataset import Dataset
from trader_env.features.splits import PartName
from trader_env.phase_config import PhaseConfig
from trader_env.scalars import as_float
from trader_env.workflow.oracle import oracle_daily_returns

#: Positions of the DP states, in units of ``size``.
POSITIONS = np.array([-1.0, 0.0, 1.0])
_FLAT = 1


def turnover_budget(config: PhaseConfig) -> float | None:
    """The phase gate's upper bound on daily turnover (x capital), or None when it has none."""
    bounds = [
        criterion.threshold
        for criterion in config.gate
        if criterion.metric == "daily_turnover" and criterion.op in ("<=", "<")
    ]
    return min(bounds) if bounds else None


def budget_units(budget: float | None, size: float) -> int | None:
    """Whole changes of one ``size`` position that fit in ``budget`` x capital (None: no limit)."""
    if budget is None or math.isinf(budget):
        return None
    if budget < 0 or not size > 0:
        raise ValueError(f"budget must be >= 0 and size > 0, got budget={budget}, size={size}")
    # The tolerance keeps a budget that is an exact multiple of size from rounding down.
    return int(math.floor(budget / size + 1e-9))


def optimal_session_positions(
    expected: np.ndarray, cost: float, units: int | None, size: float = 1.0
) -> np.ndarray:
    """Optimal positions of sessions of equal length, exact by dynamic programming.

    ``expected``: shape ``(n_sessions, n_bars)``, the expected return of the bar after each bar
    (fraction). ``cost``: cost per side, fraction of notional (>= 0). ``units``: turnover budget
    in changes of one ``size`` position per session (None: unlimited). Returns positions of
    shape ``(n_sessions, n_bars)`` in ``{-size, 0, size}``, flat on each last bar. Ties go to
    the lower position index (short, flat, long) of the earliest decision, deterministically.
    """
    expected = np.asarray(expected, dtype=np.float64)
    if expected.ndim != 2 or expected.shape[1] == 0:
        raise ValueError(
            f"expected must have shape (n_sessions, n_bars >= 1), got {expected.shape}"
        )
    if not np.isfinite(expected).all():
        raise ValueError("expected returns must be finite")
    if cost < 0:
        raise ValueError(f"cost must be >= 0, got {cost}")
    n_sessions, n_bars = expected.shape
    n_units = 1 if units is None else units + 1
    value = np.full((n_sessions, 3, n_units), -np.inf)
    value[:, _FLAT, 0] = 0.0
    # choice[t, s, j, k]: the previous position index of the best path to (j, k) at bar t.
    choice = np.zeros((n_bars, n_sessions, 3, n_units), dtype=np.int8)
    for t in range(n_bars):
        allowed = [_FLAT] if t == n_bars - 1 else [0, 1, 2]
        new = np.full_like(value, -np.inf)
        for j in allowed:
            gain = size * POSITIONS[j] * expected[:, t]
            candidates = np.full((3, n_sessions, n_units), -np.inf)
            for i in range(3):
                change = int(abs(POSITIONS[j] - POSITIONS[i]))
                shift = 0 if units is None else change
                if shift >= n_units:
                    continue
                candidates[i, :, shift:] = value[:, i, : n_units - shift] - cost * size * change
            best = np.argmax(candidates, axis=0)
            choice[t, :, j, :] = best
            new[:, j, :] = np.take_along_axis(candidates, best[None], axis=0)[0] + gain[:, None]
        value = new
    positions = np.zeros((n_sessions, n_bars))
    rows = np.arange(n_sessions)
    state = np.full(n_sessions, _FLAT)
    used = np.argmax(value[:, _FLAT, :], axis=1)
    for t in range(n_bars - 1, -1, -1):
        positions[:, t] = size * POSITIONS[state]
        previous = choice[t, rows, state, used]
        if units is not None:
            used = used - np.abs(POSITIONS[state] - POSITIONS[previous]).astype(int)
        state = previous
    return positions


def budget_held_oracle(
    oracle: pl.DataFrame,
    session_timezone: str,
    cost_bps: float,
    budget: float | None,
    size: float = 1.0,
) -> pl.DataFrame:
    """The budget-held oracle's positions and gross P&L, row for row with ``oracle``.

    ``oracle``: :attr:`trader_env.data.SyntheticMarket.oracle` (``symbol``, ``ts``,
    ``expected_next``, ``next_return``). ``cost_bps``: cost per side, bps of notional.
    ``budget``: daily turnover limit, x capital (None: unlimited). ``size``: the env's fixed
    position fraction of equity. Returns ``symbol``, ``ts``, ``position`` (fraction of equity)
    and ``pnl`` (``position * next_return``), sorted by (symbol, ts), in the shape
    :func:`~trader_env.workflow.oracle.oracle_daily_returns` reads.
    """
    units = budget_units(budget, size)
    session = pl.col("ts").dt.convert_time_zone(session_timezone).dt.date().alias("session")
    frame = oracle.sort("symbol", "ts").with_columns(session).with_row_index("row")
    positions = np.zeros(frame.height)
    lengths = frame.group_by("symbol", "session").agg(pl.col("row"), n=pl.len())
    for _, group in lengths.group_by("n"):
        rows = np.stack(group["row"].to_list())
        expected = frame["expected_next"].to_numpy()[rows]
        positions[rows] = optimal_session_positions(expected, cost_bps * 1e-4, units, size)
    return frame.select("symbol", "ts").with_columns(
        position=pl.Series(positions),
        pnl=pl.Series(positions) * frame["next_return"],
    )


def budget_held_daily_returns(
    oracle: pl.DataFrame,
    market: Dataset,
    cost_bps: float,
    budget: float | None,
    size: float = 1.0,
    part: PartName = "test",
) -> pd.Series:
    """Daily returns over ``part`` of :func:`budget_held_oracle`, equally weighted by symbol,
    after ``cost_bps`` per side (see :func:`~trader_env.workflow.oracle.oracle_daily_returns`)."""
    held = budget_held_oracle(oracle, market.splits.session_timezone, cost_bps, budget, size)
    return oracle_daily_returns(held, market, cost_bps, part)


def mean_daily_turnover(positions: pl.DataFrame, session_timezone: str) -> float:
    """Mean over symbol-sessions of the traded notional / capital of a positions frame
    (``symbol``, ``ts``, ``position`` as a fraction of equity; each session starts flat)."""
    session = pl.col("ts").dt.convert_time_zone(session_timezone).dt.date()
    daily = (
        positions.sort("symbol", "ts")
        .with_columns(session=session, position=pl.col("position").cast(pl.Float64))
        .with_columns(
            change=(pl.col("position") - pl.col("position").shift(1, fill_value=0.0))
            .abs()
            .over("symbol", "session")
        )
        .group_by("symbol", "session")
        .agg(pl.col("change").sum())
    )
    return as_float(daily["change"].mean(), "mean daily change")
