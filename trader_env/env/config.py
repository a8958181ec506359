"""Typed configuration of the trading environment (pydantic v2, frozen, extra keys refused).

Units used throughout: money is in the account currency, ``bps`` are basis points (1e-4) of
traded notional, ``fraction`` is a plain ratio (0.05 = 5 %), bars are one row of
:class:`~trader_env.contracts.MarketArrays`. Other helpers write YAML with these exact field
names; load it with :func:`trader_env.yaml_config.load_model` into :class:`EnvConfig`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from trader_env.contracts import MarketArrays
from trader_env.env.cost_config import CostConfig
from trader_env.env.cost_config import FrozenConfig as _Frozen
from trader_env.yaml_config import deep_merge

#: 252 trading days of 390 one-minute bars (US equities regular session).
DEFAULT_BARS_PER_YEAR = 252 * 390

# CostConfig lives in its own module; callers may import it from here too.
__all__ = [
    "DEFAULT_BARS_PER_YEAR",
    "CostConfig",
    "CurriculumConfig",
    "CurriculumStage",
    "DrawdownLimitsConfig",
    "EnvConfig",
    "PositionSizingConfig",
    "TurnoverPenaltyConfig",
    "VolatilityPenaltyConfig",
]


class TurnoverPenaltyConfig(_Frozen):
    """Penalty on daily turnover beyond a limit; see :mod:`trader_env.env.turnover_penalty`."""

    limit: float = Field(
        default=0.02,
        ge=0.0,
        description=(
            "Daily turnover allowed free of penalty, as a fraction of initial capital (traded "
            "notional today / capital). Replaced by the active stage's target_turnover when the "
            "curriculum is enabled."
        ),
    )
    weight: float = Field(
        default=0.00005,
        ge=0.0,
        description="Multiplier of the curve; penalty money = weight x portfolio value x curve.",
    )
    curve: Literal["smart_huber", "linear", "none"] = Field(
        default="smart_huber", description="Shape of the penalty as a function of the excess."
    )
    huber_delta: float = Field(
        default=0.02,
        gt=0.0,
        description="Excess (fraction of capital) where the smart Huber turns from quadratic to linear.",
    )
    linear_factor: float = Field(
        default=50.0, ge=0.0, description="Slope of the linear part (per unit of excess)."
    )


class DrawdownLimitsConfig(_Frozen):
    """Hard limits: drawdown halts and the drawdown penalty."""

    max_daily_drawdown_pct: float | None = Field(
        default=0.05,
        gt=0.0,
        le=1.0,
        description=(
            "Daily drawdown limit as a fraction (0.05 = 5 %) of the session's peak equity; "
            "reaching it is a breach. None disables it."
        ),
    )
    max_consecutive_drawdown_steps: int | None = Field(
        default=100,
        ge=1,
        description=(
            "The plan's consecutive-drawdown halt: the episode is terminated (position "
            "flattened first) when more than this many steps in a row end with the session "
            "drawdown beyond dd_limit (any drawdown when dd_limit is null); a step within "
            "dd_limit resets the count. None disables it."
        ),
    )
    halt_on_breach: bool = Field(
        default=True,
        description=(
            "On a daily drawdown breach: True flattens and terminates the episode; False "
            "flattens and keeps the position flat until the next session."
        ),
    )
    dd_limit: float | None = Field(
        default=0.02,
        ge=0.0,
        le=1.0,
        description=(
            "Session drawdown (fraction of peak equity) beyond which a drawdown penalty accrues "
            "each step, proportional to the money below this line. None disables it."
        ),
    )
    dd_penalty_weight: float = Field(
        default=0.01,
        ge=0.0,
        description=(
            "Per-step drawdown penalty as a fraction of the money below the dd_limit line "
            "(0.01: 100 steps that deep cost that money once)."
        ),
    )


class VolatilityPenaltyConfig(_Frozen):
    """Volatility penalty toward a target annualised volatility of the strategy's returns."""

    penalty_lambda: float = Field(
        default=0.001,
        ge=0.0,
        description=(
            "Per-step penalty money = penalty_lambda x equity x max(0, sigma_ann - "
            "target_sigma)^2. 0 disables it."
        ),
    )
    target_sigma: float = Field(
        default=0.15,
        ge=0.0,
        description="Target annualised volatility of per-step strategy returns (0.15 = 15 %).",
    )
    vol_window: int = Field(
        default=60,
        ge=2,
        description="Steps of strategy returns in the realised volatility (no penalty before).",
    )


