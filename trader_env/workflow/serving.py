"""What serves: the champion whose model file is the file that was promoted, and its policy.

Every load of a champion's model (signal, forward ledger, promotion's re-measurement, the
live replay's runs, a champion restored by a rollback or a demotion) goes through
:func:`load_champion_policy`: the file is read once, its SHA-256 checked against the
registry's, and those bytes are what is loaded, never the path again (what is checked is what
runs, whatever happens to the file meanwhile). A champion whose file does not verify is
refused: it is demoted, with the file and both hashes as the registry event's reason, and the
champion before it is tried, which serves only if its own file verifies. With none left, no
champion serves.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from trader_env.evaluation.backtest_result import Policy
from trader_env.evaluation.champion import ChampionRegistry
from trader_env.evaluation.champion_records import ChampionRecord
from trader_env.evaluation.model_integrity import (
    REFUSED,
    ModelIntegrityError,
    verified_model_bytes,
)
from trader_env.workflow.training import load_policy

if TYPE_CHECKING:  # SB3 and torch load lazily, as in trader_env.workflow.training
    from stable_baselines3.common.base_class import BaseAlgorithm

#: Algorithms whose saved file is a composite zip that its class opens from a path.
COMPOSITES = ("RegimeRouter", "Abstain")


def load_champion_policy(record: ChampionRecord) -> Policy:
    """The policy of the promoted ``record``, loaded from bytes whose SHA-256 is the one the
    registry recorded.

    Raises :class:`~trader_env.evaluation.model_integrity.ModelIntegrityError` (file, expected
    and found hash) when the file is missing or changed, and ``ValueError`` when the record's
    lineage names no algorithm.
    """
    path = Path(record.model_path)
    algorithm = record.lineage.get("algorithm")
    if not isinstance(algorithm, str):
        raise ValueError(f"champion v{record.version} ({path}): its lineage names no algorithm")
    data = verified_model_bytes(path, record.model_sha256)
    return policy_from_bytes(algorithm, data, path.name)


def policy_from_bytes(algorithm: str, data: bytes, name: str = "model.zip") -> Policy:
    """The policy of algorithm ``algorithm`` saved as the zip ``data`` (``name``: the file it
    came from, for messages), on the CPU.

    SB3's own algorithms load from an in-memory buffer. The composite files (phase 6's
    ``RegimeRouter``, an abstaining phase's ``Abstain``) open their zip from a path, so their
    bytes are written into a new folder only this user may enter (``TemporaryDirectory``
    creates it with mode 0700), loaded from there and deleted: a writer of the storage root
    cannot swap that file between the write and the load.
    """
    from trader_env.training import algorithm_class

    if algorithm not in COMPOSITES:
        sb3 = cast("type[BaseAlgorithm]", algorithm_class(algorithm))
        return sb3.load(io.BytesIO(data), device="cpu")
    with tempfile.TemporaryDirectory(prefix="champion-") as folder:
        private = Path(folder) / name
        private.write_bytes(data)
        return load_policy(algorithm, private)


@dataclass(frozen=True)
class Serving:
    """The champion that serves and its policy (both None when none serves).

    ``refused``: one sentence per champion refused on the way (its file did not verify and it
    was demoted), oldest first.
    """

    champion: ChampionRecord | None
    policy: Policy | None
    refused: tuple[str, ...] = ()


def _refuse(registry: ChampionRegistry, champion: ChampionRecord, error: Exception) -> str:
    """Demote ``champion`` for ``error``; the sentence saying so and what the registry serves
    afterwards."""
    reason = f"champion v{champion.version} ({champion.phase}) refused: {error}"
    after = registry.demote(reason, version=champion.version)
    if after is None:
        return f"{reason}; no earlier champion is left to serve"
    return f"{reason}; falling back to v{after.version} ({after.phase}) if its file verifies"


def verified_champion(storage: Path) -> tuple[ChampionRecord | None, tuple[str, ...]]:
    """The serving champion once every champion whose model file does not verify has been
    refused (see the module docstring), and the refusals; hashes files, loads nothing."""
    registry = ChampionRegistry(storage)
    refused = []
    champion = registry.current()
    while champion is not None:
        try:
            verified_model_bytes(champion.model_path, champion.model_sha256)
        except ModelIntegrityError as exc:
            refused.append(_refuse(registry, champion, exc))
            champion = registry.current()
            continue
        break
    return champion, tuple(refused)


def serving_champion(storage: Path) -> Serving:
    """The serving champion under ``storage`` and its policy, after refusing every champion
    whose model file does not verify."""
    refused: list[str] = []
    while True:
        champion, more = verified_champion(storage)
        refused.extend(more)
        if champion is None:
            return Serving(None, None, tuple(refused))
        try:
            return Serving(champion, load_champion_policy(champion), tuple(refused))
        except ModelIntegrityError as exc:  # the file changed after it verified
            refused.append(_refuse(ChampionRegistry(storage), champion, exc))


def refused_all(storage: Path) -> str | None:
    """The registry's reason when no champion serves because the last one left was refused
    (its model file did not verify), else None: a state only a new promotion ends."""
    registry = ChampionRegistry(storage)
    history = registry.history()
    if not history or registry.current() is not None:
        return None
    last = history[-1]
    return last.reason if last.action == "demoted" and f": {REFUSED}: " in last.reason else None


@contextmanager
def champion_model_copy(storage: Path, phase: str) -> Iterator[Path | None]:
    """A private copy of the serving champion's verified model file when the champion is a
    model of ``phase`` (retraining continues from it), else None; removed on exit.

    Training loads a warm start with SB3, which unpickles parts of the file, so it gets the
    bytes that verified, written where only this user may enter, never the registry's path.
    Champions that do not verify are refused on the way, as for serving.
    """
    champion, _ = verified_champion(storage)
    if champion is None or champion.phase != phase:
        yield None
        return
    data = verified_model_bytes(champion.model_path, champion.model_sha256)
    with tempfile.TemporaryDirectory(prefix="champion-") as folder:
        private = Path(folder) / Path(champion.model_path).name
        private.write_bytes(data)
        yield private
