"""Two promotions started at the same moment in two processes both land in the history."""

from __future__ import annotations

from pathlib import Path

from trader_env.evaluation.champion import ChampionRegistry

from .workers import start_together, start_worker, worker_result


def test_two_promotions_at_the_same_moment_both_appear_in_the_history(tmp_path: Path) -> None:
    go = tmp_path / "go"
    workers = []
    for name, sharpe in (("a", "1.0"), ("b", "2.0")):
        model = tmp_path / f"{name}.zip"
        model.write_bytes(f"model {name}".encode())
        workers.append(start_worker("promote", str(tmp_path), str(model), sharpe, str(go)))
    start_together(go, workers)
    outputs = [worker_result(worker, timeout=120) for worker in workers]
    assert all(output["promoted"] for output in outputs)
    assert sorted(output["version"] for output in outputs) == [1, 2]

    registry = ChampionRegistry(tmp_path)
    history = registry.history()
    assert [(e.action, e.version) for e in history] == [("promoted", 1), ("promoted", 2)]
    assert history[1].replaced_version == 1, "the second was judged against the first"
    champions = registry.champions()
    assert [c.version for c in champions] == [1, 2] and champions[1].previous_version == 1
    assert {Path(c.model_path).read_bytes() for c in champions} == {b"model a", b"model b"}
