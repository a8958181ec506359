"""Data contracts shared by the layers of the pipeline.

These names are the seams between data loading, feature computation, the trading
environment and evaluation. Changing them changes every layer, so they live in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

#: Bars: one row per (symbol, bar start). Sorted by (symbol, ts), unique on (symbol, ts).
BARS_SCHEMA = pl.Schema(
    {
        "symbol": pl.String(),
        "ts": pl.Datetime("us", "UTC"),
        "open": pl.Float64(),
        "high": pl.Float64(),
        "low": pl.Float64(),
        "close": pl.Float64(),
        "volume": pl.Float64(),
    }
)
BAR_KEYS: tuple[str, str] = ("symbol", "ts")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")

#: Market regimes; the integer code of a regime is its index in this tuple.
REGIMES: tuple[str, ...] = (
    "low_vol_trending",
    "high_vol_trending",
    "low_vol_ranging",
    "high_vol_ranging",
)

#: Volatility buckets: bucket ``i`` is the number of ``regime.vol_thresholds`` (0.10 / 0.20 /
#: 0.40 annualised) the bar's realised volatility reached; the name is ``VOL_BUCKETS[i]``.
VOL_BUCKETS: tuple[str, ...] = ("low", "medium", "high", "extreme")
#: Key of the per-bar volatility bucket (int8 index into VOL_BUCKETS) in MarketArrays.extras.
VOL_BUCKET_EXTRA = "vol_bucket"


@dataclass(frozen=True)
class MarketArrays:
    """One symbol's split as contiguous numpy arrays: all the environment ever reads.

    Shapes: ``n`` bars; ``features`` is ``(n, n_features)``. Bar ``i`` starts at ``ts[i]``
    (epoch microseconds, UTC). ``features[i]`` only depends on bars ``<= i`` and is already
    normalised with statistics fitted on the training split. ``session_id`` is
    non-decreasing; a change of value marks the first bar of a new trading session.
    ``regime`` holds codes into :data:`REGIMES`. ``bars_per_year`` is the market's
    annualisation base (:class:`~trader_env.features.MarketProfile`), used by the environment
    when its config leaves ``bars_per_year`` null.
    """

    symbol: str
    ts: np.ndarray  # int64 (n,), epoch microseconds UTC
    open: np.ndarray  # float64 (n,), price units
    high: np.ndarray  # float64 (n,)
    low: np.ndarray  # float64 (n,)
    close: np.ndarray  # float64 (n,)
    features: np.ndarray  # float32 (n, n_features)
    feature_names: tuple[str, ...]
    regime: np.ndarray  # int8 (n,), codes into REGIMES
    session_id: np.ndarray  # int64 (n,), non-decreasing
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # optional per-bar columns
    # Bars per year of the market the bars came from (annualisation); None if unknown.
    bars_per_year: float | None = None

    def __post_init__(self) -> None:
        n = len(self.ts)
        expected = {
            "ts": (self.ts, np.int64),
            "open": (self.open, np.float64),
            "high": (self.high, np.float64),
            "low": (self.low, np.float64),
            "close": (self.close, np.float64),
            "regime": (self.regime, np.int8),
            "session_id": (self.session_id, np.int64),
        }
        for name, (array, dtype) in expected.items():
            if array.dtype != dtype or array.shape != (n,):
                raise ValueError(
                    f"MarketArrays[{self.symbol}].{name}: expected {np.dtype(dtype)} of shape "
                    f"({n},), got {array.dtype} of shape {array.shape}"
                )
        if self.features.dtype != np.float32 or self.features.shape != (n, len(self.feature_names)):
            raise ValueError(
                f"MarketArrays[{self.symbol}].features: expected float32 of shape "
                f"({n}, {len(self.feature_names)}), got {self.features.dtype} {self.features.shape}"
            )
        for name, array in self.extras.items():
            if array.shape[0] != n:
                raise ValueError(
                    f"MarketArrays[{self.symbol}].extras[{name!r}] has {array.shape[0]} rows, expected {n}"
                )

    def __len__(self) -> int:
        return len(self.ts)

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def tail(self, first: int) -> MarketArrays:
        """The same symbol from bar ``first`` on (views of the same read-only arrays)."""
        return replace(
            self,
            ts=self.ts[first:],
            open=self.open[first:],
            high=self.high[first:],
            low=self.low[first:],
            close=self.close[first:],
            features=self.features[first:],
            regime=self.regime[first:],
            session_id=self.session_id[first:],
            extras={name: values[first:] for name, values in self.extras.items()},
        )
