"""Python values as JSON trees that keep their exact types, for a fixed set of record classes.

JSON has no tuples, NaN, paths, dates, arrays or frames, and a mapping's keys are strings; a
plain ``json.dumps`` would hand back lists for tuples and strings for everything else. Each of
those is written as a one-key object whose key starts with ``$``:

=====================  =====================================================================
``{"$float": "nan"}``  a non-finite float (``nan``, ``inf``, ``-inf``)
``{"$tuple": [...]}``  a tuple
``{"$dict": [[k, v]]}``  a mapping whose keys are not all strings, or one that starts with ``$``
``{"$path": "..."}``   a ``pathlib.Path``
``{"$date": iso}``     a date; ``$time`` a time of day; ``$datetime`` a datetime (ISO 8601 with
                       its UTC offset, plus ``zone``, the IANA key, when it has one)
``{"$ndarray": {...}}``  a numpy array: ``dtype`` (byte order included), ``shape``, ``data``
                       (base64 of the C-order bytes); ``$numpy`` a numpy scalar, same fields
``{"$frame": b64}``    a polars frame, as base64 of its Parquet bytes (schema included)
``{"$record": name, "fields": {...}}``  an instance of one of the record classes the caller
                       names (a dataclass or a pydantic model), field by field
=====================  =====================================================================

Decoding builds nothing but those types and the record classes it is given, so a stored file
cannot make it import or run anything. A dataclass's fields are checked against its
annotations; a pydantic model is validated by pydantic.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import io
import math
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import polars as pl
from pydantic import BaseModel, ValidationError

TAG = "$"
_PLAIN = (str, int, bool, type(None))


class EncodeError(TypeError):
    """A value has no stored form; the message names where in the value it sits."""


class DecodeError(ValueError):
    """A JSON tree is not the stored form of a value; the message names where and what."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def encode(value: Any, classes: Mapping[str, type], where: str = "value") -> Any:
    """The JSON tree of ``value`` (``json.dumps`` writes it without ``allow_nan``).

    ``classes``: the record classes that may appear, by their stored name. ``where``
    names the value in error messages. Raises :class:`EncodeError` for anything else.
    """
    names = {cls: name for name, cls in classes.items()}
    return _encode(value, names, where)


def _encode(value: Any, names: Mapping[type, str], where: str) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is float:
        return value if math.isfinite(value) else {"$float": repr(value)}
    if kind is list:
        return [_encode(item, names, f"{where}[{i}]") for i, item in enumerate(value)]
    if kind is tuple:
        return {"$tuple": [_encode(item, names, f"{where}[{i}]") for i, item in enumerate(value)]}
    if kind is dict:
        return _encode_dict(value, names, where)
    if kind in names:
        return _encode_record(value, names[kind], names, where)
    if isinstance(value, Path):
        return {"$path": str(value)}
    if kind is dt.datetime:
        stamp: dict[str, Any] = {"$datetime": value.isoformat()}
        if isinstance(value.tzinfo, ZoneInfo):
            stamp["zone"] = value.tzinfo.key
        return stamp
    if kind is dt.date:
        return {"$date": value.isoformat()}
    if kind is dt.time:
        return {"$time": value.isoformat()}
    if kind is np.ndarray or isinstance(value, np.generic):
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise EncodeError(f"{where}: a numpy value of dtype object has no stored form")
        data = _b64(array.tobytes(order="C"))
        fields = {"dtype": array.dtype.str, "shape": list(array.shape), "data": data}
        return {"$ndarray" if kind is np.ndarray else "$numpy": fields}
    if kind is pl.DataFrame:
        buffer = io.BytesIO()
        value.write_parquet(buffer, statistics=False)
        return {"$frame": _b64(buffer.getvalue())}
    raise EncodeError(
        f"{where} is a {kind.__module__}.{kind.__qualname__}, which has no stored form "
        f"(stored record classes: {', '.join(sorted(names.values()))})"
    )


