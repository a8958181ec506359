"""Production cost models per instrument (assets_config/costs.yaml -> trader_env.costs)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from trader_env.costs import cost_per_side_bps, production_costs, with_production_costs
from trader_env.paths import PROJECT_ROOT
from trader_env.phase_config import load_phase_config
from trader_env.yaml_config import ConfigError

COSTS = PROJECT_ROOT / "assets_config" / "costs.yaml"


def _costs_file(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "costs.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("market", "price", "low", "high"),
    [
        # IBKR tiered commission + SEC fee + one-cent spread + 0.1 bps: ~0.54 bps on $280 SPY.
        ("us_equity", 280.0, 0.45, 0.65),
        # Binance spot VIP 0 taker fee of 10 bps dominates.
        ("crypto", 60_000.0, 11.5, 12.5),
        # IDEALPRO: 0.2 bps with a USD 2 minimum (0.4 bps on $50k) + a half-pip spread.
        ("fx", 1.08, 0.6, 0.9),
    ],
)
def test_shipped_defaults_cost_what_their_schedules_say(market, price, low, high) -> None:
    costs = production_costs(["X"], market, COSTS, profile="dev")["X"]
    assert low < cost_per_side_bps(costs, price, 50_000.0) < high


def test_a_symbols_own_entry_is_merged_over_its_markets_defaults(tmp_path: Path) -> None:
    path = _costs_file(
        tmp_path,
        {
            "markets": {"crypto": {"commission_bps": 10.0}},
            "symbols": {"DOGE": {"half_spread_bps": 5}},
        },
    )
    costs = production_costs(["BTC", "DOGE"], "crypto", path)
    assert costs["BTC"].commission_bps == costs["DOGE"].commission_bps == 10.0
    assert costs["DOGE"].half_spread_bps == 5.0 and costs["BTC"].half_spread_bps == 0.5
    # A symbol of its own needs no market at all.
    alone = production_costs(["DOGE"], None, path)
    assert alone["DOGE"].half_spread_bps == 5.0


def test_no_cost_model_is_refused_never_zero(tmp_path: Path) -> None:
    path = _costs_file(tmp_path, {"markets": {"fx": {}}})
    with pytest.raises(ConfigError, match=r"symbol 'SPY' has no cost model.*markets.us_equity"):
        production_costs(["SPY"], "us_equity", path)
    with pytest.raises(ConfigError, match=r"'market' in data.yaml"):
        production_costs(["SPY"], None, path)


def test_malformed_cost_model_names_file_symbol_and_key(tmp_path: Path) -> None:
    path = _costs_file(tmp_path, {"markets": {"fx": {"commision_bps": 1.0}}})
    with pytest.raises(ConfigError) as error:
        production_costs(["EURUSD"], "fx", path)
    message = str(error.value)
    assert str(path) in message and "'EURUSD'" in message and "markets.fx.commision_bps" in message


def test_phases_train_with_production_costs_from_phase_2_only() -> None:
    costs = production_costs(["SPY"], "us_equity", COSTS, profile="dev")
    for phase in (0, 1):
        config = load_phase_config(phase, "dev")
        assert with_production_costs(config, costs) is config
    resolved = with_production_costs(load_phase_config(2, "dev"), costs)
    assert resolved.env.costs_for("SPY") == costs["SPY"]
    with pytest.raises(ValueError, match="'QQQ' has no cost model"):
        resolved.env.costs_for("QQQ")
