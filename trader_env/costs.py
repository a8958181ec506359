"""Production transaction costs per instrument, from ``assets_config/costs.yaml``.

A symbol's cost model is its own entry under ``symbols`` merged over the defaults of its market
(``markets.<market>``, the market from ``data.yaml``), or the market's defaults alone. A symbol
with neither is refused with the file, the symbol and the key: no symbol is ever charged zero
costs because nobody configured them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trader_env.env.cost_config import CostConfig
from trader_env.env.costs import Commission, half_spread_bps
from trader_env.paths import config_dir
from trader_env.phase_config import PhaseConfig
from trader_env.yaml_config import (
    ConfigError,
    active_profile,
    deep_merge,
    read_yaml,
    resolve_profile,
)

COSTS_FILE = "costs.yaml"


class CostModels(BaseModel):
    """The raw ``costs.yaml``: cost defaults per market and cost entries per symbol."""

    model_config = ConfigDict(extra="forbid")

    markets: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Default cost model per market type (CostConfig keys)."
    )
    symbols: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="A symbol's own cost keys, merged over its market's defaults.",
    )


def _validated(data: dict[str, Any], source: str, symbol: str, key: str) -> CostConfig:
    try:
        return CostConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"key '{key}.{'.'.join(str(p) for p in error['loc'])}': {error['msg']} "
            f"(got {error.get('input')!r})"
            for error in exc.errors()
        )
        raise ConfigError(
            f"{source}: invalid cost model for symbol {symbol!r}: {problems}"
        ) from None


def load_cost_models(path: Path | None = None, profile: str | None = None) -> CostModels:
    """``costs.yaml`` (default ``config_dir()/costs.yaml``) with its profile section applied."""
    path = path or config_dir() / COSTS_FILE
    data = resolve_profile(read_yaml(path), profile or active_profile(), str(path))
    try:
        return CostModels.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        raise ConfigError(f"{path}: key '{key}': {error['msg']}") from None


def production_costs(
    symbols: Sequence[str],
    market: str | None,
    path: Path | None = None,
    profile: str | None = None,
) -> dict[str, CostConfig]:
    """The production cost model of every symbol in ``symbols`` (see the module docstring).

    ``market``: the symbols' market type (``data.yaml`` ``market``), or None when unknown.
    Raises :class:`ConfigError` naming the file, the symbol and the key for a symbol without a
    cost model or with a malformed one.
    """
    path = path or config_dir() / COSTS_FILE
    models = load_cost_models(path, profile)
    costs: dict[str, CostConfig] = {}
    for symbol in symbols:
        own = models.symbols.get(symbol)
        defaults = models.markets.get(market) if market is not None else None
        if own is None and defaults is None:
            where = f"markets.{market}" if market is not None else "'market' in data.yaml"
            raise ConfigError(
                f"{path}: symbol {symbol!r} has no cost model: add 'symbols.{symbol}' to "
                f"{path.name}, or set {where}"
                + (f" (known markets: {sorted(models.markets)})" if market is not None else "")
                + "; a symbol is never traded at zero cost by default"
            )
        key = f"symbols.{symbol}" if own is not None else f"markets.{market}"
        costs[symbol] = _validated(deep_merge(defaults or {}, own or {}), str(path), symbol, key)
    return costs


def cost_per_side_bps(costs: CostConfig, price: float, notional: float) -> float:
    """What one order of ``notional`` money at ``price`` costs, in bps of the notional, with
    slippage at its unscaled level (a one-number summary for reports)."""

    if not (price > 0.0 and notional > 0.0):
        raise ValueError(f"price and notional must be > 0, got {price}, {notional}")
    spread = float(half_spread_bps(np.array([price]), costs)[0])
    commission = Commission.of(costs)(notional / price, notional) / notional / 1e-4
    return commission + costs.fees_bps + spread + costs.slippage_bps


def with_production_costs(config: PhaseConfig, costs: Mapping[str, CostConfig]) -> PhaseConfig:
    """``config`` as it trains and is gated: with ``costs: production`` its environment charges
    ``costs`` per symbol; with ``costs: none`` it is returned unchanged."""
    if config.costs == "none":
        return config
    return config.model_copy(update={"env": config.env.with_costs(costs)})
