"""Decision interval (``EnvConfig.decision_interval``): one step spans the bars to the next
decision, bar by bar the same as a one-bar environment holding the decided action."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from trader_env.env import EnvConfig, IntradayTradingEnv
from trader_env.env.decision_interval import SUMMED_KEYS, decision_bars

from .conftest import build_market_arrays

BARS_PER_SESSION = 23  # not a multiple of 5: the last interval of a session is shorter


def _arrays() -> Any:
    return build_market_arrays(n_sessions=4, bars_per_session=BARS_PER_SESSION, seed=3)


def _play_interval(config: EnvConfig, actions: np.ndarray) -> tuple[list[dict], list[float]]:
    """Play an eval episode deciding ``actions[t]`` at each decision bar ``t``: the step
    infos and rewards."""
    env = IntradayTradingEnv(_arrays(), config, mode="eval")
    env.reset(seed=0)
    infos, rewards = [], []
    done = False
    while not done:
        _, reward, terminated, truncated, info = env.step(int(actions[env.current_bar]))
        infos.append(info)
        rewards.append(reward)
        done = terminated or truncated
    return infos, rewards


def _per_bar(infos: list[dict]) -> list[dict]:
    return [bar for info in infos for bar in info.get("bars", (info,))]


def test_decision_bars_follow_the_session_clock() -> None:
    first = np.array([1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0], dtype=bool)
    last = np.array([0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1], dtype=bool)
    assert decision_bars(first, last, 3) == [
        *(True, False, False, True, False, False, True),  # offsets 0, 3 and the last bar
        *(True, False, False, True),
    ]
    assert decision_bars(first, last, 1) == [True] * 11
    with pytest.raises(ValueError, match="decision interval"):
        decision_bars(first, last, 0)


def test_interval_of_one_is_the_one_bar_step() -> None:
    """k = 1 steps one bar: no ``bars``/``reward`` keys, the same numbers as the default."""
    actions = np.random.default_rng(1).integers(0, 3, 4 * BARS_PER_SESSION)
    default, default_rewards = _play_interval(EnvConfig(), actions)
    one, one_rewards = _play_interval(EnvConfig(decision_interval=1), actions)
    assert one_rewards == default_rewards
    assert one == default
    assert all("bars" not in info and "reward" not in info for info in one)
    assert [info["bar_index"] for info in one] == list(range(5, 4 * BARS_PER_SESSION))


@pytest.mark.parametrize("execution", ["next_open", "close"])
def test_interval_equals_one_bar_steps_holding_the_decision(execution: str) -> None:
    """k = 5 booked bar by bar equals k = 1 fed the decided action at every bar of the
    interval: same fills, costs, penalties, equity and rewards; and the step's reward is
    the sum of its bars' (the reward identity holds per bar and per step)."""
    rng = np.random.default_rng(7)
    actions = rng.integers(0, 3, 4 * BARS_PER_SESSION)
    config = EnvConfig(
        execution=execution,
        turnover_penalty={"limit": 0.5},
        volatility_penalty={"penalty_lambda": 0.01},
    )
    infos, rewards = _play_interval(config.with_overrides({"decision_interval": 5}), actions)
    bars = _per_bar(infos)
    held = np.empty_like(actions)
    for info in infos:
        for bar in info["bars"]:
            held[bar["bar_index"] - 1] = actions[info["bars"][0]["bar_index"] - 1]
    one, one_rewards = _play_interval(config, held)
    assert len(bars) == len(one)
    for bar, single, single_reward in zip(bars, one, one_rewards, strict=True):
        assert bar["reward"] == single_reward
        assert {k: v for k, v in bar.items() if k != "reward"} == single
    scaling = config.reward_scaling
    for info, reward in zip(infos, rewards, strict=True):
        assert reward == pytest.approx(sum(bar["reward"] for bar in info["bars"]), abs=1e-12)
        assert info["reward"] == reward
        for key in SUMMED_KEYS:
            assert info[key] == pytest.approx(sum(bar[key] for bar in info["bars"]), abs=1e-9)
        identity = reward / scaling + info["turnover_penalty"] + info["risk_penalty"]
        assert identity == pytest.approx(info["net_pnl"], abs=1e-6)
    # Many bars held the decision, so the test compared more than one-bar steps.
    assert len(infos) < len(bars) / 3


