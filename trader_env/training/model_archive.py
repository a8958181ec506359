"""One zip holding several SB3 models and a manifest: the file format of the composite policies
(phase 6's regime router, an abstaining phase's file), so that each is one file that loads like any model.

The manifest names its ``algorithm``; a file is read as a composite of that algorithm only, so
one composite is never taken for another, and a plain SB3 zip (no manifest) for neither.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from trader_env.atomic import atomic_path

MANIFEST = "manifest.json"


class SavesToBuffer(Protocol):
    """An SB3 model: ``save`` writes it to a path or a binary buffer."""

    def save(self, path: io.BytesIO) -> None: ...


def write_model_archive(
    path: Path | str, manifest: Mapping[str, Any], models: Mapping[str, SavesToBuffer]
) -> Path:
    """Write ``manifest`` and each model (archive entry name -> model) to ``path`` atomically."""
    path = Path(path)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        archive.writestr(MANIFEST, json.dumps(dict(manifest), indent=2))
        for name, model in models.items():
            buffer = io.BytesIO()
            model.save(buffer)
            archive.writestr(name, buffer.getvalue())
    return path


def archive_algorithm(path: Path | str) -> str | None:
    """The algorithm a composite file's manifest names; None for anything else (a plain SB3
    zip, a file that is not a zip, a missing file)."""
    path = Path(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as archive:
        if MANIFEST not in archive.namelist():
            return None
        algorithm = json.loads(archive.read(MANIFEST)).get("algorithm")
    return algorithm if isinstance(algorithm, str) else None


def read_manifest(
    archive: zipfile.ZipFile, path: Path, algorithm: str, format_version: int
) -> dict[str, Any]:
    """The manifest of a saved ``algorithm`` composite, refusing (naming ``path``) a file
    without one, of another algorithm or of another format version."""
    try:
        manifest: dict[str, Any] = json.loads(archive.read(MANIFEST))
    except KeyError:
        raise ValueError(f"{path} is not a {algorithm} file: it has no {MANIFEST}") from None
    if manifest.get("algorithm") != algorithm or manifest.get("format") != format_version:
        raise ValueError(
            f"{path}: {MANIFEST} says algorithm {manifest.get('algorithm')!r} format "
            f"{manifest.get('format')!r}, expected {algorithm!r} format {format_version}"
        )
    return manifest


def extract_model(
    path: Path,
    algorithm: str,
    format_version: int,
    entry: Callable[[dict[str, Any]], str],
    folder: Path,
) -> Path:
    """Write the SB3 model that ``entry(manifest)`` names inside the ``algorithm`` composite
    at ``path`` into ``folder`` as a plain SB3 zip (e.g. to warm-start from it)."""
    with zipfile.ZipFile(path) as archive:
        name = entry(read_manifest(archive, path, algorithm, format_version))
        target = folder / f"{path.stem}-{name}"
        target.write_bytes(archive.read(name))
    return target
