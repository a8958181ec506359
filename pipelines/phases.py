"""Assets of the ``phase_N`` groups: one trained model and one held-out evaluation per phase,
a blocking training-health check on each model and a blocking gate on each evaluation.

``phase{N}_model`` reads ``phase{N-1}_evaluation``, so a gate that fails stops every later
phase in the same run. The checks are always blocking (Dagster fixes that when the definitions
load); the run's gate mode (``PipelineSettings.gates``) decides the severity of a failed
verdict, and only an ERROR stops the downstream phases (see :func:`_check_result`).
No ``from __future__ import annotations``: Dagster reads annotations.
"""

import base64
import contextlib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import dagster as dg
import pandas as pd
import polars as pl

from pipelines.metadata import json_safe, plain_metadata
from pipelines.settings import PipelineSettings
from pipelines.summary import detection_text, display_sharpe
from trader_env.costs import with_production_costs
from trader_env.dataset import Dataset
from trader_env.env.config import CostConfig
from trader_env.evaluation.baselines import BASELINES
from trader_env.evaluation.cost_sensitivity import COST_FACTORS, factor_label
from trader_env.evaluation.gates import GateResult
from trader_env.features import Splits
from trader_env.lineage import frame_fingerprint, versions_by_symbol
from trader_env.phase_config import PHASES, PhaseConfig
from trader_env.workflow import (
    EVALUATION_PARTS,
    GATE_PART,
    PhaseEvaluation,
    PhaseModel,
    env_cost_per_side_bps,
    evaluate_phase_model,
    oracle_daily_returns,
    train_phase_model,
)
from trader_env.workflow.evaluation import DETECTION_KEYS
from trader_env.workflow.fair_oracle import budget_held_daily_returns, turnover_budget
from trader_env.workflow.serving import champion_model_copy
from trader_env.yaml_config import ConfigError

MARKET_INS = {name: dg.AssetIn(name) for name in ("bars", "features", "regimes", "splits")}
#: Diagnostics shown as small time series in the model's metadata.
SERIES_SHOWN = ("entropy", "explained_variance", "episode_reward", "episode_net_pnl")


def symbol_costs(
    bars: pl.DataFrame, splits: Splits, settings: PipelineSettings
) -> dict[str, CostConfig]:
    """Production cost model of every symbol in ``bars`` (``costs.yaml``), for ``data.yaml``'s
    market, else the market detected from the bars (``splits.market``)."""
    symbols = bars["symbol"].unique().sort().to_list()
    try:
        market = settings.configs.data.market
        if market is None and splits.market is not None:
            market = splits.market.market
        return settings.configs.production_costs(symbols, market)
    except ConfigError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


def phase_config(
    phase: int, costs: dict[str, CostConfig], settings: PipelineSettings
) -> PhaseConfig:
    """Phase ``phase``'s config as it trains: production costs applied when it uses them."""
    try:
        return with_production_costs(settings.configs.phase(phase), costs)
    except ConfigError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


def _criteria_table(result: GateResult) -> dg.MetadataValue:
    lines = ["| criterion | measured | threshold | verdict |", "|---|---|---|---|"]
    for c in result.criteria:
        verdict = "PASS" if c.passed else "FAIL"
        lines.append(f"| {c.metric} | {c.measured:.4g} | {c.op} {c.threshold:g} | {verdict} |")
    return dg.MetadataValue.md("\n".join(lines))


def _check_result(
    result: GateResult,
    description: str,
    settings: PipelineSettings,
    leading: Mapping[str, dg.MetadataValue] | None = None,
) -> dg.AssetCheckResult:
    """The verdict as a check result (``leading`` metadata shown first). A failed verdict has
    severity ERROR when the run's gates are enforced, which stops the later phases (the checks
    are blocking), and WARN when they are advisory: recorded and shown, but Dagster runs the
    downstream assets anyway."""
    metadata: dict = {
        **(leading or {}),
        "criteria": _criteria_table(result),
        "gate_mode": settings.gates.value,
    }
    for c in result.criteria:
        metadata[f"{c.metric} {c.op} {c.threshold:g}"] = dg.MetadataValue.json(
            {"measured": None if math.isnan(c.measured) else c.measured, "passed": c.passed}
        )
    severity = (
        dg.AssetCheckSeverity.ERROR if settings.gates_enforced else dg.AssetCheckSeverity.WARN
    )
    return dg.AssetCheckResult(
        passed=result.passed, description=description, metadata=metadata, severity=severity
    )


