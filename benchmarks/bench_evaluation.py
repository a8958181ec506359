"""Benchmark of the evaluation library: backtest throughput (SB3 ``predict`` vs the fast
inference path, side by side), per-phase evaluation on SPY before and after, metrics, reports.

Run: .venv/bin/python benchmarks/bench_evaluation.py [--skip-spy]  (prints markdown tables)

"predict path" = ``run_backtest`` on an object whose ``predict`` calls the model's own
``predict`` (what the runner did before :func:`~trader_env.evaluation.inference.fast_policy`);
"fast path" = ``run_backtest`` on the model itself. Every pair is checked to give identical
per-bar results.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import torch
from polars.testing import assert_frame_equal

from trader_env.contracts import REGIMES, MarketArrays
from trader_env.env import EnvConfig
from trader_env.env.config import DrawdownLimitsConfig
from trader_env.evaluation import (
    compute_metrics,
    inference,
    plot_equity,
    run_backtest,
    write_tearsheet,
)

BARS = 390
DAY_US = 86_400 * 1_000_000
OPEN_US = (14 * 60 + 30) * 60 * 1_000_000
SPY_BUDGET = 20_000  # timesteps of the SPY phase model
REPEAT = 3  # backtests: best of 3 per path (the machine is shared, single runs are noisy)


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


class PredictPath:
    """The model behind a plain ``predict``: ``fast_policy`` does not recognise it."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, *args: Any, **kwargs: Any) -> tuple[np.ndarray, Any]:
        return self.model.predict(*args, **kwargs)


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def per_call_us(fn, calls: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def trained_models(config: EnvConfig, data: list[MarketArrays]) -> dict[str, Any]:
    """PPO with the dev profile's network (64 x 64 pi and vf) and RecurrentPPO with the full
    profile's (LSTM 128, 128 x 128), each trained briefly so that its logits are not the
    near-uniform ones of a fresh network."""
    from sb3_contrib import RecurrentPPO
    from stable_baselines3 import PPO

    from trader_env.env import make_vec_env
    from trader_env.training.factory import make_sb3_logger

    env = make_vec_env(config, data, 2, seed=0)
    # SB3's default logger would leave a folder in /tmp per model.
    quiet = make_sb3_logger()
    ppo = PPO(
        "MlpPolicy",
        env,
        n_steps=512,
        batch_size=256,
        policy_kwargs={"net_arch": {"pi": [64, 64], "vf": [64, 64]}},
        seed=0,
        device="cpu",
    )
    ppo.set_logger(quiet)
    ppo.learn(8_192)
    rppo = RecurrentPPO(
        "MlpLstmPolicy",
        env,
        n_steps=256,
        batch_size=256,
        n_epochs=4,
        policy_kwargs={"net_arch": [128, 128], "lstm_hidden_size": 128},
        seed=0,
        device="cpu",
    )
    rppo.set_logger(quiet)
    rppo.learn(1_024)
    return {"PPO MlpPolicy 64x64": ppo, "RecurrentPPO MlpLstmPolicy LSTM 128 + 128x128": rppo}


def cpu_timed(fn) -> tuple[float, float, object]:
    """Wall and CPU seconds of this process for one call of ``fn``, and its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def backtest_rows(config: EnvConfig, one: list, four: list, models: dict[str, Any]) -> list:
    """Per backtest: steps, best wall and CPU seconds of each path (runs interleaved,
    predict then fast, ``REPEAT`` times), fast-path fallback calls."""
    rows = []
    for name, data in (("1 symbol", one), ("4 symbols", four)):
        wall, cpu, result = cpu_timed(lambda d=data: run_backtest(Momentum(), d, config))
        steps = result.bars.filter(~pl.col("halted")).height
        rows.append((f"numpy momentum rule (runner floor), {name}", steps, (wall, cpu), None, None))
    for model_name, model in models.items():
        for name, data in (("1 symbol", one), ("4 symbols", four)):
            fast = inference.fast_policy(model)
            slow_best = fast_best = (float("inf"), float("inf"))
            for _ in range(REPEAT):
                *slow_t, slow = cpu_timed(
                    lambda m=model, d=data: run_backtest(PredictPath(m), d, config)
                )
                *fast_t, result = cpu_timed(lambda f=fast, d=data: run_backtest(f, d, config))
                slow_best = tuple(map(min, slow_best, slow_t))
                fast_best = tuple(map(min, fast_best, fast_t))
                assert_frame_equal(result.bars, slow.bars)  # identical actions and accounting
            steps = result.bars.filter(~pl.col("halted")).height
            rows.append((f"{model_name}, {name}", steps, slow_best, fast_best, fast.fallback_calls))
    return rows


def per_call_predict_us(policy: Any, batch: np.ndarray, calls: int) -> float:
    """Per-call cost of ``policy.predict`` on ``batch``, carrying the recurrent state."""
    starts = np.zeros(len(batch), dtype=bool)
    state: list[Any] = [None]

    def call() -> None:
        _, state[0] = policy.predict(
            batch, state=state[0], episode_start=starts, deterministic=True
        )

    return per_call_us(call, calls)


def torch_actor_us(policy: Any, batch: np.ndarray, calls: int) -> float:
    """Per-call cost of a plain torch forward of a PPO actor (no SB3 wrapping)."""

    def forward() -> np.ndarray:
        with torch.no_grad():
            x = torch.from_numpy(batch).reshape(len(batch), -1)
            return policy.action_net(policy.mlp_extractor.policy_net(x)).argmax(1).numpy()

    return per_call_us(forward, calls)


def inference_rows(models: dict[str, Any], one: list, config: EnvConfig) -> list:
    """Per-call cost of predict, fast path and (PPO) a plain torch forward of the actor."""
    from trader_env.env import make_env

    env = make_env(config, arrays=one, mode="eval")
    obs1 = env.reset()[0][None]
    obs4 = np.repeat(obs1, 4, axis=0)
    rows = []
    for model_name, model in models.items():
        fast = inference.fast_policy(model)
        calls = 300 if "Recurrent" in model_name else 1_000
        for batch in (obs1, obs4):
            rows.append(
                (
                    f"{model_name}, batch {len(batch)}",
                    per_call_predict_us(model, batch, calls),
                    per_call_predict_us(fast, batch, calls * 3),
                )
            )
        if "Recurrent" not in model_name:
            torch_us = torch_actor_us(model.policy, obs1, 3_000)
            rows.append((f"{model_name}, batch 1, plain torch actor forward", None, torch_us))
    return rows


def spy_phase_rows(phase: int) -> list:
    """Phase ``phase``'s whole evaluation (validation + test backtests, metrics, reports) on
    SPY, with the predict path (``fast_policy`` replaced by the identity, i.e. the runner as it
    was) and with the fast path; the model is trained for ``SPY_BUDGET`` timesteps."""
    from trader_env.dataset import default_market_data
    from trader_env.phase_config import load_phase_config
    from trader_env.workflow import evaluate_phase_model, load_policy, train_phase_model

    market_data = default_market_data(profile="dev")
    config = load_phase_config(
        phase,
        "dev",
        # Keep the trained weights even when not significant: an abstaining model has no
        # network, and both paths would time a policy that never computes anything.
        overrides={
            "training": {"total_timesteps": SPY_BUDGET, "selection": {"significance": None}}
        },
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        storage = Path(tmp)
        train_s, model = timed(lambda: train_phase_model(config, market_data, storage, "bench"))
        rows.append((f"train phase {phase} ({SPY_BUDGET:,} timesteps)", train_s, None))
        from trader_env.evaluation import backtest

        env = model.config.env  # the phase's own costs: what this benchmark trained with

        original = backtest.fast_policy
        backtest.fast_policy = lambda m: m  # the runner before the fast path
        try:
            slow_s, slow = timed(lambda: evaluate_phase_model(model, market_data, storage, env))
        finally:
            backtest.fast_policy = original
        fast_s, fast = timed(lambda: evaluate_phase_model(model, market_data, storage, env))
        for part in slow.metrics:
            for key, value in slow.metrics[part].items():
                other = fast.metrics[part][key]
                assert value == other or (np.isnan(value) and np.isnan(other)), (part, key)
        parts = {part: market_data.arrays(part) for part in ("validation", "test")}
        steps = sum(len(a) - config.env.window for arrays in parts.values() for a in arrays)
        rows.append(
            (
                f"evaluate phase {phase} (validation + test, {steps:,} steps, metrics, reports)",
                slow_s,
                fast_s,
            )
        )
        policy = load_policy(model.algorithm, model.model_path)
        timezone = market_data.splits.session_timezone

        def backtests(p: Any) -> None:
            for arrays in parts.values():
                run_backtest(p, arrays, config.env, session_timezone=timezone)

        slow_s, _ = timed(lambda: backtests(PredictPath(policy)))
        fast_s, _ = timed(lambda: backtests(policy))
        rows.append((f"of which the two backtests ({steps:,} steps)", slow_s, fast_s))
        rows.append(untrained_spy_row(parts["validation"][:1], config.env, timezone))
    return rows


def untrained_spy_row(arrays: list[MarketArrays], env: EnvConfig, timezone: str) -> tuple:
    """One SPY validation symbol backtested by a fresh PPO (near-uniform logits: the most
    near-ties the fast path meets), SB3 ``predict`` loop against ``run_backtest``; the two
    must give the same bars."""
    from stable_baselines3 import PPO

    from trader_env.env import make_env

    model = PPO("MlpPolicy", make_env(env, arrays=arrays, mode="eval"), seed=0, device="cpu")
    slow_s, slow = timed(
        lambda: run_backtest(PredictPath(model), arrays, env, session_timezone=timezone)
    )
    fast_s, fast = timed(lambda: run_backtest(model, arrays, env, session_timezone=timezone))
    assert_frame_equal(slow.bars, fast.bars)
    steps = sum(len(a) - env.window for a in arrays)
    return (f"untrained PPO, one validation symbol ({steps:,} steps)", slow_s, fast_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-spy", action="store_true", help="skip the SPY phase evaluation")
    parser.add_argument("--spy-phase", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"load average before: {load_average()}")
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
    train_s, models = timed(lambda: trained_models(config, four))
    print(f"\nmodels trained in {train_s:.1f} s\n")

    print(
        "| backtest | steps | predict path s (CPU s) | fast path s (CPU s) | predict steps/s "
        "| fast steps/s | speedup wall | speedup CPU | fallback calls |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, steps, slow, fast, fallbacks in backtest_rows(config, one, four, models):
        if fast is None:
            print(
                f"| {name} | {steps:,} | {slow[0]:.3f} ({slow[1]:.3f}) | | "
                f"{steps / slow[0]:,.0f} | | | | |"
            )
        else:
            print(
                f"| {name} | {steps:,} | {slow[0]:.3f} ({slow[1]:.3f}) | {fast[0]:.3f} "
                f"({fast[1]:.3f}) | {steps / slow[0]:,.0f} | {steps / fast[0]:,.0f} | "
                f"{slow[0] / fast[0]:.1f}x | {slow[1] / fast[1]:.1f}x | {fallbacks} |"
            )
    print(f"\nload average: {load_average()}\n")
    print("| inference call | predict us | fast us | speedup |")
    print("|---|---:|---:|---:|")
    for name, slow, quick in inference_rows(models, one, config):
        if slow is None:
            print(f"| {name} | | {quick:.1f} | |")
        else:
            print(f"| {name} | {slow:.1f} | {quick:.1f} | {slow / quick:.1f}x |")

    result = run_backtest(models["PPO MlpPolicy 64x64"], four, config)
    rows = []
    seconds, _ = timed(lambda: result.metrics(), repeat=3)
    rows.append(("BacktestResult.metrics()", f"{result.bars.height:,} bars", seconds))
    rng = np.random.default_rng(0)
    import pandas as pd

    index = pd.bdate_range("2015-01-02", periods=2520)
    daily = pd.Series(rng.normal(0.0004, 0.01, 2520), index=index)
    bench = pd.Series(rng.normal(0.0003, 0.011, 2520), index=index)
    seconds, _ = timed(lambda: compute_metrics(daily, bench), repeat=5)
    rows.append(("compute_metrics (with benchmark)", "2,520 days", seconds))
    with tempfile.TemporaryDirectory() as tmp:
        seconds, _ = timed(lambda: plot_equity(result.bars, Path(tmp) / "eq.png"))
        rows.append(("plot_equity PNG", f"{result.bars.height:,} bars", seconds))
        seconds, _ = timed(
            lambda: write_tearsheet(
                result.daily_returns, result.benchmark_daily_returns, Path(tmp) / "t.html", "bench"
            )
        )
        rows.append(
            ("write_tearsheet (quantstats HTML)", f"{len(result.daily_returns)} days", seconds)
        )
    print("\n| operation | size | seconds |")
    print("|---|---:|---:|")
    for name, size, seconds in rows:
        print(f"| {name} | {size} | {seconds:.3f} |")

    if not args.skip_spy:
        print(f"\nload average: {load_average()}\n")
        print("| SPY, dev profile | predict path s | fast path s | speedup |")
        print("|---|---:|---:|---:|")
        for name, slow_s, fast_s in spy_phase_rows(args.spy_phase):
            if fast_s is None:
                print(f"| {name} | {slow_s:.1f} | | |")
            else:
                print(f"| {name} | {slow_s:.1f} | {fast_s:.1f} | {slow_s / fast_s:.1f}x |")
    print(f"\nload average after: {load_average()}")


if __name__ == "__main__":
    main()
