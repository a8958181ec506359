"""Champion registry: promotion, refusal, rollback, crash safety, corrupt files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trader_env.evaluation import champion as champion_module
from trader_env.evaluation.champion import (
    ChampionRecord,
    ChampionRegistry,
    ChampionRegistryError,
)


def _candidate(tmp_path: Path, name: str, sharpe: float, phase: str = "phase2") -> ChampionRecord:
    model = tmp_path / "candidates" / f"{name}.zip"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_bytes(f"model bytes of {name}".encode())
    return ChampionRecord(
        phase=phase,
        model_path=str(model),
        test_sharpe=sharpe,
        metrics={"sharpe": sharpe, "calmar": float("nan")},
        lineage={"seed": 7, "data_version": "abc123"},
    )


def test_first_candidate_is_promoted_and_copied(tmp_path: Path) -> None:
    registry = ChampionRegistry(tmp_path / "store")
    assert registry.current() is None
    decision = registry.consider(_candidate(tmp_path, "a", 0.8))
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
    registry.consider(_candidate(tmp_path, "a", 0.8))
    better = registry.consider(_candidate(tmp_path, "b", 1.2, phase="phase3"))
    assert better.promoted and better.previous is not None and better.previous.version == 1
    worse = registry.consider(_candidate(tmp_path, "c", 1.0))
    assert not worse.promoted
    assert "does not beat champion v2" in worse.reason
    assert registry.current().version == 2  # type: ignore[union-attr]
    # A margin is required on top of the champion's Sharpe.
    marginal = registry.consider(_candidate(tmp_path, "d", 1.25), min_improvement=0.1)
    assert not marginal.promoted
    # Champion re-measured on the candidate's test days decides instead of its stored Sharpe.
    remeasured = registry.consider(_candidate(tmp_path, "e", 1.0), champion_sharpe=0.9)
    assert remeasured.promoted and registry.current().version == 3  # type: ignore[union-attr]
    assert len(registry.champions()) == 3
    refused_nan = registry.consider(_candidate(tmp_path, "f", float("nan")))
    assert not refused_nan.promoted and "not finite" in refused_nan.reason


def test_rollback_restores_previous_champion_and_walks_back(tmp_path: Path) -> None:
    registry = ChampionRegistry(tmp_path)
    registry.consider(_candidate(tmp_path, "a", 0.5))
    registry.consider(_candidate(tmp_path, "b", 0.9))
    registry.consider(_candidate(tmp_path, "c", 1.4))
    restored = registry.rollback(reason="live P&L diverged")
    assert restored.version == 2
    assert Path(restored.model_path).read_bytes() == b"model bytes of b"
    assert registry.current().version == 2  # type: ignore[union-attr]
    last = registry.history()[-1]
    assert (last.action, last.version, last.replaced_version) == ("rollback", 2, 3)
    assert last.reason == "live P&L diverged"
    # After a rollback the challenger is compared with the restored champion.
    assert registry.consider(_candidate(tmp_path, "d", 1.0)).promoted
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
    registry.consider(_candidate(tmp_path, "a", 0.5))
    before = (tmp_path / "champion" / "registry.json").read_bytes()

    def crash(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt("killed while writing the registry")

    monkeypatch.setattr(champion_module, "atomic_write_text", crash)
    challenger = _candidate(tmp_path, "b", 2.0)
    with pytest.raises(KeyboardInterrupt):
        registry.consider(challenger)
    monkeypatch.undo()
    models = sorted((tmp_path / "champion" / "models").iterdir())
    assert len(models) == 2  # the stray copy exists ...
    assert (tmp_path / "champion" / "registry.json").read_bytes() == before
    reopened = ChampionRegistry(tmp_path)
    assert reopened.current().version == 1  # type: ignore[union-attr]  # ... and changes nothing
    assert len(reopened.history()) == 1
    # Retrying the promotion reuses the identical stray file.
    assert reopened.consider(challenger).promoted
    assert len(list((tmp_path / "champion" / "models").iterdir())) == 2
    assert not list((tmp_path / "champion").glob(".tmp-*"))


def test_corrupt_registry_names_the_file(tmp_path: Path) -> None:
    registry = ChampionRegistry(tmp_path)
    registry.consider(_candidate(tmp_path, "a", 0.5))
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
    record = ChampionRecord(phase="phase1", model_path=str(tmp_path / "nope.zip"), test_sharpe=1.0)
    with pytest.raises(ChampionRegistryError, match="does not exist"):
        ChampionRegistry(tmp_path).consider(record)
