"""Helpers that turn domain results into Dagster metadata a person can read in the UI."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import dagster as dg
import polars as pl


def table(frame: pl.DataFrame, limit: int = 10) -> dg.TableMetadataValue:
    """A Dagster table of the first ``limit`` rows of ``frame`` (values shown as text)."""
    head = frame.head(limit)
    schema = dg.TableSchema(
        columns=[dg.TableColumn(name, str(dtype)) for name, dtype in head.schema.items()]
    )
    records = [
        dg.TableRecord({name: _plain(value) for name, value in row.items()})
        for row in head.iter_rows(named=True)
    ]
    return dg.MetadataValue.table(records=records, schema=schema)


def _plain(value: Any) -> str | int | float | bool | None:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def plain_metadata(values: Mapping[str, Any]) -> dict[str, Any]:
    """Coerce a mapping of JSON-like values into metadata Dagster accepts (NaN shown as text)."""
    result: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            result[key] = str(value)
        elif isinstance(value, dict | list | tuple):
            result[key] = dg.MetadataValue.json(json_safe(value))
        else:
            result[key] = value
    return result


def json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
