"""The main command on markets the project never saw, with only ``data.yaml`` edited (source,
path, symbols, timestamp format, market left to detection; ``features.yaml`` untouched): it
detects the market, keeps warm-up under 10 % of the bars, trains, evaluates under the market's
production costs and runs champion promotion."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from trader_env.paths import PROJECT_ROOT

from .main_command import copy_configs, run_main_command

FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "markets"

#: name -> (data.yaml edits of the test profile, market, session clock, bars a year)
CASES: dict[str, tuple[dict[str, Any], str, str, str]] = {
    "crypto_30m": (
        {
            "symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT"],
            "files": {"path": str(FIXTURES / "crypto_30m")},
        },
        "crypto",
        "UTC",
        "17,520",
    ),
    "fx_1h": (
        {
            "symbols": ["EURUSD", "USDJPY"],
            "files": {
                "path": str(FIXTURES / "fx_1h"),
                "timestamp_format": "%Y.%m.%d %H:%M",
            },
        },
        "fx",
        "America/New_York@17:00",
        "6,240",
    ),
    "crypto_1h_newest_first": (
        {
            "symbols": ["ETHUSDT"],
            "files": {
                "path": str(FIXTURES / "crypto_1h_newest_first"),
                "symbol": "ETHUSDT",
                "timestamp_format": "%Y-%m-%d %I-%p",
                "column_map": {"volume": "Volume USDT"},
            },
        },
        "crypto",
        "UTC",
        "8,760",
    ),
}


def _run_main(tmp_path: Path, data_edits: dict[str, Any]) -> subprocess.CompletedProcess:
    config_dir = copy_configs(tmp_path / "config")
    data_yaml = config_dir / "data.yaml"
    data = yaml.safe_load(data_yaml.read_text())
    # `market` stays null (detected from the files); only the source and how to read it change.
    data["profiles"]["test"].update(source="files", **data_edits)
    data_yaml.write_text(yaml.safe_dump(data, sort_keys=False))
    return run_main_command(tmp_path, config_dir)


def _warmup_percent(stdout: str, step: str) -> float:
    match = re.search(rf"{step}: .*warm-up rows dropped \(([\d.]+)%\)", stdout)
    assert match is not None, stdout
    return float(match.group(1))


@pytest.mark.parametrize("name", list(CASES))
def test_main_job_runs_a_foreign_market_with_only_data_yaml_edits(
    tmp_path: Path, name: str
) -> None:
    edits, market, clock, bars_a_year = CASES[name]
    result = _run_main(tmp_path, edits)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(rf"features: .*market {market} \(\d+\.\d% of bars on Saturdays", out), out
    assert f"market {market}, session clock {clock}" in out
    assert f"{bars_a_year} bars a year" in out
    assert _warmup_percent(out, "features") < 10.0
    assert _warmup_percent(out, "regimes") < 10.0
    # Trained, evaluated on held-out data under the detected market's production costs, and
    # judged for promotion.
    assert "phase 0: PASSED" in out
    assert "    validation (decides); costs paid" in out
    assert "      agent, production costs Sharpe" in out
    assert "\nChampion: " in out
