"""Whether a champion's model file still holds the bytes that were promoted.

The registry records the SHA-256 of every model it promotes. Loading an SB3 zip unpickles
parts of it (cloudpickle), so a file replaced after promotion could run code in every process
that serves it: a serving load first reads the file, hashes those bytes and loads only them
(:func:`trader_env.workflow.serving.load_champion_policy`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

#: Bytes hashed per read when hashing a file (1 MiB).
_BLOCK = 1 << 20
#: Words of every refusal (after the file's path): how a refusal is told from other reasons.
REFUSED = "model file refused"


class ModelIntegrityError(ValueError):
    """A model file is missing or is not the file that was promoted.

    ``path``: the file; ``expected``: the SHA-256 the registry recorded (None: none was);
    ``found``: the SHA-256 of the file now (None: the file is missing).
    """

    def __init__(self, path: Path, expected: str | None, found: str | None) -> None:
        self.path, self.expected, self.found = path, expected, found
        if found is None:
            problem = "the file is missing"
        elif expected is None:
            problem = f"the registry recorded no SHA-256 for it (found {found})"
        else:
            problem = (
                f"its SHA-256 is {found}, the registry recorded {expected} at promotion: the "
                "file was replaced or altered after promotion"
            )
        super().__init__(f"{path}: {REFUSED}: {problem}")


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path | str) -> str:
    """Hex SHA-256 of the file at ``path``, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_model_bytes(path: Path | str, expected: str | None) -> bytes:
    """The bytes of the model file at ``path`` if their SHA-256 is ``expected``.

    Raises :class:`ModelIntegrityError` (naming the file and both hashes) when the file is
    missing, no hash was recorded or the bytes differ. The bytes are returned rather than a
    verdict so that what is loaded is what was checked, whatever happens to the file after.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelIntegrityError(path, expected, None) from None
    found = sha256_bytes(data)
    if expected is None or found != expected:
        raise ModelIntegrityError(path, expected, found)
    return data
