"""Champion registry: which model serves, which served before, and how it got there.

Layout under the storage root::

    champion/registry.json           the source of truth (current version, champions, events)
    champion/models/v0003-phase2-<sha8>.zip   immutable copies of promoted models
    champion/.lock                   serialises read-modify-write of the registry

A promotion first copies the model (temporary file + ``os.replace``) and then replaces
``registry.json`` atomically. A crash between the two leaves a model file that the JSON does
not reference: it changes nothing, and a later promotion of the same bytes reuses its name.
Model copies are never overwritten with different content: the name carries the version and a
hash of the bytes. Rolled-back champions and their files stay on disk for audit.

``demote`` is the forward ledger's rollback (``trader_env.production``): the champion that
broke a forward-risk limit stops serving, the latest earlier champion that was never demoted
serves again, or none does (``current_version`` null).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from trader_env.atomic import atomic_write_text
from trader_env.paths import storage_root

REGISTRY_DIR = "champion"
REGISTRY_FILE = "registry.json"
MODELS_DIR = "models"


class ChampionRegistryError(ValueError):
    """The registry file is unreadable or an operation is impossible (message names the file)."""


class ChampionRecord(BaseModel):
    """A model and the evidence it was promoted on.

    A candidate fills ``phase``, ``model_path``, ``test_sharpe``, ``metrics`` and ``lineage``;
    the registry fills the rest on promotion and then ``model_path`` is the registry's copy.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    phase: str = Field(description="Phase that produced the model, e.g. 'phase3'.")
    model_path: str = Field(description="Model file to load (the registry copy once promoted).")
    test_sharpe: float = Field(description="Annualised daily Sharpe on the held-out test split.")
    validation_sharpe: float | None = Field(
        default=None,
        description="Annualised daily Sharpe the model was selected on (validation split); "
        "the forward ledger's expectation. None in registries written before it was recorded.",
    )
    metrics: dict[str, float | None] = Field(
        default_factory=dict, description="Evaluation metrics on the test split (NaN as None)."
    )
    lineage: dict[str, Any] = Field(
        default_factory=dict, description="Data version, config hash, code version, seed, ..."
    )
    version: int | None = Field(
        default=None, description="Registry version, from 1; set on promotion."
    )
    previous_version: int | None = Field(
        default=None, description="Champion this one replaced when promoted (rollback target)."
    )
    promoted_at: str | None = Field(default=None, description="UTC ISO-8601 time of promotion.")
    source_model_path: str | None = Field(
        default=None, description="Where the candidate's model file was when it was promoted."
    )
    model_sha256: str | None = Field(default=None, description="SHA-256 of the model file bytes.")

    @field_validator("metrics")
    @classmethod
    def _undefined_as_none(cls, metrics: dict[str, float | None]) -> dict[str, float | None]:
        # JSON has no NaN: store undefined metrics as null so memory and disk agree.
        return {
            key: value if value is not None and math.isfinite(value) else None
            for key, value in metrics.items()
        }


