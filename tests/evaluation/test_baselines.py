"""Baselines and cost sensitivity: scripted actions through the same environment and costs."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from trader_env.contracts import MarketArrays
from trader_env.env.config import EnvConfig
from trader_env.env.cost_config import CostConfig
from trader_env.env.presets import realistic_config
from trader_env.evaluation.backtest import ActionSchedule, run_backtest
from trader_env.evaluation.baselines import BASELINES, baseline_schedule, run_baselines
from trader_env.evaluation.cost_sensitivity import breakeven_cost_bps, cost_sensitivity

from .conftest import BARS_PER_SESSION, ConstantPolicy, MomentumPolicy, build_market


def _bars(*markets: MarketArrays) -> pl.DataFrame:
    return pl.concat(
        pl.DataFrame(
            {
                "symbol": [m.symbol] * len(m),
                "ts": pl.Series(m.ts).cast(pl.Datetime("us", "UTC")),
                "close": m.close,
            }
        )
        for m in markets
    )


def _config() -> EnvConfig:
    return realistic_config().model_copy(
        update={"costs": CostConfig(commission_bps=0.3, half_spread_bps=0.2, slippage_bps=0.1)}
    )


def test_flat_earns_nothing_and_pays_nothing() -> None:
    market = build_market(n_sessions=3)
    result = run_baselines([market], _config(), _bars(market), names=["flat"])["flat"]
    assert result.bars["net_pnl"].sum() == 0.0 and result.bars["cost"].sum() == 0.0


def test_intraday_long_is_flat_at_every_close_and_buy_and_hold_is_not() -> None:
    market = build_market(n_sessions=3)
    results = run_baselines(
        [market], _config(), _bars(market), names=["intraday_long", "buy_and_hold"]
    )
    last_bars = results["intraday_long"].bars.group_by("session").agg(pl.col("position").last())
    assert (last_bars["position"] == 0.0).all()
    held = results["buy_and_hold"].bars.group_by("session").agg(pl.col("position").last())
    assert (held["position"].head(2) > 0.0).all()
    # Buy-and-hold enters once: one order of costs over the whole split.
    assert (results["buy_and_hold"].bars["cost"] > 0.0).sum() == 1


def test_intraday_momentum_follows_the_sign_of_the_first_half_hour_in_the_last() -> None:
    # Sessions of 30 one-minute bars: the "first half hour" is the whole session before the
    # close, so build 90-bar sessions by hand to see both windows.
    market = build_market(n_sessions=4)
    bars = _bars(market)
    schedule = baseline_schedule("intraday_momentum", [market], bars, "America/New_York")
    actions = schedule.actions[0]
    assert set(np.unique(actions)) <= {0, 1, 2}
    session_last = np.append(np.diff(market.session_id) != 0, True)
    assert (actions[session_last] == 1).all()
    # The first session has no previous close: it stays flat.
    assert (actions[:BARS_PER_SESSION] == 1).all()
    for session in range(1, 4):
        rows = slice(session * BARS_PER_SESSION, (session + 1) * BARS_PER_SESSION)
        prev_close = market.close[session * BARS_PER_SESSION - 1]
        early = market.close[rows][29]  # the session's bar at open + 29 minutes
        expected = 2 if early > prev_close else 0
        in_session = actions[rows][:-1]
        # Exposure over the last half hour (bars after last - 30 min: the whole session here).
        assert set(in_session[in_session != 1]) <= {expected}


def test_unknown_baseline_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_schedule("magic", [build_market()])
    assert "intraday_momentum" in BASELINES


def test_replaying_recorded_actions_reproduces_the_backtest_exactly() -> None:
    market = build_market(n_sessions=4, seed=5)
    config = _config()
    agent = run_backtest(MomentumPolicy(), [market], config)
    replay = run_backtest(ActionSchedule.replay(agent, [market]), [market], config)
    np.testing.assert_array_equal(agent.bars["equity"].to_numpy(), replay.bars["equity"].to_numpy())
    np.testing.assert_array_equal(agent.bars["action"].to_numpy(), replay.bars["action"].to_numpy())


def test_cost_sensitivity_scales_costs_and_finds_the_break_even() -> None:
    market = build_market(n_sessions=4, seed=5)
    config = _config()
    agent = run_backtest(MomentumPolicy(), [market], config)
    sensitivity = cost_sensitivity(agent, [market], config, "America/New_York")
    assert sensitivity["net_pnl_cost_1x"] == pytest.approx(agent.bars["net_pnl"].sum())
    free = sensitivity["net_pnl_cost_0x"]
    gross = agent.bars["net_pnl"].sum() + agent.bars["cost"].sum()
    assert free == pytest.approx(gross, rel=1e-2)  # sizes follow equity: nearly linear
    pnls = [sensitivity[f"net_pnl_cost_{f}x"] for f in (0, 1, 2, 3)]
    assert pnls == sorted(pnls, reverse=True)
    notional = agent.bars["traded_notional"].sum()
    assert sensitivity["breakeven_cost_bps"] == pytest.approx(max(0.0, gross / notional * 1e4))
    assert sensitivity["cost_per_side_bps"] == pytest.approx(
        agent.bars["cost"].sum() / notional * 1e4
    )


def test_break_even_of_a_policy_that_never_trades_is_undefined() -> None:
    market = build_market()
    flat = run_backtest(ConstantPolicy(1), [market], _config())
    assert np.isnan(breakeven_cost_bps(flat))
