"""Stored values: typed, versioned JSON for every value kept between runs that is not a frame.

- :mod:`~trader_env.storage.tagged_json`: values as JSON trees keeping their exact types
  (tuples, NaN, paths, dates, numpy arrays, frames, record classes).
- :mod:`~trader_env.storage.records`: the envelope (type tag, versions), the kinds of stored
  values and the classes they may hold, atomic writes and checked reads.
"""

from trader_env.storage.records import (
    KINDS,
    RECORD_CLASSES,
    SUFFIX,
    RecordKind,
    StoredValueError,
    dumps,
    loads,
    read_record,
    write_record,
)

__all__ = [
    "KINDS",
    "RECORD_CLASSES",
    "SUFFIX",
    "RecordKind",
    "StoredValueError",
    "dumps",
    "loads",
    "read_record",
    "write_record",
]
