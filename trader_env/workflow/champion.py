"""Choosing what serves: the latest phase that passed its gate under production costs, if it
beats the serving champion re-measured on the same validation days and costs, and if its Sharpe
survives the deflation for every trial the registry has counted.

Nothing here reads a test-split number.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from trader_env.dataset import Dataset
from trader_env.env.config import EnvConfig
from trader_env.env.cost_config import CostConfig
from trader_env.evaluation.backtest import run_backtest
from trader_env.evaluation.champion import ChampionRecord, ChampionRegistry, SharpeEvidence
from trader_env.workflow.evaluation import splits_version
from trader_env.workflow.records import GATE_PART, REPORT_PART, ChampionDecision, PhaseEvaluation
from trader_env.workflow.serving import load_champion_policy, verified_champion

#: A promotion needs a deflated Sharpe ratio of at least this (Bailey and Lopez de Prado).
DSR_THRESHOLD = 0.95


def pick_candidate(
    evaluations: Mapping[int, PhaseEvaluation | None],
    data_version: str,
    config_hashes: Mapping[int, str],
    splits_version: str | None = None,
) -> tuple[PhaseEvaluation | None, dict[int, str]]:
    """The latest phase whose gate passed under production costs on the current data, split and
    config.

    A stored evaluation of older data, other split dates (``splits_version``, when given) or a
    config (costs included) that has changed since is not current, whatever its gate said; a
    gate judged without production costs (phases 0-1) cannot make a model serve.
    """
    skipped: dict[int, str] = {}
    for phase in sorted(evaluations, reverse=True):
        evaluation = evaluations[phase]
        if evaluation is None:
            skipped[phase] = "never evaluated"
        elif evaluation.lineage.get("data_version") != data_version:
            skipped[phase] = "evaluated on other data (stale)"
        elif (
            splits_version is not None
            and evaluation.lineage.get("splits_version") != splits_version
        ):
            skipped[phase] = "evaluated on other split dates (stale)"
        elif evaluation.lineage.get("config_hash") != config_hashes.get(phase):
            skipped[phase] = "evaluated with another config or cost model (stale)"
        elif evaluation.gate_costs != "production":
            skipped[phase] = "gate judged without production costs (trains for free)"
        elif not evaluation.gate.passed:
            failed = ", ".join(c.metric for c in evaluation.gate.failures)
            skipped[phase] = f"gate failed ({failed})"
        else:
            return evaluation, skipped
    return None, skipped


def remeasure_champion(
    record: ChampionRecord, market: Dataset, costs: Mapping[str, CostConfig]
) -> float | None:
    """The champion's validation Sharpe on ``market`` under today's production ``costs``.

    Re-measured in every promotion, so that champion and challenger are compared on the same
    days, split config and costs whatever changed since the champion was promoted. None when
    the champion cannot be replayed on today's data (its observation no longer fits the
    features, or its lineage lacks what a replay needs): it is then not comparable. Its model
    is loaded only if its file is the one promoted (``ModelIntegrityError`` otherwise).
    """
    if "env_config" not in record.lineage or "algorithm" not in record.lineage:
        return None
    env = EnvConfig.model_validate(record.lineage["env_config"]).with_costs(costs)
    policy = load_champion_policy(record)
    try:
        result = run_backtest(
            policy,
            market.arrays(GATE_PART),
            env,
            session_timezone=market.splits.session_timezone,
        )
    except ValueError:
        return None
    return result.metrics()["sharpe"]


def candidate_record(evaluation: PhaseEvaluation) -> ChampionRecord:
    """The registry record of a candidate: validation evidence, test results for the record."""
    validation = evaluation.metrics[GATE_PART]
    return ChampionRecord(
        phase=f"phase{evaluation.phase}",
        model_path=str(evaluation.model_path),
        validation_sharpe=validation["sharpe"],
        metrics=validation,
        gate_costs=evaluation.gate_costs,
        test_sharpe=evaluation.metrics[REPORT_PART]["sharpe"],
        test_metrics=evaluation.metrics[REPORT_PART],
        lineage=evaluation.lineage,
    )


def decide_champion(
    evaluations: Mapping[int, PhaseEvaluation | None],
    market: Dataset,
    storage: Path,
    data_version: str,
    config_hashes: Mapping[int, str],
    costs: Mapping[str, CostConfig],
    dsr_threshold: float = DSR_THRESHOLD,
) -> ChampionDecision:
    """Demote an ineligible champion and refuse one whose model file is not the file promoted
    (:func:`~trader_env.workflow.serving.verified_champion`), then promote the best current
    candidate if it earns it.

    ``costs``: today's production cost model per symbol (the champion is re-measured with it).
    """
    registry = ChampionRegistry(storage)
    demoted = tuple(registry.demote_ineligible())
    previous, refused = verified_champion(storage)
    demoted += refused
    candidate, skipped = pick_candidate(
        evaluations, data_version, config_hashes, splits_version(market.splits)
    )
    if candidate is None:
        why = "no phase passed its gate under production costs on the current data and config"
        reason = f"no champion: {why}" if previous is None else f"champion unchanged: {why}"
        return ChampionDecision(False, reason, None, previous, previous, skipped, demoted)
    champion_sharpe = None
    if previous is not None:
        champion_sharpe = remeasure_champion(previous, market, costs)
    decision = registry.consider(
        candidate_record(candidate),
        SharpeEvidence.from_metrics(candidate.metrics[GATE_PART]),
        champion_sharpe=champion_sharpe,
        champion_version=previous.version if previous is not None else None,
        dsr_threshold=dsr_threshold,
    )
    reason = decision.reason
    if not decision.promoted and decision.current is None:
        reason = f"no champion: {reason}"
    return ChampionDecision(
        decision.promoted,
        reason,
        candidate.phase,
        decision.current,
        decision.previous,
        skipped,
        demoted,
        champion_sharpe if champion_sharpe is None or math.isfinite(champion_sharpe) else None,
    )
