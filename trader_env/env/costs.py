"""Transaction costs: commission + half spread + slippage, in bps of traded notional.

The environment charges ``notional x cost_rate[t]`` on every change of position, where ``t``
is the bar at which the order was decided (the volatility that scales slippage is known
then). Fills happen at the reference price (next open or close) and the cost is booked as a
separate cash debit, so that ``info["cost"]`` shows it.
"""

from __future__ import annotations

import numpy as np

from trader_env.env.config import CostConfig

BPS = 1e-4


def rolling_log_return_std(close: np.ndarray, window: int) -> np.ndarray:
    """Causal std (ddof=1) of the last ``window`` one-bar log returns, per bar.

    ``close``: float64 ``(n,)`` prices > 0. Returns float64 ``(n,)``; entry ``t`` uses closes
    ``<= t`` only and is NaN until ``window`` returns exist (bars ``< window``).
    """
    if window < 2:
        raise ValueError(f"window must be >= 2, got {window}")
    n = close.shape[0]
    out = np.full(n, np.nan)
    if n <= window:
        return out
    log_ret = np.diff(np.log(close))
    windows = np.lib.stride_tricks.sliding_window_view(log_ret, window)
    out[window:] = windows.std(axis=1, ddof=1)
    return out


def slippage_multiplier(close: np.ndarray, config: CostConfig) -> np.ndarray:
    """Per-bar multiplier of ``slippage_bps`` (float64 ``(n,)``).

    Ones when volatility scaling is off. Otherwise ``sigma_t / slippage_vol_reference`` clipped
    to ``[0, slippage_max_multiplier]``; bars without enough history use 1.
    """
    n = close.shape[0]
    if not config.slippage_vol_scaling:
        return np.ones(n)
    sigma = rolling_log_return_std(close, config.slippage_vol_window)
    multiplier = np.clip(sigma / config.slippage_vol_reference, 0.0, config.slippage_max_multiplier)
    return np.where(np.isfinite(multiplier), multiplier, 1.0)


def cost_rates(close: np.ndarray, config: CostConfig) -> np.ndarray:
    """Cost per unit of traded notional for an order decided at each bar (float64 ``(n,)``).

    ``rate[t] = (commission_bps + half_spread_bps + slippage_bps x multiplier[t]) x 1e-4``.
    """
    fixed = config.commission_bps + config.half_spread_bps
    return (fixed + config.slippage_bps * slippage_multiplier(close, config)) * BPS
