"""Typed values of polars aggregates: the expected type passes, anything else is named."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from trader_env.scalars import as_date, as_datetime, as_float


def test_aggregates_of_the_expected_type_pass_through() -> None:
    frame = pl.DataFrame(
        {
            "x": [1, 3, 2],
            "ts": [dt.datetime(2020, 1, 2, 15, tzinfo=dt.UTC)] * 3,
            "day": [dt.date(2020, 1, 2)] * 3,
        }
    )
    assert as_float(frame["x"].median(), "median x") == 2.0
    assert as_float(frame["x"].max(), "max x") == 3.0
    assert as_datetime(frame["ts"].min(), "first ts") == dt.datetime(2020, 1, 2, 15, tzinfo=dt.UTC)
    assert as_date(frame["day"].max(), "last day") == dt.date(2020, 1, 2)


def test_an_empty_column_or_a_wrong_type_is_refused_by_name() -> None:
    empty = pl.Series("x", [], dtype=pl.Float64)
    with pytest.raises(TypeError, match="median x: expected a number, got None"):
        as_float(empty.median(), "median x")
    with pytest.raises(TypeError, match="first ts: expected a datetime, got 'a'"):
        as_datetime(pl.Series(["a"]).min(), "first ts")
    with pytest.raises(TypeError, match="last day: expected a date, got 3"):
        as_date(pl.Series([3]).max(), "last day")
