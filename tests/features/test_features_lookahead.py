"""No look-ahead: deleting future bars never changes a past feature or regime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from trader_env.contracts import BARS_SCHEMA
from trader_env.features import (
    FeaturesConfig,
    MarketFeaturesConfig,
    RegimeConfig,
    check_no_lookahead,
    compute_features,
    compute_regimes,
    compute_regimes_with_report,
    resolved_config,
)


def _random_bars(seed: int, sessions: int, bars: int, gap_share: float, flat_share: float):
    """Two symbols of random one-minute bars with missing minutes and flat stretches."""
    rng = np.random.default_rng(seed)
    frames = []
    for symbol in ("A", "B"):
        minutes = [
            datetime(2024, 3, 4 + day, 14, 30, tzinfo=UTC) + timedelta(minutes=m)
            for day in range(sessions)
            for m in range(bars)
            if rng.random() >= gap_share
        ]
        n = len(minutes)
        if n == 0:
            continue
        returns = rng.normal(0, 2e-3, n) * (rng.random(n) >= flat_share)
        close = 50 * np.exp(np.cumsum(returns))
        open_ = close * np.exp(rng.normal(0, 1e-3, n))
        frames.append(
            pl.DataFrame(
                {
                    "symbol": symbol,
                    "ts": minutes,
                    "open": open_,
                    "high": np.maximum(open_, close) * (1 + rng.random(n) * 1e-3),
                    "low": np.minimum(open_, close) * (1 - rng.random(n) * 1e-3),
                    "close": close,
                    "volume": np.round(rng.lognormal(5, 1, n)) * (rng.random(n) >= flat_share),
                },
                schema=BARS_SCHEMA,
            )
        )
    return pl.concat(frames)


BARS = st.builds(
    _random_bars,
    seed=st.integers(0, 2**32 - 1),
    sessions=st.integers(1, 3),
    bars=st.integers(4, 40),
    gap_share=st.sampled_from([0.0, 0.1, 0.4]),
    flat_share=st.sampled_from([0.0, 0.3, 0.9]),
)


def _config(cross_session: bool) -> FeaturesConfig:
    return FeaturesConfig(
        market=MarketFeaturesConfig(
            return_horizons=[1, 3],
            realized_vol_windows=[4],
            rsi_window=3,
            atr_window=3,
            close_zscore_window=4,
            volume_zscore_window=4,
            cross_session=cross_session,
        ),
        regime=RegimeConfig(
            vol_window=6,
            trend_window=5,
            trend_horizon_bars=2,
            cross_session=cross_session,
            bars_per_session=40,
        ),
    )


@settings(max_examples=25, deadline=None)
@given(bars=BARS, cross_session=st.booleans(), seed=st.integers(0, 1000))
def test_features_never_look_ahead(bars, cross_session, seed) -> None:
    # Resolved once on the full bars (market, bar interval), as the pipeline's check does.
    config = resolved_config(bars, _config(cross_session))
    result = check_no_lookahead(bars, lambda b: compute_features(b, config), n_cuts=3, seed=seed)
    assert result.passed, result.summary()
    assert len(result.cuts) == 3 * bars["symbol"].n_unique()


@settings(max_examples=25, deadline=None)
@given(bars=BARS, cross_session=st.booleans(), seed=st.integers(0, 1000))
def test_regimes_never_look_ahead(bars, cross_session, seed) -> None:
    # bars_per_session is pinned in the config: annualisation must not depend on how much
    # data follows, only on the (fixed) calendar. A symbol needs two bars for its bar spacing
    # to exist at all (a single bar is refused with a clear error, tested elsewhere).
    assume(bars.group_by("symbol").len()["len"].min() >= 2)
    config = resolved_config(bars, _config(cross_session))
    result = check_no_lookahead(bars, lambda b: compute_regimes(b, config), n_cuts=3, seed=seed)
    assert result.passed, result.summary()


def test_pinned_annualisation_is_what_the_data_implies(make_market) -> None:
    bars = make_market(seed=6, sessions=4, bars=30)
    config = _config(cross_session=True)
    free = config.model_copy(
        update={"regime": config.regime.model_copy(update={"bars_per_session": None})}
    )
    derived, report = compute_regimes_with_report(bars, free)
    assert report.bars_per_session == 30.0
    pinned = resolved_config(bars, free)
    assert pinned.regime.bars_per_session == 30.0
    assert compute_regimes(bars, pinned).equals(derived)
    result = check_no_lookahead(bars, lambda b: compute_regimes(b, pinned))
    assert result.passed, result.summary()


def test_check_compares_rows_and_counts_them(make_market) -> None:
    bars = make_market(seed=1, sessions=3, bars=30)
    config = resolved_config(bars, _config(cross_session=False))
    result = check_no_lookahead(bars, lambda b: compute_features(b, config), n_cuts=4, seed=3)
    assert result.passed
    assert result.rows_compared > 0
    assert result.rows_compared == sum(c.rows_compared for c in result.cuts)
    assert set(result.columns) == {"session", *config.market.feature_names()}
    assert "passed" in result.summary()


def test_peeking_at_the_next_bar_fails(make_market) -> None:
    bars = make_market(seed=2, sessions=3, bars=30)
    config = resolved_config(bars, _config(cross_session=False))

    def leaky(b: pl.DataFrame) -> pl.DataFrame:
        peek = b.select("symbol", "ts", peek=pl.col("close").shift(-1).over("symbol"))
        return compute_features(b, config).join(peek, on=["symbol", "ts"])

    result = check_no_lookahead(bars, leaky, n_cuts=3)
    assert not result.passed
    assert result.first_mismatch is not None
    assert result.first_mismatch.column == "peek"
    # Exactly the bar at each cut sees the deleted next bar (unless the cut is in the warm-up).
    assert result.mismatched_rows <= len(result.cuts)
    assert "FAILED" in result.summary()


def test_centred_rolling_window_fails(make_market) -> None:
    bars = make_market(seed=3, sessions=3, bars=30)

    def centred(b: pl.DataFrame) -> pl.DataFrame:
        return b.select(
            "symbol",
            "ts",
            smooth=pl.col("close").rolling_mean(5, center=True).over("symbol"),
        ).drop_nulls()

    result = check_no_lookahead(bars, centred, n_cuts=3)
    assert not result.passed
    # Dropping the rows whose window is incomplete hides nothing: they are reported as rows
    # present in the full output only.
    assert result.first_mismatch.column in {"smooth", "<row>"}
    assert result.mismatched_rows >= len(result.cuts)


def test_bar_spacing_of_single_bar_symbols_is_refused_clearly() -> None:
    import polars as pl
    import pytest

    from trader_env.features import infer_bar_frequency

    frame = pl.DataFrame(
        {
            "symbol": ["A", "B"],
            "ts": pl.Series([0, 60_000_000]).cast(pl.Datetime("us", "UTC")),
            "session": pl.Series(["2024-03-04", "2024-03-04"]).str.to_date(),
        }
    )
    with pytest.raises(ValueError, match="every symbol has a single bar"):
        infer_bar_frequency(frame)