def _model_metadata(model: PhaseModel) -> dict:
    finals = model.training_metrics
    series = model.diagnostics.get("series", {})
    metadata = plain_metadata(
        {
            "algorithm": model.algorithm,
            "timesteps": model.timesteps,
            "wall_time_s": round(model.wall_time_s, 2),
            "fps": round(model.fps, 1),
            "warm_start": model.warm_start_note,
            **model.lineage,
            "diagnostics": finals,
            "diagnostics_series": {k: series[k] for k in SERIES_SHOWN if k in series},
            "curriculum_history": model.curriculum_history,
            "checkpoint_selection": model.selection
            or "none: the final model is kept (training.selection.fraction is 0)",
        }
    )
    if model.abstention is not None:
        # First in the UI's metadata panel: this model never trades, and why.
        metadata = {"abstained": dg.MetadataValue.text(model.abstention), **metadata}
    metadata["model_path"] = dg.MetadataValue.path(str(model.model_path))
    if model.tensorboard_dir is not None:
        metadata["tensorboard_dir"] = dg.MetadataValue.path(str(model.tensorboard_dir))
    metadata["training_checks"] = _criteria_table(model.training_checks)
    return metadata


def champion_warm_start(
    config: PhaseConfig, storage: Path
) -> contextlib.AbstractContextManager[Path | None]:
    """A private, verified copy of the serving champion's model file (registry under
    ``storage``) when it is a model of this regime-adaptive phase ("ongoing": phase 6 retrains
    from the champion's specialists), else None (warm start from the previous phase as usual)."""
    if config.regime_policy is None:
        return contextlib.nullcontext(None)
    return champion_model_copy(storage, f"phase{config.phase}")


def _build_model_asset(phase: int) -> dg.AssetsDefinition:
    ins = dict(MARKET_INS)
    if phase > 0:
        ins["previous_model"] = dg.AssetIn(f"phase{phase - 1}_model")
        ins["previous_evaluation"] = dg.AssetIn(f"phase{phase - 1}_evaluation")

    @dg.asset(
        name=f"phase{phase}_model",
        group_name=f"phase_{phase}",
        ins=ins,
        code_version="1",
        kinds={"pytorch"},
        description=f"Phase {phase} model trained from assets_config/phase{phase}.yaml"
        + (f", warm-started from phase {phase - 1} when spaces match." if phase else "."),
    )
    def _model(
        context: dg.AssetExecutionContext, settings: PipelineSettings, **inputs
    ) -> dg.Output[PhaseModel]:
        costs = symbol_costs(inputs["bars"], inputs["splits"], settings)
        config = phase_config(phase, costs, settings)
        market = Dataset(inputs["bars"], inputs["features"], inputs["regimes"], inputs["splits"])
        with champion_warm_start(config, settings.storage) as champion_model:
            model = train_phase_model(
                config,
                market,
                settings.storage,
                data_version=frame_fingerprint(inputs["bars"]),
                previous=inputs.get("previous_model"),
                logger=context.log,
                warm_start_path=champion_model,
            )
        context.log.info(
            f"phase {phase}: {model.timesteps} timesteps in {model.wall_time_s:.1f} s "
            f"({model.fps:.0f} fps) on {model.device}; {model.warm_start_note}"
        )
        if model.abstention is not None:
            context.log.warning(f"phase {phase} abstains: {model.abstention}")
        metadata = _model_metadata(model)
        bars: pl.DataFrame = inputs["bars"]
        # Per symbol: matches the `content_hash` of each `bars` partition it was trained on.
        metadata["bars_content_hashes"] = dg.MetadataValue.json(
            versions_by_symbol(bars, bars["symbol"].unique().sort().to_list())
        )
        return dg.Output(model, metadata=metadata)

    return _model


