"""Tampered model files: an SB3 zip whose loading runs code, as a writer of the storage root
could make one (SB3's ``load`` unpickles parts of the zip with cloudpickle)."""

from __future__ import annotations

import base64
import io
import json
import pickle
import zipfile
from pathlib import Path

from trader_env.evaluation.model_integrity import file_sha256


class _TouchOnLoad:
    """Unpickles as ``Path(marker).touch()``: code that runs when the pickle is loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def booby_trapped(model: Path, marker: Path) -> bytes:
    """The bytes of SB3 zip ``model`` with one more pickled attribute, which creates
    ``marker`` when SB3 loads the file (the model loads as before otherwise)."""
    source = io.BytesIO(model.read_bytes())
    target = io.BytesIO()
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as trapped:
        for item in original.infolist():
            content = original.read(item)
            if item.filename == "data":
                data = json.loads(content)
                payload = pickle.dumps(_TouchOnLoad(marker), protocol=4)
                data["trap"] = {":serialized:": base64.b64encode(payload).decode()}
                content = json.dumps(data).encode()
            trapped.writestr(item, content)
    return target.getvalue()


def replace_model(path: Path, marker: Path) -> str:
    """Replace the model file at ``path`` (a registry copy) by its booby-trapped twin, as an
    attacker with write access to the storage root would; the new file's SHA-256."""
    path.write_bytes(booby_trapped(path, marker))
    return file_sha256(path)
