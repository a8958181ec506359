"""Every input the data layer refuses: the message names file, 1-based line, column and reason."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from trader_env.data import DataConfig, DataValidationError, load_bars, validate_bars

LoadFiles = Callable[..., Any]
HEADER = "timestamp,open,high,low,close,volume"
OK_ROW = "2024-01-02 14:30:00,10,11,9,10.5,100"


def refused(load_files: LoadFiles, path: Path, **settings: object) -> DataValidationError:
    with pytest.raises(DataValidationError) as info:
        load_files(path, **settings)
    return info.value


def check_names(
    error: DataValidationError, file: Path, line: int | None, column: str | None, reason: str
) -> None:
    message = str(error)
    assert error.file == str(file) and message.startswith(str(file))
    assert error.line == line
    assert error.column == column
    if line is not None:
        assert f"line {line}," in message or f"line {line}:" in message
    if column is not None:
        assert f"column '{column}'" in message
    assert reason in error.reason and reason in message


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        # Prices: non-numeric, NaN, inf, zero, negative, empty.
        (["2024-01-02 14:30:00,10,11,9,abc,100"], "close", "not a number (got 'abc')"),
        (["2024-01-02 14:30:00,nan,11,9,10,100"], "open", "finite and > 0 (got nan)"),
        (["2024-01-02 14:30:00,10,inf,9,10,100"], "high", "finite and > 0 (got inf)"),
        (["2024-01-02 14:30:00,10,11,0,10,100"], "low", "finite and > 0 (got 0.0)"),
        (["2024-01-02 14:30:00,10,11,9,-1,100"], "close", "finite and > 0 (got -1.0)"),
        (["2024-01-02 14:30:00,10,11,9,,100"], "close", "missing value"),
        # Volume: negative, NaN.
        (["2024-01-02 14:30:00,10,11,9,10,-5"], "volume", "finite and >= 0 (got -5.0)"),
        (["2024-01-02 14:30:00,10,11,9,10,NaN"], "volume", "finite and >= 0 (got nan)"),
        # high < low.
        (["2024-01-02 14:30:00,10,9,11,10,100"], "high", "high < low (high=9.0, low=11.0)"),
        # Timestamps: unparseable, missing, day-first layouts need an explicit format.
        (["yesterday,10,11,9,10,100"], "timestamp", "cannot parse timestamp 'yesterday'"),
        ([",10,11,9,10,100"], "timestamp", "missing timestamp"),
        (["02/01/2024 14:30,10,11,9,10,100"], "timestamp", "cannot parse timestamp"),
        # A short row: the missing field is reported as a missing value.
        (["2024-01-02 14:30:00,10,11,9,10"], "volume", "missing value"),
    ],
)
def test_bad_values_name_file_line_and_column(
    load_files: LoadFiles, raw_dir: Path, row: list[str], column: str, reason: str
) -> None:
    # The bad row follows two good ones, so it is line 4 (the header is line 1).
    good = ["2024-01-02 14:28:00,10,11,9,10,100", "2024-01-02 14:29:00,10,11,9,10,100"]
    path = raw_dir / "x.csv"
    path.write_text("\n".join([HEADER, *good, *row]) + "\n")
    check_names(refused(load_files, raw_dir), path, 4, column, reason)


def test_example_message_reads_like_the_contract(load_files: LoadFiles, raw_dir: Path) -> None:
    path = raw_dir / "x.csv"
    rows = [f"2024-01-02 14:{minute:02d}:00,10,11,9,10,100" for minute in range(15)]
    rows.append("2024-01-02 15:00:00,10,11,9,-1.0,100")
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    error = refused(load_files, raw_dir)
    assert str(error) == f"{path}, line 17, column 'close': price must be finite and > 0 (got -1.0)"


def test_first_offending_row_wins_across_checks(load_files: LoadFiles, raw_dir: Path) -> None:
    path = raw_dir / "x.csv"
    rows = [
        "2024-01-02 14:30:00,10,11,9,10,100",
        "2024-01-02 14:31:00,10,11,9,10,-1",  # negative volume on line 3 ...
        "2024-01-02 14:32:00,-10,11,9,10,100",  # ... comes before the bad price on line 4
    ]
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    check_names(refused(load_files, raw_dir), path, 3, "volume", "volume must be finite")


def test_column_is_named_as_spelled_in_the_file(load_files: LoadFiles, raw_dir: Path) -> None:
    path = raw_dir / "spy.csv"
    path.write_text("Date,O,H,L,C,V\n2024-01-02 14:30:00,10,11,9,0,100\n")
    check_names(refused(load_files, raw_dir), path, 2, "C", "price must be finite and > 0")


def test_missing_required_column_names_the_header_line(
    load_files: LoadFiles, raw_dir: Path
) -> None:
    path = raw_dir / "x.csv"
    path.write_text("timestamp,open,high,low,volume\n2024-01-02 14:30:00,10,11,9,100\n")
    error = refused(load_files, raw_dir)
    check_names(error, path, 1, "close", "missing required column")
    assert "close|c" in str(error) and "'volume'" in str(error)


def test_semicolon_separated_file_gets_a_hint(load_files: LoadFiles, raw_dir: Path) -> None:
    path = raw_dir / "x.csv"
    path.write_text("timestamp;open;high;low;close;volume\n2024-01-02 14:30:00;10;11;9;10;100\n")
    error = refused(load_files, raw_dir)
    check_names(error, path, 1, "timestamp", "missing required column")
    assert "separated by ';'" in str(error)


def test_two_timestamp_candidates_are_ambiguous(load_files: LoadFiles, raw_dir: Path) -> None:
    path = raw_dir / "x.csv"
    path.write_text("Date,Time,open,high,low,close,volume\n2024-01-02,14:30,10,11,9,10,100\n")
    error = refused(load_files, raw_dir)
    check_names(error, path, 1, "Time", "all look like the 'ts' field")
    assert "files.timestamp_column" in str(error)


def test_configured_column_that_does_not_exist(load_files: LoadFiles, raw_dir: Path) -> None:
    path = raw_dir / "x.csv"
    path.write_text(f"{HEADER}\n{OK_ROW}\n")
    error = refused(load_files, raw_dir, column_map={"close": "Adj Close"})
    check_names(error, path, 1, "Adj Close", "named by files.column_map.close not found")


def test_duplicate_timestamp_names_both_lines(load_files: LoadFiles, raw_dir: Path) -> None:
    path = raw_dir / "x.csv"
    rows = [
        "2024-01-02 14:30:00,10,11,9,10,100",
        "2024-01-02 14:31:00,10,11,9,10,100",
        "2024-01-02T14:30:00Z,10,11,9,10,100",  # same instant, written differently
    ]
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    error = refused(load_files, raw_dir)
    check_names(error, path, 4, "timestamp", "duplicate timestamp 2024-01-02T14:30:00+00:00")
    assert f"first at {path}, line 2" in str(error)


def test_duplicate_across_files_names_both_files(load_files: LoadFiles, raw_dir: Path) -> None:
    first, second = raw_dir / "a.csv", raw_dir / "b.csv"
    first.write_text(f"{HEADER}\n{OK_ROW}\n")
    second.write_text(f"{HEADER}\n2024-01-02 14:29:00,10,11,9,10,100\n{OK_ROW}\n")
    error = refused(load_files, raw_dir, symbol="SPY")
    check_names(error, second, 3, "timestamp", "for symbol 'SPY'")
    assert f"first at {first}, line 2" in str(error)


def test_same_timestamp_for_two_symbols_is_fine(load_files: LoadFiles, raw_dir: Path) -> None:
    (raw_dir / "a.csv").write_text(f"{HEADER}\n{OK_ROW}\n")
    (raw_dir / "b.csv").write_text(f"{HEADER}\n{OK_ROW}\n")
    bars, _ = load_files(raw_dir)
    assert bars["symbol"].to_list() == ["A", "B"]


def test_timestamp_not_matching_the_configured_format(load_files: LoadFiles, raw_dir: Path) -> None:
    path = raw_dir / "x.csv"
    path.write_text(f"{HEADER}\n01/02/2024 09:30,10,11,9,10,100\n2024-01-02 09:31,10,11,9,10,100\n")
    error = refused(load_files, raw_dir, timestamp_format="%m/%d/%Y %H:%M")
    check_names(error, path, 3, "timestamp", "does not match files.timestamp_format")


def test_local_time_skipped_by_daylight_saving(load_files: LoadFiles, raw_dir: Path) -> None:
    path = raw_dir / "x.csv"
    path.write_text(f"{HEADER}\n2024-03-10 02:30:00,10,11,9,10,100\n")
    error = refused(load_files, raw_dir, timezone="America/New_York")
    check_names(error, path, 2, "timestamp", "does not exist or is ambiguous in America/New_York")


def test_missing_symbol_in_symbol_column(load_files: LoadFiles, raw_dir: Path) -> None:
    path = raw_dir / "x.csv"
    path.write_text(f"ticker,{HEADER}\nSPY,{OK_ROW}\n ,{OK_ROW}\n")
    check_names(refused(load_files, raw_dir), path, 3, "ticker", "missing symbol")


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        (b"", None, "file is empty"),
        (b"  \n\n", None, "file is empty"),
        (HEADER.encode() + b"\n", 1, "header but no data rows"),
        (HEADER.encode() + b"\n\n\n", 1, "header but no data rows"),
        (bytes(range(256)) * 8, None, "binary content"),
        (b"timestamp,open\n2024-01-02,\xff\xfe\n", None, "not UTF-8 text"),
        (b"PAR1\x15\x04" + bytes(64), None, "Parquet file named like a CSV"),
        (f"{HEADER}\n{OK_ROW}\n{OK_ROW},7\n".encode(), 3, "more fields than the 6 columns"),
    ],
)
def test_unreadable_csv_files(
    load_files: LoadFiles, raw_dir: Path, content: bytes, line: int | None, reason: str
) -> None:
    path = raw_dir / "x.csv"
    path.write_bytes(content)
    check_names(refused(load_files, raw_dir), path, line, None, reason)


@pytest.mark.parametrize("name", ["notes.txt", "bars.json", "bars.csv.gz", "Makefile"])
def test_unknown_file_types_are_refused(load_files: LoadFiles, raw_dir: Path, name: str) -> None:
    (raw_dir / "ok.csv").write_text(f"{HEADER}\n{OK_ROW}\n")
    (raw_dir / name).write_text("{}")
    error = refused(load_files, raw_dir)
    check_names(error, raw_dir / name, None, None, "unsupported file type")
    assert ".csv, .parquet and .pq" in str(error)


def test_hidden_files_readme_and_subfolders_are_ignored(
    load_files: LoadFiles, raw_dir: Path
) -> None:
    (raw_dir / "ok.csv").write_text(f"{HEADER}\n{OK_ROW}\n")
    (raw_dir / ".DS_Store").write_bytes(bytes(range(256)))
    (raw_dir / "README.md").write_text("# drop files here")
    (raw_dir / "archive").mkdir()
    bars, report = load_files(raw_dir)
    assert bars.height == 1
    assert any("archive" in note and "ignored" in note for note in report.notes)


def test_corrupt_parquet(load_files: LoadFiles, raw_dir: Path) -> None:
    path = raw_dir / "x.parquet"
    path.write_bytes(b"this is not parquet at all")
    check_names(refused(load_files, raw_dir), path, None, None, "not a readable Parquet file")


def test_parquet_without_rows(load_files: LoadFiles, raw_dir: Path) -> None:
    path = raw_dir / "x.parquet"
    pl.DataFrame(schema={"timestamp": pl.String, "close": pl.Float64}).write_parquet(path)
    check_names(refused(load_files, raw_dir), path, 1, None, "no data rows")


def test_parquet_bad_value_reports_row_as_line(load_files: LoadFiles, raw_dir: Path) -> None:
    path = raw_dir / "x.parquet"
    pl.DataFrame(
        {
            "timestamp": ["2024-01-02 14:30:00", "2024-01-02 14:31:00", "2024-01-02 14:32:00"],
            "open": [10.0, 10.0, 10.0],
            "high": [11.0, 11.0, 11.0],
            "low": [9.0, 9.0, 9.0],
            "close": [10.0, 10.0, -2.0],
            "volume": [1.0, 1.0, 1.0],
        }
    ).write_parquet(path)
    # Data row 3 is reported as line 4, as it would be in a CSV with a header.
    check_names(refused(load_files, raw_dir), path, 4, "close", "got -2.0")


def test_empty_folder(load_files: LoadFiles, raw_dir: Path) -> None:
    (raw_dir / "README.txt").write_text("nothing yet")
    check_names(refused(load_files, raw_dir), raw_dir, None, None, "no .csv, .parquet or .pq files")


def test_folder_not_found(load_files: LoadFiles, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    check_names(refused(load_files, missing), missing, None, None, "folder or file not found")


def test_listed_symbol_without_bars(raw_dir: Path) -> None:
    (raw_dir / "spy.csv").write_text(f"{HEADER}\n{OK_ROW}\n")
    config = DataConfig(source="files", symbols=["SPY", "QQQ"], files={"path": raw_dir})
    with pytest.raises(DataValidationError, match=r"no bars for symbol\(s\) \['QQQ'\]"):
        load_bars(config)


def test_in_memory_frame_with_naive_timestamps() -> None:
    frame = pl.DataFrame(
        {
            "symbol": ["A"],
            "ts": pl.Series([0], dtype=pl.Datetime("us")),
            **{column: [1.0] for column in ("open", "high", "low", "close", "volume")},
        }
    )
    with pytest.raises(DataValidationError, match="timezone-aware") as info:
        validate_bars(frame)
    assert info.value.column == "ts" and info.value.file == "<in-memory frame>"


def test_in_memory_frame_rows_are_reported_as_lines() -> None:
    frame = pl.DataFrame(
        {
            "symbol": ["A", "A"],
            "ts": pl.Series([0, 60_000_000], dtype=pl.Datetime("us", "UTC")),
            "open": [1.0, 1.0],
            "high": [1.0, 1.0],
            "low": [1.0, 1.0],
            "close": [1.0, float("nan")],
            "volume": [1.0, 1.0],
        }
    )
    with pytest.raises(DataValidationError) as info:
        validate_bars(frame)
    assert str(info.value) == (
        "<in-memory frame>, line 3, column 'close': price must be finite and > 0 (got nan)"
    )


def test_error_survives_pickling() -> None:
    # Dagster ships exceptions between processes.
    error = DataValidationError("price must be finite and > 0 (got -1.0)", "x.csv", 17, "close")
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.file, clone.line, clone.column, clone.reason, str(clone)) == (
        "x.csv",
        17,
        "close",
        error.reason,
        str(error),
    )
    assert isinstance(clone, ValueError)