def _build_evaluation_asset(phase: int) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"phase{phase}_evaluation",
        group_name=f"phase_{phase}",
        ins={"model": dg.AssetIn(f"phase{phase}_model"), **MARKET_INS},
        code_version="1",
        description=f"Phase {phase} model backtested on the validation split (gate) and the test "
        "split (reported only) in its training environment, under production costs, at 0x-3x "
        "costs, next to the flat / intraday long / buy-and-hold / intraday momentum baselines; "
        "quantstats tear sheet and plots.",
    )
    def _evaluation(
        context: dg.AssetExecutionContext,
        model: PhaseModel,
        bars: pl.DataFrame,
        features: pl.DataFrame,
        regimes: pl.DataFrame,
        splits: Splits,
        settings: PipelineSettings,
    ) -> dg.Output[PhaseEvaluation]:
        market = Dataset(bars, features, regimes, splits)
        production_env = model.config.env.with_costs(symbol_costs(bars, splits, settings))
        oracles = _synthetic_oracles(market, model.config, bars, settings)
        evaluation = evaluate_phase_model(model, market, settings.storage, production_env, *oracles)
        return dg.Output(evaluation, metadata=_evaluation_metadata(evaluation))

    return _evaluation


def _synthetic_oracles(
    market: Dataset, config: PhaseConfig, bars: pl.DataFrame, settings: PipelineSettings
) -> tuple[pd.Series | None, pd.Series | None]:
    """When the data is the synthetic market: the daily test returns of its oracle and of the
    budget-held oracle (the phase's gate turnover bound and fixed sizing), both after the
    phase's own cost per side; else (None, None)."""
    from trader_env.data import generate_synthetic_market

    data_config = settings.configs.data
    if data_config.source != "synthetic":
        return None, None
    cost_bps = env_cost_per_side_bps(config.env, bars)
    oracle = generate_synthetic_market(data_config).oracle
    sizing = config.env.position_sizing
    size = sizing.fixed_fraction if sizing.method == "fixed" else sizing.max_kelly_fraction
    fair = budget_held_daily_returns(oracle, market, cost_bps, turnover_budget(config), size)
    return oracle_daily_returns(oracle, market, cost_bps), fair


KEY_METRICS = (
    "sharpe",
    "psr",
    "sortino",
    "max_drawdown",
    "calmar",
    "annual_return",
    "annual_volatility",
    "win_rate",
    "daily_turnover",
    "information_ratio_annual",
    "share_days_within_drawdown",
    "regime_degradation",
    "oracle_sharpe",
    "oracle_fraction",
    "fair_oracle_sharpe",
    "fair_oracle_fraction",
)


def _fmt(value: float | None, spec: str = ".3g") -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