def _encode_dict(value: dict[Any, Any], names: Mapping[type, str], where: str) -> Any:
    if all(type(key) is str and not key.startswith(TAG) for key in value):
        return {key: _encode(item, names, f"{where}[{key!r}]") for key, item in value.items()}
    return {
        "$dict": [
            [_encode(key, names, f"{where} key {key!r}"), _encode(item, names, f"{where}[{key!r}]")]
            for key, item in value.items()
        ]
    }


def _encode_record(value: Any, name: str, names: Mapping[type, str], where: str) -> Any:
    if isinstance(value, BaseModel):
        # Python mode keeps tuples, dates and NaN as they are; this module writes them.
        fields = value.model_dump(mode="python", round_trip=True)
    else:
        fields = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    return {
        "$record": name,
        "fields": {key: _encode(item, names, f"{where}.{key}") for key, item in fields.items()},
    }


def decode(tree: Any, classes: Mapping[str, type], where: str = "value") -> Any:
    """The value whose :func:`encode` is ``tree``; raises :class:`DecodeError` naming the
    place (``where`` and the path inside) and what is wrong."""
    return _decode(tree, classes, where)


def _decode(tree: Any, classes: Mapping[str, type], where: str) -> Any:
    kind = type(tree)
    if kind in _PLAIN or kind is float:
        return tree
    if kind is list:
        return [_decode(item, classes, f"{where}[{i}]") for i, item in enumerate(tree)]
    if kind is not dict:
        raise DecodeError(f"{where}: {kind.__name__} is not a JSON value")
    tags = [key for key in tree if key.startswith(TAG)]
    if not tags:
        return {key: _decode(item, classes, f"{where}[{key!r}]") for key, item in tree.items()}
    tag = tags[0]
    decoder = _DECODERS.get(tag)
    if decoder is None:
        raise DecodeError(f"{where}: unknown tag {tag!r}")
    extra = sorted(set(tree) - {tag} - _COMPANIONS.get(tag, set()))
    if extra:
        raise DecodeError(f"{where}: keys {extra} do not belong with {tag}")
    try:
        return decoder(tree, classes, where)
    except DecodeError:
        raise
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise DecodeError(f"{where}: malformed {tag} ({type(exc).__name__}: {exc})") from None


def _decode_float(tree: dict[str, Any], classes: Mapping[str, type], where: str) -> float:
    text = tree["$float"]
    if text not in ("nan", "inf", "-inf"):
        raise DecodeError(f"{where}: $float must be 'nan', 'inf' or '-inf', got {text!r}")
    return float(text)


def _decode_tuple(tree: dict[str, Any], classes: Mapping[str, type], where: str) -> tuple[Any, ...]:
    items = tree["$tuple"]
    if type(items) is not list:
        raise DecodeError(f"{where}: $tuple must hold a list")
    return tuple(_decode(item, classes, f"{where}[{i}]") for i, item in enumerate(items))


def _decode_dict(tree: dict[str, Any], classes: Mapping[str, type], where: str) -> dict[Any, Any]:
    result = {}
    for pair in tree["$dict"]:
        key, item = pair  # a [key, value] pair
        decoded = _decode(key, classes, f"{where} key")
        result[decoded] = _decode(item, classes, f"{where}[{decoded!r}]")
    return result


def _decode_datetime(tree: dict[str, Any], classes: Mapping[str, type], where: str) -> dt.datetime:
    stamp = dt.datetime.fromisoformat(tree["$datetime"])
    if "zone" not in tree:
        return stamp
    try:
        return stamp.astimezone(ZoneInfo(tree["zone"]))
    except ZoneInfoNotFoundError:
        raise DecodeError(f"{where}: unknown time zone {tree['zone']!r}") from None


def _decode_array(tree: dict[str, Any], classes: Mapping[str, type], where: str) -> Any:
    scalar = "$numpy" in tree
    fields = tree["$numpy" if scalar else "$ndarray"]
    dtype = np.dtype(fields["dtype"])
    if dtype.hasobject:
        raise DecodeError(f"{where}: numpy dtype object is never stored")
    array = np.frombuffer(base64.b64decode(fields["data"], validate=True), dtype=dtype)
    array = array.reshape(fields["shape"]).copy()  # writable, owning its memory
    return array[()] if scalar else array


