"""Typed configuration of one instrument's transaction costs (a part of
:class:`~trader_env.env.config.EnvConfig`).

Units: money is in the account currency, ``bps`` are basis points (1e-4) of traded notional.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FrozenConfig(BaseModel):
    """Base of the environment's config models: immutable, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CostConfig(FrozenConfig):
    """Transaction costs of one instrument, charged on every change of position.

    Per order leg (a flip is a close and an open: two orders):
    ``cost = notional x rate[t] + commission(shares, notional)`` with

    - ``commission = clip(commission_per_share x shares + commission_bps x 1e-4 x notional,
      commission_min, commission_max_pct x notional)`` (the broker's commission; 0 when both
      rates are 0);
    - ``rate[t] = (fees_bps + half_spread[t] + slippage_bps x multiplier[t]) x 1e-4``, where
      ``half_spread[t] = spread_ticks x tick_size / 2 / close[t]`` (in bps) when ``tick_size``
      is set (the quoted spread in ticks), else ``half_spread_bps``.

    The defaults are the generic flat 1.5 bps per side (0.5 commission + 0.5 half spread + 0.5
    slippage) of the research phases' YAML; production costs per instrument come from
    ``assets_config/costs.yaml`` (:mod:`trader_env.costs`).
    """

    commission_bps: float = Field(
        default=0.5,
        ge=0.0,
        description="Percentage commission, bps of traded notional, per order (subject to "
        "commission_min and commission_max_pct).",
    )
    commission_per_share: float = Field(
        default=0.0,
        ge=0.0,
        description="Commission per share (or unit) traded, money, per order.",
    )
    commission_min: float = Field(
        default=0.0,
        ge=0.0,
        description="Minimum commission per order, money (applies when the commission is > 0).",
    )
    commission_max_pct: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="Cap of the commission as a fraction of the order's notional "
        "(0.01 = 1 %); null: no cap.",
    )
    fees_bps: float = Field(
        default=0.0,
        ge=0.0,
        description="Percentage fees outside the commission (exchange or regulatory fees), "
        "bps of traded notional, per order.",
    )
    half_spread_bps: float = Field(
        default=0.5,
        ge=0.0,
        description="Half the bid-ask spread, bps of traded notional, when tick_size is null.",
    )
    tick_size: float | None = Field(
        default=None,
        gt=0.0,
        description="Price increment, money; set: the half spread is spread_ticks x tick_size / 2 "
        "at each bar's price (tick-based), and half_spread_bps is ignored.",
    )
    spread_ticks: float = Field(
        default=1.0, gt=0.0, description="Quoted bid-ask spread in ticks (with tick_size)."
    )
    slippage_bps: float = Field(
        default=0.5,
        ge=0.0,
        description="Market impact and latency slippage, bps of traded notional, per fill.",
    )
    slippage_vol_scaling: bool = Field(
        default=False,
        description=(
            "Scale slippage by recent volatility: slippage_bps x clip(sigma_t / "
            "slippage_vol_reference, 0, slippage_max_multiplier), sigma_t being the std of the "
            "last slippage_vol_window one-bar log returns up to the bar where the order is decided."
        ),
    )
    slippage_vol_window: int = Field(
        default=30, ge=2, description="Bars in the rolling volatility used for slippage scaling."
    )
    slippage_vol_reference: float = Field(
        default=0.0005,
        gt=0.0,
        description=(
            "Per-bar std of log returns (dimensionless) at which slippage equals slippage_bps; "
            "0.0005 is typical of SPY one-minute bars."
        ),
    )
    slippage_max_multiplier: float = Field(
        default=5.0, ge=1.0, description="Cap on the volatility multiplier of slippage (ratio)."
    )

    def scaled(self, factor: float) -> CostConfig:
        """The same cost model with every money and bps charge multiplied by ``factor`` (>= 0).

        Used for cost sensitivity (0x, 1x, 2x, 3x): spread, fees, commissions (minimum
        included) and slippage all scale, so a trade's cost is exactly ``factor`` times its
        1x cost.
        """
        if not factor >= 0.0:
            raise ValueError(f"cost factor must be >= 0, got {factor}")
        return self.model_copy(
            update={
                "commission_bps": self.commission_bps * factor,
                "commission_per_share": self.commission_per_share * factor,
                "commission_min": self.commission_min * factor,
                "fees_bps": self.fees_bps * factor,
                "half_spread_bps": self.half_spread_bps * factor,
                "spread_ticks": self.spread_ticks * factor if factor > 0 else self.spread_ticks,
                "tick_size": self.tick_size if factor > 0 else None,
                "slippage_bps": self.slippage_bps * factor,
            }
        )
