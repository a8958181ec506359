"""No look-ahead: changing the bars after t changes nothing the agent received up to bar t.

The step that ends at bar t (decided after bar t - 1, filled at open[t] or close[t - 1],
marked at close[t]) and every earlier step must give identical rewards, infos and
observations when every bar after t is changed: prices, features and regimes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trader_env.contracts import MarketArrays
from trader_env.env import EnvConfig, IntradayTradingEnv

ALL_ON = EnvConfig(
    window=4,
    include_regime=True,
    costs={"slippage_vol_scaling": True, "slippage_vol_window": 5},
    position_sizing={"method": "kelly", "min_trades": 2, "kelly_lookback_trades": 5},
    curriculum={"enabled": True},
    volatility_penalty={"vol_window": 5, "penalty_lambda": 0.01},
    drawdown_limits={"max_consecutive_drawdown_steps": None, "max_daily_drawdown_pct": 0.2},
)

KEYS = (
    "net_pnl",
    "cost",
    "turnover_penalty",
    "risk_penalty",
    "equity",
    "cash",
    "position",
    "price",
)


def perturb_after(arrays: MarketArrays, t: int, seed: int) -> MarketArrays:
    """A copy of ``arrays`` whose bars ``> t`` have different prices, features and regimes."""
    rng = np.random.default_rng(seed)
    n_later = len(arrays) - t - 1
    factor = np.exp(rng.normal(0.0, 0.05, n_later))
    fields = {}
    for name in ("open", "high", "low", "close"):
        values = getattr(arrays, name).copy()
        values[t + 1 :] *= factor * (1.01 if name == "open" else 1.0)
        fields[name] = values
    features = arrays.features.copy()
    features[t + 1 :] = rng.normal(0.0, 3.0, features[t + 1 :].shape).astype(np.float32)
    regime = arrays.regime.copy()
    regime[t + 1 :] = rng.integers(0, 4, n_later).astype(np.int8)
    return MarketArrays(**{**arrays.__dict__, **fields, "features": features, "regime": regime})


def run(arrays: MarketArrays, config: EnvConfig, actions: list[int]):
    env = IntradayTradingEnv(arrays, config, mode="eval")
    obs, info = env.reset(seed=0)
    trace = [(info["bar_index"], obs, 0.0, {})]
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        trace.append((info["bar_index"], obs, reward, info))
        if terminated or truncated:
            break
    return trace


@pytest.mark.parametrize("execution", ["next_open", "close"])
@settings(max_examples=40, deadline=None)
@given(t=st.integers(4, 58), seed=st.integers(0, 2**16), flatten=st.booleans())
def test_bars_after_t_cannot_change_anything_up_to_t(
    make_arrays, execution, t, seed, flatten
) -> None:
    arrays = make_arrays(n_sessions=3, bars_per_session=20, seed=seed % 7)
    config = ALL_ON.with_overrides({"execution": execution, "flatten_at_session_end": flatten})
    actions = np.random.default_rng(seed).integers(0, 3, 80).tolist()
    original = run(arrays, config, actions)
    changed = run(perturb_after(arrays, t, seed + 1), config, actions)
    compared = 0
    for (bar, obs, reward, info), (bar2, obs2, reward2, info2) in zip(
        original, changed, strict=False
    ):
        assert bar == bar2
        if bar > t:
            break
        compared += 1
        np.testing.assert_array_equal(obs, obs2)
        assert reward == reward2
        for key in KEYS:
            assert info.get(key) == info2.get(key), key
    assert compared == t - 2, "every step ending at bars 4..t was compared (plus the reset)"
    first_after = next(i for i, step in enumerate(original) if step[0] > t)
    assert not np.array_equal(original[first_after][1], changed[first_after][1]), (
        "the perturbation does reach the observation of bar t + 1"
    )
