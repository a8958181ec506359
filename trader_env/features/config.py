"""Typed configuration of the features layer, loaded from ``assets_config/features.yaml``.

Windows are bars or trading time (:mod:`trader_env.features.windows`). Values left null
follow the market (``data.yaml``'s ``market``, detected from the bars when unset;
:mod:`trader_env.calendars`): session clock, time-of-day origin and period, sessions per
year, whether market windows restart every session, and the embargo.
:meth:`FeaturesConfig.resolve` fills them in and converts every window to bars; the feature
functions resolve an unresolved config against the bars they receive. The parts live in
:mod:`~trader_env.features.market_config`, :mod:`~trader_env.features.regime_config` and
:mod:`~trader_env.features.splits_config`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from trader_env.features.market_config import MarketFeaturesConfig
from trader_env.features.market_profile import MarketProfile, market_profile
from trader_env.features.regime_config import RegimeConfig
from trader_env.features.splits_config import SplitsConfig
from trader_env.paths import config_dir
from trader_env.sessions import check_session_clock
from trader_env.yaml_config import load_profiled_model

#: Numeric regime inputs appended after the market features in the observation.
REGIME_INPUTS: tuple[str, ...] = ("realized_vol_ann", "trend_strength")


class FeaturesConfig(BaseModel):
    """Everything the features layer needs: market features, regimes and splits."""

    model_config = ConfigDict(extra="forbid")

    session_timezone: str | None = Field(
        default=None,
        description="Session clock ('TZ' or 'TZ@HH:MM', trader_env.sessions) overriding the "
        "market's (data.yaml `session_timezone`, else the market calendar's). Leave null.",
    )
    market: MarketFeaturesConfig = Field(
        default_factory=MarketFeaturesConfig, description="Market features."
    )
    regime: RegimeConfig = Field(default_factory=RegimeConfig, description="Regime features.")
    splits: SplitsConfig = Field(
        default_factory=SplitsConfig, description="Splits, embargo and normalisation."
    )

    market_profile: MarketProfile | None = Field(
        default=None,
        description="The resolved market (set by resolve() from data.yaml and the bars; "
        "not a YAML key).",
    )

    @field_validator("session_timezone")
    @classmethod
    def _known_clock(cls, value: str | None) -> str | None:
        return None if value is None else check_session_clock(value)

    @property
    def session_clock(self) -> str:
        """The resolved session clock (after :meth:`resolve`)."""
        if self.market_profile is None:
            raise ValueError("the features config is not resolved: call resolve() first")
        return self.market_profile.session_clock

    def is_resolved(self) -> bool:
        """Whether :meth:`resolve` has filled in the market."""
        return self.market_profile is not None

    def resolve(self, profile: MarketProfile) -> FeaturesConfig:
        """A copy for the market ``profile``: windows in bars, nulls filled from the market,
        this config's explicit values (session clock, open, length, sessions per year, bars
        per session) applied to the profile, and the embargo derived when null. Raises
        :class:`ConfigError` naming the key of a window too short for the bar size."""
        if self.market_profile is not None:
            return self
        profile = profile.with_overrides(
            session_clock=self.session_timezone,
            session_open=self.market.session_open,
            session_minutes=self.market.session_minutes,
            sessions_per_year=self.regime.sessions_per_year,
            bars_per_session=self.regime.bars_per_session,
        )
        resolved = self.model_copy(
            update={
                "session_timezone": profile.session_clock,
                "market": self.market.resolve(profile),
                "regime": self.regime.resolve(profile),
                "market_profile": profile,
            }
        )
        if self.splits.embargo_sessions is None:
            needed = max(1, resolved.required_embargo_sessions())
            resolved = resolved.model_copy(
                update={"splits": self.splits.model_copy(update={"embargo_sessions": needed})}
            )
        return resolved

    def required_embargo_sessions(self) -> int:
        """Whole sessions the longest cross-session window reaches back,
        ``ceil((w - 1) / bars per session)`` with the sessions' measured length (0 when no
        window spans sessions)."""
        profile = self.market_profile
        if profile is None:
            raise ValueError("the features config is not resolved: call resolve() first")
        windows = []
        if self.market.cross_session:
            windows.append(self.market.max_window_bars())
        if self.regime.cross_session:
            windows.append(self.regime.max_window_bars())
        # The tolerance keeps an exact multiple from rounding up on floating-point noise.
        return max(
            (math.ceil((w - 1) / profile.bars_per_session - 1e-9) for w in windows), default=0
        )


def resolved_config(bars: pl.DataFrame, config: FeaturesConfig | None = None) -> FeaturesConfig:
    """``config`` (None: ``features.yaml``) resolved for ``bars`` (a polars frame with
    ``symbol`` and ``ts``), the market detected from them; unchanged if already resolved."""
    cfg = config if config is not None else load_features_config()
    return cfg if cfg.is_resolved() else cfg.resolve(market_profile(bars))


def load_features_config(
    path: Path | None = None,
    profile: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> FeaturesConfig:
    """Load ``features.yaml`` (default ``config_dir()/features.yaml``) with its
    ``profiles.<profile>`` section (default ``$TRADER_PROFILE``) and ``overrides`` applied."""
    return load_profiled_model(
        FeaturesConfig, path or config_dir() / "features.yaml", profile, overrides
    )
