"""Benchmark of the evaluation library: backtest throughput, metrics, reports.

Run: .venv/bin/python benchmarks/bench_evaluation.py  (prints a markdown table)
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch

from trader_env.contracts import REGIMES, MarketArrays
from trader_env.env import EnvConfig
from trader_env.env.config import DrawdownLimitsConfig
from trader_env.evaluation import compute_metrics, plot_equity, run_backtest, write_tearsheet

BARS = 390
DAY_US = 86_400 * 1_000_000
OPEN_US = (14 * 60 + 30) * 60 * 1_000_000


def market(symbol: str, seed: int, sessions: int) -> MarketArrays:
    rng = np.random.default_rng(seed)
    n = sessions * BARS
    log_ret = rng.normal(0.0, 0.0008, n)
    close = 100.0 * np.exp(np.cumsum(log_ret))
    open_ = np.concatenate(([100.0], close[:-1]))
    session = np.repeat(np.arange(sessions, dtype=np.int64), BARS)
    minute = np.tile(np.arange(BARS, dtype=np.int64), sessions)
    return MarketArrays(
        symbol=symbol,
        ts=(20_000 + session) * DAY_US + OPEN_US + minute * 60_000_000,
        open=open_,
        high=np.maximum(open_, close) * 1.0002,
        low=np.minimum(open_, close) * 0.9998,
        close=close,
        features=(np.column_stack([log_ret, np.roll(log_ret, 1)]) / 0.0008).astype(np.float32),
        feature_names=("ret_1", "ret_1_lag"),
        regime=(np.arange(n) // 500 % len(REGIMES)).astype(np.int8),
        session_id=session,
    )


class Momentum:
    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        return np.where(observation[:, -1, 0] > 0.0, 2, 0), state


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    torch.set_num_threads(1)
    from sb3_contrib import RecurrentPPO
    from stable_baselines3 import PPO

    from trader_env.env import make_env

    # Risk halts off so that every bar is a real environment step (a halt ends the episode
    # and the runner fills the rest of the split without stepping).
    config = EnvConfig().model_copy(
        update={
            "drawdown_limits": DrawdownLimitsConfig(
                max_daily_drawdown_pct=None, max_consecutive_drawdown_steps=None
            )
        }
    )
    sessions = 20
    one = [market("AAA", 1, sessions)]
    four = [market(s, i, sessions) for i, s in enumerate(("AAA", "BBB", "CCC", "DDD"))]
    env = make_env(config, arrays=one, mode="eval")
    ppo = PPO("MlpPolicy", env, seed=0, device="cpu")
    rppo = RecurrentPPO("MlpLstmPolicy", env, seed=0, device="cpu")
    rows = []
    for name, policy, data in (
        ("numpy momentum rule, 1 symbol", Momentum(), one),
        ("numpy momentum rule, 4 symbols", Momentum(), four),
        ("PPO MlpPolicy, 1 symbol", ppo, one),
        ("PPO MlpPolicy, 4 symbols (batched predict)", ppo, four),
        ("RecurrentPPO MlpLstmPolicy, 1 symbol", rppo, one),
        ("RecurrentPPO MlpLstmPolicy, 4 symbols (batched predict)", rppo, four),
    ):
        seconds, result = timed(lambda p=policy, d=data: run_backtest(p, d, config))
        steps = result.bars.filter(~pl.col("halted")).height
        rows.append(
            (
                f"run_backtest: {name}",
                f"{steps:,} steps",
                seconds,
                f"{steps / seconds:,.0f} steps/s",
            )
        )
    seconds, _ = timed(lambda: result.metrics(), repeat=3)
    rows.append(("BacktestResult.metrics()", f"{result.bars.height:,} bars", seconds, ""))
    rng = np.random.default_rng(0)
    import pandas as pd

    index = pd.bdate_range("2015-01-02", periods=2520)
    daily = pd.Series(rng.normal(0.0004, 0.01, 2520), index=index)
    bench = pd.Series(rng.normal(0.0003, 0.011, 2520), index=index)
    seconds, _ = timed(lambda: compute_metrics(daily, bench), repeat=5)
    rows.append(("compute_metrics (with benchmark)", "2,520 days", seconds, ""))
    with tempfile.TemporaryDirectory() as tmp:
        seconds, _ = timed(lambda: plot_equity(result.bars, Path(tmp) / "eq.png"))
        rows.append(("plot_equity PNG", f"{result.bars.height:,} bars", seconds, ""))
        seconds, _ = timed(
            lambda: write_tearsheet(
                result.daily_returns, result.benchmark_daily_returns, Path(tmp) / "t.html", "bench"
            )
        )
        rows.append(
            ("write_tearsheet (quantstats HTML)", f"{len(result.daily_returns)} days", seconds, "")
        )
    print("| operation | size | seconds | throughput |")
    print("|---|---:|---:|---:|")
    for name, size, seconds, rate in rows:
        print(f"| {name} | {size} | {seconds:.3f} | {rate} |")


if __name__ == "__main__":
    main()
