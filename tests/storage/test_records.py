"""Stored values: a versioned, typed envelope around the value's tree, written atomically,
read back exactly, and refused (naming the file) when it is anything else."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from trader_env.evaluation.champion_records import ChampionRecord
from trader_env.features.splits import Splits
from trader_env.storage import KINDS, StoredValueError, dumps, loads, read_record, write_record
from trader_env.workflow.records import ChampionDecision


def _decision() -> ChampionDecision:
    champion = ChampionRecord(
        phase="phase2", model_path="/m.zip", validation_sharpe=1.5, lineage={"algorithm": "PPO"}
    )
    return ChampionDecision(
        promoted=True,
        reason="beat it",
        candidate_phase=2,
        champion=champion,
        previous=None,
        skipped={3: "gate failed", 4: "blocked"},
        demoted=("v1 refused",),
        champion_remeasured_sharpe=float("nan"),
    )


def test_a_record_round_trips_exactly(tmp_path: Path) -> None:
    decision = _decision()
    path = write_record(tmp_path / "champion_decision.json", decision, KINDS["ChampionDecision"])
    back = read_record(path, KINDS["ChampionDecision"])
    assert isinstance(back, ChampionDecision)
    assert back.skipped == {3: "gate failed", 4: "blocked"} and back.demoted == ("v1 refused",)
    assert back.champion == decision.champion and back.champion_remeasured_sharpe != 0
    assert dumps(back, KINDS["ChampionDecision"]) == path.read_bytes(), "same bytes again"
    envelope = json.loads(path.read_bytes())
    assert {key: envelope[key] for key in ("format", "format_version", "type", "type_version")} == {
        "format": "trader_env.stored_value",
        "format_version": 1,
        "type": "ChampionDecision",
        "type_version": 1,
    }
    assert not list(tmp_path.glob(".tmp-*")), "written through a temporary file"


def test_the_splits_of_a_real_market_round_trip(tmp_path: Path) -> None:
    from trader_env.data import load_bars, load_data_config
    from trader_env.dataset import build_market_data

    market = build_market_data(load_bars(load_data_config(profile="test")), profile="test")
    path = write_record(tmp_path / "splits.json", market.splits, KINDS["Splits"])
    back = read_record(path, KINDS["Splits"])
    assert isinstance(back, Splits) and back == market.splits


def _envelope(**changes: object) -> bytes:
    envelope = json.loads(dumps(_decision(), KINDS["ChampionDecision"]))
    envelope.update(changes)
    return json.dumps(envelope).encode()


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\x80\x04K\x01.", "not a stored value: not UTF-8 JSON"),  # a pickle of 1
        (b"[1, 2]", "not a stored value: no 'trader_env.stored_value' envelope"),
        (_envelope(format_version=2), "stored value format version 2; this version reads 1"),
        (_envelope(type="Splits"), "holds a 'Splits', expected a 'ChampionDecision'"),
        (_envelope(type_version=0), "layout version 0; this version reads 1: re-materialize"),
        (_envelope(value=[1]), "decodes to a list, not a ChampionDecision"),
        (
            _envelope(value={"$record": "ChampionRecord", "fields": {"phase": "p"}}),
            "not a valid ChampionRecord",
        ),
    ],
)
def test_anything_else_is_refused_naming_the_file(data: bytes, problem: str) -> None:
    with pytest.raises(StoredValueError, match=f"^stored.json: .*{problem}"):
        loads(data, KINDS["ChampionDecision"], "stored.json")


def test_a_value_of_another_kind_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "splits.json"
    with pytest.raises(StoredValueError, match="splits.json: a Splits must be a Splits, got"):
        write_record(path, pl.DataFrame({"a": [1]}), KINDS["Splits"])
    assert not path.exists() and not list(tmp_path.iterdir())