def test_steps_end_at_decision_bars_and_never_cross_a_session() -> None:
    infos, _ = _play_interval(EnvConfig(decision_interval=5), np.full(200, 2))
    n = 4 * BARS_PER_SESSION
    for info in infos:
        indices = [bar["bar_index"] for bar in info["bars"]]
        assert 1 <= len(indices) <= 5
        assert len({index // BARS_PER_SESSION for index in indices}) == 1
        offset = indices[-1] % BARS_PER_SESSION
        assert offset % 5 == 0 or offset == BARS_PER_SESSION - 1 or indices[-1] == n - 1


def test_turnover_is_bounded_by_construction() -> None:
    """Flipping at every decision: at most one order per decision plus the session-end
    flatten, so a session trades at most (decisions + 1) x 2 x the position's notional."""
    flips = np.where(np.arange(4 * BARS_PER_SESSION) % 2 == 0, 0, 2)
    for k in (5, 10):
        config = EnvConfig(decision_interval=k)
        infos, _ = _play_interval(config, flips)
        per_session: dict[int, int] = {}
        for bar in _per_bar(infos):
            if bar["traded_notional"] > 0.0:
                session = (bar["bar_index"] - 1) // BARS_PER_SESSION
                per_session[session] = per_session.get(session, 0) + 1
        decisions = math.ceil(BARS_PER_SESSION / k) + 1
        assert max(per_session.values()) <= decisions + 1
        one, _ = _play_interval(EnvConfig(), flips)
        one_fills = sum(info["traded_notional"] > 0.0 for info in one)
        assert sum(per_session.values()) < one_fills / (k / 2)


def test_session_end_flatten_inside_an_interval() -> None:
    """An interval that reaches a session's last bar flattens there with costs, and the
    next session opens flat; the drawdown check still runs every bar."""
    config = EnvConfig(decision_interval=7)
    infos, _ = _play_interval(config, np.full(4 * BARS_PER_SESSION, 2))
    bars = {bar["bar_index"]: bar for bar in _per_bar(infos)}
    for session in range(4):
        last = session * BARS_PER_SESSION + BARS_PER_SESSION - 1
        assert bars[last]["position"] == 0.0
        assert bars[last]["traded_notional"] > 0.0
        assert bars[last]["cost"] > 0.0
        assert bars[last - 1]["position"] > 0.0
    # 23 bars: decisions at offsets 0, 7, 14, 21 and 22; the step from 21 ends at 22.
    ends = [info["bar_index"] % BARS_PER_SESSION for info in infos]
    assert ends[:6] == [7, 14, 21, 22, 0, 7]


def test_a_halt_ends_the_step_at_its_bar() -> None:
    """A risk halt inside an interval terminates at that bar, not at the interval's end."""
    n = 4 * BARS_PER_SESSION
    close = np.full(n, 100.0)
    close[8:] = 90.0  # a 10 % drop at bar 8 of the first session
    arrays = build_market_arrays(n_sessions=4, bars_per_session=BARS_PER_SESSION, close=close)
    config = EnvConfig(
        decision_interval=10,
        drawdown_limits={"max_daily_drawdown_pct": 0.05, "halt_on_breach": True},
    )
    env = IntradayTradingEnv(arrays, config, mode="eval")
    env.reset(seed=0)
    _, _, terminated, truncated, info = env.step(2)
    assert terminated and not truncated
    assert info["bar_index"] == 8
    assert info["risk_event"] == "daily_drawdown"
    assert info["position"] == 0.0
    assert info["episode_metrics"]["halt_reason"] == "daily_drawdown"
