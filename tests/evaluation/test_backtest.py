"""Backtest runner against the real environment with small real policies (no env mocks)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import polars as pl
import pytest

from trader_env.contracts import VOL_BUCKET_EXTRA, VOL_BUCKETS, MarketArrays
from trader_env.env import EnvConfig
from trader_env.env.config import DrawdownLimitsConfig
from trader_env.env.costs import cost_rates
from trader_env.evaluation.backtest import BACKTEST_METRIC_KEYS, run_backtest
from trader_env.evaluation.metrics import compute_metrics

MarketFactory = Callable[..., MarketArrays]


def test_always_long_is_buy_and_hold_minus_one_entry_cost(
    market: MarketArrays, entry_cost_config: EnvConfig, constant_policy: type
) -> None:
    config = entry_cost_config
    result = run_backtest(constant_policy(2), [market], config)
    bars = result.bars
    start = config.window - 1
    assert bars.height == len(market) - 1 - start  # one row per step
    capital = config.initial_capital
    entry_cost = capital * (
        cost_rates(market.close, config.costs)[start] + config.costs.commission_bps * 1e-4
    )
    assert entry_cost > 0.0
    expected = capital * market.close[start + 1 :] / market.close[start] - entry_cost
    np.testing.assert_allclose(bars["equity"].to_numpy(), expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(bars["benchmark_equity"].to_numpy(), expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        result.daily_returns.to_numpy(), result.benchmark_daily_returns.to_numpy(), atol=1e-12
    )
    assert bars["cost"].sum() == pytest.approx(entry_cost, abs=1e-9)
    assert result.traded_notional_per_day.iloc[0] == pytest.approx(capital)
    assert result.traded_notional_per_day.iloc[1:].sum() == 0.0
    assert result.closed_trades.is_empty() and result.halts.is_empty()
    assert math.isnan(result.metrics()["information_ratio"])  # zero tracking error


def test_always_flat_has_zero_returns(market: MarketArrays, constant_policy: type) -> None:
    result = run_backtest(constant_policy(1), [market], EnvConfig())
    assert (result.daily_returns == 0.0).all()
    assert (result.bars["equity"] == EnvConfig().initial_capital).all()
    metrics = result.metrics()
    assert metrics["total_return"] == 0.0 and metrics["daily_turnover"] == 0.0
    assert math.isnan(metrics["sharpe"]) and math.isnan(metrics["win_rate"])
    assert metrics["n_trades"] == 0.0 and metrics["share_days_within_drawdown"] == 1.0


def test_daily_returns_sessions_and_reconciliation(
    market: MarketArrays, momentum_policy: object
) -> None:
    config = EnvConfig()  # realistic: costs, penalties, flat at every session end
    result = run_backtest(momentum_policy, [market], config)
    bars = result.bars
    capital = config.initial_capital
    final = bars["equity"][-1]
    # Money adds up: per-bar P&L, daily returns and closed trades all give the same total.
    assert bars["net_pnl"].sum() == pytest.approx(final - capital, abs=1e-6)
    assert np.prod(1 + result.daily_returns.to_numpy()) * capital == pytest.approx(final)
    # Flat at every session end: all P&L is realised in closed trades (costs included).
    assert result.closed_trades["net_pnl"].sum() == pytest.approx(final - capital, abs=1e-6)
    # One daily return per New York session, from the sessions' last equities.
    last = bars.group_by("session", maintain_order=True).agg(pl.col("equity").last())
    equity = last["equity"].to_numpy()
    expected = equity / np.concatenate(([capital], equity[:-1])) - 1
    np.testing.assert_allclose(result.daily_returns.to_numpy(), expected, rtol=1e-12)
    assert [d.date() for d in result.daily_returns.index] == last["session"].to_list()
    assert len(result.daily_returns) == 4
    notional = bars.group_by("session", maintain_order=True).agg(pl.col("traded_notional").sum())
    np.testing.assert_allclose(
        result.traded_notional_per_day.to_numpy(), notional["traded_notional"].to_numpy()
    )
    # Rewards are the env's scaled money change net of penalties.
    reconciled = bars["reward"].sum() / config.reward_scaling + (
        bars["turnover_penalty"].sum() + bars["risk_penalty"].sum()
    )
    assert reconciled == pytest.approx(final - capital, abs=1e-6)


def test_metrics_merge_every_family(market: MarketArrays, momentum_policy: object) -> None:
    result = run_backtest(momentum_policy, [market], EnvConfig())
    metrics = result.metrics(drawdown_limit=0.001)
    assert metrics["sharpe"] == compute_metrics(result.daily_returns)["sharpe"]
    wins = (result.closed_trades["net_pnl"] > 0).mean()
    assert metrics["win_rate"] == pytest.approx(wins)
    expected_turnover = result.traded_notional_per_day.mean() / EnvConfig().initial_capital
    assert metrics["daily_turnover"] == pytest.approx(expected_turnover)
    share = np.mean(-result.intraday_drawdowns() < 0.001)
    assert metrics["share_days_within_drawdown"] == pytest.approx(share)
    assert 0.0 <= share < 1.0  # a 0.1 % limit is breached on some days
    table = result.regime_table(min_bars=1)
    for row in table.iter_rows(named=True):
        assert metrics[f"bars_{row['regime']}"] == row["n_bars"]
    assert sum(metrics[f"bars_{r}"] for r in table["regime"]) == result.bars.height
    assert "regime_degradation" in metrics and "benchmark_sharpe" in metrics
    assert set(metrics) == set(BACKTEST_METRIC_KEYS), "the names kept next to the code"


def test_bars_and_metrics_carry_the_volatility_bucket(
    market: MarketArrays, momentum_policy
) -> None:
    """All three volatility thresholds reach the report: each bar's bucket (from the arrays'
    extras) is in the per-bar frame, the per-bucket table and the metrics."""
    codes = (np.arange(len(market)) // 10 % 4).astype(np.int8)
    bucketed = dataclasses.replace(market, extras={VOL_BUCKET_EXTRA: codes})
    result = run_backtest(momentum_policy, [bucketed], EnvConfig())
    bars = result.bars
    first = len(market) - bars.height
    expected = np.asarray(VOL_BUCKETS)[codes[first:]]
    assert bars["vol_bucket"].cast(pl.String).to_list() == expected.tolist()
    table = result.vol_bucket_table(min_bars=1)
    assert table["n_bars"].sum() == bars.height
    metrics = result.metrics()
    for row in table.iter_rows(named=True):
        assert metrics[f"bars_vol_{row['vol_bucket']}"] == row["n_bars"]
    plain = run_backtest(momentum_policy, [market], EnvConfig())
    assert plain.bars["vol_bucket"].null_count() == plain.bars.height


def test_recurrent_state_and_episode_start_are_carried(
    make_market: MarketFactory, momentum_policy: object
) -> None:
    markets = [make_market("AAA", seed=1), make_market("BBB", seed=2, n_sessions=3)]
    result = run_backtest(momentum_policy, markets, EnvConfig())
    starts = np.array(momentum_policy.episode_starts)  # type: ignore[attr-defined]
    assert starts[0].all() and not starts[1:].any()
    # Symbols of different lengths run in lockstep; each keeps its own rows.
    counts = dict(result.bars.group_by("symbol").len().iter_rows())
    assert counts == {"AAA": 4 * 30 - 5, "BBB": 3 * 30 - 5}
    assert len(starts) == max(counts.values())


def test_portfolio_of_symbols_sums_equity(
    make_market: MarketFactory, entry_cost_config: EnvConfig, constant_policy: type
) -> None:
    markets = [make_market("AAA", seed=1), make_market("BBB", seed=2)]
    config = entry_cost_config
    result = run_backtest(constant_policy(2), markets, config)
    singles = [run_backtest(constant_policy(2), [m], config) for m in markets]
    last = [
        s.bars.group_by("session", maintain_order=True).agg(pl.col("equity").last())
        for s in singles
    ]
    total = last[0]["equity"].to_numpy() + last[1]["equity"].to_numpy()
    expected = total / np.concatenate(([2 * config.initial_capital], total[:-1])) - 1
    np.testing.assert_allclose(result.daily_returns.to_numpy(), expected, rtol=1e-12)
    assert result.metrics()["daily_turnover"] == pytest.approx(
        result.traded_notional_per_day.mean() / (2 * config.initial_capital)
    )


def _halting_config(config: EnvConfig) -> EnvConfig:
    limits = DrawdownLimitsConfig(
        max_daily_drawdown_pct=0.004, halt_on_breach=True, max_consecutive_drawdown_steps=None
    )
    return config.model_copy(update={"drawdown_limits": limits})


def test_halt_is_flat_until_the_next_session_then_resumes(
    make_market: MarketFactory, entry_cost_config: EnvConfig, momentum_policy: object
) -> None:
    falling = make_market("DROP", seed=4, drift=-0.0005)
    config = _halting_config(entry_cost_config)
    result = run_backtest(momentum_policy, [falling], config)
    bars = result.bars
    assert result.halts.height >= 2 and set(result.halts["reason"]) == {"daily_drawdown"}
    assert bars.height == len(falling) - config.window  # the whole split is covered
    halted = bars.filter(pl.col("halted"))
    assert (halted["position"] == 0.0).all() and (halted["bar_return"] == 0.0).all()
    # Flat from the halt to the first bar of the next session, then trading again.
    first_halt = result.halts["ts"][0]
    later_sessions = bars.filter(pl.col("ts") > first_halt)["session"].unique().sort()
    assert later_sessions.len() >= 2
    next_day = bars.filter(pl.col("session") == later_sessions[1])
    assert next_day["halted"][0] and not next_day["halted"][1]
    assert (next_day["position"] != 0.0).any()
    # The resumed symbol starts a new episode: the policy saw episode_start again.
    starts = np.array(momentum_policy.episode_starts)  # type: ignore[attr-defined]
    assert starts[1:].sum() == result.halts.height - (1 if bars["halted"][-1] else 0)
    # Money still adds up across the resumed environments.
    final = bars["equity"][-1]
    assert bars["net_pnl"].sum() == pytest.approx(final - config.initial_capital, abs=1e-6)
    assert result.metrics()["n_halts"] == result.halts.height


def test_halt_without_resume_stays_flat_to_the_end(
    make_market: MarketFactory, entry_cost_config: EnvConfig, constant_policy: type
) -> None:
    falling = make_market("DROP", seed=4, drift=-0.002)
    config = _halting_config(entry_cost_config)
    result = run_backtest(constant_policy(2), [falling], config, resume_after_halt=False)
    assert result.halts.height == 1
    halted = result.bars.filter(pl.col("ts") > result.halts["ts"][0])
    assert halted["halted"].all() and halted["equity"].n_unique() == 1
    assert result.bars.height == len(falling) - config.window


def test_bad_input_is_refused(market: MarketArrays, constant_policy: type) -> None:
    with pytest.raises(ValueError, match="unique"):
        run_backtest(constant_policy(1), [market, market], EnvConfig())
    with pytest.raises(ValueError, match="at least one"):
        run_backtest(constant_policy(1), [], EnvConfig())


class _NoOptimizer:
    """Stands in for Adam: a backtest only runs the forward pass, and creating a torch
    optimizer imports torch._dynamo (~2.5 s), which would dominate this test."""

    def __init__(self, params: object, lr: float, **kwargs: object) -> None:
        self.lr = lr


def test_sb3_policies_are_deterministic(make_market: MarketFactory) -> None:
    import torch
    from sb3_contrib import RecurrentPPO
    from stable_baselines3 import PPO

    from trader_env.env import make_env

    torch.set_num_threads(1)
    markets = [make_market("AAA", seed=1, n_sessions=2), make_market("BBB", seed=2, n_sessions=2)]
    config = EnvConfig()
    env = make_env(config, arrays=[markets[0]], mode="eval")
    small = {"net_arch": [8], "optimizer_class": _NoOptimizer}
    models = [
        PPO("MlpPolicy", env, seed=3, device="cpu", policy_kwargs=small),
        RecurrentPPO(
            "MlpLstmPolicy",
            env,
            seed=3,
            device="cpu",
            policy_kwargs={**small, "lstm_hidden_size": 8},
        ),
    ]
    for model in models:
        first = run_backtest(model, markets, config)
        second = run_backtest(model, markets, config)
        assert first.bars.equals(second.bars)
        assert first.daily_returns.equals(second.daily_returns)
        assert first.closed_trades.equals(second.closed_trades)
        assert first.bars.height == 2 * (2 * 30 - 5)
