"""Position sizing: the fraction of equity that a long or short decision puts at risk.

The size is chosen when a position is opened (or flipped) and held until the position changes;
holding the same action never rebalances, so costs arise only from changes of position.

Kelly sizing uses the agent's closed trades of the current episode, each as a return on its
entry notional: with ``p`` the win rate and ``b`` = mean win / mean |loss| over the last
``kelly_lookback_trades`` trades, ``f = p - (1 - p) / b`` clipped to
``[0, max_kelly_fraction]`` (0 when there is no edge; ``f = p`` when no trade lost). Until
``min_trades`` trades have closed the size is ``warmup_fraction``.

Paper trades. A size of 0 opens no position, so no trade would ever close again and the
estimate could never recover: in a long episode (an evaluation backtest plays a whole
half-year as one) a few early losses would keep the policy flat for the rest of it. So while
Kelly says 0, the sizer keeps the decision as a paper trade (:meth:`KellySizer.open_paper`)
and records its return when the decision changes (:meth:`KellySizer.close_paper`): the price
move per unit of notional after the proportional cost rate on both sides (a commission, which
depends on the size, is left out). It earns and costs nothing; it only feeds the estimate.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Protocol

from trader_env.env.config import PositionSizingConfig


def kelly_fraction(win_rate: float, payoff_ratio: float) -> float:
    """Raw Kelly fraction ``p - (1 - p) / b``; may be negative (no edge).

    ``win_rate`` in [0, 1]; ``payoff_ratio`` = mean win / mean |loss| > 0 (``inf`` allowed).
    """
    if not 0.0 <= win_rate <= 1.0:
        raise ValueError(f"win rate must be in [0, 1], got {win_rate}")
    if not payoff_ratio > 0.0:
        raise ValueError(f"payoff ratio must be > 0, got {payoff_ratio}")
    return win_rate - (1.0 - win_rate) / payoff_ratio


class PositionSizer(Protocol):
    """Fraction of equity for the next position, fed with closed trades' returns."""

    def fraction(self) -> float:
        """Fraction of equity (>= 0) that the next position's notional should be."""
        ...

    def record_trade(self, trade_return: float) -> None:
        """A trade closed with net P&L / entry notional = ``trade_return``."""
        ...

    def reset(self) -> None:
        """Forget all trades (new episode)."""
        ...

    @property
    def paper_direction(self) -> int:
        """Direction of the open paper trade (+1 / -1), 0 when there is none."""
        ...

    def open_paper(self, direction: int, price: float, rate: float) -> None:
        """A decision of ``direction`` got size 0: follow it at ``price`` (cost ``rate``)."""
        ...

    def close_paper(self, price: float, rate: float) -> None:
        """Close the paper trade, if any, at ``price`` (cost ``rate``) and record its return."""
        ...


class FixedSizer:
    """Always the same fraction of equity."""

    __slots__ = ("_fraction",)

    def __init__(self, fraction: float):
        if not fraction > 0.0:
            raise ValueError(f"fixed fraction must be > 0, got {fraction}")
        self._fraction = fraction

    def fraction(self) -> float:
        return self._fraction

    def record_trade(self, trade_return: float) -> None:
        """Fixed sizing ignores the trade record."""

    def reset(self) -> None:
        """Fixed sizing keeps no state."""

    @property
    def paper_direction(self) -> int:
        """Never a paper trade: the size is never 0."""
        return 0

    def open_paper(self, direction: int, price: float, rate: float) -> None:
        """Unreachable: a fixed size is > 0."""

    def close_paper(self, price: float, rate: float) -> None:
        """No paper trade to close."""


class KellySizer:
    """Kelly fraction of the recent closed trades, capped; warm-up size before ``min_trades``.

    Win and loss counts and sums are kept for the lookback window and updated as trades enter
    and leave it, so :meth:`fraction` is O(1). Non-finite trade returns are not recorded.
    """

    __slots__ = (
        "_cap",
        "_min_trades",
        "_warmup",
        "_trades",
        "_wins",
        "_win_sum",
        "_losses",
        "_loss_sum",
        "_paper",
    )

    def __init__(self, config: PositionSizingConfig):
        self._cap = config.max_kelly_fraction
        self._min_trades = config.min_trades
        self._warmup = config.warmup_fraction
        self._trades: deque[float] = deque(maxlen=config.kelly_lookback_trades)
        self.reset()

    @property
    def n_trades(self) -> int:
        """Closed trades in the lookback."""
        return len(self._trades)

    def fraction(self) -> float:
        n = len(self._trades)
        if n < self._min_trades:
            return self._warmup
        if self._wins == 0:
            return 0.0
        win_rate = self._wins / n
        if self._losses == 0:
            return min(win_rate, self._cap)
        payoff = (self._win_sum / self._wins) / (self._loss_sum / self._losses)
        return min(max(kelly_fraction(win_rate, payoff), 0.0), self._cap)

    def _count(self, trade_return: float, sign: int) -> None:
        if trade_return > 0.0:
            self._wins += sign
            self._win_sum += sign * trade_return
        elif trade_return < 0.0:
            self._losses += sign
            self._loss_sum -= sign * trade_return

    def record_trade(self, trade_return: float) -> None:
        if not math.isfinite(trade_return):
            return
        trades = self._trades
        if len(trades) == trades.maxlen:
            self._count(trades[0], -1)
        trades.append(trade_return)
        self._count(trade_return, 1)

    def reset(self) -> None:
        self._trades.clear()
        self._wins = 0
        self._win_sum = 0.0
        self._losses = 0
        self._loss_sum = 0.0
        self._paper: tuple[int, float, float] | None = None

    @property
    def paper_direction(self) -> int:
        return 0 if self._paper is None else self._paper[0]

    def open_paper(self, direction: int, price: float, rate: float) -> None:
        self._paper = (direction, price, rate) if direction != 0 else None

    def close_paper(self, price: float, rate: float) -> None:
        if self._paper is None:
            return
        direction, entry, entry_rate = self._paper
        self._paper = None
        # closed_pnl / entry_notional of a real trade with proportional costs only.
        self.record_trade(direction * (price / entry - 1.0) - entry_rate - rate * price / entry)


def make_sizer(config: PositionSizingConfig) -> PositionSizer:
    """The sizer selected by ``config.method``."""
    if config.method == "kelly":
        return KellySizer(config)
    return FixedSizer(config.fixed_fraction)
