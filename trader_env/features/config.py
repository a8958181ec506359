"""Typed configuration of the features layer, loaded from ``assets_config/features.yaml``.

A window is a number of bars (``30``, ``"30bars"``) or a span of trading time converted with
the data's bar interval: ``"90min"``, ``"4h"``, ``"1d"`` (``d`` = whole sessions of the
market: 390 one-minute bars of US equities, 48 thirty-minute bars of crypto, 24 hourly bars
of FX). A gap inside a session makes a window span more wall-clock time, never fewer bars.

Values left null follow the market (``data.yaml``'s ``market``, detected from the bars when
unset; :mod:`trader_env.calendars`): session clock, time-of-day origin and period, sessions
per year, whether market windows restart every session, and the embargo.
:meth:`FeaturesConfig.resolve` fills them in and converts every window to bars; the feature
functions resolve an unresolved config against the bars they receive.
"""

from __future__ import annotations

import math
import re
from datetime import date, time
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from trader_env.features.market_profile import MarketProfile, market_profile
from trader_env.paths import config_dir
from trader_env.sessions import check_session_clock
from trader_env.yaml_config import ConfigError, load_profiled_model

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

#: A window: bars (int, or "<n>bar(s)"), or trading time ("<n>min", "<n>h", "<n>d").
Window = int | str
_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(bars?|min|h|d)\s*$")
#: Market-feature warm-up above this share of a session makes windows span sessions by
#: default (restarting them would drop too much of every session).
MAX_SESSION_WARMUP_SHARE = 0.10


