"""Atomic file writes: a reader sees the old file or the complete new one, never a torn one.

Artifacts (bars, models, reports) are written to a temporary file in the destination folder and
moved into place with ``os.replace``, which is atomic on POSIX within one file system. A run that
fails or is killed half way leaves only a ``.tmp-*`` file behind, never a broken artifact.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(destination: Path | str) -> Iterator[Path]:
    """Yield a temporary path next to ``destination``; on success move it into place.

    On an exception the temporary file is removed and ``destination`` is untouched.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".tmp-{destination.name}-", suffix=destination.suffix, dir=destination.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, destination)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(destination: Path | str, data: bytes) -> Path:
    """Write ``data`` to ``destination`` atomically and return the destination path."""
    with atomic_path(destination) as tmp:
        tmp.write_bytes(data)
    return Path(destination)


def atomic_write_text(destination: Path | str, text: str) -> Path:
    """Write UTF-8 ``text`` to ``destination`` atomically and return the destination path."""
    return atomic_write_bytes(destination, text.encode("utf-8"))


@contextlib.contextmanager
def locked(folder: Path | str) -> Iterator[None]:
    """Hold an exclusive lock on ``<folder>/.lock`` (created if missing) for the block.

    Serialises read-modify-write of files in ``folder`` across processes (``fcntl.flock``; the
    lock is released when the process dies, so a killed writer never leaves it held).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
