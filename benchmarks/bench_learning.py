"""Learning under costs: phase 2 on the synthetic market (fraction of the budget-held oracle)
and on SPY (the no-harm floor and the beat-the-baselines goal), per seed and variant.

Trains phases 1 and 2 as the pipeline does (phase 2 with each symbol's production costs,
warm-started from phase 1 unless a variant says otherwise) with the given profile, backtests
phase 2 on validation and test in its own environment and judges its gate on validation as the
`phase2_evaluation` asset does (without its reports and cost sensitivity, to save time on a
shared machine; the intraday baselines, under the same costs, are run once per market), and
prints one row per (seed, variant):

- synthetic market: the agent's Sharpe as a fraction of the budget-held oracle's
  (:mod:`trader_env.workflow.fair_oracle`: the best policy that knows the true drift, pays the
  same cost per side and trades at most the phase gate's daily turnover on every session) on
  validation and test, next to the unconstrained oracle's fraction. Target: >= 0.5 on test for
  each seed.
- SPY: net P&L on validation (floor: >= 0) and test (floor: loses <= 1 % of capital); the
  validation Sharpe against the best intraday baseline (flat, intraday long, intraday momentum;
  goal: beaten for two of three seeds); the gate's verdict.

A variant is a name and a JSON override of phase 2's config, e.g.
``--variant fresh='{"training": {"warm_start": false}}'``; phase 1 is trained once per seed and
shared by the variants (``--phase1 SEED=PATH`` reuses a phase 1 model already trained with that
seed; ``--storage DIR`` keeps the trained models there instead of a temporary directory, so
a later run can reuse them). ``--json`` writes every row for learning.md.

``--through N`` (3-6) continues each variant's chain as the pipeline does: phase 3
warm-starts from that phase 2, phase 4 from phase 3, up to phase N, each with its committed
config and production costs (the variant's override is phase 2's only). Each later phase gets
its own row (``phase``), its intraday baselines run in its own environment, and on the
synthetic market its fair oracle is held to its own gate's turnover bound and position size.

    .venv/bin/python benchmarks/bench_learning.py --market synthetic --seeds 42 1 2
    .venv/bin/python benchmarks/bench_learning.py --market spy --seeds 42 1 2 \\
        --variant committed='{}' --variant fresh='{"training": {"warm_start": false}}'
    .venv/bin/python benchmarks/bench_learning.py --market synthetic --through 6
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from trader_env.costs import production_costs, with_production_costs
from trader_env.data import generate_synthetic_market, load_bars, load_data_config
from trader_env.dataset import Dataset, build_market_data
from trader_env.evaluation.backtest import run_backtest
from trader_env.evaluation.gates import evaluate_gate
from trader_env.evaluation.metrics import compute_metrics
from trader_env.lineage import frame_fingerprint
from trader_env.phase_config import load_phase_config
from trader_env.training.abstain import AbstainingPolicy
from trader_env.workflow import (
    env_cost_per_side_bps,
    load_policy,
    oracle_comparison,
    oracle_daily_returns,
    train_phase_model,
)
from trader_env.workflow.evaluation import _baseline_metrics, backtest_metrics, best_baseline_sharpe
from trader_env.workflow.fair_oracle import budget_held_daily_returns, turnover_budget
from trader_env.yaml_config import deep_merge

#: Splits of the synthetic market by fraction of sessions (its dates are not SPY's).
FRACTION_SPLITS = {"splits": {"method": "fractions"}}


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    name, _, override = text.partition("=")
    return name, json.loads(override or "{}")


def parse_phase1(text: str) -> tuple[int, Path]:
    seed, _, path = text.partition("=")
    return int(seed), Path(path)


def load_market(kind: str, profile: str) -> tuple[Dataset, Any, list[str], str]:
    """The market, the synthetic oracle frame (None for SPY), symbols and market type."""
    if kind == "synthetic":
        data_config = load_data_config(profile=profile, overrides={"source": "synthetic"})
        simulated = generate_synthetic_market(data_config)
        market = build_market_data(simulated.bars, profile, FRACTION_SPLITS)
        oracle = simulated.oracle
    else:
        data_config = load_data_config(profile=profile, overrides={"source": "sample"})
        market = build_market_data(load_bars(data_config), profile)
        oracle = None
    symbols = market.bars["symbol"].unique().sort().to_list()
    return market, oracle, symbols, data_config.market


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--market", choices=["synthetic", "spy"], default="synthetic")
    parser.add_argument("--profile", default="dev")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--variant", type=parse_variant, action="append", default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the rows here")
    parser.add_argument("--phase1", type=parse_phase1, action="append", default=[])
    parser.add_argument("--storage", type=Path, default=None, help="keep the models here")
    parser.add_argument(
        "--through", type=int, choices=range(2, 7), default=2, help="last phase of the chain"
    )
    args = parser.parse_args()
    variants = args.variant or [("committed", {})]

    started = time.perf_counter()
    market, oracle, symbols, market_type = load_market(args.market, args.profile)
    costs = production_costs(symbols, market_type, profile=args.profile)
    reused = dict(args.phase1)
    baselines: dict[int, dict[str, float]] = {}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        storage = Path(tmp) if args.storage is None else args.storage
        version = frame_fingerprint(market.bars)
        for seed in args.seeds:
            seeded = {"training": {"seed": seed}}
            # The warm start reads only the model file of the previous phase.
            phase1: Any = SimpleNamespace(model_path=reused[seed]) if seed in reused else None
            for name, override in variants:
                config = with_production_costs(
                    load_phase_config(2, args.profile, overrides=deep_merge(override, seeded)),
                    costs,
                )
                if phase1 is None and config.training.warm_start:
                    start = time.perf_counter()
                    phase1 = train_phase_model(
                        load_phase_config(1, args.profile, overrides=seeded),
                        market,
                        storage,
                        version,
                    )
                    rows.append(
                        {
                            "seed": seed,
                            "variant": "phase 1",
                            "train_s": _since(start),
                            "model_path": str(phase1.model_path),
                        }
                    )
                previous = phase1
                for phase in range(2, args.through + 1):
                    if phase > 2:
                        config = with_production_costs(
                            load_phase_config(phase, args.profile, overrides=seeded), costs
                        )
                    start = time.perf_counter()
                    model = train_phase_model(config, market, storage, version, previous=previous)
                    train_s = _since(start)
                    start = time.perf_counter()
                    if phase not in baselines:
                        baselines[phase] = _baselines(config, config.env, market)
                    row = _row(seed, name, model, market, oracle, baselines, len(symbols))
                    row.update(
                        train_s=train_s, eval_s=_since(start), budget=turnover_budget(config)
                    )
                    rows.append(row)
                    previous = model
                    if args.json is not None:  # after every row: a long run's partial results
                        _write(args.json, _since(started), rows)
    wall = _since(started)
    _print(args, rows, wall)
    if args.json is not None:
        _write(args.json, wall, rows)


def _write(path: Path, wall: float, rows: list[dict[str, Any]]) -> None:
    path.write_text(json.dumps({"wall_s": wall, "rows": rows}, indent=1, default=str))


def _since(start: float) -> float:
    return round(time.perf_counter() - start, 1)


def _size(config: Any) -> float:
    sizing = config.env.position_sizing
    return sizing.fixed_fraction if sizing.method == "fixed" else sizing.max_kelly_fraction


def _baselines(config: Any, env: Any, market: Dataset) -> dict[str, float]:
    """Best intraday baseline Sharpe per part in ``env`` (production costs as phase 2)."""
    limit = config.evaluation.drawdown_limit
    return {
        part: best_baseline_sharpe(
            _baseline_metrics(market.arrays(part), env, market, limit)  # type: ignore[arg-type]
        )
        for part in ("validation", "test")
    }


def _row(seed, name, model, market, oracle, baselines, n_symbols) -> dict[str, Any]:
    config = model.config
    policy = load_policy(model.algorithm, model.model_path)
    selection = model.selection or {}
    row: dict[str, Any] = {
        "seed": seed,
        "variant": name,
        "phase": config.phase,
        "timesteps": model.timesteps,
        "warm_start": model.warm_start_note,
        "selection": selection.get("reason", "none"),
        # The kept checkpoint's score on the selection slice.
        "selection_score": selection.get("kept_score"),
        "selection_deflated_sharpe": selection.get("deflated_sharpe"),
        "abstained": model.abstention is not None,
        "model_path": str(model.model_path),
    }
    row.update(_parts(policy, config, market, oracle, baselines, n_symbols))
    if model.abstention is not None:
        # What the phase declined to trade, measured the same way (reported, never chosen).
        declined = AbstainingPolicy.load_declined(model.model_path)
        row["declined"] = _parts(declined, config, market, oracle, baselines, n_symbols)
    return row


def _parts(policy, config, market, oracle, baselines, n_symbols) -> dict[str, Any]:
    """Validation and test metrics of ``policy`` (and the gate's verdict on validation)."""
    capital = config.env.initial_capital * n_symbols
    cost_bps = env_cost_per_side_bps(config.env, market.bars)
    budget = turnover_budget(config)
    row: dict[str, Any] = {}
    for part in ("validation", "test"):
        result = run_backtest(
            policy, market.arrays(part), config.env, session_timezone=market.splits.session_timezone
        )
        own = backtest_metrics(result, config.evaluation.drawdown_limit)
        row[part] = {
            "sharpe": own["sharpe"],
            "psr": own["psr"],
            "daily_turnover": own["daily_turnover"],
            "net_pnl_pct": 100 * own["net_pnl"] / capital,
            "best_intraday_baseline_sharpe": baselines[config.phase][part],
        }
        if part == "validation":
            gate = evaluate_gate(own, config.gate)
            row["gate_passed"] = gate.passed
            row["gate_failures"] = [c.text for c in gate.failures]
        if oracle is not None:
            fair = budget_held_daily_returns(oracle, market, cost_bps, budget, _size(config), part)
            fair_sharpe = compute_metrics(fair)["sharpe"]
            row[part]["fair_oracle_sharpe"] = fair_sharpe
            row[part]["fair_fraction"] = own["sharpe"] / fair_sharpe if fair_sharpe > 0 else None
            unconstrained = oracle_daily_returns(oracle, market, cost_bps, part)
            comparison = oracle_comparison(result.daily_returns, unconstrained)
            row[part]["oracle_fraction"] = comparison["oracle_fraction"]
    return row


def _fmt(value: Any, spec: str = ".2f") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return format(value, spec)


def _print(args, rows, wall) -> None:
    print(
        f"Market {args.market}, profile {args.profile}, seeds {args.seeds}; wall time "
        f"{wall:.0f} s.\n"
    )
    print(
        "| seed | variant | phase | train s | val Sharpe | val PSR | val net % | val best baseline "
        "| val turnover | test Sharpe | test net % | test best baseline | test turnover "
        "| val fair fraction | test fair fraction | test oracle fraction | gate |"
    )
    print("|---:|---|---:|---:|" + "---:|" * 12 + "---|")
    for row in rows:
        if "validation" not in row:
            print(f"| {row['seed']} | phase 1 | 1 | {row['train_s']:.0f} |" + " |" * 13)
            continue
        v, t = row["validation"], row["test"]
        print(
            f"| {row['seed']} | {row['variant']} | {row['phase']} | {row['train_s']:.0f} | "
            f"{_fmt(v['sharpe'])} | "
            f"{_fmt(v['psr'])} | {_fmt(v['net_pnl_pct'])} | "
            f"{_fmt(v['best_intraday_baseline_sharpe'])} | {_fmt(v['daily_turnover'])} | "
            f"{_fmt(t['sharpe'])} | {_fmt(t['net_pnl_pct'])} | "
            f"{_fmt(t['best_intraday_baseline_sharpe'])} | {_fmt(t['daily_turnover'])} | "
            f"{_fmt(v.get('fair_fraction'))} | {_fmt(t.get('fair_fraction'))} | "
            f"{_fmt(t.get('oracle_fraction'))} | "
            f"{'passed' if row['gate_passed'] else 'failed'} |"
        )
    for row in rows:
        if row.get("selection", "none") != "none":
            print(f"\nseed {row['seed']} {row['variant']} phase {row['phase']}: {row['selection']}")
        if "declined" in row:
            v, t = row["declined"]["validation"], row["declined"]["test"]
            print(
                f"  declined model: validation Sharpe {_fmt(v['sharpe'])}, net "
                f"{_fmt(v['net_pnl_pct'])} %, {_fmt(v['daily_turnover'])}x a day; test Sharpe "
                f"{_fmt(t['sharpe'])}, net {_fmt(t['net_pnl_pct'])} %"
                + (
                    f"; test fair fraction {_fmt(t['fair_fraction'])}"
                    if "fair_fraction" in t
                    else ""
                )
            )


if __name__ == "__main__":
    main()
