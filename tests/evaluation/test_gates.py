"""What a gate's Sharpe criteria could detect (trader_env.evaluation.gates.gate_detection_limit)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.summary import detection_text
from trader_env.evaluation.detection import detection_limit
from trader_env.evaluation.gates import GateCriterion, gate_detection_limit
from trader_env.workflow.evaluation import DETECTION_KEYS

PSR = GateCriterion(metric="psr", op=">=", threshold=0.95)
TURNOVER = GateCriterion(metric="daily_turnover", op="<=", threshold=3.0)


def _record(n: int = 375, sharpe: float = 1.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(sharpe / math.sqrt(252) * 0.01, 0.01, n)


def test_a_psr_gate_has_the_psr_detection_limit() -> None:
    record = _record()
    limit = gate_detection_limit([TURNOVER, PSR], record)
    assert limit == detection_limit(record, confidence=0.95)
    assert limit.periods == 375 and 1.2 < limit.required_sharpe_annual < 1.5


def test_the_hardest_sharpe_criterion_binds() -> None:
    record = _record()
    psr_only = gate_detection_limit([PSR], record)
    strict = gate_detection_limit(
        [PSR, GateCriterion(metric="sharpe", op=">", threshold=2.0)], record
    )
    lenient = gate_detection_limit(
        [PSR, GateCriterion(metric="sharpe", op=">", threshold=0.0)], record
    )
    assert strict.required_sharpe_annual == pytest.approx(2.0)
    # Above its threshold, the true Sharpe passing with 50 % is the threshold itself.
    assert strict.detects_50_annual == pytest.approx(2.0, abs=1e-6)
    assert strict.detects_80_annual > psr_only.detects_80_annual
    assert lenient == psr_only  # sharpe > 0 is implied by PSR >= 0.95


def test_gates_without_a_sharpe_criterion_or_record_have_none() -> None:
    assert gate_detection_limit([TURNOVER], _record()) is None
    assert gate_detection_limit([PSR], np.array([0.01])) is None


def test_the_summary_says_what_the_gate_could_detect() -> None:
    from trader_env.phase_config import load_phase_config
    from trader_env.workflow.evaluation import detection_metrics

    config = load_phase_config(2, "dev")
    metrics = detection_metrics(config, _record(n=123, sharpe=-3.0))
    assert set(metrics) == set(DETECTION_KEYS)
    text = detection_text(metrics)
    assert text is not None and text.startswith("over 123 sessions the gate needs an observed")
    assert "would pass over no record length" in text  # a losing record never passes
    assert detection_text({}) is None