class PositionSizingConfig(_Frozen):
    """How large a position the agent's long/short decision opens, as a fraction of equity."""

    method: Literal["fixed", "kelly"] = Field(
        default="fixed",
        description="fixed: fixed_fraction; kelly: Kelly fraction of closed trades.",
    )
    fixed_fraction: float = Field(
        default=1.0,
        gt=0.0,
        le=4.0,
        description="Position notional as a fraction of equity with method 'fixed' (1.0 = 100 %).",
    )
    max_kelly_fraction: float = Field(
        default=0.25, gt=0.0, le=1.0, description="Cap on the Kelly fraction of equity."
    )
    kelly_lookback_trades: int = Field(
        default=50, ge=2, description="Most recent closed trades the Kelly estimate uses."
    )
    min_trades: int = Field(
        default=10,
        ge=2,
        description="Closed trades needed before Kelly is used; warmup_fraction applies before.",
    )
    warmup_fraction: float = Field(
        default=0.1,
        ge=0.0,
        le=1.0,
        description="Fraction of equity per position until min_trades trades have closed (Kelly).",
    )
    volatility_target: bool = Field(
        default=False,
        description="Cap every position at risk.target_sigma / the market's annualised realised "
        "volatility over volatility_window bars (trader_env.env.volatility_target); the size is "
        "the smaller of that cap and the method's fraction (fixed, or Kelly).",
    )
    volatility_window: int = Field(
        default=60,
        ge=2,
        description="Bars of one-bar log returns in the volatility that volatility_target uses.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.min_trades > self.kelly_lookback_trades:
            raise ValueError(
                f"min_trades ({self.min_trades}) cannot exceed kelly_lookback_trades "
                f"({self.kelly_lookback_trades}): Kelly would never leave its warm-up"
            )
        if self.warmup_fraction > self.max_kelly_fraction:
            raise ValueError(
                f"warmup_fraction ({self.warmup_fraction}) exceeds max_kelly_fraction "
                f"({self.max_kelly_fraction})"
            )
        return self


class CurriculumStage(_Frozen):
    """One stage of the turnover curriculum."""

    target_turnover: float = Field(
        ge=0.0, description="Turnover penalty limit in this stage (daily notional / capital)."
    )
    min_episodes: int = Field(ge=1, description="Episodes to play in this stage before advancing.")
    sharpe_threshold: float = Field(
        description="Mean annualised Sharpe of the last sharpe_window episodes needed to advance."
    )


DEFAULT_STAGES: tuple[CurriculumStage, ...] = (
    CurriculumStage(target_turnover=0.008, min_episodes=20, sharpe_threshold=0.5),
    CurriculumStage(target_turnover=0.015, min_episodes=30, sharpe_threshold=1.0),
    CurriculumStage(target_turnover=0.02, min_episodes=50, sharpe_threshold=1.5),
)


class CurriculumConfig(_Frozen):
    """Turnover curriculum; see :mod:`trader_env.env.curriculum`."""

    enabled: bool = Field(default=False, description="Use the active stage's turnover limit.")
    stages: tuple[CurriculumStage, ...] = Field(
        default=DEFAULT_STAGES, min_length=1, description="Stages in order of advancement."
    )
    sharpe_window: int = Field(
        default=5, ge=1, description="Episodes in the mean Sharpe that decides advancement."
    )


class EnvConfig(_Frozen):
    """Everything that defines :class:`~trader_env.env.IntradayTradingEnv` besides its data.

    The defaults are the realistic phase-1 environment (costs, penalties, risk limits and risk
    features on; fixed sizing; curriculum off).
    """

    initial_capital: float = Field(default=50_000.0, gt=0.0, description="Starting cash, money.")
    reward_scaling: float = Field(
        default=0.01,
        gt=0.0,
        description="reward = reward_scaling x (net P&L change - penalties), all in money.",
    )
    window: int = Field(default=5, ge=1, description="Bars of history in an observation (rows).")
    include_risk_features: bool = Field(
        default=True,
        description=(
            "Append 5 columns per row: exposure (position value / equity), unrealised P&L / "
            "capital, session drawdown (fraction), turnover today / capital, session time left "
            "(fraction)."
        ),
    )
    include_regime: bool = Field(
        default=False,
        description=(
            "Append the one-hot of MarketArrays.regime (4 columns, order of REGIMES); leave it "
            "off when the feature set already carries regime columns."
        ),
    )
    long_only: bool = Field(
        default=False,
        description="Map the short action to flat (the action space stays Discrete(3)).",
    )
    episode_length: int = Field(
        default=1950,
        ge=1,
        description="Bars per training episode from a random start; eval plays it all.",
    )
    execution: Literal["next_open", "close"] = Field(
        default="next_open",
        description=(
            "Fill of the action decided after bar t: at bar t+1's open, or at bar t's close "
            "(plus the same costs)."
        ),
    )
    flatten_at_session_end: bool = Field(
        default=True,
        description="Close the position at each session's last close (with costs); start flat.",
    )
    bars_per_year: float | None = Field(
        default=None,
        gt=0.0,
        description=(
            "Bars per year, to annualise per-step volatility and Sharpe. Null: the market's "
            "(MarketArrays.bars_per_year: sessions per year of its calendar x bars per session "
            "of the data, e.g. 252 x 390 for 1-minute US equities, 365 x 48 for 30-minute "
            "crypto), else 252 x 390."
        ),
    )
    obs_clip: float = Field(
        default=10.0, gt=0.0, description="Observations are clipped to [-obs_clip, obs_clip]."
    )
    costs: CostConfig = Field(
        default_factory=CostConfig,
        description="Transaction costs of every symbol, unless symbol_costs is set.",
    )
    symbol_costs: dict[str, CostConfig] = Field(
        default_factory=dict,
        description=(
            "Transaction costs per symbol (production costs from assets_config/costs.yaml). "
            "When set, every symbol the environment trades must be listed: a missing symbol is "
            "refused rather than charged the generic costs."
        ),
    )
    turnover_penalty: TurnoverPenaltyConfig = Field(
        default_factory=TurnoverPenaltyConfig, description="Daily turnover penalty."
    )
    drawdown_limits: DrawdownLimitsConfig = Field(
        default_factory=DrawdownLimitsConfig, description="Drawdown halts and penalty."
    )
    volatility_penalty: VolatilityPenaltyConfig = Field(
        default_factory=VolatilityPenaltyConfig, description="Volatility penalty."
    )
    position_sizing: PositionSizingConfig = Field(
        default_factory=PositionSizingConfig, description="Position size per trade."
    )
    curriculum: CurriculumConfig = Field(
        default_factory=CurriculumConfig, description="Turnover curriculum."
    )

    def annualisation(self, arrays: Sequence[MarketArrays]) -> float:
        """Bars per year for ``arrays``: this config's, else the market's, else 252 x 390."""
        if self.bars_per_year is not None:
            return float(self.bars_per_year)
        known = {a.bars_per_year for a in arrays if a.bars_per_year is not None}
        if len(known) > 1:
            raise ValueError(f"MarketArrays disagree on bars_per_year: {sorted(known)}")
        return float(known.pop()) if known else float(DEFAULT_BARS_PER_YEAR)

    def costs_for(self, symbol: str) -> CostConfig:
        """The cost model of ``symbol``; refuses a symbol missing from a set ``symbol_costs``."""
        if not self.symbol_costs:
            return self.costs
        try:
            return self.symbol_costs[symbol]
        except KeyError:
            raise ValueError(
                f"symbol {symbol!r} has no cost model in EnvConfig.symbol_costs (has "
                f"{sorted(self.symbol_costs)}); give it one in assets_config/costs.yaml"
            ) from None

    def with_costs(self, costs: Mapping[str, CostConfig]) -> EnvConfig:
        """A copy charging ``costs`` per symbol (``symbol_costs``); ``costs`` must not be empty."""
        if not costs:
            raise ValueError("with_costs needs at least one symbol's cost model")
        return self.model_copy(update={"symbol_costs": dict(costs)})

    def scaled_costs(self, factor: float) -> EnvConfig:
        """A copy whose every cost model is ``factor`` times this one (cost sensitivity)."""
        return self.model_copy(
            update={
                "costs": self.costs.scaled(factor),
                "symbol_costs": {s: c.scaled(factor) for s, c in self.symbol_costs.items()},
            }
        )

    def with_overrides(self, overrides: Mapping[str, Any]) -> EnvConfig:
        """A validated copy with ``overrides`` deep-merged (nested mappings merge).

        Unlike ``model_copy(update=...)``, nested sections may be given as partial mappings
        and every value is validated.
        """
        return EnvConfig.model_validate(deep_merge(self.model_dump(), dict(overrides)))
