"""Cash-and-shares accounting with per-trade P&L.

Equity is ``cash + shares x price`` (mark to market). A trade moves the position from its
current number of shares to a target; positions change only by opening, closing or flipping
(holding never rebalances), so a flip is one fill that closes one trade and opens the next.
A closed trade's net P&L is its price P&L minus its entry and exit costs.
"""

from __future__ import annotations

from typing import NamedTuple

from trader_env.env.costs import NO_COMMISSION, Commission


class Fill(NamedTuple):
    """Result of one change of position (all money unless stated)."""

    notional: float  # |shares traded| x price
    cost: float  # transaction cost charged
    closed_pnl: float | None  # net P&L of the trade this fill closed, if any
    closed_return: float  # closed_pnl / that trade's entry notional (0.0 if none closed)


NO_FILL = Fill(0.0, 0.0, None, 0.0)


class Portfolio:
    """Cash, a signed fractional share position, and the open trade's entry."""

    __slots__ = ("cash", "shares", "entry_price", "entry_cost", "entry_notional", "commission")

    def __init__(self, cash: float, commission: Commission = NO_COMMISSION):
        self.commission = commission
        self.cash = cash
        self.shares = 0.0
        self.entry_price = 0.0
        self.entry_cost = 0.0
        self.entry_notional = 0.0

    def equity(self, price: float) -> float:
        """Mark-to-market equity at ``price``: cash + position value, money."""
        return self.cash + self.shares * price

    def unrealised_pnl(self, price: float) -> float:
        """Price P&L of the open position at ``price`` (costs excluded), money."""
        return self.shares * (price - self.entry_price)

    def trade_to(self, target: float, price: float, rate: float) -> Fill:
        """Move to ``target`` shares at ``price``, paying ``rate`` x notional plus the per-share
        commission of each leg (closing the position, opening the new one) in costs.

        ``target`` must be 0, or of the opposite sign to the current position, or the current
        position is flat: resizing an open position is not a position change this account
        models.
        """
        current = self.shares
        if target == current:
            return NO_FILL
        if current != 0.0 and target != 0.0 and (current > 0.0) == (target > 0.0):
            raise ValueError(
                f"cannot resize an open position from {current} to {target} shares: "
                "close or flip it"
            )
        cost = 0.0
        notional = 0.0
        closed_pnl = None
        closed_return = 0.0
        if current != 0.0:
            close_notional = abs(current) * price
            close_cost = close_notional * rate + self.commission(abs(current), close_notional)
            closed_pnl = current * (price - self.entry_price) - self.entry_cost - close_cost
            if self.entry_notional > 0.0:
                closed_return = closed_pnl / self.entry_notional
            notional += close_notional
            cost += close_cost
        if target != 0.0:
            open_notional = abs(target) * price
            open_cost = open_notional * rate + self.commission(abs(target), open_notional)
            self.entry_price = price
            self.entry_cost = open_cost
            self.entry_notional = open_notional
            notional += open_notional
            cost += open_cost
        else:
            self.entry_price = 0.0
            self.entry_cost = 0.0
            self.entry_notional = 0.0
        self.cash -= (target - current) * price + cost
        self.shares = target
        return Fill(notional, cost, closed_pnl, closed_return)
