"""Champion registry: which model serves, which served before, and how it got there.

Layout under the storage root::

    champion/registry.json           the source of truth (current version, champions, events)
    champion/models/v0003-phase2-<sha8>.zip   immutable copies of promoted models
    champion/.lock                   serialises read-modify-write of the registry

A promotion first copies the model (temporary file + ``os.replace``) and then replaces
``registry.json`` atomically. A crash between the two leaves a model file that the JSON does
not reference: it changes nothing, and a later promotion of the same bytes reuses its name.
Model copies are never overwritten with different content: the name carries the version and a
hash of the bytes, and the copy is checked against that hash before it is moved into place.
Rolled-back champions and their files stay on disk for audit. Every record keeps the SHA-256 of
its model, which serving checks before each load (:mod:`~trader_env.evaluation.model_integrity`).

The promotion rule (honest promotion) lives in :mod:`~trader_env.evaluation.promotion`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import shutil
from pathlib import Path

from pydantic import ValidationError

from trader_env.atomic import atomic_path, atomic_write_text, locked
from trader_env.evaluation.champion_records import (
    ChampionEvent,
    ChampionRecord,
    ExternalTrials,
    RegistryFile,
    SharpeEvidence,
    TrialRecord,
)
from trader_env.evaluation.model_integrity import file_sha256, verified_model_bytes
from trader_env.evaluation.promotion import (
    PromotionDecision,
    baseline,
    deflated,
    demoted_twin,
    refusal_reason,
    trial_count,
)
from trader_env.paths import storage_root

REGISTRY_DIR = "champion"
REGISTRY_FILE = "registry.json"
MODELS_DIR = "models"

# Record types and the decision are part of this module's interface (callers import them here).
__all__ = [
    "MODELS_DIR",
    "REGISTRY_DIR",
    "REGISTRY_FILE",
    "ChampionEvent",
    "ChampionRecord",
    "ChampionRegistry",
    "ChampionRegistryError",
    "ExternalTrials",
    "PromotionDecision",
    "SharpeEvidence",
    "TrialRecord",
]


class ChampionRegistryError(ValueError):
    """The registry file is unreadable or an operation is impossible (message names the file)."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class ChampionRegistry:
    """The champion registry in ``<root>/champion`` (``root`` defaults to the storage root)."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.folder = Path(root if root is not None else storage_root()) / REGISTRY_DIR
        self.registry_path = self.folder / REGISTRY_FILE

    # -- reading -------------------------------------------------------------------------------
    def _load(self) -> RegistryFile:
        if not self.registry_path.exists():
            return RegistryFile()
        try:
            return RegistryFile.model_validate_json(self.registry_path.read_bytes())
        except ValidationError as exc:
            raise ChampionRegistryError(
                f"{self.registry_path}: champion registry is corrupt or not a registry "
                f"({exc.error_count()} problem(s); first: {exc.errors()[0]['msg']} at "
                f"{'.'.join(str(p) for p in exc.errors()[0]['loc']) or 'top level'}). "
                "Restore it from a backup or remove it to start a new registry."
            ) from exc

    def _resolve(self, record: ChampionRecord) -> ChampionRecord:
        return record.model_copy(update={"model_path": str(self.folder / record.model_path)})

    def _by_version(self, state: RegistryFile, version: int | None) -> ChampionRecord | None:
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
    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return locked(self.folder)

    def _save(self, state: RegistryFile) -> None:
        atomic_write_text(self.registry_path, state.model_dump_json(indent=2) + "\n")

    def _copy_model(self, source: Path, sha: str, version: int, phase: str) -> str:
        """Copy ``source``, whose bytes were judged with SHA-256 ``sha``, into the registry;
        return the copy's path relative to the folder."""
        relative = f"{MODELS_DIR}/v{version:04d}-{phase}-{sha[:8]}{source.suffix}"
        destination = self.folder / relative
        if destination.exists() and file_sha256(destination) == sha:
            return relative  # left by an interrupted promotion: identical bytes
        with atomic_path(destination) as tmp:
            shutil.copyfile(source, tmp)
            if file_sha256(tmp) != sha:  # the candidate changed after it was judged
                raise ChampionRegistryError(
                    f"{source}: candidate model file changed since it was judged; not promoted"
                )
        return relative

    def trials(self) -> list[TrialRecord]:
        """Every distinct candidate judged for promotion, oldest first."""
        return list(self._load().trials)

    def external_trials(self) -> list[ExternalTrials]:
        """Every search outside promotion that reported its trial count, oldest first."""
        return list(self._load().external_trials)

    def trial_count(self) -> int:
        """Trials the deflated Sharpe ratio counts: candidates judged plus external trials."""
        return trial_count(self._load())

    def record_external_trials(self, source: str, phase: str, n_trials: int) -> int:
        """Count ``n_trials`` configurations tried by ``source`` (unique per search: reporting
        the same source again replaces its count) in every later deflated Sharpe ratio, and
        return the new total :meth:`trial_count`."""
        if n_trials < 0:
            raise ValueError(f"n_trials must be >= 0, got {n_trials}")
        entry = ExternalTrials(at=_now(), source=source, phase=phase, n_trials=n_trials)
        with self._locked():
            state = self._load()
            others = [item for item in state.external_trials if item.source != source]
            state = state.model_copy(update={"external_trials": [*others, entry]})
            self._save(state)
        return trial_count(state)

    def consider(
        self,
        candidate: ChampionRecord,
        evidence: SharpeEvidence,
        champion_sharpe: float | None = None,
        champion_version: int | None = None,
        dsr_threshold: float = 0.95,
        min_improvement: float = 0.0,
    ) -> PromotionDecision:
        """Count ``candidate`` as a trial and promote it if it earns it.

        It must be eligible (gate judged under production costs), have a deflated Sharpe ratio
        (given every trial counted so far, itself included) of at least ``dsr_threshold``, and
        beat the serving champion: ``candidate.validation_sharpe > champion_sharpe +
        min_improvement``, ``champion_sharpe`` being the champion re-measured on the same
        validation days and production costs in this run (``champion_version`` is the version
        that was re-measured: if another process changed the champion since, nothing is
        promoted and the next run decides). Without a re-measurement the champion's recorded
        validation Sharpe is used.
        """
        previous = self.current()
        sharpe = candidate.validation_sharpe
        if sharpe is None or not math.isfinite(sharpe):
            return PromotionDecision(
                False, f"candidate validation Sharpe {sharpe} is not finite", previous, previous
            )
        if not candidate.eligible:
            return PromotionDecision(
                False,
                f"candidate's gate was judged with costs {candidate.gate_costs!r}, not "
                "production costs: it cannot serve",
                previous,
                previous,
            )
        source = Path(candidate.model_path)
        if not source.is_file():
            raise ChampionRegistryError(f"{source}: candidate model file does not exist")
        sha = file_sha256(source)
        with self._locked():
            state = self._with_trial(self._load(), candidate.phase, sha, evidence)
            dsr, n_trials, _ = deflated(state, evidence)
            stored_previous = self._by_version(state, state.current_version)
            previous = None if stored_previous is None else self._resolve(stored_previous)
            evidence_text = f"DSR {dsr:.3f} over {n_trials} trial(s)"
            refusal = demoted_twin(state, sha, candidate) or refusal_reason(
                sharpe,
                previous,
                dsr,
                dsr_threshold,
                evidence_text,
                champion_sharpe,
                champion_version,
                min_improvement,
            )
            if refusal is not None:
                return PromotionDecision(False, refusal, previous, previous)
            if previous is None:
                reason = f"first champion (validation Sharpe {sharpe:.3f}; {evidence_text})"
            else:
                floor = baseline(previous, champion_sharpe)
                reason = (
                    f"candidate validation Sharpe {sharpe:.3f} beats champion v{previous.version}"
                    f" ({floor:.3f}, same days and costs); {evidence_text}"
                )
            stored = self._promote(state, candidate, source, sha, n_trials, dsr, reason)
        return PromotionDecision(True, reason, previous, self._resolve(stored))

    def _with_trial(
        self, state: RegistryFile, phase: str, sha: str, evidence: SharpeEvidence
    ) -> RegistryFile:
        """``state`` with the model ``sha`` counted as a trial (saved), once per model."""
        if any(trial.model_sha256 == sha for trial in state.trials):
            return state
        trial = TrialRecord(
            at=_now(),
            phase=phase,
            model_sha256=sha,
            sharpe_per_period=evidence.sharpe_per_period,
            n_days=evidence.n_days,
        )
        state = state.model_copy(update={"trials": [*state.trials, trial]})
        self._save(state)
        return state

    def _promote(
        self,
        state: RegistryFile,
        candidate: ChampionRecord,
        source: Path,
        sha: str,
        n_trials: int,
        dsr: float,
        reason: str,
    ) -> ChampionRecord:
        """Copy the model in and make ``candidate`` the serving champion (under the lock)."""
        version = max((record.version or 0 for record in state.champions), default=0) + 1
        relative = self._copy_model(source, sha, version, candidate.phase)
        at = _now()
        stored = candidate.model_copy(
            update={
                "model_path": relative,
                "version": version,
                "previous_version": state.current_version,
                "promoted_at": at,
                "source_model_path": str(source.resolve()),
                "model_sha256": sha,
                "n_trials": n_trials,
                "dsr": dsr,
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
            state.model_copy(
                update={
                    "format_version": 2,
                    "current_version": version,
                    "champions": [*state.champions, stored],
                    "events": [*state.events, event],
                }
            )
        )
        return stored

    def demote(self, reason: str, version: int | None = None) -> ChampionRecord | None:
        """Take the serving champion out of service and return the one serving afterwards.

        Walks back the chain of promotions to the latest earlier champion that is eligible
        (gated under production costs) and was never demoted itself; with none left, no
        champion serves (``current()`` returns None). Records a ``demoted`` event with
        ``reason``. The decision is taken under the registry lock against the champion as it
        is then: with ``version`` given, nothing happens unless that version still serves
        (another process may have promoted or demoted in between), and the current champion is
        returned. Without a serving champion nothing happens and None is returned.
        """
        with self._locked():
            state = self._load()
            current = self._by_version(state, state.current_version)
            if current is None or (version is not None and current.version != version):
                return None if current is None else self._resolve(current)
            demoted = {e.replaced_version for e in state.events if e.action == "demoted"}
            demoted.add(current.version)
            target = self._by_version(state, current.previous_version)
            while target is not None and (target.version in demoted or not target.eligible):
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

    def demote_ineligible(self) -> list[str]:
        """Demote serving champions whose gate was not judged under production costs (records
        promoted before that rule), until an eligible one or none serves; the reasons."""
        reasons = []
        current = self.current()
        while current is not None and not current.eligible:
            reason = (
                f"champion v{current.version} ({current.phase}) was promoted on a gate judged "
                f"with costs {current.gate_costs or 'unrecorded'!r}, not production costs: "
                "only a model that passed its gate under production costs may serve"
            )
            current = self.demote(reason)
            reasons.append(reason)
        return reasons

    def rollback(self, reason: str = "manual rollback") -> ChampionRecord:
        """Make the champion that the current one replaced serve again, and return it.

        Repeated rollbacks walk back through the chain of promotions. Raises
        :class:`ChampionRegistryError` when there is no champion or no previous one, and
        :class:`~trader_env.evaluation.model_integrity.ModelIntegrityError` (nothing changes)
        when the previous one's model file is not the file that was promoted.
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
            verified_model_bytes(self.folder / target.model_path, target.model_sha256)
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
