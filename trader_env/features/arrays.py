"""From frames to the numpy arrays the environment reads (:class:`MarketArrays`)."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from trader_env.contracts import BAR_KEYS, PRICE_COLUMNS, VOL_BUCKET_EXTRA, MarketArrays
from trader_env.features.config import REGIME_INPUTS
from trader_env.features.frames import require_columns
from trader_env.features.normalization import apply_normalization
from trader_env.features.splits import PartName, Splits, select_split


def to_market_arrays(
    bars: pl.DataFrame,
    features: pl.DataFrame,
    regimes: pl.DataFrame,
    splits: Splits,
    part: PartName,
    normalize: bool = True,
    fold: int | None = None,
    between: tuple[date, date] | None = None,
) -> list[MarketArrays]:
    """One :class:`~trader_env.contracts.MarketArrays` per symbol of ``part`` (or of fold
    ``fold``'s part), in symbol order.

    Bars, features and regimes are inner-joined on (symbol, ts), so only bars with every
    feature and a regime are kept. ``features`` columns are the market features of
    ``splits.feature_names`` followed by ``realized_vol_ann`` and ``trend_strength``,
    normalised (when ``normalize``) with the statistics of the main training part, or of the
    fold's training window when ``fold`` is given; float32 ``(n, n_features)``
    C-contiguous. Prices float64, ``regime`` int8 codes, ``session_id`` int64 days since
    1970-01-01 of the session date, ``ts`` int64 epoch microseconds (UTC). All arrays are
    read-only. A symbol without rows in the part is absent from the list. When ``regimes``
    has ``vol_bucket``, it is in ``extras["vol_bucket"]`` (int8, index into VOL_BUCKETS).

    ``between`` = (first, last) session dates, inclusive, replaces ``part``: the forward ledger
    and the signals read sessions after every split, still normalised with the train stats.
    """
    market_names = [name for name in splits.feature_names if name not in REGIME_INPUTS]
    names = [*market_names, *REGIME_INPUTS]
    stats = splits.normalization_for(fold)
    if normalize and tuple(names) != stats.feature_names:
        raise ValueError(
            f"to_market_arrays: splits normalise {list(stats.feature_names)} "
            f"but the arrays need {names}; make the splits with make_splits(..., regimes=...)"
        )
    joined, buckets = _joined(bars, features, regimes, market_names)
    rows = _rows_of(joined, splits, part, fold, between)
    if normalize:
        rows = apply_normalization(rows, stats)
    prepared = rows.sort(list(BAR_KEYS)).select(
        "symbol",
        pl.col("ts").dt.epoch("us").cast(pl.Int64),
        *[pl.col(c).cast(pl.Float64) for c in PRICE_COLUMNS],
        pl.col("regime_code").cast(pl.Int8),
        *[pl.col(c).cast(pl.Int8) for c in buckets],
        pl.col("session").cast(pl.Int32).cast(pl.Int64).alias("session_id"),
        *[pl.col(c).cast(pl.Float32) for c in names],
    )
    bars_per_year = splits.market.bars_per_year if splits.market else None
    result = [
        _symbol_arrays(symbol, frame, names, buckets, bars_per_year)
        for (symbol,), frame in prepared.partition_by("symbol", as_dict=True).items()
    ]
    return sorted(result, key=lambda arrays: arrays.symbol)


def _joined(
    bars: pl.DataFrame, features: pl.DataFrame, regimes: pl.DataFrame, market_names: list[str]
) -> tuple[pl.DataFrame, list[str]]:
    """Bars, market features and regimes inner-joined on (symbol, ts), and the extra columns
    carried along (``vol_bucket`` when ``regimes`` has it)."""
    require_columns(bars, (*BAR_KEYS, *PRICE_COLUMNS), "to_market_arrays bars")
    require_columns(features, (*BAR_KEYS, "session", *market_names), "to_market_arrays features")
    require_columns(regimes, (*BAR_KEYS, *REGIME_INPUTS, "regime_code"), "to_market_arrays regimes")
    keys = list(BAR_KEYS)
    buckets = [VOL_BUCKET_EXTRA] if VOL_BUCKET_EXTRA in regimes.columns else []
    joined = (
        bars.select(*keys, *PRICE_COLUMNS)
        .join(features.select(*keys, "session", *market_names), on=keys)
        .join(regimes.select(*keys, *REGIME_INPUTS, "regime_code", *buckets), on=keys)
    )
    return joined, buckets


def _rows_of(
    joined: pl.DataFrame,
    splits: Splits,
    part: PartName,
    fold: int | None,
    between: tuple[date, date] | None,
) -> pl.DataFrame:
    """The rows of ``part`` (of ``fold``), or of the sessions ``between``; refuses none."""
    if between is None:
        rows = select_split(joined, splits, part, fold)
        where = f"part {part!r}" + (f" of fold {fold}" if fold is not None else "")
    else:
        rows = joined.filter(pl.col("session").is_between(*between))
        where = f"sessions {between[0]}..{between[1]}"
    if rows.height == 0:
        raise ValueError(f"to_market_arrays: no bar with features and a regime in {where}")
    return rows


def _symbol_arrays(
    symbol: str,
    frame: pl.DataFrame,
    names: list[str],
    buckets: list[str],
    bars_per_year: float | None,
) -> MarketArrays:
    """Read-only arrays of one symbol's prepared rows."""
    arrays = {
        column: _read_only(frame[column].to_numpy())
        for column in ("ts", *PRICE_COLUMNS, "regime_code", "session_id")
    }
    return MarketArrays(
        symbol=symbol,
        ts=arrays["ts"],
        open=arrays["open"],
        high=arrays["high"],
        low=arrays["low"],
        close=arrays["close"],
        features=_read_only(frame.select(names).to_numpy(order="c")),
        feature_names=tuple(names),
        regime=arrays["regime_code"],
        session_id=arrays["session_id"],
        bars_per_year=bars_per_year,
        extras={c: _read_only(frame[c].to_numpy()) for c in buckets},
    )


def _read_only(array: np.ndarray) -> np.ndarray:
    contiguous = np.ascontiguousarray(array)
    contiguous.setflags(write=False)
    return contiguous
