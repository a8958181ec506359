"""Training on a market and its mirror image (``training.mirror``): antithetic env copies and a
direction-neutral selection score."""

from __future__ import annotations

import dataclasses
import math

import pytest

from tests.evaluation.conftest import ConstantPolicy, MomentumPolicy
from tests.training.conftest import momentum_market
from trader_env.contracts import MarketArrays
from trader_env.env.config import EnvConfig
from trader_env.env.factory import make_vec_env
from trader_env.phase_config import load_phase_config
from trader_env.training import SelectionSlice, carve_selection_slice

TZ = "America/New_York"


def _mirror(market: MarketArrays) -> MarketArrays:
    """Prices reflected about the first close; the direction features (returns) negated."""
    square = market.close[0] ** 2
    features = market.features.copy()
    features[:, :2] *= -1.0  # last and 5-bar log returns; column 2 is a volatility
    return dataclasses.replace(
        market,
        open=square / market.open,
        high=square / market.low,
        low=square / market.high,
        close=square / market.close,
        features=features,
    )


def _episode_starts(vec_env, copy: int, n: int) -> list[int]:
    """First bar of the next ``n`` episodes that copy ``copy`` draws."""
    env = vec_env.envs[copy]
    return [int(env.reset()[1]["bar_index"]) for _ in range(n)]


def test_mirrored_copies_replay_their_partners_episodes_on_the_mirror() -> None:
    market = momentum_market(n_sessions=12)
    config = EnvConfig(episode_length=390)
    vec_env = make_vec_env(config, [market], 4, seed=11, monitor=False, mirrored=[_mirror(market)])
    vec_env.reset()
    starts = [int(info["bar_index"]) for info in vec_env.reset_infos]
    assert starts[0] == starts[2] and starts[1] == starts[3] and starts[0] != starts[1]
    assert _episode_starts(vec_env, 0, 5) == _episode_starts(vec_env, 2, 5)
    assert _episode_starts(vec_env, 1, 5) == _episode_starts(vec_env, 3, 5)
    # The pair sees the same bar in opposite directions.
    real, mirror = vec_env.envs[0].unwrapped, vec_env.envs[2].unwrapped
    assert real._market.close[5] == pytest.approx(market.close[5])
    assert mirror._market.close[5] * real._market.close[5] == pytest.approx(market.close[0] ** 2)
    vec_env.close()


def test_mirrored_copies_need_pairs_of_the_same_bars() -> None:
    market = momentum_market(n_sessions=4)
    with pytest.raises(ValueError, match="n_envs must be even"):
        make_vec_env(None, [market], 3, mirrored=[_mirror(market)])
    shifted = dataclasses.replace(market, ts=market.ts + 60_000_000)
    with pytest.raises(ValueError, match="does not have the bars"):
        make_vec_env(None, [market], 2, mirrored=[shifted])
    with pytest.raises(ValueError, match="training.n_envs must be even"):
        load_phase_config(2, profile="test", overrides={"training": {"mirror": True, "n_envs": 3}})


def test_holding_a_direction_scores_only_its_costs_on_a_slice_and_its_mirror() -> None:
    """On the real slice alone, a policy that is always long earns the slice's drift; scored on
    the slice and its mirror as one book, the drifts cancel and always-long and always-short
    score alike, while a timing policy keeps its edge in both."""
    market = momentum_market(seed=5, n_sessions=12)
    _, held, info = carve_selection_slice([market], 0.5, embargo_sessions=1)
    _, held_mirror, _ = carve_selection_slice([_mirror(market)], 0.5, embargo_sessions=1)
    env = EnvConfig()
    real = SelectionSlice(held, info, TZ)
    both = SelectionSlice(held, info, TZ, held_mirror)
    long_real, short_real = (real.score(ConstantPolicy(a), env) for a in (2, 0))
    assert long_real["net_pnl"] == pytest.approx(-short_real["net_pnl"], rel=0.2)
    long_both, short_both = (both.score(ConstantPolicy(a), env) for a in (2, 0))
    drift = abs(long_real["net_pnl"])
    assert abs(long_both["net_pnl"]) < 0.2 * drift and abs(short_both["net_pnl"]) < 0.2 * drift
    assert long_both["net_pnl"] == pytest.approx(short_both["net_pnl"], abs=0.2 * drift)
    # The market's momentum is the same in both directions: following it pays in both.
    timing_real, timing_both = real.score(MomentumPolicy(), env), both.score(MomentumPolicy(), env)
    assert timing_both["sharpe"] > 0.9 * timing_real["sharpe"] > 0
    assert timing_both["net_pnl"] == pytest.approx(2 * timing_real["net_pnl"], rel=0.05)
    flat = both.score(ConstantPolicy(1), env)
    assert {k: flat[k] for k in ("sharpe", "sharpe_per_day", "net_pnl", "daily_turnover")} == {
        "sharpe": 0.0,
        "sharpe_per_day": 0.0,
        "net_pnl": 0.0,
        "daily_turnover": 0.0,
    }
    assert math.isnan(flat["skew"]) and math.isnan(flat["kurtosis"])
