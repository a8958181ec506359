"""``ChampionRegistry.demote``: the previous champion that was never demoted serves again."""

from __future__ import annotations

from pathlib import Path

from trader_env.evaluation.champion import ChampionRecord, ChampionRegistry, SharpeEvidence

#: Significant whatever the number of trials: these tests are about demotion, not evidence.
STRONG = SharpeEvidence(sharpe_per_period=1.0, n_days=1000, skew=0.0, kurtosis=3.0)


def _promote(registry: ChampionRegistry, tmp_path: Path, name: str, sharpe: float) -> int:
    model = tmp_path / "candidates" / f"{name}.zip"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_bytes(name.encode())
    record = ChampionRecord(
        phase="phase2", model_path=str(model), validation_sharpe=sharpe, gate_costs="production"
    )
    decision = registry.consider(record, STRONG)
    assert decision.promoted
    return decision.current.version  # type: ignore[union-attr, return-value]


def test_demote_walks_back_past_demoted_champions_to_none(tmp_path: Path) -> None:
    registry = ChampionRegistry(tmp_path / "store")
    assert registry.demote("nothing serves") is None and registry.history() == []
    v1 = _promote(registry, tmp_path, "a", 0.5)
    v2 = _promote(registry, tmp_path, "b", 1.0)
    serving = registry.demote("v2 broke the daily drawdown limit")
    assert serving is not None and serving.version == v1
    v3 = _promote(registry, tmp_path, "c", 2.0)
    assert registry.current().previous_version == v1  # type: ignore[union-attr]
    # v3 -> v1 (v2 was demoted, and v1 is v3's predecessor anyway) -> none.
    assert registry.demote("v3 below expectation").version == v1  # type: ignore[union-attr]
    assert registry.demote("v1 below expectation") is None
    assert registry.current() is None
    events = registry.history()
    demotions = [(e.replaced_version, e.version, e.reason) for e in events if e.action == "demoted"]
    assert demotions == [
        (v2, v1, "v2 broke the daily drawdown limit"),
        (v3, v1, "v3 below expectation"),
        (v1, None, "v1 below expectation"),
    ]
    # A new promotion after "no champion" is judged as a first champion.
    v4 = _promote(registry, tmp_path, "d", -1.0)
    assert registry.current().version == v4 and registry.current().previous_version is None  # type: ignore[union-attr]


def test_demote_skips_a_demoted_predecessor(tmp_path: Path) -> None:
    registry = ChampionRegistry(tmp_path)
    v1 = _promote(registry, tmp_path, "a", 0.5)
    v2 = _promote(registry, tmp_path, "b", 1.0)
    registry.rollback("manual")  # v1 serves, v2 stays in the chain
    registry.demote("v1 broke its limits")  # none: v1 has no predecessor
    assert registry.current() is None
    v3 = _promote(registry, tmp_path, "c", 2.0)
    assert v3 == 3
    # v3's predecessor is None (nothing served when it was promoted).
    assert registry.demote("v3 broke its limits") is None
    assert {e.replaced_version for e in registry.history() if e.action == "demoted"} == {v1, v3}
    assert v2 == 2


def test_demote_only_the_version_it_judged(tmp_path: Path) -> None:
    registry = ChampionRegistry(tmp_path)
    _promote(registry, tmp_path, "a", 0.5)
    v2 = _promote(registry, tmp_path, "b", 1.0)
    # A run judged v1's forward days, but v2 was promoted meanwhile: nothing is demoted.
    assert registry.demote("v1 broke its limits", version=1).version == v2  # type: ignore[union-attr]
    assert [e.action for e in registry.history()] == ["promoted", "promoted"]


def test_a_demoted_model_is_not_promoted_again(tmp_path: Path) -> None:
    registry = ChampionRegistry(tmp_path / "store")
    lineage = {"config_hash": "c0ffee", "seed": 42, "data_version": "day1"}

    def candidate(name: str, content: str, validation_sharpe: float, **changes) -> ChampionRecord:
        model = tmp_path / "candidates" / f"{name}.zip"
        model.parent.mkdir(parents=True, exist_ok=True)
        model.write_bytes(content.encode())
        return ChampionRecord(
            phase="phase2",
            model_path=str(model),
            test_sharpe=0.5,
            validation_sharpe=validation_sharpe,
            gate_costs="production",
            lineage={**lineage, **changes},
        )

    assert registry.consider(candidate("a", "weights", 1.25), STRONG).promoted
    registry.demote("v1 lost with significance")
    # The same bytes, or the nightly retrain on unchanged training data: other bytes (SB3
    # metadata), same phase, config, seed and validation Sharpe, newer data version.
    for again in (
        candidate("b", "weights", 1.25),
        candidate("c", "weights + run metadata", 1.25, data_version="day2"),
    ):
        decision = registry.consider(again, STRONG)
        assert not decision.promoted and registry.current() is None
        assert decision.reason.startswith("candidate is the model of champion v1 again (same ")
        assert decision.reason.endswith(": v1 lost with significance")
    # Another config or another validation Sharpe is another model: it may serve.
    assert registry.consider(candidate("d", "other", 1.25, config_hash="beef"), STRONG).promoted
    registry.demote("v2 broke the daily drawdown limit")
    assert registry.consider(candidate("e", "retrained", 0.75), STRONG).promoted
