"""Risk halts per split on the SPY sample under phase 3's environment (dev profile).

Usage: ``PYTHONPATH=. .venv/bin/python benchmarks/measure_halts.py [--phase N]``

No trained model is needed: the policies are scripted (:class:`ActionSchedule`), played by the
same backtest as every evaluation, in phase N's environment with SPY's production costs:

- ``intraday_long``: long from each session's first decision bar, flat at its close;
- ``sticky_random``: a seeded random direction held for a random 1-120 bars (mean ~60), the
  kind of holding pattern a half-trained policy shows.

Prints, per policy and split, the sessions, the halts by reason, and the Sharpe.
"""

from __future__ import annotations

import argparse

import numpy as np

from trader_env.costs import production_costs, with_production_costs
from trader_env.data import load_data_config
from trader_env.dataset import default_market_data
from trader_env.evaluation.backtest import ActionSchedule, run_backtest
from trader_env.evaluation.baselines import run_baselines
from trader_env.phase_config import load_phase_config


def sticky_random(n: int, seed: int) -> np.ndarray:
    """Actions (0/1/2) held for random runs of 1-120 bars, seeded."""
    rng = np.random.default_rng(seed)
    actions = np.empty(n, dtype=np.int8)
    i = 0
    while i < n:
        run = int(rng.integers(1, 121))
        actions[i : i + run] = rng.integers(0, 3)
        i += run
    return actions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--phase", type=int, default=3)
    args = parser.parse_args()
    market = default_market_data("dev")
    symbols = market.bars["symbol"].unique().sort().to_list()
    config = with_production_costs(
        load_phase_config(args.phase, "dev"),
        production_costs(symbols, load_data_config().market),
    )
    timezone = market.splits.session_timezone
    print("| policy | split | sessions | halts (reason: count) | Sharpe |")
    print("|---|---|---:|---|---:|")
    for part in ("validation", "test"):
        arrays = market.arrays(part)  # type: ignore[arg-type]
        long_only = run_baselines(arrays, config.env, market.bars, timezone)["intraday_long"]
        schedule = ActionSchedule(tuple(sticky_random(len(a), 7) for a in arrays))
        random = run_backtest(schedule, arrays, config.env, session_timezone=timezone)
        for name, result in (("intraday_long", long_only), ("sticky_random", random)):
            reasons = result.halts.group_by("reason").len().sort("reason").rows()
            text = ", ".join(f"{r}: {c}" for r, c in reasons) or "none"
            sessions = result.bars["session"].n_unique()
            sharpe = result.metrics()["sharpe"]
            print(f"| {name} | {part} | {sessions} | {text} | {sharpe:.2f} |")


if __name__ == "__main__":
    main()
