"""Batched stepping: does stepping the training copies in one numpy call pay?

Usage::

    .venv/bin/python benchmarks/bench_vec_env.py [--copies 8 16 32] [--steps 4000]

Two numbers per copy count, on the SPY sample's training split with phase 2's config and
production costs, random actions:

- **loop**: ``InProcessVecEnv.step`` over the real environment (what training runs), in
  microseconds per vectorised step.
- **batched kernel, lower bound**: one vectorised step of a deliberately incomplete batched
  environment in numpy: fill at the next open with the bar's cost rate, mark to the close,
  equity, step return, the money reward net of a linear turnover charge, the position column
  of the observation and the observation windows gathered. It leaves out what the real step
  also does (session resets, drawdown halts, Kelly sizing and its paper trades, the daily
  smart-Huber turnover penalty, the volatility penalty, the episode statistics, episode ends
  and window restarts), so any batched environment faithful to the real one costs more than
  this kernel. If even the kernel saves little, a second implementation of the environment
  (and the sandbox gap it would risk) is not worth building.

Prints markdown and writes ``benchmarks/results/vec_env.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
RESULTS = Path(__file__).resolve().parent / "results" / "vec_env.md"


def loop_us(config: Any, arrays: Any, copies: int, steps: int) -> float:
    """Microseconds per ``InProcessVecEnv.step`` of ``copies`` real environments."""
    from trader_env.env import make_vec_env

    env = make_vec_env(config.env, arrays, copies, "inprocess", seed=0, info="episode")
    env.reset()
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 3, size=(steps, copies))
    start = time.perf_counter()
    for row in actions:
        env.step(row)
    elapsed = time.perf_counter() - start
    env.close()
    return 1e6 * elapsed / steps


class _Kernel:
    """The lower-bound batched step (see the module docstring), ``copies`` lanes over one
    symbol's arrays, each lane at its own bar."""

    def __init__(self, arrays: Any, config: Any, copies: int, seed: int = 0) -> None:
        from trader_env.env.costs import cost_rates

        market = arrays[0]
        self.open = np.asarray(market.open, dtype=np.float64)
        self.close = np.asarray(market.close, dtype=np.float64)
        self.rate = np.asarray(cost_rates(market.close, config.env.costs), dtype=np.float64)
        self.features = np.asarray(market.features, dtype=np.float32)
        self.window = config.env.window
        rng = np.random.default_rng(seed)
        span = len(self.close) - config.env.episode_length - self.window - 2
        self.t = rng.integers(self.window, self.window + span, size=copies)
        self.cash = np.full(copies, 100_000.0)
        self.shares = np.zeros(copies)
        self.equity = self.cash.copy()
        self.weight = config.env.turnover_penalty.weight
        self.offsets = np.arange(-self.window + 1, 1)
        self.columns = self.features.shape[1] + 1

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = self.t
        u = t + 1
        price = self.open[u]
        target = (actions - 1) * self.equity / self.close[t]
        traded = target - self.shares
        notional = np.abs(traded) * price
        cost = notional * self.rate[t]
        self.cash -= traded * price + cost
        self.shares = target
        equity = self.cash + self.shares * self.close[u]
        step_return = (equity - self.equity) / self.equity
        reward = (equity - self.equity) - self.weight * notional
        self.equity = equity
        self.t = u
        rows = u[:, None] + self.offsets
        observations = np.empty((len(u), self.window, self.columns), dtype=np.float32)
        observations[:, :, :-1] = self.features[rows]
        observations[:, :, -1] = (self.shares * self.close[u] / equity)[:, None]
        return observations, reward + 0.0 * step_return


def kernel_us(config: Any, arrays: Any, copies: int, steps: int) -> float:
    """Microseconds per step of :class:`_Kernel` over ``copies`` lanes."""
    kernel = _Kernel(arrays, config, copies)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, 3, size=(steps, copies))
    start = time.perf_counter()
    for row in actions:
        kernel.step(row)
    return 1e6 * (time.perf_counter() - start) / steps


def main() -> None:
    from bench_training import phase_inputs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--steps", type=int, default=4000, help="vectorised steps per run")
    parser.add_argument("--timesteps", type=int, default=300_000, help="a phase's budget")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    load = os.getloadavg()[0]
    config, arrays, _ = phase_inputs(2, args.timesteps, {})
    rows = []
    for copies in args.copies:
        loop = min(loop_us(config, arrays, copies, args.steps) for _ in range(2))
        kernel = min(kernel_us(config, arrays, copies, args.steps) for _ in range(2))
        saved = (loop - kernel) * args.timesteps / copies / 1e6
        rows.append((copies, loop, kernel, saved))
    lines = [
        "# Batched environment stepping",
        "",
        f"`benchmarks/bench_vec_env.py`; {time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {load:.2f} at the start. Phase 2 config "
        "(production costs), SPY training split, random actions, best of 2 runs.",
        "",
        "| copies | loop over the real env, us / vector step (us / copy) | batched kernel "
        "(lower bound), us / vector step | at most saved per "
        f"{args.timesteps:,}-step phase |",
        "|---:|---:|---:|---:|",
        *(
            f"| {c} | {loop:.0f} ({loop / c:.1f}) | {kernel:.0f} | {saved:.1f} s |"
            for c, loop, kernel, saved in rows
        ),
        "",
        "The kernel leaves out most of the step (see the script's docstring): a faithful "
        "batched environment costs more than its column, so the last column is an upper bound "
        "on the saving.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
