"""The phase assets' checks: always blocking (fixed when the definitions load); the run's gate
mode sets the severity of a failed verdict, and only an ERROR stops the later phases."""

from __future__ import annotations

import dagster as dg

from pipelines.phases import _check_result, build_phase_definitions
from pipelines.settings import PipelineSettings
from trader_env.evaluation.gates import GateCriterion, GateResult, evaluate_gate
from trader_env.phase_config import PHASES


def test_every_phase_check_is_blocking() -> None:
    _, checks = build_phase_definitions()
    specs = [spec for check in checks for spec in check.check_specs]
    assert len(specs) == 2 * len(PHASES) and all(spec.blocking for spec in specs)


def _failed_gate() -> GateResult:
    result = evaluate_gate({"sharpe": 0.1}, [GateCriterion(metric="sharpe", op=">", threshold=1.0)])
    assert not result.passed
    return result


def test_a_failed_verdict_is_an_error_when_enforced_and_a_warning_when_advisory() -> None:
    enforced = _check_result(_failed_gate(), "gate", PipelineSettings(gates="enforced"))
    advisory = _check_result(_failed_gate(), "gate", PipelineSettings(gates="advisory"))
    assert not enforced.passed and enforced.severity == dg.AssetCheckSeverity.ERROR
    assert not advisory.passed and advisory.severity == dg.AssetCheckSeverity.WARN
    assert advisory.metadata["gate_mode"].value == "advisory"
