"""Champion registry: eligibility, deflated-Sharpe promotion, refusal, demotion, rollback,
crash safety, corrupt files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trader_env.evaluation import champion as champion_module
from trader_env.evaluation.champion import (
    ChampionRecord,
    ChampionRegistry,
    ChampionRegistryError,
    SharpeEvidence,
)

#: A year of daily returns with a per-day Sharpe of 0.3 (~4.8 annualised): significant even
#: after many trials.
STRONG = SharpeEvidence(sharpe_per_period=0.3, n_days=252, skew=0.0, kurtosis=3.0)


def _candidate(
    tmp_path: Path,
    name: str,
    sharpe: float,
    phase: str = "phase2",
    gate_costs: str | None = "production",
) -> ChampionRecord:
    model = tmp_path / "candidates" / f"{name}.zip"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_bytes(f"model bytes of {name}".encode())
    return ChampionRecord(
        phase=phase,
        model_path=str(model),
        validation_sharpe=sharpe,
        metrics={"sharpe": sharpe, "calmar": float("nan")},
        gate_costs=gate_costs,  # type: ignore[arg-type]
        test_sharpe=-sharpe,  # recorded, never compared
        lineage={"seed": 7, "data_version": "abc123"},
    )


def _consider(registry: ChampionRegistry, record: ChampionRecord, **kwargs: object):
    return registry.consider(record, STRONG, **kwargs)  # type: ignore[arg-type]


def test_first_candidate_is_promoted_and_copied(tmp_path: Path) -> None:
    registry = ChampionRegistry(tmp_path / "store")
    assert registry.current() is None
    decision = _consider(registry, _candidate(tmp_path, "a", 0.8))
    assert decision.promoted and decision.previous is None
    current = registry.current()
    assert current is not None and current == decision.current
    assert current.version == 1 and current.phase == "phase2"
    stored = Path(current.model_path)
    assert stored.parent == tmp_path / "store" / "champion" / "models"
    assert stored.read_bytes() == b"model bytes of a"
    assert current.metrics["calmar"] is None  # NaN stored as null
    assert current.lineage == {"seed": 7, "data_version": "abc123"}
    assert [event.action for event in registry.history()] == ["promoted"]


def test_better_candidate_replaces_worse_is_refused(tmp_path: Path) -> None:
    registry = ChampionRegistry(tmp_path)
    _consider(registry, _candidate(tmp_path, "a", 0.8))
    better = _consider(registry, _candidate(tmp_path, "b", 1.2, phase="phase3"))
    assert better.promoted and better.previous is not None and better.previous.version == 1
    worse = _consider(registry, _candidate(tmp_path, "c", 1.0))
    assert not worse.promoted
    assert "does not beat champion v2" in worse.reason
    assert registry.current().version == 2  # type: ignore[union-attr]
    # A margin is required on top of the champion's Sharpe.
    marginal = _consider(registry, _candidate(tmp_path, "d", 1.25), min_improvement=0.1)
    assert not marginal.promoted
    # The champion re-measured on the same validation days and costs decides instead of its
    # stored Sharpe.
    remeasured = _consider(
        registry, _candidate(tmp_path, "e", 1.0), champion_sharpe=0.9, champion_version=2
    )
    assert remeasured.promoted and registry.current().version == 3  # type: ignore[union-attr]
    assert len(registry.champions()) == 3
    refused_nan = _consider(registry, _candidate(tmp_path, "f", float("nan")))
    assert not refused_nan.promoted and "not finite" in refused_nan.reason


def test_rollback_restores_previous_champion_and_walks_back(tmp_path: Path) -> None:
    registry = ChampionRegistry(tmp_path)
    _consider(registry, _candidate(tmp_path, "a", 0.5))
    _consider(registry, _candidate(tmp_path, "b", 0.9))
    _consider(registry, _candidate(tmp_path, "c", 1.4))
    restored = registry.rollback(reason="live P&L diverged")
    assert restored.version == 2
    assert Path(restored.model_path).read_bytes() == b"model bytes of b"
    assert registry.current().version == 2  # type: ignore[union-attr]
    last = registry.history()[-1]
    assert (last.action, last.version, last.replaced_version) == ("rollback", 2, 3)
    assert last.reason == "live P&L diverged"
    # After a rollback the challenger is compared with the restored champion.
    assert _consider(registry, _candidate(tmp_path, "d", 1.0)).promoted
    assert registry.rollback().version == 2
    assert registry.rollback().version == 1
    with pytest.raises(ChampionRegistryError, match="no previous champion"):
        registry.rollback()
    # Rolled-back models stay on disk.
    assert all(Path(record.model_path).is_file() for record in registry.champions())


def test_rollback_without_champion_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ChampionRegistryError, match="no champion"):
        ChampionRegistry(tmp_path).rollback()


def test_crash_between_copy_and_json_leaves_champion_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = ChampionRegistry(tmp_path)
    _consider(registry, _candidate(tmp_path, "a", 0.5))
    before = (tmp_path / "champion" / "registry.json").read_bytes()

    real_write = champion_module.atomic_write_text

    def crash(path: Path, text: str) -> Path:
        # The trial is recorded first; the crash hits the write that would promote.
        if '"promoted"' in text and text.count('"promoted"') > 1:
            raise KeyboardInterrupt("killed while writing the registry")
        return real_write(path, text)

    monkeypatch.setattr(champion_module, "atomic_write_text", crash)
    challenger = _candidate(tmp_path, "b", 2.0)
    with pytest.raises(KeyboardInterrupt):
        _consider(registry, challenger)
    monkeypatch.undo()
    models = sorted((tmp_path / "champion" / "models").iterdir())
    assert len(models) == 2  # the stray copy exists ...
    after = json.loads((tmp_path / "champion" / "registry.json").read_bytes())
    for key in ("current_version", "champions", "events"):
        assert after[key] == json.loads(before)[key]
    reopened = ChampionRegistry(tmp_path)
    assert reopened.current().version == 1  # type: ignore[union-attr]  # ... and changes nothing
    assert len(reopened.history()) == 1
    assert len(reopened.trials()) == 2  # the challenger was judged: it counts as a trial
    # Retrying the promotion reuses the identical stray file.
    assert _consider(reopened, challenger).promoted
    assert len(list((tmp_path / "champion" / "models").iterdir())) == 2
    assert not list((tmp_path / "champion").glob(".tmp-*"))


def test_corrupt_registry_names_the_file(tmp_path: Path) -> None:
    registry = ChampionRegistry(tmp_path)
    _consider(registry, _candidate(tmp_path, "a", 0.5))
    path = tmp_path / "champion" / "registry.json"
    path.write_text('{"current_version": 1, "champions": [')
    with pytest.raises(ChampionRegistryError, match=str(path)):
        registry.current()
    path.write_text(json.dumps({"current_version": "one", "champions": [], "events": []}))
    with pytest.raises(ChampionRegistryError, match="corrupt"):
        registry.history()
    path.write_text(json.dumps({"current_version": 4, "champions": [], "events": []}))
    with pytest.raises(ChampionRegistryError, match="version 4"):
        registry.current()


def test_missing_candidate_model_is_refused(tmp_path: Path) -> None:
    record = ChampionRecord(
        phase="phase2",
        model_path=str(tmp_path / "nope.zip"),
        validation_sharpe=1.0,
        gate_costs="production",
    )
    with pytest.raises(ChampionRegistryError, match="does not exist"):
        _consider(ChampionRegistry(tmp_path), record)


def test_a_costless_gate_never_serves(tmp_path: Path) -> None:
    registry = ChampionRegistry(tmp_path)
    decision = _consider(registry, _candidate(tmp_path, "free", 9.0, "phase1", "none"))
    assert not decision.promoted and "not production costs" in decision.reason
    assert registry.current() is None and registry.trials() == []


def test_every_distinct_candidate_is_a_trial_and_deflates_the_next(tmp_path: Path) -> None:
    registry = ChampionRegistry(tmp_path)
    # Half a year of days with a per-day Sharpe of 0.16 (~2.5 annualised): PSR ~0.96 alone.
    modest = SharpeEvidence(sharpe_per_period=0.16, n_days=123, skew=0.0, kurtosis=3.0)
    first = registry.consider(_candidate(tmp_path, "a", 2.5), modest)
    assert first.promoted and first.current is not None
    assert first.current.n_trials == 1 and first.current.dsr == pytest.approx(0.961, abs=0.01)
    # The same model judged again is the same trial.
    registry.consider(_candidate(tmp_path, "a", 2.5), modest)
    assert len(registry.trials()) == 1
    # A second, better-looking model: with two trials the same evidence no longer suffices.
    second = registry.consider(_candidate(tmp_path, "b", 2.6), modest)
    assert not second.promoted
    assert "not significant" in second.reason and "over 2 trial(s)" in second.reason
    assert len(registry.trials()) == 2 and registry.current().version == 1  # type: ignore[union-attr]


def test_validation_decides_promotion_test_never_does(tmp_path: Path) -> None:
    registry = ChampionRegistry(tmp_path)
    _consider(registry, _candidate(tmp_path, "a", 1.0))
    # Better on validation, far worse on test: promoted.
    better_val = _candidate(tmp_path, "b", 1.5).model_copy(update={"test_sharpe": -5.0})
    assert _consider(registry, better_val, champion_sharpe=1.0, champion_version=1).promoted
    # Worse on validation, far better on test: refused.
    better_test = _candidate(tmp_path, "c", 1.2).model_copy(update={"test_sharpe": 9.0})
    assert not _consider(registry, better_test, champion_sharpe=1.5, champion_version=2).promoted


def test_a_champion_changed_during_remeasurement_is_not_replaced(tmp_path: Path) -> None:
    registry = ChampionRegistry(tmp_path)
    _consider(registry, _candidate(tmp_path, "a", 1.0))
    _consider(registry, _candidate(tmp_path, "b", 2.0))
    stale = _consider(
        registry, _candidate(tmp_path, "c", 3.0), champion_sharpe=1.0, champion_version=1
    )
    assert not stale.promoted and "while v1 was being re-measured" in stale.reason


def test_legacy_costless_champion_is_demoted_with_its_reason(tmp_path: Path) -> None:
    registry = ChampionRegistry(tmp_path)
    _consider(registry, _candidate(tmp_path, "good", 1.0))
    # A champion promoted before the production-cost rule (no gate_costs recorded): written as
    # an older registry would have it.
    path = tmp_path / "champion" / "registry.json"
    state = json.loads(path.read_text())
    legacy = dict(state["champions"][0], version=2, previous_version=1, phase="phase1")
    legacy["gate_costs"] = None
    state["champions"].append(legacy)
    state["current_version"] = 2
    path.write_text(json.dumps(state))
    reasons = registry.demote_ineligible()
    assert len(reasons) == 1 and "not production costs" in reasons[0]
    assert registry.current().version == 1  # type: ignore[union-attr]
    last = registry.history()[-1]
    assert (last.action, last.version, last.replaced_version) == ("demoted", 1, 2)
    assert registry.demote_ineligible() == []


def test_demote_walks_back_to_an_eligible_champion_or_none(tmp_path: Path) -> None:
    registry = ChampionRegistry(tmp_path)
    _consider(registry, _candidate(tmp_path, "a", 1.0))
    _consider(registry, _candidate(tmp_path, "b", 2.0))
    assert registry.demote("forward drawdown breached 5 %").version == 1  # type: ignore[union-attr]
    assert registry.demote("forward Sharpe below expectation") is None
    assert registry.current() is None
    assert [e.action for e in registry.history()] == ["promoted", "promoted", "demoted", "demoted"]
    assert registry.demote("again") is None  # nothing serves: nothing to demote


def test_external_trials_count_in_the_deflated_sharpe(tmp_path: Path) -> None:
    registry = ChampionRegistry(tmp_path)
    modest = SharpeEvidence(sharpe_per_period=0.16, n_days=123, skew=0.0, kurtosis=3.0)
    # A search reported 5 configurations; reporting the same search again replaces its count.
    assert registry.record_external_trials("tune_phase/phase2/x", "phase2", 3) == 3
    assert registry.record_external_trials("tune_phase/phase2/x", "phase2", 5) == 5
    assert registry.record_external_trials("tune_phase/phase2/y", "phase2", 2) == 7
    assert [item.n_trials for item in registry.external_trials()] == [5, 2]
    # The same evidence that promotes a first candidate alone (DSR ~0.96) is now deflated by
    # the 7 configurations tried besides it.
    decision = registry.consider(_candidate(tmp_path, "a", 2.5), modest)
    assert (
        not decision.promoted
        and "not significant" in decision.reason
        and "over 8 trial(s)" in decision.reason
    )
    assert registry.trial_count() == 8 and len(registry.trials()) == 1
    with pytest.raises(ValueError, match="n_trials must be >= 0"):
        registry.record_external_trials("z", "phase2", -1)