def _decode_frame(tree: dict[str, Any], classes: Mapping[str, type], where: str) -> pl.DataFrame:
    data = base64.b64decode(tree["$frame"], validate=True)
    try:
        return pl.read_parquet(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - polars raises several types for a broken file
        raise DecodeError(f"{where}: $frame is not a readable Parquet frame ({exc})") from None


def _decode_record(tree: dict[str, Any], classes: Mapping[str, type], where: str) -> Any:
    name, raw = tree["$record"], tree["fields"]
    cls = classes.get(name)
    if cls is None:
        raise DecodeError(f"{where}: unknown record type {name!r}")
    if type(raw) is not dict:
        raise DecodeError(f"{where}: the fields of {name} must be an object")
    fields = {key: _decode(item, classes, f"{where}.{key}") for key, item in raw.items()}
    if issubclass(cls, BaseModel):
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            first = exc.errors()[0]
            location = ".".join(str(part) for part in first["loc"]) or "top level"
            raise DecodeError(
                f"{where}: not a valid {name}: {first['msg']} at {location}"
            ) from None
    return _dataclass(cls, name, fields, where)


def _dataclass(cls: type, name: str, fields: dict[str, Any], where: str) -> Any:
    declared = {field.name: field for field in dataclasses.fields(cls)}
    unknown = sorted(set(fields) - set(declared))
    missing = sorted(
        key
        for key, field in declared.items()
        if key not in fields
        and field.default is dataclasses.MISSING
        and field.default_factory is dataclasses.MISSING
    )
    if unknown or missing:
        raise DecodeError(
            f"{where}: not a {name} of this version (unknown fields {unknown}, missing {missing})"
        )
    hints = typing.get_type_hints(cls)
    for key, item in fields.items():
        if not conforms(item, hints[key]):
            raise DecodeError(
                f"{where}.{key}: a {type(item).__name__} where {name} declares {hints[key]}"
            )
    return cls(**fields)


def conforms(value: Any, hint: Any) -> bool:
    """Whether ``value`` has the type annotation ``hint`` (Any, unions, Literal, tuples,
    lists, dicts, classes; an int is accepted as a float), checked all the way down."""
    if hint is Any:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        return any(conforms(value, arg) for arg in args)
    if origin is typing.Literal:
        return value in args
    if origin is tuple:
        if type(value) is not tuple:
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(conforms(item, args[0]) for item in value)
        if not args:
            return True
        return len(args) == len(value) and all(
            conforms(item, arg) for item, arg in zip(value, args, strict=True)
        )
    if origin is list:
        return type(value) is list and all(conforms(item, args[0]) for item in value)
    if origin is dict:
        return type(value) is dict and all(
            conforms(key, args[0]) and conforms(item, args[1]) for key, item in value.items()
        )
    if hint is float:
        return type(value) in (float, int) or isinstance(value, np.floating)
    if origin is not None:
        return isinstance(value, origin)
    return isinstance(value, hint)


#: Keys that go with a tag in the same object (every other tag stands alone).
_COMPANIONS = {"$datetime": {"zone"}, "$record": {"fields"}}

_DECODERS: dict[str, Callable[[dict[str, Any], Mapping[str, type], str], Any]] = {
    "$float": _decode_float,
    "$tuple": _decode_tuple,
    "$dict": _decode_dict,
    "$path": lambda tree, classes, where: Path(tree["$path"]),
    "$date": lambda tree, classes, where: dt.date.fromisoformat(tree["$date"]),
    "$time": lambda tree, classes, where: dt.time.fromisoformat(tree["$time"]),
    "$datetime": _decode_datetime,
    "$ndarray": _decode_array,
    "$numpy": _decode_array,
    "$frame": _decode_frame,
    "$record": _decode_record,
}
