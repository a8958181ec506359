"""Whether a candidate may replace the serving champion: the promotion rule.

Honest promotion: only a model whose gate was judged under production costs is eligible; the
registry counts every distinct candidate ever judged (its trials), plus the configurations that
searches such as ``tune_phase`` report (:meth:`~.ChampionRegistry.record_external_trials`),
and a promotion needs the deflated Sharpe ratio of the candidate's validation returns, given
that count, to reach the threshold, besides beating the serving champion re-measured on the
same validation days and costs. The test split plays no part in any of it. The functions here
decide; :class:`~trader_env.evaluation.champion.ChampionRegistry` stores the outcome.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from trader_env.evaluation.champion_records import ChampionRecord, RegistryFile, SharpeEvidence
from trader_env.evaluation.psr import deflated_sharpe_ratio, trial_sharpe_variance


@dataclass(frozen=True)
class PromotionDecision:
    """Outcome of :meth:`~.ChampionRegistry.consider`.

    ``previous`` is the champion before the decision (None if there was none); ``current`` the
    champion after it (the new record when promoted, else ``previous``).
    """

    promoted: bool
    reason: str
    previous: ChampionRecord | None
    current: ChampionRecord | None


def trial_count(state: RegistryFile) -> int:
    """Trials the deflated Sharpe ratio counts: candidates judged plus external trials."""
    return len(state.trials) + sum(item.n_trials for item in state.external_trials)


def deflated(state: RegistryFile, evidence: SharpeEvidence) -> tuple[float, int, float]:
    """(DSR, number of trials, cross-trial variance used) for ``evidence``.

    The variance of the trials' per-day Sharpe estimates is floored at ``1 / (n - 1)``,
    the sampling variance of a Sharpe estimate of ``n`` days when the true Sharpe is 0:
    with a handful of trials their spread says little, and luck alone produces at least
    that much. External trials (:meth:`~.ChampionRegistry.record_external_trials`) add to
    the count only: they were scored on the selection slice, not validation, so they have no
    validation Sharpe to add to the spread.
    """
    n_trials = trial_count(state)
    sharpes = [trial.sharpe_per_period for trial in state.trials]
    variance = max(trial_sharpe_variance(sharpes), 1.0 / max(evidence.n_days - 1, 1))
    dsr = deflated_sharpe_ratio(
        evidence.sharpe_per_period,
        evidence.n_days,
        evidence.skew,
        evidence.kurtosis,
        n_trials,
        variance,
    )
    return dsr, n_trials, variance


def baseline(previous: ChampionRecord, champion_sharpe: float | None) -> float:
    """The serving champion's validation Sharpe to beat: re-measured when given, else recorded."""
    baseline = champion_sharpe if champion_sharpe is not None else previous.validation_sharpe
    return baseline if baseline is not None else -math.inf


def refusal_reason(
    sharpe: float,
    previous: ChampionRecord | None,
    dsr: float,
    dsr_threshold: float,
    evidence_text: str,
    champion_sharpe: float | None,
    champion_version: int | None,
    min_improvement: float,
) -> str | None:
    """Why the candidate is not promoted, or None when it earned it."""
    if not dsr >= dsr_threshold:
        return (
            f"candidate validation Sharpe {sharpe:.3f} is not significant once the trials "
            f"are counted: {evidence_text} < {dsr_threshold:g}"
        )
    if previous is None:
        return None
    if champion_version is not None and champion_version != previous.version:
        return (
            f"the champion changed to v{previous.version} while v{champion_version} was "
            "being re-measured; the next run decides"
        )
    floor = baseline(previous, champion_sharpe)
    if not sharpe > floor + min_improvement:
        return (
            f"candidate validation Sharpe {sharpe:.3f} does not beat champion "
            f"v{previous.version} ({floor:.3f}, same days and costs) by more than "
            f"{min_improvement:g} ({evidence_text})"
        )
    return None


def demoted_twin(state: RegistryFile, sha: str, candidate: ChampionRecord) -> str | None:
    """Why ``candidate`` may not serve: it is the model of a demoted champion again, or None.

    Retraining on unchanged training data (the nightly run after new days arrive: the
    training split is fixed by date) reproduces the same policy in a file with other bytes
    (SB3 stores run metadata). The same model is recognised by identical bytes, or by the
    same phase, config hash and seed with the very same validation Sharpe (a deterministic
    backtest of the same policy on the same days gives the same float).
    """
    demoted = {e.replaced_version: e for e in state.events if e.action == "demoted"}
    for record in state.champions:
        event = demoted.get(record.version)
        if event is None:
            continue
        same_policy = (
            record.phase == candidate.phase
            and record.validation_sharpe is not None
            and record.validation_sharpe == candidate.validation_sharpe
            and all(
                record.lineage.get(k) == candidate.lineage.get(k) for k in ("config_hash", "seed")
            )
        )
        if record.model_sha256 == sha or same_policy:
            how = "bytes" if record.model_sha256 == sha else "phase, config, seed and Sharpe"
            return (
                f"candidate is the model of champion v{record.version} again (same {how}), "
                f"demoted at {event.at}: {event.reason}"
            )
    return None
