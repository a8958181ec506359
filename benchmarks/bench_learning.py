"""Learning quality: does the `dev` training budget learn the synthetic market's planted signal?

Trains phases 1 and 2 as the pipeline does (phase 2, with real costs and the turnover penalty,
warm-starts from phase 1) with their `dev` profile on the seeded synthetic market of
`assets_config/data.yaml`, backtests each model on the held-out test split in the same
environment, and compares its Sharpe with the oracle's (the policy that knows the true drift),
after the same costs per side. Target: phase 2 reaches >= 50 % of the oracle's test Sharpe.

    .venv/bin/python benchmarks/bench_learning.py [--phases 1 2] [--profile dev] [--seeds 42]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from trader_env.config import load_phase_config
from trader_env.costs import production_costs, with_production_costs
from trader_env.data import generate_synthetic_market, load_data_config
from trader_env.dataset import build_market_data
from trader_env.lineage import frame_fingerprint
from trader_env.workflow import (
    env_cost_per_side_bps,
    evaluate_phase_model,
    oracle_daily_returns,
    train_phase_model,
)

#: Splits of the synthetic market by fraction of sessions (its dates are not SPY's).
FRACTION_SPLITS = {"splits": {"method": "fractions"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phases", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--profile", default="dev")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    args = parser.parse_args()

    data_config = load_data_config(profile=args.profile, overrides={"source": "synthetic"})
    market_sim = generate_synthetic_market(data_config)
    market = build_market_data(market_sim.bars, args.profile, FRACTION_SPLITS)
    symbols = market.bars["symbol"].unique().sort().to_list()
    costs = production_costs(symbols, data_config.market, profile=args.profile)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            previous = None
            for phase in args.phases:
                config = with_production_costs(
                    load_phase_config(
                        phase, profile=args.profile, overrides={"training": {"seed": seed}}
                    ),
                    costs,
                )
                oracle = oracle_daily_returns(
                    market_sim.oracle, market, env_cost_per_side_bps(config.env, market.bars)
                )
                start = time.perf_counter()
                model = train_phase_model(
                    config,
                    market,
                    Path(tmp),
                    data_version=frame_fingerprint(market.bars),
                    previous=previous,
                )
                production_env = config.env.with_costs(costs)
                evaluation = evaluate_phase_model(model, market, Path(tmp), production_env, oracle)
                elapsed = time.perf_counter() - start
                rows.append((seed, phase, model.timesteps, elapsed, evaluation.metrics["test"]))
                previous = model

    bars = market_sim.bars
    print(
        f"Synthetic market: {bars['symbol'].n_unique()} symbols, {bars.height:,} bars; "
        f"phases {args.phases}, profile {args.profile}; test split "
        f"{market.splits.parts['test'].sessions} sessions.\n"
    )
    print(
        "| seed | phase | timesteps | train+eval s | agent Sharpe | oracle Sharpe | fraction "
        "| daily turnover | buy-and-hold Sharpe |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for seed, phase, steps, seconds, test in rows:
        print(
            f"| {seed} | {phase} | {steps:,} | {seconds:.0f} | {test['sharpe']:.2f} | "
            f"{test['oracle_sharpe']:.2f} | {test['oracle_fraction']:.2f} | "
            f"{test['daily_turnover']:.2f} | {test['benchmark_sharpe']:.2f} |"
        )


if __name__ == "__main__":
    main()
