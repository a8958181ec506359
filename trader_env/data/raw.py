"""The first stage of loading: bars as read, with where each row came from."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from trader_env.contracts import BARS_SCHEMA

#: Raw bars: the canonical bar columns plus provenance. ``source_line`` is the 1-based line of
#: the row in ``source_file`` (header = line 1, so the first data row is line 2).
RAW_SCHEMA = pl.Schema(
    {
        **BARS_SCHEMA,
        "source_file": pl.String(),
        "source_line": pl.Int64(),
    }
)


@dataclass(frozen=True)
class RawBars:
    """Bars exactly as read from a source: not repaired, not sorted, not de-duplicated.

    ``frame`` follows :data:`RAW_SCHEMA`. ``columns`` maps each file to the column name it uses
    for each canonical field (e.g. ``{"close": "Close"}``) so that later refusals can name the
    column as the user spelled it. ``notes`` are human-readable facts about the read (quirks
    handled, blank lines skipped, symbols left out) that end up in the validation report.
    """

    source: str
    frame: pl.DataFrame
    files: tuple[str, ...]
    rows_per_file: dict[str, int]
    notes: tuple[str, ...] = ()
    columns: dict[str, dict[str, str]] = field(default_factory=dict)

    def column_name(self, file: str, canonical: str) -> str:
        """The name ``file`` uses for the canonical field ``canonical``."""
        return self.columns.get(file, {}).get(canonical, canonical)


def frame_to_raw(frame: pl.DataFrame, source: str, label: str) -> RawBars:
    """Wrap an in-memory bars frame as :class:`RawBars`; row ``i`` is reported as line ``i + 2``.

    ``label`` stands in for a file name in messages (e.g. ``<in-memory frame>``). Missing
    provenance columns are added; everything else is left to validation.
    """
    provenance = []
    if "source_file" not in frame.columns:
        provenance.append(pl.lit(label, dtype=pl.String).alias("source_file"))
    if "source_line" not in frame.columns:
        provenance.append(pl.int_range(2, pl.len() + 2, dtype=pl.Int64).alias("source_line"))
    frame = frame.with_columns(provenance)
    rows_per_file = _rows_per_file(frame)
    return RawBars(
        source=source,
        frame=frame,
        files=tuple(rows_per_file),
        rows_per_file=rows_per_file,
    )


def _rows_per_file(frame: pl.DataFrame) -> dict[str, int]:
    counts = frame.group_by("source_file", maintain_order=True).len()
    return dict(zip(counts["source_file"], counts["len"], strict=True))


def split_by_symbol(raw: RawBars, symbols: list[str]) -> dict[str, RawBars]:
    """One :class:`RawBars` per symbol (a Dagster partition each), in the order of ``symbols``.

    Every row must belong to one of ``symbols`` (:func:`~trader_env.data.read_raw_bars` keeps
    only the configured ones): a row left over would be data silently lost, so it raises
    ``ValueError``. Notes are shared; files and column spellings are narrowed to the symbol's.
    """
    parts = {}
    for symbol in symbols:
        frame = raw.frame.filter(pl.col("symbol") == symbol)
        rows_per_file = _rows_per_file(frame)
        parts[symbol] = RawBars(
            source=raw.source,
            frame=frame,
            files=tuple(rows_per_file),
            rows_per_file=rows_per_file,
            notes=raw.notes,
            columns={file: raw.columns[file] for file in rows_per_file if file in raw.columns},
        )
    assigned = sum(part.frame.height for part in parts.values())
    if assigned != raw.frame.height:
        raise ValueError(
            f"{raw.frame.height - assigned} raw rows belong to none of the symbols {symbols}"
        )
    return parts


def merge_raw(parts: list[RawBars]) -> RawBars:
    """The inverse of :func:`split_by_symbol`: one :class:`RawBars` holding every part's rows.

    Notes are de-duplicated in order (split parts share them); row counts per file add up.
    """
    if not parts:
        raise ValueError("merge_raw needs at least one part")
    frame = pl.concat([part.frame for part in parts], how="vertical")
    columns: dict[str, dict[str, str]] = {}
    for part in parts:
        columns.update(part.columns)
    rows_per_file = _rows_per_file(frame)
    return RawBars(
        source=parts[0].source,
        frame=frame,
        files=tuple(rows_per_file),
        rows_per_file=rows_per_file,
        notes=tuple(dict.fromkeys(note for part in parts for note in part.notes)),
        columns=columns,
    )
