"""``python -m pipelines``: a failed gate is a result (exit 0, summary says what it blocked),
a real error is not (exit 1, the error named on stderr)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .main_command import copy_configs, run_main_command


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.slow
def test_failed_gate_exits_zero_and_says_what_it_blocked(tmp_path: Path) -> None:
    config_dir = copy_configs(tmp_path / "config")
    for phase in (0, 1):
        _edit(
            config_dir / f"phase{phase}.yaml",
            lambda d: d.update(
                training_checks=[{"metric": "n_episodes", "op": ">=", "threshold": 0}]
            ),
        )
    _edit(
        config_dir / "phase1.yaml",
        lambda d: d.update(gate=[{"metric": "sharpe", "op": ">", "threshold": 1.0e9}]),
    )
    result = run_main_command(tmp_path, config_dir)
    assert result.returncode == 0, result.stderr
    assert "phase 1: FAILED gate" in result.stdout
    assert "sharpe" in result.stdout and "> 1e+09 X" in result.stdout
    assert "phase 2: BLOCKED by phase 1" in result.stdout
    assert "phases [2, 3, 4, 5, 6] were blocked" in result.stdout
    # Phases 0-1 train and are gated without costs: they never serve, and the summary says so.
    assert "Champion: unchanged: no champion" in result.stdout
    assert "under production costs" in result.stdout
    assert "No champion serves" in result.stdout


@pytest.mark.slow
def test_bad_data_exits_one_and_names_the_file_and_line(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "XYZ.csv").write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-03-04T14:30:00Z,10,11,9,10.5,100\n"
        "2024-03-04T14:31:00Z,10,11,9,abc,100\n"
    )
    config_dir = copy_configs(tmp_path / "config")
    _edit(
        config_dir / "data.yaml",
        lambda d: d["profiles"]["test"].update(
            source="files", symbols=["XYZ"], files={"path": str(raw)}
        ),
    )
    result = run_main_command(tmp_path, config_dir)
    assert result.returncode == 1
    assert "XYZ.csv" in result.stderr and "line 3" in result.stderr, result.stderr
    assert "phase 0: NOT RUN" in result.stdout


def test_files_source_without_symbols_is_a_config_error_not_a_traceback(tmp_path: Path) -> None:
    config_dir = copy_configs(tmp_path / "config")
    _edit(
        config_dir / "data.yaml",
        lambda d: d["profiles"]["test"].update(source="files", files={"path": str(tmp_path)}),
    )
    result = run_main_command(tmp_path, config_dir)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert str(config_dir / "data.yaml") in result.stderr
    assert "'symbols' must list the symbols" in result.stderr


def test_a_symbol_without_a_cost_model_is_refused_when_the_definitions_load(
    tmp_path: Path,
) -> None:
    config_dir = copy_configs(tmp_path / "config")
    _edit(config_dir / "costs.yaml", lambda d: d["markets"].pop("us_equity"))
    result = run_main_command(tmp_path, config_dir)
    assert result.returncode == 1
    assert "Configuration error" in result.stderr and "Traceback" not in result.stderr
    assert str(config_dir / "costs.yaml") in result.stderr
    assert "symbol 'SYNA' has no cost model" in result.stderr
    assert "markets.us_equity" in result.stderr


def test_a_malformed_cost_model_is_refused_naming_file_symbol_and_key(tmp_path: Path) -> None:
    config_dir = copy_configs(tmp_path / "config")
    _edit(config_dir / "costs.yaml", lambda d: d.update(symbols={"SYNB": {"fees_bps": -1}}))
    result = run_main_command(tmp_path, config_dir)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert str(config_dir / "costs.yaml") in result.stderr
    assert "symbol 'SYNB'" in result.stderr and "symbols.SYNB.fees_bps" in result.stderr
