"""Tests of the small shared modules: YAML config loading, atomic writes, lineage, gates."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from pydantic import BaseModel, ConfigDict, Field

from trader_env.atomic import atomic_path, atomic_write_text
from trader_env.evaluation.gates import GateCriterion, evaluate_gate
from trader_env.lineage import code_version, config_fingerprint, frame_fingerprint
from trader_env.sessions import with_sessions
from trader_env.yaml_config import ConfigError, deep_merge, load_model, load_profiled_model


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window: int = Field(default=5, ge=1)


class _Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "x"
    inner: _Inner = _Inner()


def test_deep_merge_merges_nested_and_replaces_leaves() -> None:
    merged = deep_merge({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"c": 3}, "d": [2]})
    assert merged == {"a": {"b": 1, "c": 3}, "d": [2]}


def test_unknown_key_is_refused_with_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("name: y\ninner:\n  windw: 3\n")
    with pytest.raises(ConfigError) as info:
        load_model(_Outer, path)
    assert str(path) in str(info.value) and "inner.windw" in str(info.value)


def test_out_of_range_value_is_refused_with_reason(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("inner:\n  window: 0\n")
    with pytest.raises(ConfigError, match=r"inner\.window.*greater than or equal to 1"):
        load_model(_Outer, path)


def test_invalid_yaml_and_missing_file_are_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("inner: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_model(_Outer, bad)
    with pytest.raises(ConfigError, match="not found"):
        load_model(_Outer, tmp_path / "missing.yaml")


def test_profile_section_overrides_base(tmp_path: Path) -> None:
    path = tmp_path / "cfg.yaml"
    path.write_text("name: base\ninner: {window: 5}\nprofiles:\n  test: {inner: {window: 2}}\n")
    assert load_profiled_model(_Outer, path, profile="test").inner.window == 2
    assert load_profiled_model(_Outer, path, profile="dev").inner.window == 5
    overridden = load_profiled_model(_Outer, path, profile="test", overrides={"name": "o"})
    assert overridden.name == "o" and overridden.inner.window == 2


def test_atomic_path_leaves_destination_untouched_on_error(tmp_path: Path) -> None:
    target = atomic_write_text(tmp_path / "model.txt", "good")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half written")
        raise RuntimeError("killed")
    assert target.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["model.txt"]


def test_frame_fingerprint_tracks_values_and_order() -> None:
    ts = [datetime(2020, 1, 2, 14, 30, tzinfo=UTC), datetime(2020, 1, 2, 14, 31, tzinfo=UTC)]
    frame = pl.DataFrame({"symbol": ["A", "A"], "ts": ts, "close": [1.0, 2.0]})
    assert frame_fingerprint(frame) == frame_fingerprint(frame.clone())
    assert frame_fingerprint(frame) != frame_fingerprint(frame.reverse())
    assert frame_fingerprint(frame) != frame_fingerprint(frame.with_columns(close=pl.lit(1.5)))


def test_config_fingerprint_is_key_order_independent() -> None:
    assert config_fingerprint({"a": 1, "b": 2}) == config_fingerprint({"b": 2, "a": 1})
    assert config_fingerprint(_Outer()) != config_fingerprint(_Outer(name="other"))
    assert code_version().startswith("0.1.0")


def test_sessions_use_new_york_calendar_date() -> None:
    # 23:30 New York on 2020-01-02 is already 2020-01-03 in UTC.
    frame = pl.DataFrame({"ts": [datetime(2020, 1, 3, 4, 30, tzinfo=UTC)]})
    assert with_sessions(frame)["session"].to_list()[0].isoformat() == "2020-01-02"


def test_gate_passes_only_when_every_criterion_holds() -> None:
    criteria = [
        GateCriterion(metric="sharpe", op=">", threshold=0.5),
        GateCriterion(metric="max_drawdown", op=">=", threshold=-0.04),
    ]
    passing = evaluate_gate({"sharpe": 0.9, "max_drawdown": -0.01}, criteria)
    assert passing.passed and not passing.failures
    failing = evaluate_gate({"sharpe": 0.5, "max_drawdown": -0.01}, criteria)
    assert not failing.passed and [r.metric for r in failing.failures] == ["sharpe"]
    assert "FAIL" in failing.failures[0].text


def test_gate_fails_on_missing_or_non_finite_metric() -> None:
    criteria = [GateCriterion(metric="psr", op=">=", threshold=0.95)]
    assert not evaluate_gate({}, criteria).passed
    result = evaluate_gate({"psr": math.nan}, criteria)
    assert not result.passed and math.isnan(result.criteria[0].measured)
