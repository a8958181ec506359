"""Phase workflow: train a phase's model, evaluate it on held-out data, judge its gates.

These are the domain functions behind the ``phaseN_model`` / ``phaseN_evaluation`` assets;
they take plain values and return frozen records, so they run (and are tested) without Dagster.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

from trader_env.config import PhaseConfig, config_hash
from trader_env.dataset import MarketData
from trader_env.evaluation.champion import ChampionRecord
from trader_env.evaluation.gates import GateResult, evaluate_gate
from trader_env.lineage import code_version

#: Parts of the split that every evaluation backtests; gates are judged on the first.
EVALUATION_PARTS: tuple[str, ...] = ("validation", "test")
GATE_PART = "validation"


@dataclass(frozen=True)
class PhaseModel:
    """A trained phase model and everything needed to trace it back (the model asset's value)."""

    phase: int
    model_path: Path
    config: PhaseConfig
    algorithm: str
    timesteps: int
    wall_time_s: float
    fps: float
    device: str
    warm_start_note: str
    diagnostics: dict[str, Any]
    curriculum_history: list[dict[str, float]]
    training_checks: GateResult
    lineage: dict[str, Any]
    tensorboard_dir: Path | None = None

    @property
    def training_metrics(self) -> dict[str, float]:
        return dict(self.diagnostics.get("finals", {}))


@dataclass(frozen=True)
class PhaseEvaluation:
    """Held-out results of one phase model (the evaluation asset's value)."""

    phase: int
    model_path: Path
    metrics: dict[str, dict[str, float]]  # part -> metric -> value
    gate: GateResult  # judged on GATE_PART
    reports: dict[str, Path] = field(default_factory=dict)
    regime_table: str = ""
    lineage: dict[str, Any] = field(default_factory=dict)

    @property
    def gate_metrics(self) -> dict[str, float]:
        return self.metrics[GATE_PART]

    @property
    def test_sharpe(self) -> float:
        return self.metrics["test"]["sharpe"]


def _stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")


def train_phase_model(
    config: PhaseConfig,
    market: MarketData,
    storage: Path,
    data_version: str,
    previous: PhaseModel | None = None,
    logger: Any = None,
) -> PhaseModel:
    """Train phase ``config.phase`` on the training split and judge its training health.

    The model is saved under ``<storage>/models/phase<N>/`` with a new versioned name (never
    overwriting an earlier model) and warm-starts from ``previous`` when its spaces match.
    """
    from trader_env.training import train_phase

    digest = config_hash(config)
    name = f"{_stamp()}-{digest[:8]}"
    folder = storage / "models" / f"phase{config.phase}"
    tensorboard_dir = storage / "tensorboard" / f"phase{config.phase}" / name
    result = train_phase(
        config,
        market.arrays("train"),
        folder / f"{name}.zip",
        warm_start_path=previous.model_path if previous is not None else None,
        logger=logger,
        tensorboard_dir=tensorboard_dir,
    )
    finals = result.diagnostics.get("finals", {})
    lineage = {
        "data_version": data_version,
        "config_hash": digest,
        "code_version": code_version(),
        "seed": result.seed,
        "device": result.device,
        "profile": config.profile,
        "warm_start_source": str(previous.model_path) if previous is not None else None,
    }
    return PhaseModel(
        phase=config.phase,
        model_path=result.model_path,
        config=config,
        algorithm=result.algorithm,
        timesteps=result.timesteps,
        wall_time_s=result.wall_time_s,
        fps=result.fps,
        device=result.device,
        warm_start_note=result.warm_start_note,
        diagnostics=result.diagnostics,
        curriculum_history=result.curriculum_history,
        training_checks=evaluate_gate(finals, config.training_checks),
        lineage=lineage,
        tensorboard_dir=tensorboard_dir,
    )


def load_policy(algorithm: str, model_path: Path | str) -> Any:
    """The SB3 model saved at ``model_path``, on the CPU (evaluation is sequential, batch 1)."""
    from trader_env.training import algorithm_class

    return algorithm_class(algorithm).load(model_path, device="cpu")


def evaluate_phase_model(
    model: PhaseModel,
    market: MarketData,
    storage: Path,
    oracle_daily_returns: pd.Series | None = None,
) -> PhaseEvaluation:
    """Backtest ``model`` on the validation and test splits in the training env and costs.

    Writes the test split's quantstats tear sheet, equity/drawdown/position plot and the metrics
    JSON under ``<storage>/reports/phase<N>/<stamp>/``. With ``oracle_daily_returns`` (synthetic
    market) the test metrics also carry the oracle's Sharpe and the agent's fraction of it.
    """
    from trader_env.evaluation import (
        plot_equity,
        regime_table_markdown,
        run_backtest,
        write_metrics_json,
        write_tearsheet,
    )

    config = model.config
    policy = load_policy(model.algorithm, model.model_path)
    results = {
        part: run_backtest(
            policy,
            market.arrays(part),  # type: ignore[arg-type]
            config.env,
            session_timezone=market.splits.session_timezone,
        )
        for part in EVALUATION_PARTS
    }
    metrics: dict[str, dict[str, float]] = {}
    for part, result in results.items():
        values = result.metrics(drawdown_limit=config.evaluation.drawdown_limit)
        # One evaluation episode per symbol: the whole split, played sequentially.
        values["mean_episode_reward"] = float(result.bars["reward"].sum()) / len(result.symbols)
        metrics[part] = values
    test_result = results["test"]
    if oracle_daily_returns is not None:
        metrics["test"].update(oracle_comparison(test_result.daily_returns, oracle_daily_returns))

    folder = storage / "reports" / f"phase{config.phase}" / _stamp()
    title = f"Phase {config.phase} ({config.name}), test split"
    reports = {
        "plot": plot_equity(test_result.bars, folder / "equity.png", title),
        "metrics_json": write_metrics_json(metrics, folder / "metrics.json"),
    }
    if len(test_result.daily_returns) >= 2:
        reports["tearsheet"] = write_tearsheet(
            test_result.daily_returns,
            test_result.benchmark_daily_returns,
            folder / "tearsheet.html",
            title,
        )
    if config.evaluation.seeds:
        metrics[GATE_PART].update(
            seed_spread(
                model, market, storage, config.evaluation.seeds, metrics[GATE_PART]["sharpe"]
            )
        )
    gate = evaluate_gate(metrics[GATE_PART], config.gate)
    return PhaseEvaluation(
        phase=config.phase,
        model_path=model.model_path,
        metrics=metrics,
        gate=gate,
        reports=reports,
        regime_table=regime_table_markdown(test_result.regime_table()),
        lineage={
            **model.lineage,
            "gate_part": GATE_PART,
            "algorithm": model.algorithm,
            "env_config": config.env.model_dump(mode="json"),
        },
    )


def seed_spread(
    model: PhaseModel,
    market: MarketData,
    storage: Path,
    seeds: list[int],
    own_sharpe: float,
) -> dict[str, float]:
    """Train the phase again with each of ``seeds`` and measure the Sharpe spread on validation.

    ``own_sharpe`` is the validation Sharpe already measured for ``model``. Returns the mean and
    standard deviation of the validation Sharpe over the phase's own seed and ``seeds``, and
    their ratio ``seed_sharpe_variation`` (std / |mean|), so that a result that only one lucky
    seed produces is visible.
    """
    import numpy as np

    from trader_env.evaluation import run_backtest

    arrays = market.arrays(GATE_PART)  # type: ignore[arg-type]
    sharpes = [own_sharpe]
    for seed in seeds:
        if seed == model.config.training.seed:
            continue
        training = model.config.training.model_copy(update={"seed": seed})
        config = model.config.model_copy(update={"training": training})
        candidate = train_phase_model(
            config, market, storage / "seed_runs", model.lineage["data_version"]
        )
        result = run_backtest(
            load_policy(candidate.algorithm, candidate.model_path),
            arrays,
            model.config.env,
            session_timezone=market.splits.session_timezone,
        )
        sharpes.append(result.metrics()["sharpe"])
    mean, std = float(np.mean(sharpes)), float(np.std(sharpes, ddof=1))
    return {
        "seed_sharpe_mean": mean,
        "seed_sharpe_std": std,
        "seed_sharpe_variation": std / abs(mean) if mean != 0 else math.nan,
        "n_seeds": float(len(sharpes)),
    }


def oracle_comparison(agent_daily: pd.Series, oracle_daily: pd.Series) -> dict[str, float]:
    """The oracle's Sharpe over the agent's test days and the agent's Sharpe as a fraction."""
    from trader_env.evaluation import compute_metrics

    aligned = oracle_daily.reindex(agent_daily.index).fillna(0.0)
    oracle_sharpe = compute_metrics(aligned)["sharpe"]
    agent_sharpe = compute_metrics(agent_daily)["sharpe"]
    fraction = agent_sharpe / oracle_sharpe if oracle_sharpe > 0 else math.nan
    return {"oracle_sharpe": oracle_sharpe, "oracle_fraction": fraction}


def oracle_daily_returns(
    oracle: pl.DataFrame, market: MarketData, cost_bps: float, part: str = "test"
) -> pd.Series:
    """Daily returns of the synthetic market's oracle over ``part``, equally weighted by symbol,
    after paying ``cost_bps`` (basis points of notional) on every change of position.

    ``oracle`` is :attr:`trader_env.data.SyntheticMarket.oracle`; its gross per-bar ``pnl`` is
    charged the agent's own cost per side so that "a fraction of the oracle" compares like with
    like (the generator's ``net_pnl`` uses the synthetic config's cost instead).
    """
    from trader_env.features import select_split

    session = pl.col("ts").dt.convert_time_zone(market.splits.session_timezone).dt.date()
    change = (pl.col("position") - pl.col("position").shift(1, fill_value=0)).abs().over("symbol")
    rows = select_split(
        oracle.sort("symbol", "ts").with_columns(net=pl.col("pnl") - cost_bps * 1e-4 * change),
        market.splits,
        part,  # type: ignore[arg-type]
    )
    daily = (
        rows.with_columns(session=session)
        .group_by("symbol", "session")
        .agg(ret=(pl.col("net") + 1.0).product() - 1.0)
        .group_by("session")
        .agg(pl.col("ret").mean())
        .sort("session")
    )
    index = pd.DatetimeIndex(daily["session"].to_list())
    return pd.Series(daily["ret"].to_numpy(), index=index, name="oracle")


def cost_per_side_bps(env: Any) -> float:
    """Commission + half spread + slippage of an :class:`~trader_env.env.EnvConfig`, in bps
    (slippage at its unscaled level)."""
    costs = env.costs
    return costs.commission_bps + costs.half_spread_bps + costs.slippage_bps


@dataclass(frozen=True)
class ChampionOutcome:
    """What the champion step decided (the ``champion_model`` asset's value)."""

    promoted: bool
    reason: str
    candidate_phase: int | None
    champion: ChampionRecord | None  # serving after the decision
    previous: ChampionRecord | None  # serving before it
    skipped: dict[int, str]  # phase -> why it was not a candidate


def pick_candidate(
    evaluations: dict[int, PhaseEvaluation | None],
    data_version: str,
    config_hashes: dict[int, str],
) -> tuple[PhaseEvaluation | None, dict[int, str]]:
    """The latest phase whose gate passed on the current data and current config.

    A stored evaluation of older data or of a config that has changed since is not current,
    whatever its gate said, so it cannot be promoted.
    """
    skipped: dict[int, str] = {}
    for phase in sorted(evaluations, reverse=True):
        evaluation = evaluations[phase]
        if evaluation is None:
            skipped[phase] = "never evaluated"
        elif evaluation.lineage.get("data_version") != data_version:
            skipped[phase] = "evaluated on other data (stale)"
        elif evaluation.lineage.get("config_hash") != config_hashes.get(phase):
            skipped[phase] = "evaluated with another config (stale)"
        elif not evaluation.gate.passed:
            failed = ", ".join(c.metric for c in evaluation.gate.failures)
            skipped[phase] = f"gate failed ({failed})"
        else:
            return evaluation, skipped
    return None, skipped


def champion_test_sharpe(record: ChampionRecord, market: MarketData) -> float | None:
    """The champion's Sharpe re-measured on ``market``'s test split, or None if it cannot be.

    Needed when the test data changed since the champion was promoted: a comparison of Sharpe
    ratios from different days would be meaningless. Returns None when the champion's
    observation no longer fits today's features (the recorded Sharpe is then used).
    """
    from trader_env.env import EnvConfig
    from trader_env.evaluation import run_backtest

    if "env_config" not in record.lineage or "algorithm" not in record.lineage:
        return None
    policy = load_policy(record.lineage["algorithm"], record.model_path)
    env_config = EnvConfig.model_validate(record.lineage["env_config"])
    try:
        result = run_backtest(
            policy,
            market.arrays("test"),
            env_config,
            session_timezone=market.splits.session_timezone,
        )
    except ValueError:
        return None
    return result.metrics()["sharpe"]


def promote_champion(
    evaluations: dict[int, PhaseEvaluation | None],
    market: MarketData,
    storage: Path,
    data_version: str,
    config_hashes: dict[int, str],
) -> ChampionOutcome:
    """Promote the latest phase that passed its gate if it beats the serving champion."""
    from trader_env.evaluation import ChampionRecord, ChampionRegistry

    registry = ChampionRegistry(storage)
    previous = registry.current()
    candidate, skipped = pick_candidate(evaluations, data_version, config_hashes)
    if candidate is None:
        return ChampionOutcome(
            False, "no phase passed its gate on the current data", None, previous, previous, skipped
        )

    def remeasure(champion: ChampionRecord) -> float | None:
        # Called under the registry lock, on the champion serving then (another run may have
        # promoted or demoted since ``previous`` was read).
        if champion.lineage.get("data_version") == data_version:
            return None
        return champion_test_sharpe(champion, market)

    record = ChampionRecord(
        phase=f"phase{candidate.phase}",
        model_path=str(candidate.model_path),
        test_sharpe=candidate.test_sharpe,
        validation_sharpe=candidate.metrics[GATE_PART]["sharpe"],
        metrics=candidate.metrics["test"],
        lineage={
            **candidate.lineage,
            # Forward days (the ledger's) are strictly after the last session selection used.
            "selection_end": market.splits.parts[GATE_PART].last_session.isoformat(),
        },
    )
    decision = registry.consider(record, measure=remeasure)
    return ChampionOutcome(
        decision.promoted,
        decision.reason,
        candidate.phase,
        decision.current,
        decision.previous,
        skipped,
    )