def agent_vs_baselines_table(evaluation: PhaseEvaluation) -> str:
    """Markdown: the agent (own env and production costs) next to every baseline, per split."""
    lines = [
        "| split | policy | costs | Sharpe | PSR | annual return | max DD | daily turnover | net P&L |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for part in EVALUATION_PARTS:
        rows = [
            (
                "agent",
                "own env" if evaluation.gate_costs == "none" else "production",
                evaluation.metrics[part],
            )
        ]
        if evaluation.gate_costs == "none":
            rows.append(("agent", "production", evaluation.production_metrics.get(part, {})))
        rows += [
            (name, "production", evaluation.baselines.get(part, {}).get(name, {}))
            for name in BASELINES
        ]
        for name, costs, m in rows:
            lines.append(
                f"| {part} | {name} | {costs} | {_fmt(display_sharpe(m))} | {_fmt(m.get('psr'), '.2f')} "
                f"| {_fmt(m.get('annual_return'), '.2%')} | {_fmt(m.get('max_drawdown'), '.2%')} "
                f"| {_fmt(m.get('daily_turnover'))} | {_fmt(m.get('net_pnl'), ',.0f')} |"
            )
    return "\n".join(lines)


def cost_sensitivity_table(evaluation: PhaseEvaluation) -> str:
    """Markdown: Sharpe and annual return at 0x-3x production costs, break-even cost."""
    labels = [factor_label(f) for f in COST_FACTORS]
    lines = [
        "| split | "
        + " | ".join(f"Sharpe {x}" for x in labels)
        + " | "
        + " | ".join(f"return {x}" for x in labels)
        + " | paid bps/side | break-even bps/side |",
        "|---|" + "---:|" * (2 * len(labels) + 2),
    ]
    for part in EVALUATION_PARTS:
        m = evaluation.production_metrics.get(part, {})
        lines.append(
            f"| {part} | "
            + " | ".join(_fmt(m.get(f"sharpe_cost_{x}")) for x in labels)
            + " | "
            + " | ".join(_fmt(m.get(f"annual_return_cost_{x}"), ".2%") for x in labels)
            + f" | {_fmt(m.get('cost_per_side_bps'))} | {_fmt(m.get('breakeven_cost_bps'))} |"
        )
    return "\n".join(lines)


def _evaluation_metadata(evaluation: PhaseEvaluation) -> dict:
    rows = ["| metric | validation (decides) | test (reported) |", "|---|---|---|"]
    for key in KEY_METRICS:
        if key in evaluation.metrics["test"]:
            values = [evaluation.metrics[p].get(key, float("nan")) for p in ("validation", "test")]
            rows.append(f"| {key} | {values[0]:.4g} | {values[1]:.4g} |")
    validation = evaluation.production_metrics.get(GATE_PART, {})
    metadata: dict = {
        "metrics": dg.MetadataValue.md("\n".join(rows)),
        "agent_vs_baselines": dg.MetadataValue.md(agent_vs_baselines_table(evaluation)),
        "cost_sensitivity": dg.MetadataValue.md(cost_sensitivity_table(evaluation)),
        "gate_passed": evaluation.gate.passed,
        "gate_costs": evaluation.gate_costs,
        "gate": _criteria_table(evaluation.gate),
        "validation_sharpe_production_costs": validation.get("sharpe", float("nan")),
        "best_intraday_baseline_sharpe_validation": validation.get(
            "best_intraday_baseline_sharpe", float("nan")
        ),
        "breakeven_cost_bps_validation": validation.get("breakeven_cost_bps", float("nan")),
        "regimes_test": dg.MetadataValue.md(evaluation.regime_table or "no regime table"),
        "test_sharpe": evaluation.test_sharpe,
        "lineage": dg.MetadataValue.json(json_safe(evaluation.lineage)),
    }
    for name, path in evaluation.reports.items():
        metadata[name] = dg.MetadataValue.path(str(path))
    plot = evaluation.reports.get("plot")
    if plot is not None:
        # Inline, because the UI cannot load a local file path from the browser.
        encoded = base64.b64encode(plot.read_bytes()).decode("ascii")
        metadata["equity_plot"] = dg.MetadataValue.md(
            f"![equity, drawdown and position, test split](data:image/png;base64,{encoded})"
        )
    return metadata


def _build_training_check(phase: int) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=f"phase{phase}_model",
        name=f"phase{phase}_training_health",
        blocking=True,
        description=f"Training-health criteria of assets_config/phase{phase}.yaml "
        "(training_checks) on the training diagnostics; with advisory gates a failure is a "
        "warning that does not stop later phases.",
    )
    def _check(model: PhaseModel, settings: PipelineSettings) -> dg.AssetCheckResult:
        return _check_result(model.training_checks, f"phase {phase} training health", settings)

    return _check


def _build_gate(phase: int) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=f"phase{phase}_evaluation",
        name=f"phase{phase}_gate",
        blocking=True,
        description=f"Phase {phase} success criteria (assets_config/phase{phase}.yaml gate) on "
        f"the {GATE_PART} split; a failure blocks every later phase, unless the run's gates are "
        "advisory (then it is a warning).",
    )
    def _gate(evaluation: PhaseEvaluation, settings: PipelineSettings) -> dg.AssetCheckResult:
        detection = detection_text(evaluation.gate_metrics)
        leading: dict[str, dg.MetadataValue] = {}
        if detection is not None:
            # First in the panel: what a "no" from this gate can and cannot rule out.
            leading = {
                "detection_limit": dg.MetadataValue.text(detection),
                "detection_numbers": dg.MetadataValue.json(
                    json_safe({k: evaluation.gate_metrics[k] for k in DETECTION_KEYS})
                ),
            }
        return _check_result(
            evaluation.gate, f"phase {phase} gate on the {GATE_PART} split", settings, leading
        )

    return _gate


def build_phase_definitions() -> tuple[
    Sequence[dg.AssetsDefinition], Sequence[dg.AssetChecksDefinition]
]:
    """All phase assets and their blocking checks."""
    assets = [
        build(phase) for phase in PHASES for build in (_build_model_asset, _build_evaluation_asset)
    ]
    checks = [build(phase) for phase in PHASES for build in (_build_training_check, _build_gate)]
    return assets, checks
