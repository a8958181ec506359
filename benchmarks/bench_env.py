"""Step throughput of the trading environment against a floor env and gym-anytrading.

Usage: ``.venv/bin/python benchmarks/bench_env.py [--steps N] [--repeats R] [--out PATH]``

Measures, in one run and on the same synthetic one-minute market (20 sessions x 390 bars):

- ``IntradayTradingEnv`` with every component on (costs with volatility-scaled slippage,
  smart-Huber turnover penalty under the curriculum, drawdown limits and penalty, volatility
  penalty, Kelly sizing, risk features and regime one-hot in the observation);
- the same env in the ``sandbox`` preset;
- a floor env that only slices a precomputed observation and returns a constant reward;
- gym-anytrading's ``StocksEnv`` (the class behind ``stocks-v0``) on an equivalent price
  frame (``Close`` = the same closes, window 5).

Actions are uniform random (pre-drawn, the same sequence for every env): the most
trade-heavy case. Episode ends trigger a reset inside the timed loop. Reports wall-clock
steps/s and steps per CPU-second (``time.process_time``), the median over ``--repeats`` runs,
prints a markdown table and writes it to ``benchmarks/results/env.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
from gym_anytrading.envs import StocksEnv

from trader_env.contracts import MarketArrays
from trader_env.env import PRESETS, EnvConfig, IntradayTradingEnv

SESSIONS = 20
BARS_PER_SESSION = 390
N_FEATURES = 6
WINDOW = 5
RESULTS = Path(__file__).resolve().parent / "results" / "env.md"


def synthetic_market(seed: int = 0) -> MarketArrays:
    """A seeded random-walk market of one-minute bars, 6 noise features, cycling regimes."""
    rng = np.random.default_rng(seed)
    n = SESSIONS * BARS_PER_SESSION
    close = 400.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0005, n)))
    open_ = np.concatenate(([close[0]], close[:-1]))
    session = np.repeat(np.arange(SESSIONS, dtype=np.int64), BARS_PER_SESSION)
    minute = np.tile(np.arange(BARS_PER_SESSION, dtype=np.int64), SESSIONS)
    ts = 1_704_205_800_000_000 + session * 86_400_000_000 + minute * 60_000_000
    return MarketArrays(
        symbol="SYN",
        ts=ts,
        open=open_,
        high=np.maximum(open_, close),
        low=np.minimum(open_, close),
        close=close,
        features=rng.normal(0.0, 1.0, (n, N_FEATURES)).astype(np.float32),
        feature_names=tuple(f"f{i}" for i in range(N_FEATURES)),
        regime=(np.arange(n) // 97 % 4).astype(np.int8),
        session_id=session,
    )


def all_components_config() -> EnvConfig:
    """Every component of the environment switched on."""
    return EnvConfig(
        window=WINDOW,
        include_risk_features=True,
        include_regime=True,
        costs={"slippage_vol_scaling": True},
        position_sizing={"method": "kelly"},
        curriculum={"enabled": True},
    )


class FloorEnv(gym.Env[np.ndarray, np.int64]):
    """The least a trading env can do: slice an observation, return a constant reward."""

    def __init__(self, features: np.ndarray, window: int):
        super().__init__()
        self._features = features
        self._window = window
        self._t = window - 1
        self.action_space = gym.spaces.Discrete(3)
        self.observation_space = gym.spaces.Box(
            -np.inf, np.inf, (window, features.shape[1]), np.float32
        )

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = self._window - 1
        return self._features[: self._window].copy(), {}

    def step(self, action):
        self._t += 1
        t = self._t
        truncated = t >= len(self._features) - 1
        return self._features[t - self._window + 1 : t + 1].copy(), 0.0, False, truncated, {}


def run(env: gym.Env, actions: list[int]) -> tuple[float, float]:
    """Wall and CPU seconds to play ``actions``, resetting whenever an episode ends."""
    env.reset(seed=0)
    step = env.step
    reset = env.reset
    wall = time.perf_counter()
    cpu = time.process_time()
    for action in actions:
        _, _, terminated, truncated, _ = step(action)
        if terminated or truncated:
            reset()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(
    makers: dict[str, Callable[[], gym.Env]], actions: list[int], repeats: int
) -> dict[str, dict[str, float]]:
    """Median steps/s and steps per CPU-second of each env.

    The envs take turns within each repeat, so a change of load on a shared machine hits all
    of them alike.
    """
    walls: dict[str, list[float]] = {name: [] for name in makers}
    cpus: dict[str, list[float]] = {name: [] for name in makers}
    for _ in range(repeats):
        for name, make in makers.items():
            wall, cpu = run(make(), actions)
            walls[name].append(wall)
            cpus[name].append(cpu)
    n = len(actions)
    return {
        name: {
            "steps_per_s": n / statistics.median(walls[name]),
            "steps_per_cpu_s": n / statistics.median(cpus[name]),
        }
        for name in makers
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200_000, help="steps per timed run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per env (median)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="markdown results file")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    market = synthetic_market()
    actions = np.random.default_rng(1).integers(0, 3, args.steps).tolist()
    frame = pd.DataFrame({"Close": market.close})
    envs: dict[str, Callable[[], gym.Env]] = {
        "IntradayTradingEnv, all components on": lambda: IntradayTradingEnv(
            [market], all_components_config()
        ),
        "IntradayTradingEnv, sandbox preset": lambda: IntradayTradingEnv(
            [market], PRESETS["sandbox"].with_overrides({"window": WINDOW})
        ),
        "floor env (slice + constant reward)": lambda: FloorEnv(market.features, WINDOW),
        "gym-anytrading StocksEnv (stocks-v0)": lambda: StocksEnv(
            df=frame, window_size=WINDOW, frame_bound=(WINDOW, len(frame))
        ),
    }
    results = measure(envs, actions, args.repeats)
    ours = results["IntradayTradingEnv, all components on"]["steps_per_cpu_s"]
    anytrading = results["gym-anytrading StocksEnv (stocks-v0)"]["steps_per_cpu_s"]

    lines = [
        f"Environment step throughput ({args.steps:,} uniform random actions, median of "
        f"{args.repeats} runs, resets included; {SESSIONS}x{BARS_PER_SESSION} one-minute bars, "
        f"window {WINDOW}); 1-minute load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after, on {os.cpu_count()} CPUs.",
        "",
        "| env | steps/s (wall) | steps per CPU-second |",
        "| --- | ---: | ---: |",
    ]
    lines += [
        f"| {name} | {r['steps_per_s']:,.0f} | {r['steps_per_cpu_s']:,.0f} |"
        for name, r in results.items()
    ]
    lines += [
        "",
        f"All-components env vs gym-anytrading, per CPU-second: {ours / anytrading:.2f}x "
        "(target >= 2x); target >= 100,000 steps/s.",
        "gym-anytrading reads its DataFrame once, in `__init__` (`_process_data` returns numpy "
        "arrays); its step indexes numpy and never touches pandas, so it is not a pandas-bound "
        "baseline.",
    ]
    table = "\n".join(lines)
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("# Environment benchmark (benchmarks/bench_env.py)\n\n" + table + "\n")


if __name__ == "__main__":
    main()
