"""Training throughput of PPO and RecurrentPPO on the real environment, and where time goes.

Usage: ``.venv/bin/python benchmarks/bench_training.py [--quick] [--out PATH]``

On the SPY sample's training split (``trader_env.dataset``) with the phase-3 ``dev``
environment (costs, turnover penalty, risk limits, risk features), through
:func:`trader_env.training.train_phase` (the real path: diagnostics and progress callbacks,
atomic save), it measures:

- training fps (timesteps / seconds in ``learn()``) for PPO and RecurrentPPO with 1 and 4
  environment copies, ``DummyVecEnv`` and ``SubprocVecEnv``, 1 torch thread and torch's
  default (``--quick``: 4 copies, DummyVecEnv only); a run that is still going after 8 s
  stops at its next rollout boundary (fewer timesteps in the table);
- the environment's own share of training time: one env stepped alone with random actions
  for as many steps as PPO trained, divided by PPO's training time (4 DummyVecEnv copies,
  1 thread; target < 5 %);
- the overhead of SB3's ``DummyVecEnv`` and of its ``Monitor`` wrapper, stepped with random
  actions, as shares of the same training time (training runs without ``Monitor``).

Prints a markdown table and writes it to ``benchmarks/results/training.md``. The machine is
shared: the load average at the start is printed with the numbers.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

from trader_env.contracts import MarketArrays
from trader_env.dataset import default_market_arrays
from trader_env.env import EnvConfig, make_env, make_vec_env
from trader_env.phase_config import PhaseConfig, load_phase_config
from trader_env.training import train_phase

DEFAULT_THREADS = torch.get_num_threads()  # torch's own choice: nothing has set it yet

RESULTS = Path(__file__).resolve().parent / "results" / "training.md"
BENCH_PHASE = 3
PPO_STEPS = 16384  # with 4 copies; a quarter with 1 copy
RECURRENT_STEPS = 2048  # with 4 copies; half with 1 copy
OVERHEAD_STEPS = 65536  # random-action steps timed for the env and VecEnv costs
TIME_CAP_S = 8.0  # a run stops at the first rollout boundary after this many seconds
HYPERPARAMETERS = {"n_steps": 256, "batch_size": 256}
RECURRENT = {
    "name": "RecurrentPPO",
    "policy": "MlpLstmPolicy",
    "hyperparameters": {**HYPERPARAMETERS, "lstm_hidden_size": 128},
}


@dataclass(frozen=True)
class Run:
    algorithm: str
    n_envs: int
    vec_env: str
    threads: int
    timesteps: int
    fps: float
    wall_s: float


def bench_config(
    algorithm: str, n_envs: int, vec_env: str, threads: int, steps: int
) -> PhaseConfig:
    """Phase-3 dev config with the benchmark's budget and execution settings."""
    algo = RECURRENT if algorithm == "RecurrentPPO" else {"hyperparameters": HYPERPARAMETERS}
    overrides = {
        "algorithm": algo,
        "training": {
            "total_timesteps": steps,
            "n_envs": n_envs,
            "vec_env": vec_env,
            "torch_threads": threads,
            "device": "cpu",
        },
    }
    return load_phase_config(BENCH_PHASE, "dev", overrides=overrides)


class StopAfter(BaseCallback):
    """Ends ``learn()`` at the first rollout start after ``seconds``: whole updates only.

    Thread oversubscription can make a run 30x slower (docs/architecture.md, 'Measured facts about the stack'); the cap keeps the
    benchmark's wall time bounded while fps stays timesteps / time over complete updates.
    """

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        self._start = 0.0
        self._stop = False

    def _on_training_start(self) -> None:
        self._start = time.perf_counter()

    def _on_rollout_start(self) -> None:
        self._stop = time.perf_counter() - self._start > self.seconds

    def _on_step(self) -> bool:
        return not self._stop


def train_fps(config: PhaseConfig, arrays: list[MarketArrays], folder: Path) -> Run:
    result = train_phase(
        config,
        arrays,
        folder / "bench.zip",
        extra_callbacks=[StopAfter(TIME_CAP_S)],
        progress_interval_s=1e9,
    )
    training = config.training
    return Run(
        config.algorithm.name,
        training.n_envs,
        training.vec_env,
        training.torch_threads,
        result.timesteps,
        result.fps,
        result.wall_time_s,
    )


def env_alone_s(config: EnvConfig, arrays: list[MarketArrays], steps: int) -> float:
    """Seconds for one env to take ``steps`` random actions (resets included), by one env."""
    env = make_env(config, arrays, seed=0)
    actions = np.random.default_rng(0).integers(0, 3, steps)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()
    return time.perf_counter() - start


