"""Evaluating a phase model: validation and test backtests in its own environment, the same
policy under production costs, cost sensitivity, the naive baselines, reports and the gate.

Every number that decides anything (the gate, later the promotion) is measured on the
validation split; the test split is backtested and reported, never used to decide.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from trader_env.contracts import MarketArrays
from trader_env.dataset import Dataset
from trader_env.env.config import EnvConfig
from trader_env.evaluation.backtest import BACKTEST_METRIC_KEYS, BacktestResult, run_backtest
from trader_env.evaluation.backtest_result import Policy
from trader_env.evaluation.baselines import INTRADAY_BASELINES, run_baselines
from trader_env.evaluation.cost_sensitivity import COST_SENSITIVITY_KEYS, cost_sensitivity
from trader_env.evaluation.gates import evaluate_gate, gate_detection_limit
from trader_env.evaluation.psr import per_period_sharpe
from trader_env.evaluation.reports import (
    plot_equity,
    regime_table_markdown,
    write_metrics_json,
    write_tearsheet,
)
from trader_env.features import Splits
from trader_env.features.splits import PartName
from trader_env.lineage import config_fingerprint
from trader_env.phase_config import PhaseConfig
from trader_env.workflow.oracle import ORACLE_KEYS, oracle_comparison
from trader_env.workflow.records import (
    EVALUATION_PARTS,
    GATE_PART,
    REPORT_PART,
    PhaseEvaluation,
    PhaseModel,
)
from trader_env.workflow.training import (
    SEED_SPREAD_KEYS,
    TRAINING_STABILITY,
    load_policy,
    seed_spread,
    stamp,
    training_stability,
)

#: Baseline metrics shown next to the agent's (a subset keeps the tables readable).
BASELINE_KEYS: tuple[str, ...] = (
    "sharpe",
    "psr",
    "annual_return",
    "max_drawdown",
    "annual_volatility",
    "daily_turnover",
    "win_rate",
    "net_pnl",
    "total_cost",
)


#: Keys :func:`backtest_metrics` adds to a backtest's metrics.
EPISODE_KEYS: tuple[str, ...] = ("mean_episode_reward", "sharpe_per_period")
#: What the gate's Sharpe criteria could detect on the gate part's record (annual Sharpes;
#: :func:`~trader_env.evaluation.gates.gate_detection_limit`): the sessions, the observed
#: Sharpe needed, the true Sharpe passing with 50 % and 80 % probability, and the sessions
#: the observed Sharpe would need (inf: it never passes). Reported, never gated on.
DETECTION_KEYS: tuple[str, ...] = (
    "detection_sessions",
    "detection_required_sharpe",
    "detection_true_sharpe_50",
    "detection_true_sharpe_80",
    "detection_min_track_record",
)
#: Production-cost results copied into every split's metrics so that a gate can name them
#: (for a costless phase they are measured under production costs).
PRODUCTION_GATE_KEYS: tuple[str, ...] = (*COST_SENSITIVITY_KEYS, "best_intraday_baseline_sharpe")
#: Every metric name an evaluation produces: what a phase's ``gate`` may name.
GATE_METRIC_KEYS: frozenset[str] = frozenset(
    (
        *BACKTEST_METRIC_KEYS,
        *EPISODE_KEYS,
        *PRODUCTION_GATE_KEYS,
        *SEED_SPREAD_KEYS,
        *ORACLE_KEYS,
        TRAINING_STABILITY,
    )
)


def backtest_metrics(result: BacktestResult, drawdown_limit: float) -> dict[str, float]:
    """Every metric of one backtest, plus the mean episode reward and the per-period Sharpe
    (the deflated Sharpe ratio's input)."""
    values = result.metrics(drawdown_limit=drawdown_limit)
    # One evaluation episode per symbol: the whole split, played sequentially.
    values["mean_episode_reward"] = float(result.bars["reward"].sum()) / len(result.symbols)
    values["sharpe_per_period"] = per_period_sharpe(result.daily_returns.to_numpy())
    return values


def splits_version(splits: Splits) -> str:
    """Fingerprint of where the parts lie and how features are normalised: an evaluation of
    other split dates measured other days and cannot be compared with today's."""
    data = splits.to_dict()
    return config_fingerprint({"parts": data["parts"], "normalization": data["normalization"]})


def best_baseline_sharpe(baselines: dict[str, dict[str, float]]) -> float:
    """The highest Sharpe of the intraday baselines; a rule that never trades (or whose returns
    never vary) earns a Sharpe of 0 here, not an undefined one: doing nothing is a real option."""
    sharpes = [baselines[name]["sharpe"] for name in INTRADAY_BASELINES if name in baselines]
    return max((value if math.isfinite(value) else 0.0) for value in sharpes)


def _baseline_metrics(
    arrays: Sequence[MarketArrays], env: EnvConfig, market: Dataset, drawdown_limit: float
) -> dict[str, dict[str, float]]:
    results = run_baselines(arrays, env, market.bars, market.splits.session_timezone)
    return {
        name: {key: result.metrics(drawdown_limit=drawdown_limit)[key] for key in BASELINE_KEYS}
        for name, result in results.items()
    }


def _write_reports(
    model: PhaseModel, result: BacktestResult, metrics: dict[str, Any], storage: Path
) -> dict[str, Path]:
    config = model.config
    folder = storage / "reports" / f"phase{config.phase}" / stamp()
    title = f"Phase {config.phase} ({config.name}), {REPORT_PART} split"
    reports = {
        "plot": plot_equity(result.bars, folder / "equity.png", title),
        "metrics_json": write_metrics_json(metrics, folder / "metrics.json"),
    }
    # quantstats regresses the strategy on its benchmark, which fails for returns that never
    # vary (a policy that never trades, e.g. an abstaining phase): the plot and the metrics
    # already say everything about those.
    if len(result.daily_returns) >= 2 and result.daily_returns.nunique() > 1:
        reports["tearsheet"] = write_tearsheet(
            result.daily_returns, result.benchmark_daily_returns, folder / "tearsheet.html", title
        )
    return reports


def evaluate_phase_model(
    model: PhaseModel,
    market: Dataset,
    storage: Path,
    production_env: EnvConfig,
    oracle_daily_returns: pd.Series | None = None,
    fair_oracle_daily_returns: pd.Series | None = None,
) -> PhaseEvaluation:
    """Backtest ``model`` on validation and test, judge its gate on validation, report test.

    ``production_env``: the phase's environment with every symbol's production costs (for a
    phase that trains with them, its own environment). The policy is also measured there when
    it trained without costs; cost sensitivity and the baselines always run there. With
    ``oracle_daily_returns`` (synthetic market) the test metrics carry the oracle's Sharpe and
    the agent's fraction of it; with ``fair_oracle_daily_returns`` (the budget-held oracle of
    :mod:`trader_env.workflow.fair_oracle`) also ``fair_oracle_sharpe`` and
    ``fair_oracle_fraction``. Reports go to ``<storage>/reports/phase<N>/<stamp>/``.
    """
    config = model.config
    limit = config.evaluation.drawdown_limit
    timezone = market.splits.session_timezone
    policy = load_policy(model.algorithm, model.model_path)
    arrays = {part: market.arrays(part) for part in EVALUATION_PARTS}
    own = {
        part: run_backtest(policy, arrays[part], config.env, session_timezone=timezone)
        for part in EVALUATION_PARTS
    }
    metrics: dict[str, dict[str, float]] = {
        part: backtest_metrics(own[part], limit) for part in EVALUATION_PARTS
    }
    production_metrics, baselines = _production_metrics(
        policy, config, arrays, own, metrics, production_env, market
    )
    for part in EVALUATION_PARTS:
        for key in PRODUCTION_GATE_KEYS:
            metrics[part][key] = production_metrics[part][key]
    metrics[GATE_PART][TRAINING_STABILITY] = training_stability(model)
    metrics[GATE_PART].update(
        detection_metrics(config, own[GATE_PART].daily_returns.to_numpy(dtype=float))
    )
    report_returns = own[REPORT_PART].daily_returns
    if oracle_daily_returns is not None:
        metrics[REPORT_PART].update(oracle_comparison(report_returns, oracle_daily_returns))
    if fair_oracle_daily_returns is not None:
        comparison = oracle_comparison(report_returns, fair_oracle_daily_returns)
        metrics[REPORT_PART].update({f"fair_{key}": value for key, value in comparison.items()})
    if config.evaluation.seeds:
        metrics[GATE_PART].update(
            seed_spread(
                model, market, storage, config.evaluation.seeds, metrics[GATE_PART]["sharpe"]
            )
        )
    reports = _write_reports(
        model,
        own[REPORT_PART],
        {"own_env": metrics, "production_costs": production_metrics, "baselines": baselines},
        storage,
    )
    return PhaseEvaluation(
        phase=config.phase,
        model_path=model.model_path,
        metrics=metrics,
        gate=evaluate_gate(metrics[GATE_PART], config.gate),
        gate_costs=config.costs,
        production_metrics=production_metrics,
        baselines=baselines,
        reports=reports,
        regime_table=regime_table_markdown(own[REPORT_PART].regime_table())
        + "\n"
        + regime_table_markdown(own[REPORT_PART].vol_bucket_table()),
        lineage=_lineage(model, market, production_env),
    )


def detection_metrics(config: PhaseConfig, daily_returns: Any) -> dict[str, float]:
    """:data:`DETECTION_KEYS` of ``config``'s gate on a record of ``daily_returns`` (empty
    when the gate has no Sharpe-based criterion)."""
    limit = gate_detection_limit(config.gate, daily_returns)
    if limit is None:
        return {}
    needed = limit.min_track_record_periods
    return {
        "detection_sessions": float(limit.periods),
        "detection_required_sharpe": limit.required_sharpe_annual,
        "detection_true_sharpe_50": limit.detects_50_annual,
        "detection_true_sharpe_80": limit.detects_80_annual,
        "detection_min_track_record": math.nan if needed is None else needed,
    }


def _production_metrics(
    policy: Policy,
    config: PhaseConfig,
    arrays: dict[PartName, list[MarketArrays]],
    own: dict[PartName, BacktestResult],
    metrics: dict[str, dict[str, float]],
    production_env: EnvConfig,
    market: Dataset,
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, dict[str, float]]]]:
    """Per evaluation part, the policy's metrics under production costs with the cost
    sensitivity and the best intraday baseline's Sharpe, and every baseline's metrics there.

    ``own``/``metrics``: the backtests and metrics in the phase's own environment, reused
    when it already charges production costs (a costless phase is backtested again)."""
    limit = config.evaluation.drawdown_limit
    timezone = market.splits.session_timezone
    production_metrics: dict[str, dict[str, float]] = {}
    baselines: dict[str, dict[str, dict[str, float]]] = {}
    for part in EVALUATION_PARTS:
        if config.costs == "none":
            production = run_backtest(
                policy, arrays[part], production_env, session_timezone=timezone
            )
            values = backtest_metrics(production, limit)
        else:
            production, values = own[part], dict(metrics[part])
        values.update(cost_sensitivity(production, arrays[part], production_env, timezone))
        baselines[part] = _baseline_metrics(arrays[part], production_env, market, limit)
        values["best_intraday_baseline_sharpe"] = best_baseline_sharpe(baselines[part])
        production_metrics[part] = values
    return production_metrics, baselines


def _lineage(model: PhaseModel, market: Dataset, production_env: EnvConfig) -> dict[str, Any]:
    """The model's lineage plus what the evaluation was judged on (the champion replays it)."""
    config = model.config
    return {
        **model.lineage,
        "gate_part": GATE_PART,
        "splits_version": splits_version(market.splits),
        "gate_costs": config.costs,
        "algorithm": model.algorithm,
        "env_config": config.env.model_dump(mode="json"),
        "production_env_config": production_env.model_dump(mode="json"),
        # Forward (live) days are the sessions after everything the selection used.
        "selection_end": market.splits.parts[GATE_PART].last_session.isoformat(),
    }
