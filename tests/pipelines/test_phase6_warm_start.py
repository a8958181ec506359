"""Phase 6 "ongoing": retraining continues from the serving champion when it is a phase-6
model, and from phase 5 otherwise."""

from __future__ import annotations

from pathlib import Path

from pipelines.phases import champion_warm_start
from trader_env.evaluation.champion import ChampionRecord, ChampionRegistry, SharpeEvidence
from trader_env.phase_config import load_phase_config

STRONG = SharpeEvidence(sharpe_per_period=0.3, n_days=252, skew=0.0, kurtosis=3.0)


def promote(root: Path, phase: str) -> ChampionRecord:
    model = root / "candidates" / f"{phase}.zip"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_bytes(f"model of {phase}".encode())
    record = ChampionRecord(
        phase=phase,
        model_path=str(model),
        validation_sharpe=1.0 + len(list(model.parent.iterdir())),
        metrics={"sharpe": 1.0},
        gate_costs="production",
        test_sharpe=0.0,
        lineage={"seed": 1, "data_version": "v"},
    )
    assert ChampionRegistry(root).consider(record, STRONG).promoted
    return ChampionRegistry(root).current()  # type: ignore[return-value]


def test_phase_6_continues_from_a_verified_copy_of_a_phase_6_champion_only(
    tmp_path: Path,
) -> None:
    phase6 = load_phase_config(6, "test")
    with champion_warm_start(phase6, tmp_path) as path:
        assert path is None, "no champion: warm start from phase 5"
    promote(tmp_path, "phase5")
    with champion_warm_start(phase6, tmp_path) as path:
        assert path is None, "a phase-5 champion is not phase 6's"
    serving = promote(tmp_path, "phase6")
    with champion_warm_start(phase6, tmp_path) as path:
        assert path is not None and path != Path(serving.model_path)
        assert path.read_bytes() == Path(serving.model_path).read_bytes()
        private = path
    assert not private.exists(), "the private copy is removed after training"
    with champion_warm_start(load_phase_config(5, "test"), tmp_path) as path:
        assert path is None, "others: never"


def test_a_replaced_champion_file_is_never_trained_from(tmp_path: Path) -> None:
    promote(tmp_path, "phase5")
    serving = promote(tmp_path, "phase6")
    Path(serving.model_path).write_bytes(b"not the promoted model")
    with champion_warm_start(load_phase_config(6, "test"), tmp_path) as path:
        assert path is None
    current = ChampionRegistry(tmp_path).current()
    assert current is not None and current.phase == "phase5", "refused and demoted"
