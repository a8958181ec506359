"""The terminal summary printed at the end of the main job: one row per phase."""

from __future__ import annotations

import math
from dataclasses import dataclass

from trader_env.config import PHASES
from trader_env.evaluation.gates import GateResult
from trader_env.workflow import ChampionOutcome, PhaseEvaluation, PhaseModel


@dataclass(frozen=True)
class PhaseStatus:
    """What happened to one phase in a run (None: not produced in this run)."""

    phase: int
    model: PhaseModel | None
    evaluation: PhaseEvaluation | None
    error: str | None = None  # a real error of the phase's steps (not a failed check)
    not_run_because: str | None = None  # the failed step(s) upstream that kept it from running


def _criteria(result: GateResult) -> str:
    parts = []
    for c in result.criteria:
        measured = "n/a" if math.isnan(c.measured) else f"{c.measured:.3g}"
        parts.append(f"{c.metric} {measured} {c.op} {c.threshold:g} {'ok' if c.passed else 'X'}")
    return "; ".join(parts) or "no criteria"


def phase_verdict(status: PhaseStatus, blocked_by: int | None) -> str:
    """PASSED, FAILED gate / training health, ERROR, or BLOCKED (by which phase)."""
    if status.error is not None:
        return "ERROR"
    if status.model is None and status.not_run_because is not None:
        return f"NOT RUN: {status.not_run_because} failed"
    if status.model is None:
        return f"BLOCKED by phase {blocked_by}" if blocked_by is not None else "NOT RUN"
    if not status.model.training_checks.passed:
        return "FAILED training health"
    if status.evaluation is None:
        return f"BLOCKED by phase {blocked_by}" if blocked_by is not None else "NOT RUN"
    return "PASSED" if status.evaluation.gate.passed else "FAILED gate"


def render_summary(
    statuses: list[PhaseStatus], champion: ChampionOutcome | None, enforced: bool = True
) -> str:
    """Plain-text summary: verdict, criteria vs thresholds and report path for every phase."""
    lines = ["", "Phase results (gates judged on the validation split; Sharpe shown for test):", ""]
    if not enforced:
        lines.insert(1, "Gates were ADVISORY in this run: later phases ran whatever the verdicts.")
    first_failure: int | None = None
    for status in sorted(statuses, key=lambda s: s.phase):
        verdict = phase_verdict(status, first_failure)
        lines.append(f"phase {status.phase}: {verdict}")
        if status.error is not None:
            lines.append(f"    error: {status.error}")
        if status.model is not None:
            lines.append(
                f"    trained {status.model.timesteps} steps in {status.model.wall_time_s:.0f} s"
                f" ({status.model.algorithm}, {status.model.device}); "
                f"{status.model.warm_start_note}"
            )
            lines.append(f"    training health: {_criteria(status.model.training_checks)}")
        if status.evaluation is not None:
            test = status.evaluation.metrics["test"]
            lines.append(f"    gate: {_criteria(status.evaluation.gate)}")
            lines.append(
                f"    test: Sharpe {test['sharpe']:.3g}, max drawdown {test['max_drawdown']:.2%}, "
                f"buy-and-hold Sharpe {test.get('benchmark_sharpe', math.nan):.3g}"
                + (
                    f", oracle fraction {test['oracle_fraction']:.2f}"
                    if "oracle_fraction" in test
                    else ""
                )
            )
            report = status.evaluation.reports.get("tearsheet") or status.evaluation.reports.get(
                "plot"
            )
            lines.append(f"    report: {report}")
        if first_failure is None and verdict.startswith(("FAILED", "ERROR")):
            first_failure = status.phase
    if first_failure is not None and enforced:
        blocked = [p for p in PHASES if p > first_failure]
        if blocked:
            lines.append(
                f"\nPhase {first_failure} did not pass: phases {blocked} were blocked in this run."
            )
    if champion is not None:
        serving = champion.champion
        lines.append(
            f"\nChampion: {'PROMOTED' if champion.promoted else 'unchanged'}: {champion.reason}"
        )
        if serving is not None:
            lines.append(
                f"    serving {serving.phase} v{serving.version} "
                f"(test Sharpe {serving.test_sharpe:.3g}): {serving.model_path}"
            )
    return "\n".join(lines)
