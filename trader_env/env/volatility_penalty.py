"""Volatility penalty toward the plan's target volatility of the strategy's returns.

Money, per step: with ``sigma`` the annualised std (ddof=1) of the last ``vol_window``
per-step strategy returns (equity change / previous equity),
``penalty_lambda x equity x max(0, sigma - target_sigma)^2``; zero until the window is full.
"""

from __future__ import annotations

import math

from trader_env.env.config import VolatilityPenaltyConfig


class VolatilityPenalty:
    """Rolling realised volatility of per-step strategy returns and its penalty.

    A ring buffer with running sums keeps each update O(1); the sums are recomputed from the
    buffer every ``vol_window`` steps so float drift cannot accumulate.
    """

    __slots__ = ("_lambda", "_target", "_window", "_annualise", "_buf", "_i", "_n", "_s", "_ss")

    def __init__(self, config: VolatilityPenaltyConfig, bars_per_year: float):
        self._lambda = config.penalty_lambda
        self._target = config.target_sigma
        self._window = config.vol_window
        self._annualise = bars_per_year
        self.reset()

    @property
    def active(self) -> bool:
        """False when ``penalty_lambda`` is 0: the environment then skips this component."""
        return self._lambda > 0.0

    def reset(self) -> None:
        """Forget all returns (new episode)."""
        self._buf = [0.0] * self._window
        self._i = 0
        self._n = 0
        self._s = 0.0
        self._ss = 0.0

    def realised_vol(self) -> float:
        """Annualised std (ddof=1) of the last ``vol_window`` returns; NaN before it is full."""
        w = self._window
        if self._n < w:
            return math.nan
        var = (self._ss - self._s * self._s / w) / (w - 1)
        return math.sqrt(var * self._annualise) if var > 0.0 else 0.0

    def update(self, step_return: float, equity: float) -> float:
        """Add one per-step return (fraction); return this step's penalty at ``equity`` (money).

        The penalty is 0 until ``vol_window`` returns have been added.
        """
        buf = self._buf
        i = self._i
        old = buf[i]
        buf[i] = step_return
        i += 1
        if i == self._window:
            i = 0
            self._s = math.fsum(buf)
            self._ss = math.fsum([x * x for x in buf])
        else:
            self._s += step_return - old
            self._ss += step_return * step_return - old * old
        self._i = i
        if self._n < self._window:
            self._n += 1
            if self._n < self._window:
                return 0.0
        if equity <= 0.0:
            return 0.0
        excess = self.realised_vol() - self._target
        if excess <= 0.0:
            return 0.0
        return self._lambda * equity * excess * excess
