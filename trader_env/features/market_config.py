"""Configuration of the market features: which families, over which windows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from trader_env.features.market_profile import MarketProfile
from trader_env.features.windows import Window, check_window, check_windows, in_bars, window_bars
from trader_env.yaml_config import ConfigError

FeatureKind = Literal[
    "log_return",
    "realized_vol",
    "rsi",
    "atr_pct",
    "close_zscore",
    "volume_zscore",
    "time_of_day",
]

#: Market-feature warm-up above this share of a session makes windows span sessions by
#: default (restarting them would drop too much of every session).
MAX_SESSION_WARMUP_SHARE = 0.10


@dataclass(frozen=True)
class MarketWindows:
    """Every window of a resolved :class:`MarketFeaturesConfig`, in bars."""

    return_horizons: tuple[int, ...]
    realized_vol_windows: tuple[int, ...]
    rsi: int
    atr: int
    close_zscore: int
    volume_zscore: int


class MarketFeaturesConfig(BaseModel):
    """Which market features to compute and over which windows (bars or trading time, see
    :mod:`~trader_env.features.windows`). After :meth:`resolve` every window is an int (bars)."""

    model_config = ConfigDict(extra="forbid")

    features: list[FeatureKind] = Field(
        # Every family, in the order FeatureKind lists them.
        default_factory=lambda: list(get_args(FeatureKind)),
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
        default=120,
        description="Window n (bars) of the z-score of the close against its rolling mean and "
        "sample std (dimensionless). 120: two hours of one-minute bars, long enough to place "
        "the price within its recent range (30 before 2026-12-02).",
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
        return check_windows(value)

    @field_validator("rsi_window", "atr_window", "close_zscore_window", "volume_zscore_window")
    @classmethod
    def _window(cls, value: Window, info: ValidationInfo) -> Window:
        minimum = 1 if info.field_name == "atr_window" else 2
        if isinstance(value, int) and not isinstance(value, bool) and value < minimum:
            raise ValueError(f"must be >= {minimum} bars, got {value}")
        return check_window(value)

    def resolve(self, profile: MarketProfile) -> MarketFeaturesConfig:
        """A copy with every window in bars and every null taken from ``profile``."""
        lists = {
            "return_horizons": [
                window_bars(w, profile, "market.return_horizons") for w in self.return_horizons
            ],
            "realized_vol_windows": [
                window_bars(w, profile, "market.realized_vol_windows", 2)
                for w in self.realized_vol_windows
            ],
        }
        windows = {
            **lists,
            "rsi_window": window_bars(self.rsi_window, profile, "market.rsi_window", 2),
            "atr_window": window_bars(self.atr_window, profile, "market.atr_window"),
            "close_zscore_window": window_bars(
                self.close_zscore_window, profile, "market.close_zscore_window", 2
            ),
            "volume_zscore_window": window_bars(
                self.volume_zscore_window, profile, "market.volume_zscore_window", 2
            ),
        }
        for key, bars in lists.items():
            if len(set(bars)) != len(bars):
                raise ConfigError(
                    f"market.{key}: {getattr(self, key)} give the same bar count twice "
                    f"({bars} bars of {profile.bar_seconds / 60:g}-minute bars)"
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

    def windows_in_bars(self) -> MarketWindows:
        """Every window in bars; ValueError if :meth:`resolve` has not converted them."""
        what = "market windows"
        return MarketWindows(
            return_horizons=tuple(in_bars(w, what) for w in self.return_horizons),
            realized_vol_windows=tuple(in_bars(w, what) for w in self.realized_vol_windows),
            rsi=in_bars(self.rsi_window, what),
            atr=in_bars(self.atr_window, what),
            close_zscore=in_bars(self.close_zscore_window, what),
            volume_zscore=in_bars(self.volume_zscore_window, what),
        )

    def warmup_bars(self) -> dict[str, int]:
        """Feature name -> number of leading bars (of a session, or of a symbol's history when
        ``cross_session``) for which the feature has no full window yet. Windows must be in
        bars (:meth:`resolve`)."""
        windows = self.windows_in_bars()
        warmup: dict[str, int] = {}
        for kind in self.features:
            if kind == "log_return":
                warmup.update({f"log_return_{h}": h for h in windows.return_horizons})
            elif kind == "realized_vol":
                # n one-bar returns need n + 1 closes.
                warmup.update({f"realized_vol_{n}": n for n in windows.realized_vol_windows})
            elif kind == "rsi":
                warmup[f"rsi_{windows.rsi}"] = windows.rsi
            elif kind == "atr_pct":
                # The first true range of a window is high - low, so n bars suffice.
                warmup[f"atr_pct_{windows.atr}"] = windows.atr - 1
            elif kind == "close_zscore":
                warmup[f"close_zscore_{windows.close_zscore}"] = windows.close_zscore - 1
            elif kind == "volume_zscore":
                warmup[f"volume_zscore_{windows.volume_zscore}"] = windows.volume_zscore - 1
            else:
                warmup.update({"tod_sin": 0, "tod_cos": 0})
        return warmup

    def feature_names(self) -> tuple[str, ...]:
        """Output feature columns, in order."""
        return tuple(self.warmup_bars())

    def max_window_bars(self) -> int:
        """Longest look-back of any feature (bars, including the current one)."""
        return max(self.warmup_bars().values()) + 1
