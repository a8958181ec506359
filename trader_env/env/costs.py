"""Transaction costs: fees + half spread + slippage per unit of notional, plus the broker's
commission (per share and/or percentage, with a minimum and a cap) per order.

The environment charges ``notional x cost_rate[t] + commission(shares, notional)`` on every
order leg, where ``t`` is the bar at which the order was decided (the price that sets a
tick-based spread and the volatility that scales slippage are known then). Fills happen at the
reference price (next open or close) and the cost is booked as a separate cash debit, so that
``info["cost"]`` shows it.
"""

from __future__ import annotations

import numpy as np

from trader_env.env.cost_config import CostConfig

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


def half_spread_bps(close: np.ndarray, config: CostConfig) -> np.ndarray:
    """Half the quoted spread per bar, bps of the price (float64 ``(n,)``).

    Tick-based (``spread_ticks x tick_size / 2 / close[t]``) when ``tick_size`` is set, else
    the constant ``half_spread_bps``.
    """
    if config.tick_size is None:
        return np.full(close.shape[0], config.half_spread_bps)
    return config.spread_ticks * config.tick_size / 2.0 / close / BPS


def cost_rates(close: np.ndarray, config: CostConfig) -> np.ndarray:
    """Cost per unit of traded notional for an order decided at each bar (float64 ``(n,)``).

    ``rate[t] = (fees_bps + half_spread[t] + slippage_bps x multiplier[t]) x 1e-4``; the
    commission is charged on top, per order (:class:`Commission`).
    """
    spread = half_spread_bps(close, config)
    return (
        config.fees_bps + spread + config.slippage_bps * slippage_multiplier(close, config)
    ) * BPS


class Commission:
    """The broker's commission on one order, money:
    ``clip(per_share x shares + rate x notional, minimum, cap x notional)``, 0 when both
    ``per_share`` and ``rate`` are 0. ``shares`` and ``notional`` are absolute values of one
    order leg; ``rate`` is a fraction of notional (bps x 1e-4).
    """

    __slots__ = ("per_share", "rate", "minimum", "cap")

    def __init__(
        self,
        per_share: float = 0.0,
        rate: float = 0.0,
        minimum: float = 0.0,
        cap: float | None = None,
    ):
        self.per_share = per_share
        self.rate = rate
        self.minimum = minimum
        self.cap = cap

    @classmethod
    def of(cls, config: CostConfig) -> Commission:
        """The commission of ``config``."""
        return cls(
            config.commission_per_share,
            config.commission_bps * BPS,
            config.commission_min,
            config.commission_max_pct,
        )

    def __call__(self, shares: float, notional: float) -> float:
        if notional == 0.0 or (self.per_share == 0.0 and self.rate == 0.0):
            return 0.0
        fee = self.per_share * shares + self.rate * notional
        if fee < self.minimum:
            fee = self.minimum
        if self.cap is not None and fee > self.cap * notional:
            fee = self.cap * notional
        return fee


#: No commission (every order pays only its rate x notional).
NO_COMMISSION = Commission()
