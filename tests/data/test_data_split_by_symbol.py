"""Raw bars split into one part per symbol (a Dagster partition each) and merged back."""

from __future__ import annotations

from pathlib import Path

import pytest

from trader_env.data import (
    DataConfig,
    merge_raw,
    read_raw_bars,
    split_by_symbol,
    validate_bars,
)


def _write(folder: Path, name: str, rows: list[str], header: str = "timestamp,symbol,o,h,l,c,v"):
    (folder / name).write_text("\n".join([header, *rows]) + "\n")


@pytest.fixture
def two_files(raw_dir: Path) -> DataConfig:
    _write(
        raw_dir,
        "mixed.csv",
        [
            "2024-03-04T14:30:00Z,AAA,10,11,9,10.5,100",
            "2024-03-04T14:30:00Z,BBB,20,21,19,20.5,100",
            "2024-03-04T14:31:00Z,AAA,10,11,9,10.6,100",
        ],
    )
    _write(
        raw_dir,
        "bbb_more.csv",
        ["2024-03-04T14:31:00Z,BBB,20,21,19,20.6,100"],
        header="Timestamp,Symbol,Open,High,Low,Close,Volume",
    )
    return DataConfig(source="files", symbols=["AAA", "BBB"], files={"path": raw_dir})


def test_each_part_holds_one_symbol_with_its_own_files_and_lines(two_files) -> None:
    raw = read_raw_bars(two_files)
    parts = split_by_symbol(raw, ["AAA", "BBB"])
    assert list(parts) == ["AAA", "BBB"]
    aaa, bbb = parts["AAA"], parts["BBB"]
    assert aaa.frame["symbol"].unique().to_list() == ["AAA"]
    assert [Path(f).name for f in aaa.files] == ["mixed.csv"]
    assert aaa.frame["source_line"].to_list() == [2, 4], "lines of the original file"
    assert sorted(Path(f).name for f in bbb.files) == ["bbb_more.csv", "mixed.csv"]
    assert sum(bbb.rows_per_file.values()) == 2
    more = next(f for f in bbb.files if f.endswith("bbb_more.csv"))
    assert bbb.column_name(more, "close") == "Close", "the user's spelling survives the split"


def test_merge_inverts_split_and_validates_to_the_same_bars(two_files) -> None:
    raw = read_raw_bars(two_files)
    merged = merge_raw(list(split_by_symbol(raw, ["AAA", "BBB"]).values()))
    assert sum(merged.rows_per_file.values()) == raw.frame.height
    assert merged.notes == raw.notes
    whole, _ = validate_bars(raw, "America/New_York")
    again, _ = validate_bars(merged, "America/New_York")
    assert again.equals(whole)


def test_rows_of_an_unrequested_symbol_are_refused_not_dropped(two_files) -> None:
    raw = read_raw_bars(two_files)
    with pytest.raises(ValueError, match="2 raw rows belong to none of the symbols"):
        split_by_symbol(raw, ["AAA"])


def test_merge_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one part"):
        merge_raw([])
