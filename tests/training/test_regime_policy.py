"""Phase 6's regime-adaptive policy: smoothed routing, one object with predict, one file that
loads like any model, specialists trained from a warm start (the previous phase or a router)."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from trader_env.contracts import REGIMES
from trader_env.evaluation.backtest import run_backtest
from trader_env.training import algorithm_class, train_phase
from trader_env.training.regime_policy import (
    GENERALIST,
    REGIME_ROUTER,
    RegimeRouterPolicy,
    dominant_regime_sessions,
    is_router_file,
    specialist_markets,
)
from trader_env.workflow import load_policy


class Constant:
    """A stand-in specialist that always answers ``action`` (records the rows it saw)."""

    def __init__(self, action: int) -> None:
        self.action = action
        self.calls: list[int] = []

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        self.calls.append(len(observation))
        return np.full(len(observation), self.action), None


def observations(codes: list[int], n_columns: int = 6) -> list[np.ndarray]:
    """One ``(1, window 2, n_columns)`` observation per regime code, one-hot in columns 2..5."""
    out = []
    for code in codes:
        obs = np.zeros((1, 2, n_columns), dtype=np.float32)
        obs[0, -1, 2 + code] = 1.0
        out.append(obs)
    return out


def router(decay: float = 0.95) -> RegimeRouterPolicy:
    models = {regime: Constant(i) for i, regime in enumerate(REGIMES[:3])}
    models[GENERALIST] = Constant(1)
    routes = [*REGIMES[:3], GENERALIST]
    return RegimeRouterPolicy(models, routes, [2, 3, 4, 5], decay)


def play(policy: RegimeRouterPolicy, codes: list[int]) -> list[int]:
    state, actions = None, []
    for i, obs in enumerate(observations(codes)):
        action, state = policy.predict(obs, state, np.array([i == 0]))
        actions.append(int(action[0]))
    return actions


def test_a_flickering_label_never_switches_the_specialist() -> None:
    codes = [0] * 50 + [2] * 5 + [0] * 50 + [2] * 13 + [0] * 20
    assert set(play(router(), codes)) == {0}, "5 and 13 bars never dominate with decay 0.95"


def test_a_persisting_regime_switches_after_14_bars_with_decay_095() -> None:
    actions = play(router(), [0] * 100 + [2] * 30)
    switch = actions.index(2) - 100
    # From a settled state, p(new) after k bars = 1 - 0.95^k, first above 0.5 at k = 14.
    assert switch == 13, "the 14th bar of the new regime is served by its specialist"
    assert play(router(decay=0.0), [0, 0, 2, 2]) == [0, 0, 2, 2], "no smoothing: immediate"


def test_episode_start_restarts_the_router_and_rare_regimes_use_the_generalist() -> None:
    policy = router()
    state = None
    for obs in observations([0] * 40):
        _, state = policy.predict(obs, state, np.array([False]))
    action, _ = policy.predict(observations([3])[0], state, np.array([True]))
    assert action.tolist() == [1], "a new episode starts in its own regime: the generalist's"


def test_rows_are_routed_to_their_own_specialist_only() -> None:
    policy = router(decay=0.0)
    batch = np.concatenate(observations([0, 1, 1, 2]))
    actions, _ = policy.predict(batch, None, np.ones(4, dtype=bool))
    assert actions.tolist() == [0, 1, 1, 2]
    assert [policy.models[r].calls for r in REGIMES[:3]] == [[1], [2], [1]]
    assert policy.models[GENERALIST].calls == [], "no row routed to it: not evaluated"


def test_specialists_train_on_the_sessions_their_regime_dominates(market) -> None:
    sessions = dominant_regime_sessions(market)
    assert sorted(s for ids in sessions.values() for s in ids) == sorted(
        np.unique(market.session_id).tolist()
    )
    markets, routes = specialist_markets([market], min_sessions=2, min_bars=100)
    for code, regime in enumerate(REGIMES):
        if routes[code] == regime:
            (arrays,) = markets[regime]
            assert set(np.unique(arrays.session_id)) == set(sessions[code])
        else:
            assert len(sessions[code]) < 2 and routes[code] == GENERALIST
    _, routes = specialist_markets([market], min_sessions=100, min_bars=100)
    assert routes == [GENERALIST] * len(REGIMES), "too few sessions: the generalist serves all"


@pytest.fixture(scope="module")
def trained_router(tmp_path_factory, market):
    from tests.training.conftest import _phase_config

    folder = tmp_path_factory.mktemp("router")
    phase5 = _phase_config(5)
    base = train_phase(phase5, [market], folder / "phase5.zip")
    config = _phase_config(6, {"regime_policy": {"min_sessions": 2}})
    result = train_phase(config, [market], folder / "phase6.zip", warm_start_path=base.model_path)
    return config, base, result


def test_phase_6_trains_one_router_file_from_phase_5(trained_router, market) -> None:
    config, _, result = trained_router
    assert result.algorithm == REGIME_ROUTER == "RegimeRouter"
    assert is_router_file(result.model_path) and not is_router_file(trained_router[1].model_path)
    with zipfile.ZipFile(result.model_path) as archive:
        names = set(archive.namelist())
    assert "manifest.json" in names and len(names) >= 3
    assert result.warm_start_note.count("warm-started") == len(names) - 1, result.warm_start_note
    assert result.diagnostics["finals"]["n_updates"] >= len(names) - 1
    assert result.timesteps > 0


def test_the_router_loads_like_any_model_and_backtests_unchanged(trained_router, market) -> None:
    config, _, result = trained_router
    policy = load_policy(result.algorithm, result.model_path)
    assert isinstance(policy, RegimeRouterPolicy)
    assert algorithm_class("RegimeRouter") is RegimeRouterPolicy
    assert policy.decay == 0.95
    first = run_backtest(policy, [market], config.env)
    again = run_backtest(load_policy(result.algorithm, result.model_path), [market], config.env)
    assert first.bars["action"].to_list() == again.bars["action"].to_list(), "deterministic"
    assert first.metrics()["n_days"] > 0


def test_retraining_continues_from_a_router_specialist_by_specialist(
    trained_router, market, tmp_path
) -> None:
    config, _, result = trained_router
    again = train_phase(config, [market], tmp_path / "next.zip", warm_start_path=result.model_path)
    with zipfile.ZipFile(result.model_path) as archive:
        models = len(archive.namelist()) - 1
    assert again.warm_start_note.count("warm-started") == models, again.warm_start_note
