"""Accounting: cash, shares, mark-to-market equity, per-trade net P&L."""

from __future__ import annotations

import pytest

from trader_env.env.accounting import Portfolio

RATE = 2e-4


def test_open_then_close_books_costs_and_trade_pnl() -> None:
    book = Portfolio(10_000.0)
    opened = book.trade_to(50.0, 100.0, RATE)
    assert opened.notional == pytest.approx(5_000.0)
    assert opened.cost == pytest.approx(1.0)
    assert opened.closed_pnl is None
    assert book.cash == pytest.approx(10_000.0 - 5_000.0 - 1.0)
    assert book.equity(102.0) == pytest.approx(book.cash + 50.0 * 102.0)
    closed = book.trade_to(0.0, 102.0, RATE)
    assert closed.cost == pytest.approx(5_100.0 * RATE)
    assert closed.closed_pnl == pytest.approx(50.0 * 2.0 - 1.0 - 1.02)
    assert closed.closed_return == pytest.approx(closed.closed_pnl / 5_000.0)
    assert book.shares == 0.0
    assert book.cash == pytest.approx(10_000.0 + closed.closed_pnl)


def test_flip_is_one_fill_that_closes_one_trade_and_opens_another() -> None:
    book = Portfolio(10_000.0)
    book.trade_to(-40.0, 100.0, RATE)
    flip = book.trade_to(30.0, 95.0, RATE)
    assert flip.notional == pytest.approx(70.0 * 95.0)
    assert flip.cost == pytest.approx(70.0 * 95.0 * RATE)
    assert flip.closed_pnl == pytest.approx(
        -40.0 * (95.0 - 100.0) - 4_000.0 * RATE - 3_800.0 * RATE
    )
    assert book.shares == 30.0 and book.entry_price == 95.0
    assert book.unrealised_pnl(96.0) == pytest.approx(30.0)


def test_same_target_is_no_fill_and_resizing_is_refused() -> None:
    book = Portfolio(10_000.0)
    assert book.trade_to(0.0, 100.0, RATE).notional == 0.0
    book.trade_to(10.0, 100.0, RATE)
    assert book.trade_to(10.0, 101.0, RATE).cost == 0.0
    with pytest.raises(ValueError, match="cannot resize"):
        book.trade_to(20.0, 101.0, RATE)