def vec_env_s(config: EnvConfig, arrays: list[MarketArrays], steps: int, monitor: bool) -> float:
    """Seconds for a 4-copy DummyVecEnv to take ``steps`` random actions in total."""
    n_envs = 4
    vec_env = make_vec_env(config, arrays, n_envs, "dummy", seed=0, monitor=monitor)
    vec_env.reset()
    actions = np.random.default_rng(0).integers(0, 3, (steps // n_envs, n_envs))
    start = time.perf_counter()
    for action in actions:
        vec_env.step(action)
    elapsed = time.perf_counter() - start
    vec_env.close()
    return elapsed


def grid(quick: bool) -> list[tuple[str, int, str, int, int]]:
    """(algorithm, n_envs, vec_env, threads, timesteps) to measure."""
    if quick:
        return [
            ("PPO", 4, "dummy", 1, PPO_STEPS // 2),
            ("PPO", 4, "dummy", DEFAULT_THREADS, PPO_STEPS // 2),
            ("RecurrentPPO", 4, "dummy", 1, RECURRENT_STEPS // 2),
        ]
    budgets = {("PPO", 1): PPO_STEPS // 4, ("PPO", 4): PPO_STEPS}
    budgets |= {("RecurrentPPO", 1): RECURRENT_STEPS // 2, ("RecurrentPPO", 4): RECURRENT_STEPS}
    return [
        (algorithm, n_envs, vec_env, threads, steps)
        for (algorithm, n_envs), steps in budgets.items()
        for vec_env in ("dummy", "subproc")
        for threads in sorted({1, DEFAULT_THREADS})
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smaller grid (~20 s)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="markdown file to write")
    args = parser.parse_args()

    load = os.getloadavg()[0]
    arrays = default_market_arrays("train")
    env_config = bench_config("PPO", 4, "dummy", 1, PPO_STEPS).env
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        train_fps(bench_config("PPO", 4, "dummy", 1, 1024), arrays, folder)  # warm-up
        runs = [train_fps(bench_config(*spec), arrays, folder) for spec in grid(args.quick)]

    reference = next(
        r for r in runs if (r.algorithm, r.n_envs, r.vec_env, r.threads) == ("PPO", 4, "dummy", 1)
    )
    steps = reference.timesteps
    # Per-step costs over a longer run than training's, scaled to training's step count.
    scale = steps / OVERHEAD_STEPS
    env_s = scale * env_alone_s(env_config, arrays, OVERHEAD_STEPS)
    dummy_s = scale * vec_env_s(env_config, arrays, OVERHEAD_STEPS, monitor=False)
    monitor_s = scale * vec_env_s(env_config, arrays, OVERHEAD_STEPS, monitor=True)

    lines = [
        "# Training throughput",
        "",
        f"`benchmarks/bench_training.py{' --quick' if args.quick else ''}`; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load:.2f} at the start, torch {torch.__version__} "
        f"(default {DEFAULT_THREADS} threads). SPY sample training split "
        f"({sum(len(a) for a in arrays):,} bars, {arrays[0].n_features} features), phase-{BENCH_PHASE} "
        f"`dev` environment, window {env_config.window}; n_steps {HYPERPARAMETERS['n_steps']}, "
        f"batch {HYPERPARAMETERS['batch_size']}, 10 epochs, MLP [64, 64]; RecurrentPPO LSTM 128. "
        "fps = timesteps / seconds in `learn()` through `train_phase` (callbacks included); "
        f"runs stop at the first rollout boundary after {TIME_CAP_S:g} s.",
        "",
        "| algorithm | n_envs | VecEnv | torch threads | timesteps | fps | learn() s |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for run in runs:
        lines.append(
            f"| {run.algorithm} | {run.n_envs} | {run.vec_env} | {run.threads} | "
            f"{run.timesteps:,} | {run.fps:,.0f} | {run.wall_s:.1f} |"
        )
    train_s = reference.wall_s
    lines += [
        "",
        f"Where PPO's time goes (4 DummyVecEnv copies, 1 thread, {steps:,} timesteps, "
        f"{train_s:.1f} s of training):",
        "",
        "| part | seconds | share of training time |",
        "|---|---:|---:|",
        f"| environment alone (random actions) | {env_s:.2f} | {100 * env_s / train_s:.1f} % |",
        f"| DummyVecEnv overhead | {dummy_s - env_s:.2f} | {100 * (dummy_s - env_s) / train_s:.1f} % |",
        f"| Monitor wrapper overhead (not used in training) | {monitor_s - dummy_s:.2f} | "
        f"{100 * (monitor_s - dummy_s) / train_s:.1f} % |",
        "",
        f"Per step (over {OVERHEAD_STEPS:,} random-action steps): environment "
        f"{1e6 * env_s / steps:.1f} us, DummyVecEnv {1e6 * (dummy_s - env_s) / steps:.1f} us, "
        f"Monitor {1e6 * (monitor_s - dummy_s) / steps:.1f} us; PPO training "
        f"{1e6 * train_s / steps:.0f} us per timestep.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
