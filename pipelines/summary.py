"""The terminal summary printed at the end of the main job: one row per phase."""

from __future__ import annotations

import math
from dataclasses import dataclass

from trader_env.evaluation.gates import GateResult
from trader_env.phase_config import PHASES
from trader_env.workflow import ChampionDecision, PhaseEvaluation, PhaseModel


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
    statuses: list[PhaseStatus], champion: ChampionDecision | None, enforced: bool = True
) -> str:
    """Plain-text summary: verdict, criteria vs thresholds and report path for every phase."""
    lines = [
        "",
        "Phase results (gates and promotion judged on the validation split; test is reported "
        "only; baselines run in the same environment under production costs):",
        "",
    ]
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
            if status.model.abstention is not None:
                lines.append(f"    ABSTAINED (never trades): {status.model.abstention}")
            lines.append(f"    training health: {_criteria(status.model.training_checks)}")
        if status.evaluation is not None:
            lines.append(f"    gate: {_criteria(status.evaluation.gate)}")
            detection = detection_text(status.evaluation.gate_metrics)
            if detection is not None:
                lines.append(f"    detection limit: {detection}")
            lines.extend(_evaluation_lines(status.evaluation))
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
        lines.extend(_champion_lines(champion))
    return "\n".join(lines)


def detection_text(metrics: dict[str, float]) -> str | None:
    """What the gate's Sharpe criteria could detect on its record, in words (None when the gate
    has no Sharpe criterion); the numbers are
    :data:`~trader_env.workflow.evaluation.DETECTION_KEYS`."""
    sessions = metrics.get("detection_sessions")
    if sessions is None:
        return None
    text = (
        f"over {sessions:.0f} sessions the gate needs an observed Sharpe of "
        f"{_fmt(metrics['detection_required_sharpe'])}; it detects a true Sharpe of "
        f"{_fmt(metrics['detection_true_sharpe_50'])} with 50 % and "
        f"{_fmt(metrics['detection_true_sharpe_80'])} with 80 % probability"
    )
    needed = metrics.get("detection_min_track_record", math.nan)
    if math.isfinite(needed):
        text += f"; the observed Sharpe would need {math.ceil(needed)} sessions to pass"
    elif needed == math.inf:
        text += "; the observed Sharpe would pass over no record length"
    return text


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)


def display_sharpe(m: dict[str, float]) -> float | None:
    """The Sharpe to show: a policy that never traded earned exactly 0, not an undefined 0/0."""
    sharpe = m.get("sharpe")
    if (sharpe is None or not math.isfinite(sharpe)) and m.get("daily_turnover") == 0.0:
        return 0.0
    return sharpe


def _policy_line(label: str, m: dict[str, float]) -> str:
    return (
        f"      {label:<23} Sharpe {_fmt(display_sharpe(m)):>6}  return "
        f"{_fmt(m.get('annual_return'), '.1%'):>7}  max DD {_fmt(m.get('max_drawdown'), '.1%'):>6}"
        f"  vol {_fmt(m.get('annual_volatility'), '.1%'):>6}"
        f"  turnover {_fmt(m.get('daily_turnover'), '.2f'):>6}x/day"
    )


def _evaluation_lines(evaluation: PhaseEvaluation) -> list[str]:
    """Per split: the agent (own env; production costs too when it trained for free), the
    four baselines under production costs, and the break-even cost per side."""
    lines = []
    costless = evaluation.gate_costs == "none"
    for part, role in (("validation", "decides"), ("test", "reported only")):
        production = evaluation.production_metrics.get(part, {})
        lines.append(
            f"    {part} ({role}); costs paid {_fmt(production.get('cost_per_side_bps'))} bps/side"
            f", break-even {_fmt(production.get('breakeven_cost_bps'))} bps/side"
        )
        own = evaluation.metrics[part]
        lines.append(_policy_line("agent, no costs" if costless else "agent", own))
        if costless:
            lines.append(_policy_line("agent, production costs", production))
        for name, m in evaluation.baselines.get(part, {}).items():
            lines.append(_policy_line(name, m))
        if "oracle_fraction" in own:
            lines.append(f"      oracle fraction {own['oracle_fraction']:.2f}")
        if "fair_oracle_fraction" in own:
            lines.append(
                f"      budget-held oracle fraction {own['fair_oracle_fraction']:.2f}"
                f" (its Sharpe {own['fair_oracle_sharpe']:.2f})"
            )
    return lines


def _champion_lines(champion: ChampionDecision) -> list[str]:
    lines = [f"\nChampion: {'PROMOTED' if champion.promoted else 'unchanged'}: {champion.reason}"]
    for reason in champion.demoted:
        lines.append(f"    demoted: {reason}")
    serving = champion.champion
    if serving is None:
        lines.append(
            "    No champion serves: no model has passed its gate under production costs and "
            "earned its promotion."
        )
    else:
        lines.append(
            f"    serving {serving.phase} v{serving.version} (validation Sharpe "
            f"{_fmt(serving.validation_sharpe)}, DSR {_fmt(serving.dsr)} over "
            f"{serving.n_trials} trial(s)): {serving.model_path}"
        )
    return lines
