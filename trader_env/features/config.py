"""Typed configuration of the features layer, loaded from ``assets_config/features.yaml``.

Windows are counted in bars (not minutes): a gap inside a session makes a window span more
wall-clock time, never fewer bars. Every market window resets at the start of each session
unless ``market.cross_session`` is true.
"""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from trader_env.paths import config_dir
from trader_env.sessions import DEFAULT_SESSION_TIMEZONE
from trader_env.yaml_config import load_profiled_model

FeatureKind = Literal[
    "log_return",
    "realized_vol",
    "rsi",
    "atr_pct",
    "close_zscore",
    "volume_zscore",
    "time_of_day",
]

#: Numeric regime inputs appended after the market features in the observation.
REGIME_INPUTS: tuple[str, ...] = ("realized_vol_ann", "trend_strength")


class MarketFeaturesConfig(BaseModel):
    """Which market features to compute and over which windows (all windows in bars)."""

    model_config = ConfigDict(extra="forbid")

    features: list[FeatureKind] = Field(
        default=[
            "log_return",
            "realized_vol",
            "rsi",
            "atr_pct",
            "close_zscore",
            "volume_zscore",
            "time_of_day",
        ],
        min_length=1,
        description="Feature families to compute, in output column order (no unit).",
    )
    return_horizons: list[int] = Field(
        default=[1, 5, 15, 30],
        min_length=1,
        description="Horizons h (bars) of the log returns log(close_t / close_{t-h}), "
        "one column `log_return_{h}` each.",
    )
    realized_vol_windows: list[int] = Field(
        default=[30],
        min_length=1,
        description="Windows n (bars) of the realised volatility: sample std (ddof=1) of the "
        "last n one-bar log returns, per bar (not annualised); column `realized_vol_{n}`.",
    )
    rsi_window: int = Field(
        default=14,
        ge=2,
        description="Window n (bars) of the simple (Cutler) RSI: 100 * mean gain / (mean gain "
        "+ mean loss) of the last n close-to-close price changes, in [0, 100].",
    )
    atr_window: int = Field(
        default=14,
        ge=1,
        description="Window n (bars) of the average true range (simple mean), reported as a "
        "percent of the close.",
    )
    close_zscore_window: int = Field(
        default=30,
        ge=2,
        description="Window n (bars) of the z-score of the close against its rolling mean and "
        "sample std (dimensionless).",
    )
    volume_zscore_window: int = Field(
        default=30,
        ge=2,
        description="Window n (bars) of the z-score of the volume against its rolling mean and "
        "sample std (dimensionless).",
    )
    session_open: time = Field(
        default=time(9, 30),
        description="Local time (in `session_timezone`) at which a regular session opens; "
        "the time-of-day phase is measured from it. Quote it in YAML ('09:30').",
    )
    session_minutes: float = Field(
        default=390.0,
        gt=0,
        description="Nominal length of a regular session (minutes): the period of the "
        "time-of-day encoding, and the session length used to convert cross-session windows "
        "(bars) into whole sessions for the embargo check. 1440 for 24/7 markets.",
    )
    cross_session: bool = Field(
        default=False,
        description="If false, every window restarts at the first bar of each session (the "
        "overnight gap never enters a feature and each session starts with a dropped "
        "warm-up); if true, windows run over a symbol's whole history.",
    )

    @field_validator("features")
    @classmethod
    def _unique_features(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"feature families must be unique, got {value}")
        return value

    @field_validator("return_horizons", "realized_vol_windows")
    @classmethod
    def _unique_positive_windows(cls, value: list[int]) -> list[int]:
        if any(window < 1 for window in value):
            raise ValueError(f"windows must be >= 1 bar, got {value}")
        if len(set(value)) != len(value):
            raise ValueError(f"windows must be unique, got {value}")
        return value

    @field_validator("realized_vol_windows")
    @classmethod
    def _vol_needs_two_returns(cls, value: list[int]) -> list[int]:
        if any(window < 2 for window in value):
            raise ValueError(f"a standard deviation needs at least 2 returns, got {value}")
        return value

    def warmup_bars(self) -> dict[str, int]:
        """Feature name -> number of leading bars (of a session, or of a symbol's history when
        ``cross_session``) for which the feature has no full window yet."""
        warmup: dict[str, int] = {}
        for kind in self.features:
            if kind == "log_return":
                warmup.update({f"log_return_{h}": h for h in self.return_horizons})
            elif kind == "realized_vol":
                # n one-bar returns need n + 1 closes.
                warmup.update({f"realized_vol_{n}": n for n in self.realized_vol_windows})
            elif kind == "rsi":
                warmup[f"rsi_{self.rsi_window}"] = self.rsi_window
            elif kind == "atr_pct":
                # The first true range of a window is high - low, so n bars suffice.
                warmup[f"atr_pct_{self.atr_window}"] = self.atr_window - 1
            elif kind == "close_zscore":
                warmup[f"close_zscore_{self.close_zscore_window}"] = self.close_zscore_window - 1
            elif kind == "volume_zscore":
                warmup[f"volume_zscore_{self.volume_zscore_window}"] = self.volume_zscore_window - 1
            else:
                warmup.update({"tod_sin": 0, "tod_cos": 0})
        return warmup

    def feature_names(self) -> tuple[str, ...]:
        """Output feature columns, in order."""
        return tuple(self.warmup_bars())

    def max_window_bars(self) -> int:
        """Longest look-back of any feature (bars, including the current one)."""
        return max(self.warmup_bars().values()) + 1


