"""Daily turnover penalty (the plan's "smart Huber").

Definitions (``C`` = initial capital, ``V`` = equity at the start of the session):

- turnover ratio ``r`` = notional traded so far today / ``C`` (1.0 = one capital's worth);
- excess ``x = max(0, r - limit)``;
- curve ``h(x)``, with ``d = huber_delta`` and ``k = linear_factor``:

  * ``smart_huber``: ``h(x) = k x^2 / (2 d)`` for ``x <= d``, ``h(x) = k (x - d / 2)`` above.
    Both pieces equal ``k d / 2`` at ``x = d`` and both have slope ``k`` there, so the curve
    is continuous, differentiable and convex: a Huber loss scaled to slope ``k``.
  * ``linear``: ``h(x) = k x``.
  * ``none``: ``h(x) = 0``.

- the day's penalty is ``weight x V x h(x)`` (money).

The environment charges the *increment* of that day's penalty at each step, so the sum of the
charges over a session equals the penalty of the session's total excess (``V`` is fixed for the
session, which makes the sum telescope exactly).
"""

from __future__ import annotations

from typing import Literal

from trader_env.env.config import TurnoverPenaltyConfig

Curve = Literal["smart_huber", "linear", "none"]


def excess_turnover(turnover_ratio: float, limit: float) -> float:
    """``max(0, turnover_ratio - limit)``; both are fractions of capital and must be >= 0."""
    if not turnover_ratio >= 0.0:
        raise ValueError(f"turnover ratio must be a number >= 0, got {turnover_ratio}")
    if not limit >= 0.0:
        raise ValueError(f"turnover limit must be a number >= 0, got {limit}")
    return max(0.0, turnover_ratio - limit)


def penalty_curve(excess: float, curve: Curve, huber_delta: float, linear_factor: float) -> float:
    """The dimensionless curve ``h(excess)`` of the module docstring.

    ``excess`` must be >= 0 (``inf`` gives ``inf``); NaN or negative values are refused.
    """
    if not excess >= 0.0:
        raise ValueError(f"excess turnover must be a number >= 0, got {excess}")
    if curve == "smart_huber":
        if excess <= huber_delta:
            return linear_factor * excess * excess / (2.0 * huber_delta)
        return linear_factor * (excess - 0.5 * huber_delta)
    if curve == "linear":
        return linear_factor * excess
    if curve == "none":
        return 0.0
    raise ValueError(f"unknown turnover penalty curve {curve!r}")


class DailyTurnoverPenalty:
    """Tracks one session's traded notional and charges the increment of its penalty.

    ``capital``: money that turnover is measured against (initial capital). Call
    :meth:`start_session` with the session's opening equity, then :meth:`add` with each
    fill's notional; :meth:`add` returns the money to charge now.
    """

    __slots__ = ("_config", "_capital", "limit", "_value", "_traded", "_charged", "_active")

    def __init__(self, config: TurnoverPenaltyConfig, capital: float, limit: float | None = None):
        if not capital > 0.0:
            raise ValueError(f"capital must be > 0, got {capital}")
        self._config = config
        self._capital = capital
        self.limit = config.limit if limit is None else limit
        self._active = config.curve != "none" and config.weight > 0.0
        self._value = 0.0
        self._traded = 0.0
        self._charged = 0.0

    def start_session(self, portfolio_value: float) -> None:
        """Reset the day: nothing traded, nothing charged; ``portfolio_value`` in money."""
        self._value = portfolio_value if portfolio_value > 0.0 else 0.0
        self._traded = 0.0
        self._charged = 0.0

    @property
    def traded_today(self) -> float:
        """Notional traded so far this session, money."""
        return self._traded

    @property
    def turnover_ratio(self) -> float:
        """Notional traded so far this session / capital."""
        return self._traded / self._capital

    @property
    def charged_today(self) -> float:
        """Penalty charged so far this session, money."""
        return self._charged

    def session_penalty(self, turnover_ratio: float) -> float:
        """Penalty (money) of a whole session with ``turnover_ratio`` under this session's value."""
        config = self._config
        excess = excess_turnover(turnover_ratio, self.limit)
        curve = penalty_curve(excess, config.curve, config.huber_delta, config.linear_factor)
        return config.weight * self._value * curve

    def add(self, notional: float) -> float:
        """Record a fill of ``notional`` (money, >= 0); return the penalty increment (money)."""
        if notional == 0.0:
            return 0.0
        if not notional >= 0.0:
            raise ValueError(f"traded notional must be a number >= 0, got {notional}")
        self._traded += notional
        if not self._active:
            return 0.0
        total = self.session_penalty(self._traded / self._capital)
        increment = total - self._charged
        self._charged = total
        return increment
