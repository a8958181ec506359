"""Stored values: every value the pipeline keeps between runs that is not a plain frame, as a
typed, versioned JSON file (never a pickle: unpickling a file from a shared storage root would
run whatever code its writer put there).

A file holds one envelope::

    {"format": "trader_env.stored_value", "format_version": 1,
     "type": "PhaseModel", "type_version": 1, "value": <tagged JSON tree>}

``type`` names one of :data:`KINDS` and ``value`` is the value's tree
(:mod:`trader_env.storage.tagged_json`, with :data:`RECORD_CLASSES` as the only classes it may
build). Reading checks each of these and refuses, naming the file, a file that is not JSON,
not an envelope, of another format or type version, of another type than expected, or whose
value does not decode to that type. A kind's ``version`` is raised when its class changes in a
way old files cannot be read as: they are then refused and re-materialized.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trader_env.atomic import atomic_write_bytes
from trader_env.data.raw import RawBars
from trader_env.evaluation.champion_records import ChampionRecord
from trader_env.evaluation.gates import CriterionResult, GateResult
from trader_env.features.splits import Splits
from trader_env.phase_config import PhaseConfig
from trader_env.production.ledger import LedgerRow
from trader_env.production.limits import RollbackVerdict
from trader_env.production.loop import LedgerOutcome
from trader_env.storage.tagged_json import DecodeError, EncodeError, decode, encode
from trader_env.workflow.records import ChampionDecision, PhaseEvaluation, PhaseModel

FORMAT = "trader_env.stored_value"
FORMAT_VERSION = 1
#: File suffix of a stored value.
SUFFIX = ".json"


class StoredValueError(ValueError):
    """A stored value cannot be written or read; the message names the file and the problem."""


@dataclass(frozen=True)
class RecordKind:
    """A type of stored value: its name in the envelope, its Python type and layout version."""

    name: str
    type: type
    version: int = 1


#: Every kind of stored value, by name.
KINDS: dict[str, RecordKind] = {
    kind.name: kind
    for kind in (
        RecordKind("RawBars", RawBars),
        RecordKind("Splits", Splits),
        RecordKind("PhaseModel", PhaseModel),
        RecordKind("PhaseEvaluation", PhaseEvaluation),
        RecordKind("ChampionDecision", ChampionDecision),
        RecordKind("LedgerOutcome", LedgerOutcome),
        # The signal's rows and the tuning proposal are plain JSON data (see their assets).
        RecordKind("SignalRows", list),
        RecordKind("TuningProposal", dict),
    )
}

#: The classes a stored value may contain, by their stored name: nothing else is ever built.
RECORD_CLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        RawBars,
        Splits,
        PhaseConfig,
        PhaseModel,
        GateResult,
        CriterionResult,
        PhaseEvaluation,
        ChampionRecord,
        ChampionDecision,
        LedgerRow,
        RollbackVerdict,
        LedgerOutcome,
    )
}


def dumps(value: Any, kind: RecordKind) -> bytes:
    """The stored form of ``value`` (UTF-8 JSON); ``StoredValueError`` when it is not a
    ``kind`` or holds something without a stored form."""
    if not isinstance(value, kind.type):
        raise StoredValueError(
            f"a {kind.name} must be a {kind.type.__qualname__}, got {type(value).__qualname__}"
        )
    try:
        tree = encode(value, RECORD_CLASSES, kind.name)
    except EncodeError as exc:
        raise StoredValueError(str(exc)) from None
    envelope = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "type": kind.name,
        "type_version": kind.version,
        "value": tree,
    }
    return json.dumps(envelope, allow_nan=False, ensure_ascii=False).encode("utf-8")


def loads(data: bytes, kind: RecordKind, source: Path | str) -> Any:
    """The ``kind`` stored in ``data`` (the bytes of file ``source``); ``StoredValueError``
    naming ``source`` and what is wrong otherwise."""
    try:
        envelope = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoredValueError(f"{source}: not a stored value: not UTF-8 JSON ({exc})") from None
    if type(envelope) is not dict or envelope.get("format") != FORMAT:
        raise StoredValueError(f"{source}: not a stored value: no {FORMAT!r} envelope")
    if envelope.get("format_version") != FORMAT_VERSION:
        raise StoredValueError(
            f"{source}: stored value format version {envelope.get('format_version')!r}; this "
            f"version reads {FORMAT_VERSION}: re-materialize it"
        )
    found = envelope.get("type")
    if found != kind.name:
        raise StoredValueError(f"{source}: holds a {found!r}, expected a {kind.name!r}")
    if envelope.get("type_version") != kind.version:
        raise StoredValueError(
            f"{source}: a {kind.name} of layout version {envelope.get('type_version')!r}; this "
            f"version reads {kind.version}: re-materialize it"
        )
    if "value" not in envelope:
        raise StoredValueError(f"{source}: the envelope has no value")
    try:
        value = decode(envelope["value"], RECORD_CLASSES, kind.name)
    except DecodeError as exc:
        raise StoredValueError(f"{source}: {exc}") from None
    if not isinstance(value, kind.type):
        raise StoredValueError(
            f"{source}: decodes to a {type(value).__qualname__}, not a {kind.type.__qualname__}"
        )
    return value


def write_record(path: Path | str, value: Any, kind: RecordKind) -> Path:
    """Store ``value`` as a ``kind`` at ``path``, atomically (the old file or the new one)."""
    try:
        data = dumps(value, kind)
    except StoredValueError as exc:
        raise StoredValueError(f"{path}: {exc}") from None
    return atomic_write_bytes(path, data)


def read_record(path: Path | str, kind: RecordKind) -> Any:
    """The ``kind`` stored at ``path`` (``FileNotFoundError`` when there is none)."""
    return loads(Path(path).read_bytes(), kind, path)
