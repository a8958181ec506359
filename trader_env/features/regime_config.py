"""Configuration of the volatility and trend regimes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from trader_env.features.market_profile import MarketProfile
from trader_env.features.windows import Window, check_window, in_bars, span_bars, window_bars


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
        return check_window(value)

    @field_validator("trend_horizon_bars")
    @classmethod
    def _horizon(cls, value: float | str) -> float | str:
        if isinstance(value, str):
            check_window(value)
        elif not value > 0:
            raise ValueError(f"must be > 0, got {value}")
        return value

    def resolve(self, profile: MarketProfile) -> RegimeConfig:
        """A copy with windows in bars, the horizon in (fractional) bars and the
        annualisation of ``profile``."""
        horizon = self.trend_horizon_bars
        if isinstance(horizon, str):
            horizon = span_bars(horizon, profile, "regime.trend_horizon_bars")
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
        return max(self.windows_in_bars())

    def windows_in_bars(self) -> tuple[int, int]:
        """(``vol_window``, ``trend_window``) in bars; ValueError if :meth:`resolve` has not
        converted them."""
        what = "regime windows"
        return in_bars(self.vol_window, what), in_bars(self.trend_window, what)
