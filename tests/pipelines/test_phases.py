"""The phase assets' checks: blocking unless gates are advisory (``TRADER_GATES``)."""

from __future__ import annotations

import pytest

from pipelines.phases import build_phase_definitions
from trader_env.config import PHASES


@pytest.mark.parametrize(("mode", "blocking"), [("enforced", True), ("advisory", False)])
def test_gates_block_unless_advisory(monkeypatch: pytest.MonkeyPatch, mode: str, blocking: bool):
    monkeypatch.setenv("TRADER_GATES", mode)
    _, checks = build_phase_definitions()
    specs = [spec for check in checks for spec in check.check_specs]
    assert len(specs) == 2 * len(PHASES) and all(spec.blocking is blocking for spec in specs)


def test_unknown_gate_mode_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADER_GATES", "off")
    with pytest.raises(ValueError, match="TRADER_GATES"):
        build_phase_definitions()
