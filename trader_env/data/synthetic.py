"""A seeded regime-switching market with a planted, learnable signal and its oracle.

Per symbol, a Markov chain over :data:`trader_env.contracts.REGIMES` (geometric durations with
mean ``mean_regime_bars``, then a jump to one of the other three regimes) drives 1-minute log
returns with volatility ``sigma`` (low or high regime level, annualised with sqrt(252 * 390)):

* trending: ``r_t = trend_drift * sigma * d_t + sigma * eps_t``, where the drift sign ``d_t``
  flips after geometric spells of mean ``mean_trend_bars``: recent returns predict the next;
* ranging: the log price deviation ``x`` from the regime's anchor (its starting price) follows
  ``x_t = (1 - mean_reversion) * x_{t-1} + sigma * eps_t``, so ``r_t = x_t - x_{t-1}`` reverts.

The oracle knows the hidden state at the close of bar ``t`` (regime, drift sign, anchor) and
holds ``position_t`` over bar ``t + 1``: the drift sign in trending regimes; in ranging regimes
it bets on reversion once the expected next return ``-mean_reversion * x_t`` exceeds
``oracle_entry * sigma`` and stays until the price crosses the anchor. It is flat on the last
bar of every session (intraday). ``pnl_t = position_t * (close_{t+1} / close_t - 1)`` and
``net_pnl_t = pnl_t - cost_bps * 1e-4 * |position_t - position_{t-1}|``.

Sessions are weekdays (no holiday calendar) starting 09:30 America/New_York; the price path is
continuous across sessions (no overnight gap).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from trader_env.contracts import BAR_KEYS, BARS_SCHEMA, REGIMES
from trader_env.data.config import DataConfig, SyntheticSourceConfig

BARS_PER_YEAR = 252 * 390
SESSION_TIMEZONE = "America/New_York"
SESSION_OPEN_MINUTES = 9 * 60 + 30
_TRENDING = np.array(["trending" in name for name in REGIMES])
_HIGH_VOL = np.array([name.startswith("high_vol") for name in REGIMES])

ORACLE_SCHEMA = pl.Schema(
    {
        "symbol": pl.String(),
        "ts": pl.Datetime("us", "UTC"),
        "regime": pl.String(),
        "position": pl.Int8(),
        "pnl": pl.Float64(),
        "net_pnl": pl.Float64(),
        "expected_next": pl.Float64(),
        "next_return": pl.Float64(),
    }
)


@dataclass(frozen=True)
class SyntheticMarket:
    """Generated bars (``BARS_SCHEMA``) and, row for row, the oracle (``ORACLE_SCHEMA``).

    ``oracle.regime`` is the true regime of each bar; ``position`` in {-1, 0, 1} is decided at
    the close of the bar; ``pnl`` / ``net_pnl`` are simple returns of equity over the next bar
    before / after costs (0 on each session's last bar, where the oracle is flat);
    ``expected_next`` is the true expected log return of the next bar given the hidden state at
    the bar's close (what any oracle may know) and ``next_return`` the realised simple return
    ``close_{t+1} / close_t - 1`` (0 on the last bar of the data).
    """

    bars: pl.DataFrame
    oracle: pl.DataFrame
    config: SyntheticSourceConfig


def _durations(rng: np.random.Generator, mean: float, n: int) -> np.ndarray:
    """Geometric spell lengths (>= 1, mean ``mean``) whose sum covers ``n`` bars."""
    batch = int(n / mean) + 16
    durations = rng.geometric(1.0 / mean, size=batch)
    while durations.sum() < n:
        durations = np.concatenate([durations, rng.geometric(1.0 / mean, size=batch)])
    return durations[: int(np.searchsorted(np.cumsum(durations), n)) + 1]


def _session_timestamps(config: SyntheticSourceConfig) -> pl.Series:
    """UTC bar start times: ``bars_per_session`` minutes from 09:30 New York on weekdays."""
    days = np.busday_offset(
        np.datetime64(config.start, "D"), np.arange(config.n_sessions), roll="forward"
    )
    minutes = SESSION_OPEN_MINUTES + np.arange(config.bars_per_session)
    local = days.astype("datetime64[m]")[:, None] + minutes[None, :].astype("timedelta64[m]")
    return (
        pl.Series("ts", local.ravel().astype("datetime64[us]"))
        .dt.replace_time_zone(SESSION_TIMEZONE)
        .dt.convert_time_zone("UTC")
    )


def _simulate_symbol(
    config: SyntheticSourceConfig, rng: np.random.Generator, n: int
) -> dict[str, np.ndarray]:
    """One symbol's bars and oracle as numpy arrays (``n`` bars)."""
    # scipy.signal takes ~1 s to import; keep `import trader_env.data` cheap for Dagster.
    from scipy.signal import lfilter

    durations = _durations(rng, config.mean_regime_bars, n)
    jumps = np.concatenate([[0], np.cumsum(rng.integers(1, len(REGIMES), size=len(durations) - 1))])
    segment_regime = (rng.integers(len(REGIMES)) + jumps) % len(REGIMES)
    segment_start = np.concatenate([[0], np.cumsum(durations)[:-1]])
    regime = np.repeat(segment_regime, durations)[:n]
    trending = _TRENDING[regime]
    sigma_annual = np.where(_HIGH_VOL[regime], config.high_vol_annual, config.low_vol_annual)
    sigma = sigma_annual / np.sqrt(BARS_PER_YEAR)

    trend_spells = _durations(rng, config.mean_trend_bars, n)
    first_sign = rng.choice([-1.0, 1.0])
    drift_sign = np.repeat(first_sign * (-1.0) ** np.arange(len(trend_spells)), trend_spells)[:n]

    shocks = sigma * rng.standard_normal(n)
    returns = np.where(trending, config.trend_drift * sigma * drift_sign + shocks, 0.0)
    deviation = np.zeros(n)
    keep = 1.0 - config.mean_reversion
    for start, length, code in zip(segment_start, durations, segment_regime, strict=True):
        if _TRENDING[code]:
            continue
        stop = min(start + length, n)
        # x_t = keep * x_{t-1} + shock_t, starting from the anchor (x = 0) at the regime start.
        deviation[start:stop] = lfilter([1.0], [1.0, -keep], shocks[start:stop])
        returns[start:stop] = np.diff(deviation[start:stop], prepend=0.0)

    expected_next = np.where(
        trending, config.trend_drift * sigma * drift_sign, -config.mean_reversion * deviation
    )
    position = _oracle_positions(
        expected_next, deviation, trending, segment_start, sigma * config.oracle_entry, n
    )
    position[config.bars_per_session - 1 :: config.bars_per_session] = 0.0

    log_close = np.log(config.initial_price) + np.cumsum(returns)
    close = np.exp(log_close)
    open_ = np.exp(np.concatenate([[np.log(config.initial_price)], log_close[:-1]]))
    excursion = config.intrabar_range * sigma
    high = np.maximum(open_, close) * np.exp(excursion * np.abs(rng.standard_normal(n)))
    low = np.minimum(open_, close) * np.exp(-excursion * np.abs(rng.standard_normal(n)))
    volume = np.round(
        config.base_volume * (sigma_annual / config.low_vol_annual) * rng.lognormal(0.0, 0.5, n)
    )
    next_return = np.concatenate([close[1:] / close[:-1] - 1.0, [0.0]])
    pnl = position * next_return
    turnover = np.abs(np.diff(position, prepend=0.0))
    return {
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": np.maximum(volume, 1.0),
        "regime": regime,
        "position": position,
        "pnl": pnl,
        "net_pnl": pnl - config.cost_bps * 1e-4 * turnover,
        "expected_next": expected_next,
        "next_return": next_return,
    }


def _oracle_positions(
    expected_next: np.ndarray,
    deviation: np.ndarray,
    trending: np.ndarray,
    segment_start: np.ndarray,
    entry: np.ndarray,
    n: int,
) -> np.ndarray:
    """Oracle target positions (float64 in {-1, 0, 1}) before the end-of-session flattening.

    Ranging: enter on ``|expected_next| > entry``, hold until the deviation changes sign or the
    regime ends; implemented as "set where decided, forward-fill elsewhere".
    """
    decided = np.full(n, np.nan)
    decided[trending] = np.sign(expected_next[trending])
    ranging = ~trending
    previous = np.concatenate([[0.0], deviation[:-1]])
    starts = np.zeros(n, dtype=bool)
    starts[segment_start[segment_start < n]] = True
    exits = ranging & (starts | (np.sign(deviation) != np.sign(previous)))
    decided[exits] = 0.0
    enters = ranging & (np.abs(expected_next) > entry)
    decided[enters] = np.sign(expected_next[enters])
    last_decided = np.where(np.isnan(decided), 0, np.arange(n))
    np.maximum.accumulate(last_decided, out=last_decided)
    # Bar 0 always starts a segment, so every bar has a decision at or before it.
    return decided[last_decided]


def generate_synthetic_market(config: SyntheticSourceConfig | DataConfig) -> SyntheticMarket:
    """Generate the market described by ``config`` (a ``DataConfig`` uses its ``synthetic``).

    Deterministic: symbol ``i`` draws from ``SeedSequence(seed, spawn_key=(i,))``, so the same
    config gives identical frames and adding a symbol leaves the others unchanged.
    """
    settings = config.synthetic if isinstance(config, DataConfig) else config
    ts = _session_timestamps(settings)
    n = len(ts)
    bars: list[pl.DataFrame] = []
    oracles: list[pl.DataFrame] = []
    for index, symbol in enumerate(settings.symbols):
        rng = np.random.default_rng(np.random.SeedSequence(settings.seed, spawn_key=(index,)))
        arrays = _simulate_symbol(settings, rng, n)
        symbols = pl.Series("symbol", [symbol], dtype=pl.String).new_from_index(0, n)
        bars.append(
            pl.DataFrame(
                {
                    "symbol": symbols,
                    "ts": ts,
                    **{
                        column: arrays[column]
                        for column in ("open", "high", "low", "close", "volume")
                    },
                }
            )
        )
        oracles.append(
            pl.DataFrame(
                {
                    "symbol": symbols,
                    "ts": ts,
                    "regime": np.asarray(REGIMES)[arrays["regime"]],
                    "position": arrays["position"],
                    "pnl": arrays["pnl"],
                    "net_pnl": arrays["net_pnl"],
                    "expected_next": arrays["expected_next"],
                    "next_return": arrays["next_return"],
                }
            )
        )
    # (symbol, ts) is unique, so sorting both frames by it keeps them row-aligned.
    return SyntheticMarket(
        bars=pl.concat(bars).cast(BARS_SCHEMA).sort(BAR_KEYS),
        oracle=pl.concat(oracles).cast(ORACLE_SCHEMA).sort(BAR_KEYS),
        config=settings,
    )