class RegimeConfig(BaseModel):
    """Volatility and trend regime classification (DESIGN section 5)."""

    model_config = ConfigDict(extra="forbid")

    vol_window: int = Field(
        default=390,
        ge=2,
        description="Window (bars) of the realised volatility: sample std of one-bar log "
        "returns, annualised by sqrt(bars per year).",
    )
    trend_window: int = Field(
        default=390,
        ge=2,
        description="Window n (bars) over which the mean and std of one-bar log returns give "
        "the trend strength.",
    )
    trend_horizon_bars: float = Field(
        default=15.0,
        gt=0,
        description="Horizon h (bars) at which the drift is compared with the noise: "
        "trend_strength = |mean| / std * sqrt(h), the Sharpe ratio of the window's drift over "
        "h bars. For a driftless random walk it is about 0.8 * sqrt(h / n).",
    )
    vol_thresholds: tuple[float, float, float] = Field(
        default=(0.10, 0.20, 0.40),
        description="Annualised volatility thresholds (fraction, 0.2 = 20 %/yr) cutting "
        "vol_bucket into 0..3; the middle one separates low_vol from high_vol.",
    )
    trend_enter: float = Field(
        default=0.3,
        gt=0,
        description="Trend strength above which a ranging state becomes trending (dimensionless).",
    )
    trend_exit: float = Field(
        default=0.1,
        ge=0,
        description="Trend strength below which a trending state becomes ranging; between "
        "the two thresholds the previous state is kept (hysteresis).",
    )
    cross_session: bool = Field(
        default=True,
        description="If true, regime windows run over a symbol's whole history (regimes are "
        "slower than intraday features); if false they restart every session.",
    )
    sessions_per_year: float = Field(
        default=252.0,
        gt=0,
        description="Trading sessions per year used for annualisation (252 for equities, "
        "365 for 24/7 markets with UTC-day sessions).",
    )
    bars_per_session: float | None = Field(
        default=None,
        gt=0,
        description="Bars in a regular session; null derives it from the data (median bar "
        "spacing and median session span). bars per year = bars_per_session * "
        "sessions_per_year.",
    )

    @field_validator("vol_thresholds")
    @classmethod
    def _increasing(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if not (0 < value[0] < value[1] < value[2]):
            raise ValueError(f"must be positive and strictly increasing, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _hysteresis_band(self) -> RegimeConfig:
        if self.trend_exit >= self.trend_enter:
            raise ValueError(
                f"trend_exit ({self.trend_exit}) must be below trend_enter ({self.trend_enter})"
            )
        return self

    def max_window_bars(self) -> int:
        """Longest look-back of the regime inputs (bars, including the current one)."""
        return max(self.vol_window, self.trend_window)


class DateRange(BaseModel):
    """An inclusive range of session dates."""

    model_config = ConfigDict(extra="forbid")

    start: date = Field(description="First session date of the part (inclusive).")
    end: date = Field(description="Last session date of the part (inclusive).")

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class DateSplitsConfig(BaseModel):
    """Session-date ranges of the three chronological parts (used when method is dates)."""

    model_config = ConfigDict(extra="forbid")

    train: DateRange = Field(
        default=DateRange(start=date(2017, 1, 1), end=date(2018, 12, 31)),
        description="Training sessions (dates, inclusive).",
    )
    validation: DateRange = Field(
        default=DateRange(start=date(2019, 1, 1), end=date(2019, 6, 30)),
        description="Validation sessions (dates, inclusive).",
    )
    test: DateRange = Field(
        default=DateRange(start=date(2019, 7, 1), end=date(2019, 12, 31)),
        description="Test sessions (dates, inclusive).",
    )

    @model_validator(mode="after")
    def _chronological(self) -> DateSplitsConfig:
        if not (self.train.end < self.validation.start and self.validation.end < self.test.start):
            raise ValueError(
                "parts must be chronological and disjoint: train.end < validation.start and "
                "validation.end < test.start"
            )
        return self


class FractionSplitsConfig(BaseModel):
    """Shares of the sessions given to each part (used when method is fractions)."""

    model_config = ConfigDict(extra="forbid")

    train: float = Field(default=0.7, gt=0, lt=1, description="Share of sessions (0..1).")
    validation: float = Field(default=0.15, gt=0, lt=1, description="Share of sessions (0..1).")
    test: float = Field(default=0.15, gt=0, lt=1, description="Share of sessions (0..1).")

    @model_validator(mode="after")
    def _sum_to_one(self) -> FractionSplitsConfig:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"train + validation + test must be 1, got {total}")
        return self


class WalkForwardConfig(BaseModel):
    """Rolling walk-forward folds over the sessions before the test part."""

    model_config = ConfigDict(extra="forbid")

    n_folds: int = Field(
        default=0,
        ge=0,
        description="Number of folds (0 = none). The development sessions (train start to "
        "validation end) are cut into n_folds + train_blocks equal blocks; fold k trains on "
        "blocks k .. k+train_blocks-1 and validates on the next block.",
    )
    train_blocks: int = Field(
        default=2,
        ge=1,
        description="Blocks (of equal session count) in each fold's rolling training window.",
    )


class SplitsConfig(BaseModel):
    """Chronological train / validation / test splits, embargo and normalisation."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["dates", "fractions"] = Field(
        default="dates",
        description="Split by session-date ranges (`dates`) or by shares of sessions "
        "(`fractions`).",
    )
    dates: DateSplitsConfig = Field(
        default_factory=DateSplitsConfig, description="Date ranges used when method is dates."
    )
    fractions: FractionSplitsConfig = Field(
        default_factory=FractionSplitsConfig,
        description="Session shares used when method is fractions.",
    )
    embargo_sessions: int = Field(
        default=1,
        ge=0,
        description="Whole sessions left out between consecutive parts (taken from the end of "
        "the earlier part); must cover the longest cross-session window.",
    )
    walk_forward: WalkForwardConfig = Field(
        default_factory=WalkForwardConfig, description="Optional walk-forward folds."
    )
    normalization: Literal["standard", "robust"] = Field(
        default="standard",
        description="Per-feature scaling fitted on the training part: `standard` = (x - mean) "
        "/ std, `robust` = (x - median) / IQR.",
    )


class FeaturesConfig(BaseModel):
    """Everything the features layer needs: market features, regimes and splits."""

    model_config = ConfigDict(extra="forbid")

    session_timezone: str = Field(
        default=DEFAULT_SESSION_TIMEZONE,
        description="IANA timezone whose calendar date defines a bar's session ('UTC' for "
        "24/7 markets).",
    )
    market: MarketFeaturesConfig = Field(
        default_factory=MarketFeaturesConfig, description="Market features."
    )
    regime: RegimeConfig = Field(default_factory=RegimeConfig, description="Regime features.")
    splits: SplitsConfig = Field(
        default_factory=SplitsConfig, description="Splits, embargo and normalisation."
    )

    @field_validator("session_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r}") from None
        return value

    def with_bars_per_session(self, bars_per_session: float) -> FeaturesConfig:
        """A copy with ``regime.bars_per_session`` pinned (e.g. to a value derived once from
        the full data, so that truncated data annualises exactly like the full data)."""
        if not bars_per_session > 0:
            raise ValueError(f"bars_per_session must be > 0, got {bars_per_session}")
        regime = self.regime.model_copy(update={"bars_per_session": float(bars_per_session)})
        return self.model_copy(update={"regime": regime})


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
