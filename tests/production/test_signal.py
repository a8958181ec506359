"""The champion's signal is its own action on the observation of the latest bar."""

from __future__ import annotations

import numpy as np
import pytest

from trader_env.dataset import Dataset
from trader_env.env import EnvConfig
from trader_env.production import compute_signals, stored_sessions
from trader_env.workflow import load_policy


def test_signal_is_the_champions_action_on_the_latest_observation(
    leaning_model, market: Dataset, env_config: EnvConfig
) -> None:
    policy = load_policy("PPO", leaning_model(None))
    signals = compute_signals(policy, market, env_config)
    assert [s.symbol for s in signals] == ["SYNA", "SYNB"]
    last_session = stored_sessions(market)[-1]
    for signal in signals:
        bars = market.bars.filter(market.bars["symbol"] == signal.symbol)
        assert signal.bar_ts == bars["ts"].max(), "computed from the latest stored bar"
        assert signal.session == last_session
        assert signal.observation.shape == (env_config.window, signal.observation.shape[1])
        action, _ = policy.predict(signal.observation[None], deterministic=True)
        assert signal.action == int(action[0])
        assert signal.direction == signal.action - 1


@pytest.mark.parametrize(("lean", "position"), [(2, "long"), (1, "flat"), (0, "short")])
def test_signal_follows_a_leaning_champion(
    leaning_model, market: Dataset, env_config: EnvConfig, lean: int, position: str
) -> None:
    policy = load_policy("PPO", leaning_model(lean))
    (signal,) = compute_signals(policy, market, env_config, ["SYNB"])
    assert signal.position == position and signal.halted is None
    # The account the champion would hold now: it traded today (not flat) unless it leans flat.
    assert (signal.equity == env_config.initial_capital) == (lean == 1)
    assert np.isfinite(signal.observation).all()


def test_unknown_symbol_is_refused(leaning_model, market: Dataset, env_config: EnvConfig) -> None:
    policy = load_policy("PPO", leaning_model(2))
    with pytest.raises(ValueError, match=r"no stored features for symbol\(s\) \['XYZ'\]"):
        compute_signals(policy, market, env_config, ["XYZ"])
