"""Values as JSON trees keeping their exact types, for a fixed set of record classes: every
type round-trips exactly, and decoding builds nothing it was not given."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest
from pydantic import BaseModel

from trader_env.storage.tagged_json import DecodeError, EncodeError, conforms, decode, encode


@dataclass(frozen=True)
class Point:
    name: str
    where: tuple[float, float]
    tags: dict[str, int] = field(default_factory=dict)
    kind: Literal["a", "b"] = "a"


class Model(BaseModel):
    label: str
    values: tuple[float, ...]
    point: Point | None = None


CLASSES: dict[str, type] = {"Point": Point, "Model": Model}


def _round_trip(value: Any) -> Any:
    text = json.dumps(encode(value, CLASSES), allow_nan=False)
    return decode(json.loads(text), CLASSES)


def test_plain_and_tagged_values_round_trip_with_their_types() -> None:
    new_york = dt.datetime(2024, 3, 4, 9, 30, tzinfo=ZoneInfo("America/New_York"))
    value = {
        "plain": [1, "two", True, None, 2.5],
        "tuple": (1, (2, 3)),
        "floats": [math.inf, -math.inf],
        "keys": {1: "int key", (2, 3): "tuple key", "$dollar": "tag-like key"},
        "path": Path("/data/models/v0001.zip"),
        "day": dt.date(2024, 3, 4),
        "time": dt.time(9, 30),
        "utc": dt.datetime(2024, 3, 4, 14, 30, tzinfo=dt.UTC),
        "zoned": new_york,
        "array": np.arange(6, dtype=">i4").reshape(2, 3),
        "scalar": np.float32(1.5),
    }
    back = _round_trip(value)
    arrays = {key: back.pop(key) for key in ("array", "scalar")}
    value.pop("array"), value.pop("scalar")
    assert back == value
    assert type(back["tuple"]) is tuple and type(back["tuple"][1]) is tuple
    assert back["zoned"].tzinfo == ZoneInfo("America/New_York")
    assert arrays["array"].dtype == np.dtype(">i4") and arrays["array"].shape == (2, 3)
    assert arrays["array"].tolist() == [[0, 1, 2], [3, 4, 5]] and arrays["array"].flags.writeable
    assert type(arrays["scalar"]) is np.float32 and arrays["scalar"] == 1.5
    assert math.isnan(_round_trip(math.nan))


def test_frames_and_records_round_trip() -> None:
    frame = pl.DataFrame(
        {"ts": [dt.datetime(2024, 3, 4, 14, 30, tzinfo=dt.UTC)], "x": [1.0]},
        schema={"ts": pl.Datetime("us", "UTC"), "x": pl.Float32},
    )
    assert _round_trip(frame).equals(frame) and _round_trip(frame).schema == frame.schema
    point = Point("p", (1.0, 2.0), {"n": 3}, "b")
    model = Model(label="m", values=(1.0, math.nan), point=point)
    back = _round_trip(model)
    assert isinstance(back, Model) and back.point == point
    assert back.values[0] == 1.0 and math.isnan(back.values[1])


def test_values_without_a_stored_form_are_refused_naming_where() -> None:
    with pytest.raises(EncodeError, match=r"value\['x'\]\[1\] is a builtins.set"):
        encode({"x": [1, {2}]}, CLASSES)
    with pytest.raises(EncodeError, match="value.where is a builtins.object"):
        encode(Point("p", object()), CLASSES)  # type: ignore[arg-type]
    with pytest.raises(EncodeError, match="dtype object has no stored form"):
        encode(np.array([1, "a"], dtype=object), CLASSES)
    with pytest.raises(EncodeError, match="stored record classes: Model, Point"):
        encode(dt.timedelta(1), CLASSES)


@pytest.mark.parametrize(
    ("tree", "problem"),
    [
        ({"$record": "Popen", "fields": {"args": ["sh"]}}, "unknown record type 'Popen'"),
        ({"$import": "os.system"}, r"unknown tag '\$import'"),
        ({"$tuple": [1], "x": 2}, r"keys \['x'\] do not belong with \$tuple"),
        ({"$float": "1e309"}, r"\$float must be 'nan', 'inf' or '-inf'"),
        ({"$ndarray": {"dtype": "|O", "shape": [1], "data": ""}}, "dtype object is never stored"),
        ({"$frame": "bm90IHBhcnF1ZXQ="}, r"\$frame is not a readable Parquet frame"),
        ({"$date": "yesterday"}, r"malformed \$date \(ValueError"),
        (
            {"$record": "Point", "fields": {"name": "p", "where": [1.0, 2.0]}},
            r"value.where: a list where Point declares tuple\[float, float\]",
        ),
        (
            {"$record": "Point", "fields": {"name": "p", "when": 1}},
            r"not a Point of this version \(unknown fields \['when'\], missing \['where'\]\)",
        ),
        (
            {
                "$record": "Point",
                "fields": {"name": "p", "where": {"$tuple": [1.0, 2.0]}, "kind": "c"},
            },
            "value.kind: a str where Point declares",
        ),
        ({"$record": "Model", "fields": {"label": 3}}, "not a valid Model: .* at label"),
    ],
)
def test_a_tree_that_is_not_a_stored_value_is_refused(tree: Any, problem: str) -> None:
    with pytest.raises(DecodeError, match=problem):
        decode(tree, CLASSES)


def test_conforms_checks_annotations_all_the_way_down() -> None:
    assert conforms({"a": (1, 2.5)}, dict[str, tuple[float, ...]])
    assert not conforms({"a": (1, "x")}, dict[str, tuple[float, ...]])
    assert conforms(None, int | None) and not conforms("1", int | None)
    assert conforms(np.float64(1.0), float) and not conforms(True, Literal["a"])
