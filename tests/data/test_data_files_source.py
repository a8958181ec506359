"""The files source: aliases, symbols, formats, timezones, Parquet + CSV, sorting."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from trader_env.contracts import BARS_SCHEMA
from trader_env.data import (
    DataConfig,
    DataValidationError,
    load_bars_with_report,
    read_raw_bars,
    validate_bars,
)

LoadFiles = Callable[..., Any]
UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_upper_case_headers_extra_columns_and_symbol_column(
    load_files: LoadFiles, raw_dir: Path
) -> None:
    (raw_dir / "export.csv").write_text(
        "Symbol,Date,Open,High,Low,Close,Adj Close,Volume,Note\n"
        "QQQ,2024-01-02 14:30:00,400,401,399,400.5,390,1000,x\n"
        "SPY,2024-01-02 14:30:00,470,471,469,470.5,460,2000,y\n"
        "SPY,2024-01-02 14:31:00,470.5,472,470,471,461,1500,z\n"
    )
    bars, report = load_files(raw_dir)
    assert bars.schema == pl.Schema(BARS_SCHEMA)
    assert bars["symbol"].to_list() == ["QQQ", "SPY", "SPY"]
    # "Close" is the close; "Adj Close" and "Note" are ignored.
    assert bars["close"].to_list() == [400.5, 470.5, 471.0]
    assert report.symbols == ("QQQ", "SPY")
    assert report.rows_per_symbol == {"QQQ": 1, "SPY": 2}


def test_single_letter_headers_and_symbol_from_file_name(
    load_files: LoadFiles, raw_dir: Path
) -> None:
    (raw_dir / "aapl.csv").write_text(
        "DateTime,o,h,l,c,v\n2024-01-02T14:30:00Z,185,186,184,185.5,10\n"
    )
    bars, report = load_files(raw_dir)
    assert bars.row(0) == ("AAPL", utc(2024, 1, 2, 14, 30), 185.0, 186.0, 184.0, 185.5, 10.0)
    assert any("taken from file name" in note for note in report.notes)


def test_fixed_symbol_overrides_symbol_column(load_files: LoadFiles, raw_dir: Path) -> None:
    (raw_dir / "x.csv").write_text(
        "ticker,time,open,high,low,close,volume\nBAD,2024-01-02 14:30,1,2,0.5,1.5,3\n"
    )
    bars, _ = load_files(raw_dir, symbol="ES")
    assert bars["symbol"].to_list() == ["ES"]


def test_parquet_and_csv_mixed(load_files: LoadFiles, raw_dir: Path) -> None:
    (raw_dir / "b.csv").write_text(
        "timestamp,open,high,low,close,volume\n2024-01-02 14:31:00,2,3,1,2.5,7\n"
    )
    pl.DataFrame(
        {
            # A Parquet file with real (naive) datetimes and integer volume.
            "Datetime": [dt.datetime(2024, 1, 2, 14, 30)],
            "Open": [1.0],
            "High": [2.0],
            "Low": [0.5],
            "Close": [1.5],
            "Volume": [5],
        }
    ).write_parquet(raw_dir / "A.parquet")
    pl.DataFrame(
        {
            "timestamp": [utc(2024, 1, 2, 14, 32)],
            "open": [3.0],
            "high": [3.0],
            "low": [3.0],
            "close": [3.0],
            "volume": [1.0],
        }
    ).write_parquet(raw_dir / "b2.pq")
    raw = read_raw_bars(DataConfig(source="files", files={"path": raw_dir, "symbol": "X"}))
    assert [Path(file).name for file in raw.files] == ["A.parquet", "b.csv", "b2.pq"]
    assert list(raw.rows_per_file.values()) == [1, 1, 1]
    assert raw.frame["source_line"].to_list() == [2, 2, 2]
    bars, report = validate_bars(raw)
    assert bars["ts"].to_list() == [utc(2024, 1, 2, 14, m) for m in (30, 31, 32)]
    assert bars["volume"].to_list() == [5.0, 7.0, 1.0]
    assert report.files == raw.files


def test_timestamp_format_and_timezone(load_files: LoadFiles, raw_dir: Path) -> None:
    (raw_dir / "spy.csv").write_text(
        "date,open,high,low,close,volume\n"
        "01/02/2024 09:30,1,2,0.5,1.5,3\n"  # winter: New York = UTC-5
        "07/01/2024 09:30,1,2,0.5,1.5,3\n"  # summer: New York = UTC-4
    )
    bars, _ = load_files(raw_dir, timestamp_format="%m/%d/%Y %H:%M", timezone="America/New_York")
    assert bars["ts"].to_list() == [utc(2024, 1, 2, 14, 30), utc(2024, 7, 1, 13, 30)]


def test_iso_variants_and_offsets(load_files: LoadFiles, raw_dir: Path) -> None:
    (raw_dir / "x.csv").write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-01-02 09:30,1,2,0.5,1.5,3\n"  # naive -> files.timezone
        "2024-01-02T09:31:00,1,2,0.5,1.5,3\n"
        "2024-01-02 09:32:00.000,1,2,0.5,1.5,3\n"
        "2024-01-02T14:33:00Z,1,2,0.5,1.5,3\n"  # offsets are honoured as written
        "2024-01-02 09:34:00-05:00,1,2,0.5,1.5,3\n"
        "2024-01-02 15:35:00+0100,1,2,0.5,1.5,3\n"
    )
    bars, _ = load_files(raw_dir, timezone="America/New_York")
    assert bars["ts"].to_list() == [utc(2024, 1, 2, 14, m) for m in range(30, 36)]


def test_daily_dates_and_column_map(load_files: LoadFiles, raw_dir: Path) -> None:
    (raw_dir / "spy.csv").write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2024-01-02,10,12,9,11,10.5,100\n"
        "2024-01-03,11,12,10,11.5,11,100\n"
    )
    bars, report = load_files(raw_dir, column_map={"close": "Adj Close"})
    assert bars["close"].to_list() == [10.5, 11.0]
    assert bars["ts"].to_list() == [utc(2024, 1, 2), utc(2024, 1, 3)]
    assert report.stats.bars_per_session == {"min": 1.0, "median": 1.0, "max": 1.0}


def test_unsorted_input_is_sorted_and_counted(load_files: LoadFiles, raw_dir: Path) -> None:
    (raw_dir / "x.csv").write_text(
        "symbol,timestamp,open,high,low,close,volume\n"
        "B,2024-01-02 14:31:00,1,1,1,1,1\n"
        "A,2024-01-02 14:31:00,1,1,1,1,1\n"
        "A,2024-01-02 14:30:00,1,1,1,1,1\n"
        "B,2024-01-02 14:32:00,1,1,1,1,1\n"
    )
    bars, report = load_files(raw_dir)
    assert bars.select("symbol", pl.col("ts").dt.minute()).rows() == [
        ("A", 30),
        ("A", 31),
        ("B", 31),
        ("B", 32),
    ]
    assert report.rows_reordered == 2  # rows 2 and 4 (A 14:31, B 14:32) stay where they were
    assert report.rows_in == report.rows_out == 4


def test_bad_prints_are_repaired_and_reported(load_files: LoadFiles, raw_dir: Path) -> None:
    (raw_dir / "x.csv").write_text(
        "timestamp,open,high,low,close,volume\n"
        "2024-01-02 14:30:00,10,11,9,10,1\n"
        "2024-01-02 14:31:00,11.5,11,9,10,1\n"  # open above high
        "2024-01-02 14:32:00,10,11,9,8.5,1\n"  # close below low
    )
    bars, report = load_files(raw_dir)
    assert bars.select("high", "low").rows() == [(11.0, 9.0), (11.5, 9.0), (11.0, 8.5)]
    assert report.repair_count("bad_print") == 2
    (repair,) = report.repairs
    assert [example["line"] for example in repair.examples] == [3, 4]
    assert repair.examples[0]["high"] == 11.0 and repair.examples[0]["repaired_high"] == 11.5
    assert report.to_metadata()["repairs"]["bad_print"]["count"] == 2


def test_blank_lines_are_skipped_and_noted(load_files: LoadFiles, raw_dir: Path) -> None:
    path = raw_dir / "x.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n\n2024-01-02 14:30:00,1,1,1,1,1\n\n"
        "2024-01-02 14:31:00,1,1,1,1,-1\n"
    )
    # Line numbers stay those of the file: the bad row is line 5.
    with pytest.raises(DataValidationError, match="line 5, column 'volume'"):
        load_files(raw_dir)
    path.write_text("timestamp,open,high,low,close,volume\n\n2024-01-02 14:30:00,1,1,1,1,1\n\n")
    bars, report = load_files(raw_dir)
    assert bars.height == 1
    assert any("2 blank line(s) skipped" in note for note in report.notes)


def test_symbols_not_listed_are_left_out_and_noted(raw_dir: Path) -> None:
    (raw_dir / "x.csv").write_text(
        "symbol,timestamp,open,high,low,close,volume\n"
        "A,2024-01-02 14:30:00,1,1,1,1,1\n"
        "B,2024-01-02 14:30:00,1,1,1,1,1\n"
        "C,2024-01-02 14:30:00,1,1,1,1,1\n"
    )
    config = DataConfig(source="files", symbols=["C", "A"], files={"path": raw_dir})
    bars, report = load_bars_with_report(config)
    assert bars["symbol"].to_list() == ["A", "C"]
    assert report.rows_in == 2
    assert any("1 rows of symbol(s) ['B']" in note for note in report.notes)


def test_single_file_path(load_files: LoadFiles, raw_dir: Path) -> None:
    path = raw_dir / "spy.csv"
    path.write_text("timestamp,open,high,low,close,volume\n2024-01-02 14:30:00,1,1,1,1,1\n")
    bars, report = load_files(path)
    assert bars["symbol"].to_list() == ["SPY"] and report.files == (str(path),)


def test_session_statistics_half_days_gaps_and_late_opens(
    load_files: LoadFiles, raw_dir: Path
) -> None:
    # Three full 10-bar sessions, one early close (5 bars), one late open, one with a gap.
    def session(day: int, minutes: list[int]) -> list[str]:
        return [f"2024-01-{day:02d} 09:{30 + m:02d}:00,1,1,1,1,1" for m in minutes]

    rows = (
        session(2, list(range(10)))
        + session(3, list(range(10)))
        + session(4, list(range(10)))
        + session(5, list(range(5)))
        + session(8, list(range(4, 10)))
        + session(9, [0, 1, 2, 3, 4, 8, 9])
    )
    (raw_dir / "x.csv").write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows))
    _, report = load_files(raw_dir, timezone="America/New_York")
    stats = report.stats
    assert stats.sessions == 6
    assert stats.bars_per_session == {"min": 5.0, "median": 8.5, "max": 10.0}
    assert stats.bar_interval_seconds == {"X": 60}
    assert [row["session"] for row in stats.half_day_sessions] == ["2024-01-05", "2024-01-09"]
    assert [row["session"] for row in stats.late_open_sessions] == ["2024-01-08"]
    assert stats.late_open_sessions[0]["first_bar"] == "09:34"
    assert stats.intra_session_gaps == 1 and stats.missing_bars_in_gaps == 3
    assert stats.gap_examples[0] == {
        "symbol": "X",
        "session": "2024-01-09",
        "from": "09:34",
        "to": "09:38",
        "missing_bars": 3,
    }
