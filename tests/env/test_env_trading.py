"""IntradayTradingEnv behaviour: execution timing, sessions, risk halts, episodes, observations."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from trader_env.contracts import MarketArrays
from trader_env.env import RISK_FEATURES, EnvConfig, IntradayTradingEnv

SHORT, FLAT, LONG = 0, 1, 2
COMMISSION = 1e-4  # 1 bps

#: No penalties, no risk limits, commission only: isolates execution and accounting.
PLAIN = EnvConfig(
    window=1,
    flatten_at_session_end=False,
    include_risk_features=False,
    costs={"commission_bps": 1.0, "half_spread_bps": 0.0, "slippage_bps": 0.0},
    turnover_penalty={"curve": "none"},
    drawdown_limits={
        "max_daily_drawdown_pct": None,
        "max_consecutive_drawdown_steps": None,
        "dd_limit": None,
    },
    volatility_penalty={"penalty_lambda": 0.0},
)


def plain(**overrides: object) -> EnvConfig:
    return PLAIN.with_overrides(overrides)


def ladder(make_arrays, n_sessions: int = 2, bars: int = 5, step: float = 1.0) -> MarketArrays:
    """Closes 100, 101, ...; opens half a step below each close (distinct from every close)."""
    close = 100.0 + step * np.arange(n_sessions * bars)
    return make_arrays(
        n_sessions=n_sessions, bars_per_session=bars, close=close, open_=close - step / 2
    )


def play(env: IntradayTradingEnv, actions: list[int]) -> list[dict]:
    infos = []
    for action in actions:
        _, _, terminated, truncated, info = env.step(action)
        infos.append(info)
        if terminated or truncated:
            break
    return infos


def test_next_open_fills_at_the_next_bars_open_and_marks_at_its_close(make_arrays) -> None:
    arrays = ladder(make_arrays)
    env = IntradayTradingEnv(arrays, plain(), mode="eval")
    env.reset(seed=0)
    info = play(env, [LONG])[0]
    shares = 50_000.0 / arrays.close[0]
    assert info["position"] == pytest.approx(shares)
    assert info["traded_notional"] == pytest.approx(shares * arrays.open[1])
    assert info["cost"] == pytest.approx(shares * arrays.open[1] * COMMISSION)
    assert info["net_pnl"] == pytest.approx(
        shares * (arrays.close[1] - arrays.open[1]) - info["cost"]
    )
    assert info["equity"] == pytest.approx(info["cash"] + shares * arrays.close[1])
    assert info["price"] == arrays.close[1] and info["bar_index"] == 1


def test_close_execution_fills_at_the_observed_close(make_arrays) -> None:
    arrays = ladder(make_arrays)
    env = IntradayTradingEnv(arrays, plain(execution="close"), mode="eval")
    env.reset(seed=0)
    info = play(env, [LONG])[0]
    shares = 50_000.0 / arrays.close[0]
    assert info["traded_notional"] == pytest.approx(shares * arrays.close[0])
    assert info["net_pnl"] == pytest.approx(
        shares * (arrays.close[1] - arrays.close[0]) - info["cost"]
    )


def test_holding_never_trades_and_a_flip_is_charged_once(make_arrays) -> None:
    arrays = ladder(make_arrays, n_sessions=1, bars=8)
    env = IntradayTradingEnv(arrays, plain(), mode="eval")
    env.reset(seed=0)
    infos = play(env, [LONG, LONG, LONG, SHORT])
    assert [i["traded_notional"] > 0 for i in infos] == [True, False, False, True]
    assert [i["cost"] for i in infos[1:3]] == [0.0, 0.0]
    old = infos[2]["position"]
    new = infos[3]["position"]
    assert new < 0 < old
    flip_notional = (abs(old) + abs(new)) * arrays.open[4]
    assert infos[3]["traded_notional"] == pytest.approx(flip_notional)
    assert infos[3]["cost"] == pytest.approx(flip_notional * COMMISSION)
    assert len(infos[3]["closed_trade_pnl"]) == 1


def test_session_end_flattens_and_the_last_bars_decision_is_forced_flat(make_arrays) -> None:
    arrays = ladder(make_arrays, n_sessions=2, bars=5)
    env = IntradayTradingEnv(arrays, plain(flatten_at_session_end=True), mode="eval")
    env.reset(seed=0)
    infos = play(env, [LONG] * 6)
    at_last_bar = infos[3]
    assert at_last_bar["bar_index"] == 4
    assert at_last_bar["position"] == 0.0
    assert len(at_last_bar["closed_trade_pnl"]) == 1
    entry = 50_000.0 / arrays.close[0]
    flatten_notional = entry * arrays.close[4]
    assert at_last_bar["cost"] == pytest.approx(flatten_notional * COMMISSION)
    overnight = infos[4]
    assert overnight["bar_index"] == 5
    assert overnight["traded_notional"] == 0.0, "no fill at the next session's open"
    assert overnight["position"] == 0.0 and overnight["net_pnl"] == 0.0
    resumed = infos[5]
    assert resumed["position"] > 0.0
    assert resumed["traded_notional"] == pytest.approx(resumed["position"] * arrays.open[6])


def test_without_flattening_an_order_at_the_last_bar_fills_at_the_next_open(make_arrays) -> None:
    arrays = ladder(make_arrays, n_sessions=2, bars=5)
    env = IntradayTradingEnv(arrays, plain(), mode="eval")
    env.reset(seed=0)
    infos = play(env, [FLAT, FLAT, FLAT, FLAT, LONG])
    overnight = infos[4]
    assert overnight["bar_index"] == 5
    assert overnight["traded_notional"] == pytest.approx(overnight["position"] * arrays.open[5])


def test_turnover_is_counted_per_session(make_arrays) -> None:
    arrays = ladder(make_arrays, n_sessions=2, bars=5)
    env = IntradayTradingEnv(arrays, plain(), mode="eval")
    env.reset(seed=0)
    infos = play(env, [LONG, FLAT, FLAT, FLAT, LONG, FLAT])
    day_one = infos[0]["traded_notional"] + infos[1]["traded_notional"]
    assert infos[3]["turnover_today"] == pytest.approx(day_one / 50_000.0)
    assert infos[4]["turnover_today"] == pytest.approx(infos[4]["traded_notional"] / 50_000.0)


def test_long_only_maps_short_to_flat(make_arrays) -> None:
    env = IntradayTradingEnv(ladder(make_arrays), plain(long_only=True), mode="eval")
    env.reset(seed=0)
    infos = play(env, [SHORT, SHORT, LONG, SHORT])
    assert [i["position"] > 0 for i in infos] == [False, False, True, False]
    assert all(i["position"] >= 0 for i in infos)


def test_fixed_fraction_and_kelly_warm_up_size_positions(make_arrays) -> None:
    arrays = ladder(make_arrays)
    half = IntradayTradingEnv(arrays, plain(position_sizing={"fixed_fraction": 0.5}), mode="eval")
    half.reset(seed=0)
    assert play(half, [LONG])[0]["position"] == pytest.approx(0.5 * 50_000.0 / arrays.close[0])
    kelly = IntradayTradingEnv(
        arrays, plain(position_sizing={"method": "kelly", "warmup_fraction": 0.1}), mode="eval"
    )
    kelly.reset(seed=0)
    assert play(kelly, [SHORT])[0]["position"] == pytest.approx(-0.1 * 50_000.0 / arrays.close[0])


def test_kelly_at_zero_recovers_through_paper_trades(make_arrays) -> None:
    """Two losing trades take Kelly to 0; the next decisions are followed on paper (no
    position, no cost) and their gain brings the size back. Without paper trades nothing
    would ever close again and the policy would stay flat for the rest of the episode."""
    close = np.array([100, 99, 98, 97, 96, 97, 98, 99, 100, 101, 102, 103], dtype=float)
    arrays = make_arrays(
        n_sessions=1, bars_per_session=12, close=close, open_=np.concatenate(([100.0], close[:-1]))
    )
    sizing = {"method": "kelly", "min_trades": 2, "kelly_lookback_trades": 5}
    env = IntradayTradingEnv(arrays, plain(position_sizing=sizing), mode="eval")
    env.reset(seed=0)
    infos = play(env, [LONG, FLAT, LONG, FLAT])
    closed = [pnl for i in infos for pnl in i["closed_trade_pnl"]]
    assert len(closed) == 2 and all(pnl < 0 for pnl in closed), "two losing round trips"
    equity = infos[-1]["equity"]
    paper = play(env, [LONG] * 5 + [FLAT])  # long on paper from open[5] = 96 to open[10] = 101
    assert all(i["position"] == 0.0 and i["traded_notional"] == 0.0 for i in paper)
    assert paper[-1]["equity"] == equity, "a paper trade earns and costs nothing"
    assert not any(i["closed_trade_pnl"] for i in paper), "nor does it count as a trade"
    (last,) = play(env, [LONG])
    # One win of ~5.2 % against two losses of ~1 %: p = 1/3, b ~ 5, Kelly ~ 0.2 of equity.
    assert 0.15 < last["position"] * 101.0 / equity < 0.25


def test_consecutive_drawdown_halts_after_n_steps_beyond_dd_limit(make_arrays) -> None:
    arrays = ladder(make_arrays, n_sessions=1, bars=20, step=-0.5)
    config = plain(
        drawdown_limits={
            "max_consecutive_drawdown_steps": 3,
            "max_daily_drawdown_pct": None,
            "dd_limit": 0.0,
        }
    )
    env = IntradayTradingEnv(arrays, config, mode="eval")
    env.reset(seed=0)
    results = [env.step(LONG) for _ in range(4)]
    assert [r[2] for r in results] == [False, False, False, True], "the 4th step exceeds 3"
    info = results[-1][4]
    assert info["risk_event"] == "consecutive_drawdown"
    assert info["position"] == 0.0, "flattened before terminating"
    metrics = info["episode_metrics"]
    assert metrics["completed"] is False
    assert metrics["halt_reason"] == "consecutive_drawdown"
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(LONG)


@pytest.mark.parametrize("action", [LONG, FLAT], ids=["held", "stepped_aside"])
def test_plans_halt_on_a_scripted_path_at_step_101_beyond_dd_limit(make_arrays, action) -> None:
    """A 3 % loss on the first step, then a flat price: the session stays 3 % below its peak
    (beyond the 2 % dd_limit) whether the position is held or closed, so the 101st step beyond
    the limit halts; the 5 % daily limit is never reached."""
    close = np.full(200, 97.0)
    close[0] = 100.0
    open_ = close.copy()
    open_[1] = 100.0
    arrays = make_arrays(n_sessions=1, bars_per_session=200, close=close, open_=open_)
    config = plain(
        drawdown_limits={
            "max_consecutive_drawdown_steps": 100,
            "max_daily_drawdown_pct": 0.05,
            "dd_limit": 0.02,
        }
    )
    env = IntradayTradingEnv(arrays, config, mode="eval")
    env.reset(seed=0)
    infos = play(env, [LONG] + [action] * 150)
    events = [i["risk_event"] for i in infos]
    assert events.index("consecutive_drawdown") == 100, "the 101st step beyond the limit"
    assert events.count("daily_drawdown") == 0
    assert infos[100]["episode_metrics"]["halt_reason"] == "consecutive_drawdown"


def test_daily_breach_without_halt_locks_flat_until_the_next_session(make_arrays) -> None:
    close = np.array([100.0, 99.0, 96.0, 97.0, 98.0, 98.0, 99.0, 100.0, 101.0, 102.0])
    arrays = make_arrays(n_sessions=2, bars_per_session=5, close=close, open_=close)
    config = plain(
        drawdown_limits={
            "max_daily_drawdown_pct": 0.03,
            "halt_on_breach": False,
            "max_consecutive_drawdown_steps": None,
        }
    )
    env = IntradayTradingEnv(arrays, config, mode="eval")
    env.reset(seed=0)
    infos = play(env, [LONG] * 7)
    assert infos[1]["risk_event"] == "daily_drawdown"
    assert infos[1]["position"] == 0.0
    assert [i["position"] for i in infos[2:4]] == [0.0, 0.0], "locked for the rest of the day"
    assert infos[4]["bar_index"] == 5 and infos[4]["position"] > 0.0, "next session trades again"
    assert not any("episode_metrics" in i for i in infos)


def test_daily_breach_with_halt_terminates(make_arrays) -> None:
    close = np.array([100.0, 99.0, 96.0, 97.0, 98.0])
    arrays = make_arrays(n_sessions=1, bars_per_session=5, close=close, open_=close)
    config = plain(
        drawdown_limits={"max_daily_drawdown_pct": 0.03, "max_consecutive_drawdown_steps": None}
    )
    env = IntradayTradingEnv(arrays, config, mode="eval")
    env.reset(seed=0)
    _, _, terminated, truncated, info = env.step(LONG)
    assert not terminated
    _, _, terminated, truncated, info = env.step(LONG)
    assert terminated and not truncated
    assert info["episode_metrics"]["halt_reason"] == "daily_drawdown"


def test_eval_mode_plays_every_array_whole_in_order(make_arrays) -> None:
    arrays = [make_arrays(seed=i, symbol=s) for i, s in enumerate(("AAA", "BBB", "CCC"))]
    env = IntradayTradingEnv(arrays, EnvConfig(window=5), mode="eval")
    played = []
    for episode in range(4):
        _, info = env.reset(seed=0) if episode == 0 else env.reset()
        assert info["bar_index"] == 4
        steps = 0
        truncated = terminated = False
        while not (terminated or truncated):
            _, _, terminated, truncated, last = env.step(FLAT)
            steps += 1
        assert truncated and steps == len(arrays[0]) - 5
        assert last["episode_metrics"]["completed"] is True
        played.append(last["episode_metrics"]["symbol"])
    assert played == ["AAA", "BBB", "CCC", "AAA"]
    _, info = env.reset(seed=0)
    assert info["symbol"] == "AAA", "a seeded reset restarts the sequence"


def test_train_mode_plays_episode_length_steps_from_a_seeded_random_start(make_arrays) -> None:
    arrays = [
        make_arrays(n_sessions=6, seed=1, symbol="AAA"),
        make_arrays(n_sessions=6, seed=2, symbol="BBB"),
    ]
    config = plain(episode_length=25)
    env = IntradayTradingEnv(arrays, config, mode="train")
    starts = set()
    for seed in range(12):
        _, info = env.reset(seed=seed)
        _, again = IntradayTradingEnv(arrays, config).reset(seed=seed)
        assert (info["symbol"], info["bar_index"]) == (again["symbol"], again["bar_index"])
        starts.add((info["symbol"], info["bar_index"]))
        infos = play(env, [FLAT] * 100)
        assert len(infos) == 25 and "episode_metrics" in infos[-1]
    assert len(starts) > 6
    assert {symbol for symbol, _ in starts} == {"AAA", "BBB"}


def test_episode_metrics_reconcile_with_the_steps(make_arrays) -> None:
    env = IntradayTradingEnv(make_arrays(n_sessions=3, seed=5), EnvConfig(window=3), mode="eval")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    infos, rewards = [], []
    done = False
    while not done:
        _, reward, terminated, truncated, info = env.step(int(rng.integers(3)))
        infos.append(info)
        rewards.append(reward)
        done = terminated or truncated
    metrics = infos[-1]["episode_metrics"]
    assert metrics["net_pnl"] == pytest.approx(sum(i["net_pnl"] for i in infos), abs=1e-6)
    assert metrics["final_equity"] == infos[-1]["equity"]
    assert metrics["costs_total"] == pytest.approx(sum(i["cost"] for i in infos))
    assert metrics["turnover_penalty_total"] == pytest.approx(
        sum(i["turnover_penalty"] for i in infos)
    )
    assert metrics["risk_penalty_total"] == pytest.approx(sum(i["risk_penalty"] for i in infos))
    assert metrics["reward_total"] == pytest.approx(sum(rewards))
    closed = [pnl for i in infos for pnl in i["closed_trade_pnl"]]
    assert metrics["n_trades"] == len(closed)
    assert metrics["win_rate"] == pytest.approx(sum(p > 0 for p in closed) / len(closed))
    assert metrics["n_steps"] == len(infos)
    returns = np.diff([50_000.0] + [i["equity"] for i in infos]) / (
        [50_000.0] + [i["equity"] for i in infos[:-1]]
    )
    sharpe = returns.mean() / returns.std(ddof=1) * np.sqrt(252 * 390)
    assert metrics["sharpe"] == pytest.approx(sharpe, rel=1e-6)
    equity = np.array([50_000.0] + [i["equity"] for i in infos])
    peak = np.maximum.accumulate(equity)
    assert metrics["max_drawdown"] == pytest.approx(((peak - equity) / peak).max())
    assert metrics["n_sessions"] == 3
    assert metrics["nonfinite_rewards"] == 0


def test_observation_layout_market_regime_and_risk_columns(make_arrays) -> None:
    arrays = make_arrays(n_sessions=2, bars_per_session=10, seed=3)
    config = EnvConfig(
        window=4, include_regime=True, drawdown_limits={"max_consecutive_drawdown_steps": None}
    )
    env = IntradayTradingEnv(arrays, config, mode="eval")
    obs, _ = env.reset(seed=0)
    assert env.feature_names[-5:] == RISK_FEATURES
    assert obs.shape == (4, 6 + 4 + 5) and obs.dtype == np.float32
    np.testing.assert_array_equal(obs[:, :6], np.clip(arrays.features[0:4], -10, 10))
    np.testing.assert_array_equal(obs[:, 6:10], np.eye(4, dtype=np.float32)[arrays.regime[0:4]])
    np.testing.assert_array_equal(obs[:, 10:14], 0.0)
    for _ in range(3):
        obs, _, _, _, info = env.step(LONG)
    last = obs[-1, 10:]
    assert last[0] == pytest.approx(info["position"] * info["price"] / info["equity"], rel=1e-6)
    assert last[2] == pytest.approx(info["drawdown"], abs=1e-7)
    assert last[3] == pytest.approx(info["turnover_today"], rel=1e-6)
    assert last[4] == pytest.approx((9 - info["bar_index"]) / 9, rel=1e-6)
    assert env.observation_space.contains(obs)


def test_unrealised_pnl_feature_is_price_pnl_over_capital(make_arrays) -> None:
    arrays = ladder(make_arrays, n_sessions=1, bars=10)
    env = IntradayTradingEnv(arrays, plain(include_risk_features=True), mode="eval")
    env.reset(seed=0)
    obs, _, _, _, info = env.step(LONG)
    expected = info["position"] * (arrays.close[1] - arrays.open[1]) / 50_000.0
    assert obs[-1, -4] == pytest.approx(expected, rel=1e-5)


def test_non_finite_reward_is_zeroed_counted_logged_and_halts(make_arrays, caplog) -> None:
    close = np.array([1e-300, 1e10, 1e10, 1e10])
    arrays = make_arrays(n_sessions=1, bars_per_session=4, close=close, open_=np.full(4, 1e-300))
    env = IntradayTradingEnv(arrays, plain(costs={"commission_bps": 0.0}), mode="eval")
    for _ in range(2):
        env.reset()
        with caplog.at_level(logging.WARNING, logger="trader_env.env.reward"):
            _, reward, terminated, _, info = env.step(LONG)
        assert reward == 0.0
        assert info["reward_nonfinite"] == 1
        assert terminated and info["episode_metrics"]["halt_reason"] == "non_finite_equity"
        assert info["episode_metrics"]["nonfinite_rewards"] == 1
    assert len(caplog.records) == 2, "one warning per episode"


def test_curriculum_stage_switch_applies_at_the_next_session(make_arrays) -> None:
    arrays = make_arrays(n_sessions=3, bars_per_session=5)
    env = IntradayTradingEnv(arrays, plain(curriculum={"enabled": True}), mode="eval")
    assert env.turnover_limit == 0.008
    env.reset(seed=0)
    env.set_curriculum_stage(2)
    assert env.curriculum_stage == 0, "not in the middle of a session"
    play(env, [FLAT] * 4)
    assert env.turnover_limit == 0.008, "bar 4 is the first session's last bar"
    play(env, [FLAT])
    assert env.curriculum_stage == 2 and env.turnover_limit == 0.02
    with pytest.raises(ValueError, match="curriculum stage must be in"):
        env.set_curriculum_stage(3)
    disabled = IntradayTradingEnv(arrays, plain(), mode="eval")
    with pytest.raises(RuntimeError, match="curriculum is disabled"):
        disabled.set_curriculum_stage(1)


def test_invalid_data_and_actions_are_refused(make_arrays, caplog) -> None:
    good = make_arrays()
    bad_close = good.close.copy()
    bad_close[7] = np.nan
    bad = make_arrays(close=bad_close, open_=good.open, symbol="BAD")
    with pytest.raises(ValueError, match=r"MarketArrays\[BAD\]\.close: 1 prices .* row 7"):
        IntradayTradingEnv(bad)
    with pytest.raises(ValueError, match="window \\+ 1 = 6"):
        IntradayTradingEnv(make_arrays(n_sessions=1, bars_per_session=5))
    other = make_arrays(n_features=4, symbol="OTHER")
    with pytest.raises(ValueError, match="share one observation layout"):
        IntradayTradingEnv([good, other])
    with pytest.raises(ValueError, match="at least one MarketArrays"):
        IntradayTradingEnv([])
    env = IntradayTradingEnv(good)
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(LONG)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action must be 0"):
        env.step(3)
    features = good.features.copy()
    features[3, 2] = np.inf
    noisy = MarketArrays(**{**good.__dict__, "features": features})
    with caplog.at_level(logging.WARNING, logger="trader_env.env.step_data"):
        obs, _ = IntradayTradingEnv(noisy, EnvConfig(window=5), mode="eval").reset()
    assert obs[3, 2] == 0.0
    assert "1 non-finite feature values" in caplog.text
