"""Fingerprints that tie every artifact to the data, config and code that produced it."""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from collections.abc import Iterable
from typing import Any

import polars as pl

from trader_env import __version__
from trader_env.paths import PROJECT_ROOT


def frame_fingerprint(frame: pl.DataFrame) -> str:
    """SHA-256 (hex, 16 chars) of a frame's column names, dtypes and values, in row order.

    Hashes the raw column buffers rather than a serialised file, so the value does not depend on
    the Parquet writer's version or compression settings.
    """
    digest = hashlib.sha256()
    for name, series in zip(frame.columns, frame.get_columns(), strict=True):
        digest.update(f"{name}:{series.dtype}".encode())
        if series.dtype == pl.String:
            digest.update("\x1f".join(series.fill_null("\x00").to_list()).encode())
        else:
            digest.update(series.to_physical().to_numpy().tobytes())
    return digest.hexdigest()[:16]


def versions_by_symbol(frame: pl.DataFrame, symbols: Iterable[str]) -> dict[str, str]:
    """:func:`frame_fingerprint` of each symbol's rows: the data version of each partition.

    A symbol's version depends on its own rows only, so refreshing one symbol leaves the others'
    versions (and everything computed from them alone) unchanged.
    """
    return {
        symbol: frame_fingerprint(frame.filter(pl.col("symbol") == symbol)) for symbol in symbols
    }


def config_fingerprint(config: Any) -> str:
    """SHA-256 (hex, 16 chars) of a pydantic model or JSON-able mapping in canonical form."""
    data = config.model_dump(mode="json") if hasattr(config, "model_dump") else config
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@functools.cache
def git_commit() -> str | None:
    """The project's current git commit (with ``-dirty`` when the tree has changes), if any."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if dirty else commit


def code_version() -> str:
    """Package version plus git commit when the code runs from a checkout."""
    commit = git_commit()
    return f"{__version__}+{commit}" if commit else __version__
