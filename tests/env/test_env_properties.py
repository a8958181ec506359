"""Property-based accounting checks over random prices, costs, configurations and actions.

- reward identity: sum(reward) / reward_scaling + sum(penalties) == sum(net_pnl)
  == final equity - initial capital, to 1e-6 of capital;
- equity == cash + position x price after every step;
- costs are charged exactly once per change of position: a step's cost is the cost rate times
  the notional of the position change, at the fill price of the configured execution.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from trader_env.env import EnvConfig, IntradayTradingEnv

CAPITAL = 50_000.0


@st.composite
def scenarios(draw):
    n_sessions = draw(st.integers(1, 3))
    bars = draw(st.integers(3, 12))
    n = n_sessions * bars
    log_returns = draw(arrays(np.float64, n, elements=st.floats(-0.05, 0.05)))
    gaps = draw(arrays(np.float64, n, elements=st.floats(-0.03, 0.03)))
    close = 100.0 * np.exp(np.cumsum(log_returns))
    open_ = np.concatenate(([100.0], close[:-1])) * np.exp(gaps)
    bps = st.floats(0.0, 25.0)
    optional = lambda strategy: st.one_of(st.none(), strategy)  # noqa: E731
    config = EnvConfig(
        initial_capital=CAPITAL,
        reward_scaling=draw(st.floats(1e-3, 10.0)),
        window=draw(st.integers(1, min(4, n - 1))),
        include_risk_features=draw(st.booleans()),
        include_regime=draw(st.booleans()),
        long_only=draw(st.booleans()),
        execution=draw(st.sampled_from(["next_open", "close"])),
        flatten_at_session_end=draw(st.booleans()),
        costs={
            "commission_bps": draw(bps),
            "half_spread_bps": draw(bps),
            "slippage_bps": draw(bps),
        },
        turnover_penalty={
            "curve": draw(st.sampled_from(["smart_huber", "linear", "none"])),
            "limit": draw(st.floats(0.0, 3.0)),
            "weight": draw(st.floats(0.0, 0.001)),
        },
        drawdown_limits={
            "max_daily_drawdown_pct": draw(optional(st.floats(0.005, 0.2))),
            "max_consecutive_drawdown_steps": draw(optional(st.integers(1, 20))),
            "halt_on_breach": draw(st.booleans()),
            "dd_limit": draw(optional(st.floats(0.0, 0.05))),
            "dd_penalty_weight": draw(st.floats(0.0, 0.5)),
        },
        volatility_penalty={
            "penalty_lambda": draw(st.floats(0.0, 0.1)),
            "target_sigma": draw(st.floats(0.0, 0.5)),
            "vol_window": draw(st.integers(2, 10)),
        },
        position_sizing={
            "method": draw(st.sampled_from(["fixed", "kelly"])),
            "fixed_fraction": draw(st.floats(0.1, 2.0)),
            "min_trades": 2,
            "kelly_lookback_trades": 5,
            "warmup_fraction": 0.2,
        },
    )
    actions = draw(st.lists(st.integers(0, 2), min_size=1, max_size=n))
    return n_sessions, bars, close, open_, config, actions


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_reward_reconciles_with_net_pnl_and_equity_is_cash_plus_position(
    make_arrays, scenario
) -> None:
    n_sessions, bars, close, open_, config, actions = scenario
    market = make_arrays(n_sessions=n_sessions, bars_per_session=bars, close=close, open_=open_)
    env = IntradayTradingEnv(market, config, mode="eval")
    env.reset(seed=0)
    rate = (
        config.costs.commission_bps + config.costs.half_spread_bps + config.costs.slippage_bps
    ) * 1e-4
    session_last = np.append(np.diff(market.session_id) != 0, True)
    rewards, penalties, net = 0.0, 0.0, 0.0
    position = 0.0
    done = False
    step = 0
    while not done:
        _, reward, terminated, truncated, info = env.step(actions[step % len(actions)])
        step += 1
        done = terminated or truncated
        rewards += reward
        penalties += info["turnover_penalty"] + info["risk_penalty"]
        net += info["net_pnl"]
        assert info["reward_nonfinite"] == 0
        assert (
            abs(info["equity"] - (info["cash"] + info["position"] * info["price"]))
            <= 1e-9 * CAPITAL
        )
        assert abs(info["cost"] - rate * info["traded_notional"]) <= 1e-9 * CAPITAL
        u = info["bar_index"]
        single_fill = info["risk_event"] is None and not (
            config.flatten_at_session_end and session_last[u]
        )
        if single_fill:
            fill_price = market.open[u] if config.execution == "next_open" else market.close[u - 1]
            change = abs(info["position"] - position) * fill_price
            assert abs(info["traded_notional"] - change) <= 1e-9 * CAPITAL
            assert (info["cost"] > 0.0) == (change > 0.0 and rate > 0.0)
        position = info["position"]
    assert abs(rewards / config.reward_scaling + penalties - net) <= 1e-6 * CAPITAL
    assert abs(net - (info["equity"] - CAPITAL)) <= 1e-6 * CAPITAL
    metrics = info["episode_metrics"]
    assert abs(metrics["net_pnl"] - net) <= 1e-6 * CAPITAL
    assert metrics["completed"] == (not terminated)
