"""Phase gates: measured metrics compared with thresholds read from the phase YAML."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from trader_env.evaluation.detection import DetectionLimit, detection_limit

Comparison = Literal[">", ">=", "<", "<="]

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class GateCriterion(BaseModel):
    """One success criterion: ``metrics[metric] <op> threshold``."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(description="Key of the measured metric, e.g. 'sharpe' or 'psr'.")
    op: Comparison = Field(description="Comparison that must hold: measured <op> threshold.")
    threshold: float = Field(description="Threshold in the metric's own unit.")
    description: str = Field(default="", description="Why this criterion exists, for reports.")


@dataclass(frozen=True)
class CriterionResult:
    """The verdict on one criterion; ``measured`` is NaN when the metric was not produced."""

    metric: str
    op: str
    threshold: float
    measured: float
    passed: bool
    description: str

    @property
    def text(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{self.metric} = {self.measured:.4g} (needs {self.op} {self.threshold:g}): {verdict}"
        )


@dataclass(frozen=True)
class GateResult:
    """All criteria of one gate; the gate passes only when every criterion passes."""

    criteria: tuple[CriterionResult, ...]

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.criteria)

    @property
    def failures(self) -> tuple[CriterionResult, ...]:
        return tuple(result for result in self.criteria if not result.passed)


def evaluate_gate(metrics: Mapping[str, float], criteria: Sequence[GateCriterion]) -> GateResult:
    """Compare ``metrics`` with ``criteria``; a missing or non-finite metric fails its criterion."""
    results = []
    for criterion in criteria:
        raw = metrics.get(criterion.metric)
        measured = float(raw) if raw is not None else math.nan
        passed = math.isfinite(measured) and _OPERATORS[criterion.op](measured, criterion.threshold)
        results.append(
            CriterionResult(
                metric=criterion.metric,
                op=criterion.op,
                threshold=criterion.threshold,
                measured=measured,
                passed=passed,
                description=criterion.description,
            )
        )
    return GateResult(criteria=tuple(results))


def gate_detection_limit(
    criteria: Sequence[GateCriterion], daily_returns: np.ndarray
) -> DetectionLimit | None:
    """What the gate's Sharpe-based criteria could detect on a record of ``daily_returns``.

    ``psr >= c`` needs the observed Sharpe whose PSR against 0 reaches ``c``; ``sharpe > x``
    needs an observed annual Sharpe above ``x``. Both rise with the one observed Sharpe of
    the record, so together they pass exactly when the hardest one does: its limit (the
    largest observed Sharpe needed) is the gate's. None when the gate has no such criterion
    or the record has fewer than two returns.
    """
    values = np.asarray(daily_returns, dtype=np.float64)
    if values.size < 2 or not np.isfinite(values).all():
        return None
    limits = []
    for criterion in criteria:
        if criterion.op not in (">", ">="):
            continue
        if criterion.metric == "psr" and 0.5 <= criterion.threshold < 1.0:
            limits.append(detection_limit(values, confidence=criterion.threshold))
        elif criterion.metric == "sharpe":
            limits.append(
                detection_limit(values, confidence=0.5, benchmark_annual=criterion.threshold)
            )
    return max(limits, key=lambda limit: limit.required_sharpe_annual, default=None)