def _check_window(value: Window) -> Window:
    if isinstance(value, bool):
        raise ValueError(f"a window must be a number of bars or a duration, got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"a window must be >= 1 bar, got {value}")
        return value
    if not _WINDOW.match(value):
        raise ValueError(
            f"window {value!r}: expected bars (30, '30bars') or trading time ('90min', '4h', '1d')"
        )
    return value


def window_bars(value: Window, profile: MarketProfile, key: str, minimum: int = 1) -> int:
    """Bars of ``value`` for ``profile``'s bar interval, rounded to the nearest bar.

    Raises :class:`ConfigError` naming ``key`` when the window is shorter than ``minimum``
    bars at this bar size (e.g. '30min' of 30-minute bars for a standard deviation).
    """
    if isinstance(value, int):
        bars = value
    else:
        match = _WINDOW.match(value)
        if match is None:
            raise ConfigError(f"{key}: invalid window {value!r}")
        amount, unit = float(match.group(1)), match.group(2)
        if unit.startswith("bar"):
            exact = amount
        elif unit == "d":
            exact = amount * profile.session_bars
        else:
            exact = profile.bars(amount * (60.0 if unit == "h" else 1.0))
        bars = max(1, int(math.floor(exact + 0.5)))
    if bars < minimum:
        raise ConfigError(
            f"{key}: {value!r} is {bars} bar(s) of {profile.bar_seconds / 60:g}-minute bars; "
            f"it needs >= {minimum} bars: use a longer window"
        )
    return bars


def _check_windows(value: list[Window]) -> list[Window]:
    for window in value:
        _check_window(window)
    if len(set(value)) != len(value):
        raise ValueError(f"windows must be unique, got {value}")
    return value


class MarketFeaturesConfig(BaseModel):
    """Which market features to compute and over which windows (bars or trading time; see the
    module docstring). After :meth:`FeaturesConfig.resolve` every window is an int (bars)."""

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
    return_horizons: list[Window] = Field(
        default=[1, 5, 15, 30],
        min_length=1,
        description="Horizons h (windows) of the log returns log(close_t / close_{t-h}), "
        "one column `log_return_{h}` each.",
    )
    realized_vol_windows: list[Window] = Field(
        default=[30],
        min_length=1,
        description="Windows n of the realised volatility: sample std (ddof=1) of the "
        "last n one-bar log returns, per bar (not annualised); column `realized_vol_{n}`.",
    )
    rsi_window: Window = Field(
        default=14,
        description="Window n (bars) of the simple (Cutler) RSI: 100 * mean gain / (mean gain "
        "+ mean loss) of the last n close-to-close price changes, in [0, 100].",
    )
    atr_window: Window = Field(
        default=14,
        description="Window n (bars) of the average true range (simple mean), reported as a "
        "percent of the close.",
    )
    close_zscore_window: Window = Field(
        default=30,
        description="Window n (bars) of the z-score of the close against its rolling mean and "
        "sample std (dimensionless).",
    )
    volume_zscore_window: Window = Field(
        default=30,
        description="Window n (bars) of the z-score of the volume against its rolling mean and "
        "sample std (dimensionless).",
    )
    session_open: time | None = Field(
        default=None,
        description="Local time (of the session clock) at which a regular session opens; "
        "the time-of-day phase is measured from it. Quote it in YAML ('09:30'). Null: the "
        "market's (09:30 US equities, 00:00 UTC crypto, 17:00 New York FX).",
    )
    session_minutes: float | None = Field(
        default=None,
        gt=0,
        description="Nominal length of a regular session (minutes): the period of the "
        "time-of-day encoding. Null: the market's (390 US equities, 1440 crypto and FX).",
    )
    cross_session: bool | None = Field(
        default=None,
        description="If false, every window restarts at the first bar of each session (the "
        "overnight gap never enters a feature and each session starts with a dropped "
        "warm-up); if true, windows run over a symbol's whole history. Null: true for "
        "markets without a daily close (crypto, FX) and when the longest window's warm-up "
        "exceeds 10 % of a session's bars, false otherwise (US equities, 1-minute bars).",
    )

    @field_validator("features")
    @classmethod
    def _unique_features(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"feature families must be unique, got {value}")
        return value

    @field_validator("return_horizons", "realized_vol_windows")
    @classmethod
    def _unique_windows(cls, value: list[Window], info: ValidationInfo) -> list[Window]:
        if info.field_name == "realized_vol_windows" and any(
            isinstance(w, int) and w < 2 for w in value
        ):
            raise ValueError(f"a standard deviation needs at least 2 returns, got {value}")
        return _check_windows(value)

    @field_validator("rsi_window", "atr_window", "close_zscore_window", "volume_zscore_window")
    @classmethod
    def _window(cls, value: Window, info: ValidationInfo) -> Window:
        minimum = 1 if info.field_name == "atr_window" else 2
        if isinstance(value, int) and not isinstance(value, bool) and value < minimum:
            raise ValueError(f"must be >= {minimum} bars, got {value}")
        return _check_window(value)

    def resolve(self, profile: MarketProfile) -> MarketFeaturesConfig:
        """A copy with every window in bars and every null taken from ``profile``."""
        windows = {
            "return_horizons": [
                window_bars(w, profile, "market.return_horizons") for w in self.return_horizons
            ],
            "realized_vol_windows": [
                window_bars(w, profile, "market.realized_vol_windows", 2)
                for w in self.realized_vol_windows
            ],
            "rsi_window": window_bars(self.rsi_window, profile, "market.rsi_window", 2),
            "atr_window": window_bars(self.atr_window, profile, "market.atr_window"),
            "close_zscore_window": window_bars(
                self.close_zscore_window, profile, "market.close_zscore_window", 2
            ),
            "volume_zscore_window": window_bars(
                self.volume_zscore_window, profile, "market.volume_zscore_window", 2
            ),
        }
        for key in ("return_horizons", "realized_vol_windows"):
            if len(set(windows[key])) != len(windows[key]):
                raise ConfigError(
                    f"market.{key}: {getattr(self, key)} give the same bar count twice "
                    f"({windows[key]} bars of {profile.bar_seconds / 60:g}-minute bars)"
                )
        resolved = self.model_copy(
            update={
                **windows,
                "session_open": self.session_open or profile.session_open,
                "session_minutes": self.session_minutes or profile.session_minutes,
            }
        )
        if self.cross_session is None:
            warmup = resolved.max_window_bars() - 1
            cross = (
                not profile.has_close
                or warmup > MAX_SESSION_WARMUP_SHARE * profile.bars_per_session
            )
            resolved = resolved.model_copy(update={"cross_session": cross})
        return resolved

    def is_resolved(self) -> bool:
        """Whether every window is in bars and no market-dependent value is null."""
        windows = [
            *self.return_horizons,
            *self.realized_vol_windows,
            self.rsi_window,
            self.atr_window,
            self.close_zscore_window,
            self.volume_zscore_window,
        ]
        return all(isinstance(w, int) for w in windows) and None not in (
            self.session_open,
            self.session_minutes,
            self.cross_session,
        )

    def warmup_bars(self) -> dict[str, int]:
        """Feature name -> number of leading bars (of a session, or of a symbol's history when
        ``cross_session``) for which the feature has no full window yet. Windows must be in
        bars (:meth:`resolve`)."""
        windows = [
            *self.return_horizons,
            *self.realized_vol_windows,
            self.rsi_window,
            self.atr_window,
            self.close_zscore_window,
            self.volume_zscore_window,
        ]
        if not all(isinstance(w, int) for w in windows):
            raise ValueError("market windows are not resolved to bars: call resolve() first")
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
    """Volatility and trend regime classification (docs/architecture.md, 'Where each plan concept lives')."""

    model_config = ConfigDict(extra="forbid")

    vol_window: Window = Field(
        default="1d",
        description="Window of the realised volatility (bars or trading time, >= 2 bars): "
        "sample std of one-bar log returns, annualised by sqrt(bars per year).",
    )
    trend_window: Window = Field(
        default="1d",
        description="Window n (bars or trading time, >= 2 bars) over which the mean and std "
        "of one-bar log returns give the trend strength.",
    )
    trend_horizon_bars: float | str = Field(
        default="15min",
        description="Horizon h (bars, fractional allowed, or trading time such as '15min') at "
        "which the drift is compared with the noise: trend_strength = |mean| / std * sqrt(h), "
        "the Sharpe ratio of the window's drift over h bars. For a driftless random walk it "
        "is about 0.8 * sqrt(h / n).",
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
    sessions_per_year: float | None = Field(
        default=None,
        gt=0,
        description="Trading sessions per year used for annualisation. Null: the market's "
        "(252 US equities, 365 crypto, 260 FX).",
    )
    bars_per_session: float | None = Field(
        default=None,
        gt=0,
        description="Bars in a regular session; null derives it from the data (median bar "
        "spacing and median session span). bars per year = bars_per_session * "
        "sessions_per_year.",
    )

    @field_validator("vol_window", "trend_window")
    @classmethod
    def _window(cls, value: Window) -> Window:
        if isinstance(value, int) and not isinstance(value, bool) and value < 2:
            raise ValueError(f"must be >= 2 bars, got {value}")
        return _check_window(value)

    @field_validator("trend_horizon_bars")
    @classmethod
    def _horizon(cls, value: float | str) -> float | str:
        if isinstance(value, str):
            _check_window(value)
        elif not value > 0:
            raise ValueError(f"must be > 0, got {value}")
        return value

    def resolve(self, profile: MarketProfile) -> RegimeConfig:
        """A copy with windows in bars, the horizon in (fractional) bars and the
        annualisation of ``profile``."""
        horizon = self.trend_horizon_bars
        if isinstance(horizon, str):
            match = _WINDOW.match(horizon)
            assert match is not None  # checked by the validator
            amount, unit = float(match.group(1)), match.group(2)
            if unit.startswith("bar"):
                horizon = amount
            elif unit == "d":
                horizon = amount * profile.session_bars
            else:
                horizon = profile.bars(amount * (60.0 if unit == "h" else 1.0))
        return self.model_copy(
            update={
                "vol_window": window_bars(self.vol_window, profile, "regime.vol_window", 2),
                "trend_window": window_bars(self.trend_window, profile, "regime.trend_window", 2),
                "trend_horizon_bars": float(horizon),
                "sessions_per_year": profile.sessions_per_year,
                "bars_per_session": profile.bars_per_session,
            }
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
        """Longest look-back of the regime inputs (bars, including the current one); windows
        must be in bars (:meth:`resolve`)."""
        if not (isinstance(self.vol_window, int) and isinstance(self.trend_window, int)):
            raise ValueError("regime windows are not resolved to bars: call resolve() first")
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

    train: float = Field(default=0.66, gt=0, lt=1, description="Share of sessions (0..1).")
    validation: float = Field(default=0.17, gt=0, lt=1, description="Share of sessions (0..1).")
    test: float = Field(default=0.17, gt=0, lt=1, description="Share of sessions (0..1).")

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

    method: Literal["auto", "dates", "fractions"] = Field(
        default="auto",
        description="`auto`: the data's own sessions cut by `fractions`, each cut moved to the "
        "nearest first session of a month when the data spans at least 12 months (calendar "
        "periods, e.g. the SPY sample's 2017-18 / 2019H1 / 2019H2); `dates`: the date ranges "
        "of `dates`; `fractions`: shares of sessions, unrounded.",
    )
    dates: DateSplitsConfig = Field(
        default_factory=DateSplitsConfig, description="Date ranges used when method is dates."
    )
    fractions: FractionSplitsConfig = Field(
        default_factory=FractionSplitsConfig,
        description="Session shares used when method is fractions.",
    )
    embargo_sessions: int | None = Field(
        default=None,
        ge=0,
        description="Whole sessions left out between consecutive parts (taken from the end of "
        "the earlier part); must cover the longest cross-session window. Null: exactly that "
        "(at least 1, which keeps the gap between sessions between parts).",
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


def resolved_config(bars: Any, config: FeaturesConfig | None = None) -> FeaturesConfig:
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
