"""Properties of validate_bars on random frames: the output always meets the data contract."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trader_env.contracts import BARS_SCHEMA
from trader_env.data import DataValidationError, validate_bars

START = dt.datetime(2024, 1, 2, 14, 30, tzinfo=dt.UTC)
PRICES = st.floats(0.01, 1e5, allow_nan=False, allow_infinity=False)


@st.composite
def bar_frames(draw: st.DrawFn) -> pl.DataFrame:
    """Valid raw bars in random order: unique (symbol, ts), high >= low, maybe bad prints."""
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(0, 20_000)),
            min_size=1,
            max_size=40,
            unique=True,
        )
    )
    values = draw(
        st.lists(
            st.tuples(PRICES, PRICES, PRICES, PRICES, st.floats(0, 1e9)),
            min_size=len(keys),
            max_size=len(keys),
        )
    )
    return pl.DataFrame(
        {
            "symbol": [symbol for symbol, _ in keys],
            "ts": [START + dt.timedelta(minutes=minute) for _, minute in keys],
            "open": [row[0] for row in values],
            "high": [max(row[2], row[3]) for row in values],
            "low": [min(row[2], row[3]) for row in values],
            "close": [row[1] for row in values],
            "volume": [row[4] for row in values],
        },
        schema=BARS_SCHEMA,
    )


def contract_holds(bars: pl.DataFrame) -> bool:
    return bool(
        bars.select(
            pl.struct("symbol", "ts").is_unique().all()
            & pl.all_horizontal(pl.col("open", "high", "low", "close").is_finite()).all()
            & (pl.col("low") > 0).all()
            & (pl.col("low") <= pl.min_horizontal("open", "close")).all()
            & (pl.max_horizontal("open", "close") <= pl.col("high")).all()
            & (pl.col("volume").is_finite() & (pl.col("volume") >= 0)).all()
        ).item()
    )


@settings(max_examples=60, deadline=None)
@given(bar_frames())
def test_output_meets_the_contract(frame: pl.DataFrame) -> None:
    bars, report = validate_bars(frame)
    assert bars.schema == pl.Schema(BARS_SCHEMA)
    assert bars.equals(bars.sort("symbol", "ts"))
    assert contract_holds(bars)
    assert report.rows_in == report.rows_out == frame.height
    # Only high/low may change, and exactly the bad prints are counted.
    unchanged = ["symbol", "ts", "open", "close", "volume"]
    assert bars.select(unchanged).equals(frame.select(unchanged).sort("symbol", "ts"))
    bad_prints = frame.filter(
        (pl.max_horizontal("open", "close") > pl.col("high"))
        | (pl.min_horizontal("open", "close") < pl.col("low"))
    ).height
    assert report.repair_count("bad_print") == bad_prints
    assert json.loads(json.dumps(report.to_metadata())) == report.to_metadata()


@settings(max_examples=30, deadline=None)
@given(bar_frames())
def test_validation_is_idempotent(frame: pl.DataFrame) -> None:
    once, _ = validate_bars(frame)
    twice, report = validate_bars(once)
    assert twice.equals(once)
    assert report.repaired_rows == 0 and report.rows_reordered == 0


@settings(max_examples=40, deadline=None)
@given(
    bar_frames(),
    st.data(),
    st.sampled_from(["open", "high", "low", "close"]),
    st.sampled_from([0.0, -1.0, float("nan"), float("inf")]),
)
def test_a_bad_price_is_found_on_its_row(
    frame: pl.DataFrame, data: st.DataObject, column: str, value: float
) -> None:
    row = data.draw(st.integers(0, frame.height - 1))
    broken = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == row)
        .then(pl.lit(value))
        .otherwise(pl.col(column))
        .alias(column)
    )
    with pytest.raises(DataValidationError) as info:
        validate_bars(broken)
    assert (info.value.line, info.value.column) == (row + 2, column)
    assert "price must be finite and > 0" in info.value.reason