class ChampionEvent(BaseModel):
    """One change of the current champion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["promoted", "rollback", "demoted"] = Field(
        description="What changed the champion ('demoted': a forward-risk limit was broken)."
    )
    at: str = Field(description="UTC ISO-8601 time of the change.")
    version: int | None = Field(
        description="Champion version current after the event (None: no champion serves)."
    )
    replaced_version: int | None = Field(description="Champion version current before it.")
    reason: str = Field(description="Why, in words (measured Sharpe values for promotions).")


class _RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format_version: Literal[1] = Field(default=1, description="Layout version of this file.")
    current_version: int | None = Field(default=None, description="Version that serves now.")
    champions: list[ChampionRecord] = Field(
        default_factory=list, description="Every promoted model, model_path relative to the folder."
    )
    events: list[ChampionEvent] = Field(default_factory=list, description="Promotions, rollbacks.")


@dataclass(frozen=True)
class PromotionDecision:
    """Outcome of :meth:`ChampionRegistry.consider`.

    ``previous`` is the champion before the decision (None if there was none); ``current`` the
    champion after it (the new record when promoted, else ``previous``).
    """

    promoted: bool
    reason: str
    previous: ChampionRecord | None
    current: ChampionRecord | None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ChampionRegistry:
    """The champion registry in ``<root>/champion`` (``root`` defaults to the storage root)."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.folder = Path(root if root is not None else storage_root()) / REGISTRY_DIR
        self.registry_path = self.folder / REGISTRY_FILE

    # -- reading -------------------------------------------------------------------------------
    def _load(self) -> _RegistryFile:
        if not self.registry_path.exists():
            return _RegistryFile()
        try:
            return _RegistryFile.model_validate_json(self.registry_path.read_bytes())
        except ValidationError as exc:
            raise ChampionRegistryError(
                f"{self.registry_path}: champion registry is corrupt or not a registry "
                f"({exc.error_count()} problem(s); first: {exc.errors()[0]['msg']} at "
                f"{'.'.join(str(p) for p in exc.errors()[0]['loc']) or 'top level'}). "
                "Restore it from a backup or remove it to start a new registry."
            ) from exc

    def _resolve(self, record: ChampionRecord) -> ChampionRecord:
        return record.model_copy(update={"model_path": str(self.folder / record.model_path)})

    def _by_version(self, state: _RegistryFile, version: int | None) -> ChampionRecord | None:
        if version is None:
            return None
        for record in state.champions:
            if record.version == version:
                return record
        raise ChampionRegistryError(
            f"{self.registry_path}: current/previous version {version} has no champion entry"
        )

    def current(self) -> ChampionRecord | None:
        """The serving champion (``model_path`` absolute), or None before the first promotion."""
        state = self._load()
        record = self._by_version(state, state.current_version)
        return None if record is None else self._resolve(record)

    def champions(self) -> list[ChampionRecord]:
        """Every model ever promoted, oldest first (``model_path`` absolute)."""
        return [self._resolve(record) for record in self._load().champions]

    def history(self) -> list[ChampionEvent]:
        """Every promotion and rollback, oldest first."""
        return list(self._load().events)

    # -- writing -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".lock", "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _save(self, state: _RegistryFile) -> None:
        atomic_write_text(self.registry_path, state.model_dump_json(indent=2) + "\n")

    def _copy_model(self, source: Path, version: int, phase: str) -> tuple[str, str]:
        """Copy ``source`` into the registry; return (path relative to the folder, sha256)."""
        sha = _sha256(source)
        relative = f"{MODELS_DIR}/v{version:04d}-{phase}-{sha[:8]}{source.suffix}"
        destination = self.folder / relative
        if destination.exists() and _sha256(destination) == sha:
            return relative, sha  # left by an interrupted promotion: identical bytes
        destination.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=destination.parent)
        os.close(fd)
        try:
            shutil.copyfile(source, tmp_name)
            os.replace(tmp_name, destination)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
        return relative, sha

    def consider(
        self,
        candidate: ChampionRecord,
        min_improvement: float = 0.0,
        champion_sharpe: float | None = None,
        measure: Callable[[ChampionRecord], float | None] | None = None,
    ) -> PromotionDecision:
        """Promote ``candidate`` if there is no champion or it beats the champion.

        Beats means ``candidate.test_sharpe > champion Sharpe + min_improvement``. The champion
        Sharpe is its recorded ``test_sharpe`` unless ``champion_sharpe`` is given: pass the
        champion re-measured on the candidate's held-out data when the test split has changed,
        so both are compared on the same days. A candidate with a non-finite Sharpe is refused.

        ``measure(champion)`` re-measures the champion serving when the lock is taken (None:
        use the other baselines). Pass it instead of ``champion_sharpe`` whenever another
        process may change the champion meanwhile: the decision is then taken against the
        champion as it is under the lock, not one that was replaced while it was measured.
        """
        if not math.isfinite(candidate.test_sharpe):
            previous = self.current()
            return PromotionDecision(
                False,
                f"candidate test Sharpe {candidate.test_sharpe} is not finite",
                previous,
                previous,
            )
        source = Path(candidate.model_path)
        if not source.is_file():
            raise ChampionRegistryError(f"{source}: candidate model file does not exist")
        with self._locked():
            state = self._load()
            stored_previous = self._by_version(state, state.current_version)
            previous = None if stored_previous is None else self._resolve(stored_previous)
            refusal = self._demoted_twin(state, source, candidate)
            if refusal is not None:
                return PromotionDecision(False, refusal, previous, previous)
            if previous is not None:
                measured = measure(previous) if measure is not None else None
                baseline = (
                    measured
                    if measured is not None
                    else previous.test_sharpe
                    if champion_sharpe is None
                    else champion_sharpe
                )
                if not candidate.test_sharpe > baseline + min_improvement:
                    return PromotionDecision(
                        False,
                        f"candidate Sharpe {candidate.test_sharpe:.4f} does not beat champion "
                        f"v{previous.version} ({baseline:.4f}) by more than {min_improvement:g}",
                        previous,
                        previous,
                    )
                reason = (
                    f"candidate Sharpe {candidate.test_sharpe:.4f} beats champion "
                    f"v{previous.version} ({baseline:.4f}) by more than {min_improvement:g}"
                )
            else:
                reason = f"first champion (Sharpe {candidate.test_sharpe:.4f})"
            version = max((record.version or 0 for record in state.champions), default=0) + 1
            relative, sha = self._copy_model(source, version, candidate.phase)
            at = _now()
            stored = candidate.model_copy(
                update={
                    "model_path": relative,
                    "version": version,
                    "previous_version": state.current_version,
                    "promoted_at": at,
                    "source_model_path": str(source.resolve()),
                    "model_sha256": sha,
                }
            )
            event = ChampionEvent(
                action="promoted",
                at=at,
                version=version,
                replaced_version=state.current_version,
                reason=reason,
            )
            self._save(
                _RegistryFile(
                    current_version=version,
                    champions=[*state.champions, stored],
                    events=[*state.events, event],
                )
            )
        return PromotionDecision(True, reason, previous, self._resolve(stored))

    def _demoted_twin(
        self, state: _RegistryFile, source: Path, candidate: ChampionRecord
    ) -> str | None:
        """Why ``candidate`` may not serve: it is the model of a demoted champion again, or None.

        Retraining on unchanged training data (the nightly run after new days arrive: the
        training split is fixed by date) reproduces the same policy in a file with other
        bytes (SB3 stores run metadata). The same model is recognised by identical bytes, or
        by the same phase, config hash and seed with the very same validation Sharpe (a
        deterministic backtest of the same policy on the same days gives the same float).
        """
        demoted = {e.replaced_version: e for e in state.events if e.action == "demoted"}
        if not demoted:
            return None
        sha = _sha256(source)
        keys = ("config_hash", "seed")
        for record in state.champions:
            event = demoted.get(record.version)
            if event is None:
                continue
            same_policy = (
                record.phase == candidate.phase
                and record.validation_sharpe is not None
                and record.validation_sharpe == candidate.validation_sharpe
                and all(record.lineage.get(k) == candidate.lineage.get(k) for k in keys)
            )
            if record.model_sha256 == sha or same_policy:
                return (
                    f"candidate is the model of champion v{record.version} again (same "
                    f"{'bytes' if record.model_sha256 == sha else 'phase, config, seed and validation Sharpe'}"
                    f"), demoted at {event.at}: {event.reason}"
                )
        return None

    def rollback(self, reason: str = "manual rollback") -> ChampionRecord:
        """Make the champion that the current one replaced serve again, and return it.

        Repeated rollbacks walk back through the chain of promotions. Raises
        :class:`ChampionRegistryError` when there is no champion or no previous one.
        """
        with self._locked():
            state = self._load()
            current = self._by_version(state, state.current_version)
            if current is None:
                raise ChampionRegistryError(f"{self.registry_path}: no champion to roll back")
            target = self._by_version(state, current.previous_version)
            if target is None:
                raise ChampionRegistryError(
                    f"{self.registry_path}: champion v{current.version} has no previous champion"
                )
            event = ChampionEvent(
                action="rollback",
                at=_now(),
                version=target.version,
                replaced_version=current.version,
                reason=reason,
            )
            self._save(
                state.model_copy(
                    update={"current_version": target.version, "events": [*state.events, event]}
                )
            )
        return self._resolve(target)

    def demote(self, reason: str, version: int | None = None) -> ChampionRecord | None:
        """Take the serving champion out of service and return the one serving afterwards.

        Walks back the chain of promotions to the latest earlier champion that was never
        demoted itself; with none left, no champion serves (``current()`` returns None). The
        decision is taken under the registry lock against the champion as it is then: with
        ``version`` given, nothing happens unless that version still serves (another process
        may have promoted or demoted in between), and the current champion is returned.
        """
        with self._locked():
            state = self._load()
            current = self._by_version(state, state.current_version)
            if current is None or (version is not None and current.version != version):
                return None if current is None else self._resolve(current)
            demoted = {
                event.replaced_version for event in state.events if event.action == "demoted"
            }
            demoted.add(current.version)
            target = self._by_version(state, current.previous_version)
            while target is not None and target.version in demoted:
                target = self._by_version(state, target.previous_version)
            new_version = None if target is None else target.version
            event = ChampionEvent(
                action="demoted",
                at=_now(),
                version=new_version,
                replaced_version=current.version,
                reason=reason,
            )
            self._save(
                state.model_copy(
                    update={"current_version": new_version, "events": [*state.events, event]}
                )
            )
        return None if target is None else self._resolve(target)
