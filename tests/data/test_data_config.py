"""DataConfig: the shipped YAML, profiles, defaults and refusals of bad settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from trader_env.data import DataConfig, load_data_config
from trader_env.data.config import FilesSourceConfig, SampleSourceConfig, SyntheticSourceConfig
from trader_env.paths import storage_root
from trader_env.yaml_config import ConfigError


def test_shipped_yaml_defaults_to_the_sample() -> None:
    config = load_data_config(profile="dev")
    assert config.source == "sample" and config.symbols == ["SPY"]
    assert config.files.path == storage_root() / "raw"


def test_test_profile_is_a_small_synthetic_market() -> None:
    config = load_data_config(profile="test")
    assert config.source == "synthetic"
    assert config.symbols == config.synthetic.symbols and len(config.symbols) == 2
    assert config.synthetic.n_sessions * config.synthetic.bars_per_session <= 5_000


def test_overrides_and_config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data.yaml").write_text("source: files\nfiles:\n  path: /srv/bars\n  symbol: ES\n")
    monkeypatch.setenv("TRADER_CONFIG_DIR", str(tmp_path))
    config = load_data_config(overrides={"files": {"timezone": "Europe/Berlin"}})
    assert config.files.path == Path("/srv/bars") and config.files.timezone == "Europe/Berlin"
    assert config.symbols == ["ES"]


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"sourc": "files"}, "sourc"),
        ({"source": "csv"}, "source"),
        ({"files": {"timezone": "Mars/Olympus"}}, "files.timezone"),
        ({"symbols": ["SPY", "SPY"]}, "symbols"),
        ({"synthetic": {"bars_per_session": 391}}, "synthetic.bars_per_session"),
        ({"synthetic": {"high_vol_annual": 0.1}}, "synthetic"),
        ({"files": {"column_map": {"adj": "Adj Close"}}}, "files.column_map.adj"),
    ],
)
def test_bad_settings_name_file_and_key(overrides: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_data_config(profile="dev", overrides=overrides)
    assert "data.yaml" in str(info.value) and f"key '{key}" in str(info.value)


def test_symbols_default_to_the_source() -> None:
    assert DataConfig(source="synthetic").symbols == ["SYNA", "SYNB"]
    assert DataConfig(source="files").symbols == []
    assert DataConfig(source="sample", symbols=["SPY"]).symbols == ["SPY"]


@pytest.mark.parametrize(
    "model", [DataConfig, SampleSourceConfig, FilesSourceConfig, SyntheticSourceConfig]
)
def test_every_field_is_documented(model: type[BaseModel]) -> None:
    undocumented = [name for name, field in model.model_fields.items() if not field.description]
    assert undocumented == []
