"""features.yaml: defaults, profiles and refusals."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from trader_env.features import FeaturesConfig, load_features_config, resolved_config
from trader_env.yaml_config import ConfigError


def test_yaml_defaults_match_the_documented_model_defaults() -> None:
    assert load_features_config(profile="dev") == FeaturesConfig()


def test_test_profile_uses_fractions_and_small_windows(market) -> None:
    config = load_features_config(profile="test")
    assert config.splits.method == "fractions"
    assert config.market.max_window_bars() <= 11
    # Regime windows of one session: 60 bars of the test profile's 60-bar sessions.
    resolved = resolved_config(market, config)
    assert resolved.regime.max_window_bars() == 60
    assert resolved.market.session_open == time(9, 30)


def test_overrides_apply_on_top_of_the_profile() -> None:
    config = load_features_config(profile="test", overrides={"market": {"rsi_window": 7}})
    assert config.market.rsi_window == 7
    assert "rsi_7" in config.market.feature_names()


def test_unknown_key_and_bad_values_name_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "features.yaml"
    path.write_text("market:\n  rsi_windw: 3\n")
    with pytest.raises(ConfigError, match=r"features\.yaml.*market\.rsi_windw"):
        load_features_config(path)
    path.write_text("regime:\n  trend_enter: 0.1\n  trend_exit: 0.3\n")
    with pytest.raises(ConfigError, match=r"trend_exit \(0\.3\) must be below trend_enter"):
        load_features_config(path)
    path.write_text("regime:\n  vol_thresholds: [0.2, 0.1, 0.4]\n")
    with pytest.raises(ConfigError, match=r"regime\.vol_thresholds.*strictly increasing"):
        load_features_config(path)
    path.write_text("splits:\n  fractions: {train: 0.5, validation: 0.2, test: 0.2}\n")
    with pytest.raises(ConfigError, match=r"splits\.fractions.*must be 1"):
        load_features_config(path)
    path.write_text("session_timezone: Mars/Olympus\n")
    with pytest.raises(ConfigError, match=r"session_timezone.*unknown IANA timezone"):
        load_features_config(path)


def test_windows_in_trading_time_must_be_resolved_before_use(market) -> None:
    config = FeaturesConfig.model_validate(
        {"market": {"rsi_window": "30min"}, "regime": {"vol_window": "2h"}}
    )
    with pytest.raises(ValueError, match="market windows are not resolved to bars"):
        config.market.windows_in_bars()
    with pytest.raises(ValueError, match="regime windows are not resolved to bars"):
        config.regime.windows_in_bars()
    resolved = resolved_config(market, config)
    # The test market has one-minute bars: 30 min = 30 bars, 2 h = 120 bars.
    assert resolved.market.windows_in_bars().rsi == 30
    assert resolved.regime.windows_in_bars()[0] == 120
