"""``ChampionRegistry.demote``: the previous champion that was never demoted serves again."""

from __future__ import annotations

from pathlib import Path

from trader_env.evaluation.champion import ChampionRecord, ChampionRegistry


def _promote(registry: ChampionRegistry, tmp_path: Path, name: str, sharpe: float) -> int:
    model = tmp_path / "candidates" / f"{name}.zip"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_bytes(name.encode())
    record = ChampionRecord(phase="phase2", model_path=str(model), test_sharpe=sharpe)
    decision = registry.consider(record)
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
    _promote(registry, tmp_path, "a", 0.5)
    registry.demote("v1 lost with significance")
    # The next nightly run retrains on unchanged training data: the same bytes come back.
    again = registry.consider(
        ChampionRecord(
            phase="phase2", model_path=str(tmp_path / "candidates" / "a.zip"), test_sharpe=0.5
        )
    )
    assert not again.promoted and registry.current() is None
    assert again.reason.startswith("candidate is identical to champion v1, demoted at ")
    assert again.reason.endswith(": v1 lost with significance")
    assert _promote(registry, tmp_path, "b", 0.1) == 2, "a different model may serve"
