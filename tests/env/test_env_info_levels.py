"""The three info levels report one accounting: what ``"bar"`` says bar by bar, ``"record"``
says at the episode's end, and ``"episode"`` and ``"record"`` step exactly as ``"bar"`` does."""

from __future__ import annotations

import numpy as np
import pytest

from trader_env.env import EnvConfig, IntradayTradingEnv
from trader_env.env.episode_record import RECORD_COLUMNS, EpisodeRecord

CONFIGS = {
    "realistic": EnvConfig(),
    "risk_halts": EnvConfig(
        drawdown_limits={"max_daily_drawdown_pct": 0.002, "halt_on_breach": True}
    ),
    "kelly": EnvConfig(position_sizing={"method": "kelly"}),
}


def _play(env: IntradayTradingEnv, actions: np.ndarray, seed: int) -> list[tuple]:
    obs, _ = env.reset(seed=seed)
    steps = []
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(int(action))
        steps.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            break
    return steps


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_levels_step_alike_and_the_record_is_the_bar_infos(make_arrays, name, mode) -> None:
    arrays = [make_arrays(n_sessions=4, seed=3)]
    config = CONFIGS[name].with_overrides({"episode_length": 50})
    actions = np.random.default_rng(11).integers(0, 3, 200)
    runs = {
        level: _play(IntradayTradingEnv(arrays, config, mode=mode, info=level), actions, 5)
        for level in ("bar", "episode", "record")
    }
    bar = runs["bar"]
    assert bar[-1][2] or bar[-1][3]  # the episode ended within the actions
    for level in ("episode", "record"):
        steps = runs[level]
        assert len(steps) == len(bar)
        for (obs, reward, term, trunc, info), reference in zip(steps, bar, strict=True):
            np.testing.assert_array_equal(obs, reference[0])
            assert (reward, term, trunc) == reference[1:4]
            if not (term or trunc):
                assert info == {}  # lean: nothing per bar
        assert steps[-1][4]["episode_metrics"] == bar[-1][4]["episode_metrics"]
    record: EpisodeRecord = runs["record"][-1][4]["episode_record"]
    assert record.values.shape == (len(bar), len(RECORD_COLUMNS))
    infos = [step[4] for step in bar]
    np.testing.assert_array_equal(record.column("bar"), [i["bar_index"] for i in infos])
    np.testing.assert_array_equal(record.column("action"), actions[: len(bar)])
    np.testing.assert_array_equal(record.column("reward"), [step[1] for step in bar])
    for name_in_record, key in (
        ("equity", "equity"),
        ("position", "position"),
        ("cost", "cost"),
        ("turnover_penalty", "turnover_penalty"),
        ("risk_penalty", "risk_penalty"),
        ("net_pnl", "net_pnl"),
        ("traded_notional", "traded_notional"),
    ):
        np.testing.assert_array_equal(record.column(name_in_record), [i[key] for i in infos])
    if name == "risk_halts":
        assert record.risk_events  # the case of a halt is exercised
    if name == "realistic":
        assert record.closed_trades  # and of closed trades
    assert record.risk_events == tuple(
        (i["bar_index"], i["risk_event"]) for i in infos if i["risk_event"] is not None
    )
    assert record.closed_trades == tuple(
        (i["bar_index"], pnl) for i in infos for pnl in i["closed_trade_pnl"]
    )


def test_unknown_info_level_is_refused(make_arrays) -> None:
    with pytest.raises(ValueError, match="info must be one of"):
        IntradayTradingEnv([make_arrays()], EnvConfig(), info="verbose")  # type: ignore[arg-type]
