"""Per-symbol data prepared once for the step loop: validated, precomputed, plain Python.

The step reads prices, costs and session flags from Python lists (a list index returns a
Python float, much cheaper in arithmetic than a numpy scalar) and slices observations from one
precomputed float32 matrix.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from trader_env.contracts import REGIMES, MarketArrays
from trader_env.env.config import EnvConfig
from trader_env.env.costs import Commission, cost_rates
from trader_env.env.volatility_target import realised_volatility, size_caps

logger = logging.getLogger(__name__)

#: Names of the risk features appended to every observation row, in column order.
RISK_FEATURES: tuple[str, ...] = (
    "exposure",
    "unrealised_pnl_over_capital",
    "session_drawdown",
    "turnover_today_over_capital",
    "session_time_left",
)


@dataclass(frozen=True, eq=False)
class StepData:
    """One symbol's split ready for stepping; bar ``i`` is row ``i`` of every field."""

    symbol: str
    n: int
    open: list[float]
    close: list[float]
    ts: list[int]  # epoch microseconds UTC
    regime: list[int]
    session_first: list[bool]  # bar starts a session
    session_last: list[bool]  # bar ends a session (or the data)
    time_left: np.ndarray  # float32 (n,), 1 at a session's first bar, 0 at its last
    cost_rate: list[float]  # cost per unit notional of an order decided at the bar
    commission: Commission  # per-share commission of the symbol's cost model
    features: np.ndarray  # float32 (n, n_market_columns), clipped
    size_cap: list[float] | None  # volatility-target cap on the position fraction, or None


def observation_feature_names(arrays: MarketArrays, config: EnvConfig) -> tuple[str, ...]:
    """Column names of an observation row for ``arrays`` under ``config``."""
    names = tuple(arrays.feature_names)
    if config.include_regime:
        names += tuple(f"regime_{name}" for name in REGIMES)
    if config.include_risk_features:
        names += RISK_FEATURES
    return names


def session_flags(session_id: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(first, last, time_left)`` per bar from a non-decreasing ``session_id`` ``(n,)``.

    ``time_left`` is the fraction of the session's bars still to come: ``(last index of the
    session - i) / (bars in session - 1)`` (0 for one-bar sessions). It comes from the bar
    count of each session in the data, i.e. the published exchange calendar.
    """
    n = session_id.shape[0]
    change = np.flatnonzero(np.diff(session_id) != 0) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change - 1, [n - 1]))
    first = np.zeros(n, dtype=bool)
    last = np.zeros(n, dtype=bool)
    first[starts] = True
    last[ends] = True
    lengths = ends - starts + 1
    end_of_bar = np.repeat(ends, lengths)
    span = np.repeat(np.maximum(lengths - 1, 1), lengths)
    time_left = ((end_of_bar - np.arange(n)) / span).astype(np.float32)
    return first, last, time_left


def _check_prices(arrays: MarketArrays, name: str) -> None:
    values = getattr(arrays, name)
    bad = np.flatnonzero(~(np.isfinite(values) & (values > 0.0)))
    if bad.size:
        row = int(bad[0])
        raise ValueError(
            f"MarketArrays[{arrays.symbol}].{name}: {bad.size} prices are not finite and > 0; "
            f"first at row {row} (ts={int(arrays.ts[row])}): {float(values[row])!r}"
        )


def prepare_step_data(arrays: MarketArrays, config: EnvConfig) -> StepData:
    """Validate ``arrays`` and precompute everything the step needs.

    Raises ``ValueError`` naming the symbol and row for prices that are not finite and > 0,
    a decreasing ``session_id``, unknown regime codes, or fewer bars than ``window + 1``.
    Non-finite feature values become 0.0 with a logged warning giving their count.
    """
    n = len(arrays)
    symbol = arrays.symbol
    costs = config.costs_for(symbol)
    if n < config.window + 1:
        raise ValueError(
            f"MarketArrays[{symbol}] has {n} bars; the environment needs at least "
            f"window + 1 = {config.window + 1}"
        )
    _check_prices(arrays, "open")
    _check_prices(arrays, "close")
    decreasing = np.flatnonzero(np.diff(arrays.session_id) < 0)
    if decreasing.size:
        raise ValueError(
            f"MarketArrays[{symbol}].session_id decreases at row {int(decreasing[0]) + 1}"
        )
    features = arrays.features
    nonfinite = int(np.count_nonzero(~np.isfinite(features)))
    if nonfinite:
        logger.warning(
            "MarketArrays[%s]: %d non-finite feature values replaced by 0.0", symbol, nonfinite
        )
        features = np.where(np.isfinite(features), features, np.float32(0.0))
    columns = [features]
    if config.include_regime:
        codes = arrays.regime.astype(np.int64)
        unknown = np.flatnonzero((codes < 0) | (codes >= len(REGIMES)))
        if unknown.size:
            row = int(unknown[0])
            raise ValueError(
                f"MarketArrays[{symbol}].regime: code {codes[row]} at row {row} is not an "
                f"index into REGIMES ({len(REGIMES)} regimes)"
            )
        columns.append(np.eye(len(REGIMES), dtype=np.float32)[codes])
    clip = np.float32(config.obs_clip)
    matrix = np.clip(np.concatenate(columns, axis=1), -clip, clip).astype(np.float32)
    first, last, time_left = session_flags(arrays.session_id)
    sizing = config.position_sizing
    size_cap = None
    if sizing.volatility_target:
        volatility = realised_volatility(
            arrays.open,
            arrays.close,
            first,
            sizing.volatility_window,
            config.annualisation([arrays]),
        )
        size_cap = size_caps(volatility, config.volatility_penalty.target_sigma).tolist()
    return StepData(
        symbol=symbol,
        n=n,
        open=arrays.open.tolist(),
        close=arrays.close.tolist(),
        ts=arrays.ts.tolist(),
        regime=arrays.regime.astype(np.int64).tolist(),
        session_first=first.tolist(),
        session_last=last.tolist(),
        time_left=time_left,
        cost_rate=cost_rates(arrays.close, costs).tolist(),
        commission=Commission.of(costs),
        features=np.ascontiguousarray(matrix),
        size_cap=size_cap,
    )
