"""Drawdown limits: the session's daily drawdown halt, the consecutive-drawdown halt and the
drawdown penalty (the volatility penalty is :mod:`trader_env.env.volatility_penalty`).

Drawdown is measured within a session, from the session's peak equity (the equity at the
session's start, raised by every new high): ``dd = (peak - equity) / peak``.

- Daily limit: ``dd >= max_daily_drawdown_pct`` is a breach; the environment flattens, then
  terminates (``halt_on_breach``) or keeps the position flat until the next session.
- Consecutive drawdown, as the plan writes it: a step whose drawdown is beyond ``dd_limit``
  (strictly; 0 when ``dd_limit`` is None, i.e. any drawdown) extends the count, a step back
  within the limit resets it, and the episode is terminated when the count exceeds
  ``max_consecutive_drawdown_steps`` (step 101 beyond the limit with the plan's 100). Whether a
  position is held does not matter: the rule is about time spent deep in a drawdown.
- Drawdown penalty (money, per step): ``dd_penalty_weight x max(0, dd - dd_limit) x peak``,
  i.e. a fixed share of the money lying below the ``dd_limit`` line, charged every step.
"""

from __future__ import annotations

from trader_env.env.config import DrawdownLimitsConfig

DAILY_DRAWDOWN = "daily_drawdown"
CONSECUTIVE_DRAWDOWN = "consecutive_drawdown"


class RiskManager:
    """Session drawdown state and limits. Feed it the equity after each step's fills."""

    __slots__ = (
        "_max_dd",
        "_max_steps",
        "halt_on_breach",
        "_dd_limit",
        "_dd_weight",
        "_streak_limit",
        "peak",
        "drawdown",
        "steps_beyond_limit",
        "locked",
    )

    def __init__(self, config: DrawdownLimitsConfig):
        self._max_dd = config.max_daily_drawdown_pct
        self._max_steps = config.max_consecutive_drawdown_steps
        self.halt_on_breach = config.halt_on_breach
        self._dd_limit = config.dd_limit
        self._dd_weight = config.dd_penalty_weight
        self._streak_limit = config.dd_limit if config.dd_limit is not None else 0.0
        self.peak = 0.0
        self.drawdown = 0.0
        self.steps_beyond_limit = 0
        self.locked = False

    def start_session(self, equity: float) -> None:
        """New session: the peak restarts at ``equity`` (money) and the lock is lifted."""
        self.peak = equity
        self.drawdown = 0.0
        self.steps_beyond_limit = 0
        self.locked = False

    def _mark(self, equity: float) -> None:
        if equity > self.peak:
            self.peak = equity
        peak = self.peak
        self.drawdown = (peak - equity) / peak if peak > 0.0 else 0.0

    def assess(self, equity: float) -> str | None:
        """Count one step ending at ``equity`` (money); return the limit it hits, if any.

        Returns :data:`CONSECUTIVE_DRAWDOWN` (always a halt), :data:`DAILY_DRAWDOWN` (a halt
        when ``halt_on_breach``, else the session is locked flat; reported once per session)
        or ``None``.
        """
        peak = self.peak
        if equity > peak:
            self.peak = peak = equity
        drawdown = self.drawdown = (peak - equity) / peak if peak > 0.0 else 0.0
        if drawdown > self._streak_limit:
            self.steps_beyond_limit += 1
        else:
            self.steps_beyond_limit = 0
        if self._max_steps is not None and self.steps_beyond_limit > self._max_steps:
            return CONSECUTIVE_DRAWDOWN
        if self._max_dd is not None and not self.locked and drawdown >= self._max_dd:
            self.locked = True
            return DAILY_DRAWDOWN
        return None

    def is_halt(self, reason: str) -> bool:
        """Whether the limit ``reason`` returned by :meth:`assess` ends the episode."""
        return reason == CONSECUTIVE_DRAWDOWN or self.halt_on_breach

    def remark(self, equity: float) -> None:
        """Update the drawdown after a forced fill within the same step (no step counted)."""
        self._mark(equity)

    def drawdown_penalty(self) -> float:
        """This step's drawdown penalty, money (0 without ``dd_limit``)."""
        if self._dd_limit is None:
            return 0.0
        excess = self.drawdown - self._dd_limit
        if excess <= 0.0:
            return 0.0
        return self._dd_weight * excess * self.peak
