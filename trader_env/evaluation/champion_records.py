"""What the champion registry stores: promoted models with their evidence, trials, events."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


def _finite_or_none(metrics: dict[str, float | None]) -> dict[str, float | None]:
    # JSON has no NaN: store undefined metrics as null so memory and disk agree.
    return {
        key: value if value is not None and math.isfinite(value) else None
        for key, value in metrics.items()
    }


class ChampionRecord(BaseModel):
    """A model and the evidence it was promoted on.

    A candidate fills ``phase``, ``model_path``, ``validation_sharpe``, ``metrics``,
    ``gate_costs`` and ``lineage`` (``test_*`` are reported, never compared); the registry fills
    the rest on promotion and then ``model_path`` is the registry's copy.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    phase: str = Field(description="Phase that produced the model, e.g. 'phase3'.")
    model_path: str = Field(description="Model file to load (the registry copy once promoted).")
    validation_sharpe: float | None = Field(
        default=None,
        description="Annualised daily Sharpe on the validation split under production costs: "
        "what the model was selected on (None in records older than this rule).",
    )
    metrics: dict[str, float | None] = Field(
        default_factory=dict, description="Validation metrics under production costs (NaN: None)."
    )
    gate_costs: Literal["none", "production"] | None = Field(
        default=None,
        description="Costs the model's gate was judged under; only 'production' may serve.",
    )
    test_sharpe: float | None = Field(
        default=None, description="Annualised Sharpe on the test split: reported, never compared."
    )
    test_metrics: dict[str, float | None] = Field(
        default_factory=dict, description="Test metrics (reported only; NaN as None)."
    )
    n_trials: int | None = Field(
        default=None, description="Distinct candidates the registry had judged at promotion."
    )
    dsr: float | None = Field(
        default=None, description="Deflated Sharpe ratio at promotion, given n_trials."
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

    @field_validator("metrics", "test_metrics")
    @classmethod
    def _undefined_as_none(cls, metrics: dict[str, float | None]) -> dict[str, float | None]:
        return _finite_or_none(metrics)

    @property
    def eligible(self) -> bool:
        """Whether this model may serve: its gate was judged under production costs."""
        return self.gate_costs == "production"


class TrialRecord(BaseModel):
    """One distinct candidate judged for promotion (a trial of the deflated Sharpe ratio)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: str = Field(description="UTC ISO-8601 time it was first judged.")
    phase: str = Field(description="Phase that produced it.")
    model_sha256: str = Field(description="SHA-256 of the model file: one trial per model.")
    sharpe_per_period: float = Field(description="Validation Sharpe per day (not annualised).")
    n_days: int = Field(description="Validation days the Sharpe was measured on.")


class ExternalTrials(BaseModel):
    """Candidates tried outside promotion (e.g. a hyperparameter search) that the deflated
    Sharpe ratio must count: the best of many configurations is as selected as the best of
    many promoted models, even though these never reached validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: str = Field(description="UTC ISO-8601 time they were last reported.")
    source: str = Field(description="Unique name of the search, e.g. 'tune_phase/phase2/<stamp>'.")
    phase: str = Field(description="Phase whose configurations were tried, e.g. 'phase2'.")
    n_trials: int = Field(ge=0, description="Configurations tried.")


@dataclass(frozen=True)
class SharpeEvidence:
    """A candidate's validation daily returns, summarised for the deflated Sharpe ratio:
    per-day Sharpe, number of days, skewness and (non-excess) kurtosis."""

    sharpe_per_period: float
    n_days: int
    skew: float
    kurtosis: float

    @classmethod
    def from_metrics(cls, metrics: dict[str, float]) -> SharpeEvidence:
        """From evaluation metrics (``sharpe_per_period``, ``n_days``, ``skew`` and the excess
        ``kurtosis`` that quantstats reports)."""
        return cls(
            sharpe_per_period=float(metrics["sharpe_per_period"]),
            n_days=int(metrics["n_days"]),
            skew=float(metrics["skew"]),
            kurtosis=float(metrics["kurtosis"]) + 3.0,
        )


class ChampionEvent(BaseModel):
    """One change of the current champion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["promoted", "rollback", "demoted"] = Field(
        description="What changed the champion."
    )
    at: str = Field(description="UTC ISO-8601 time of the change.")
    version: int | None = Field(description="Champion version current after the event.")
    replaced_version: int | None = Field(description="Champion version current before it.")
    reason: str = Field(description="Why, in words (measured Sharpe values for promotions).")


class RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format_version: Literal[1, 2] = Field(default=2, description="Layout version of this file.")
    current_version: int | None = Field(default=None, description="Version that serves now.")
    champions: list[ChampionRecord] = Field(
        default_factory=list, description="Every promoted model, model_path relative to the folder."
    )
    events: list[ChampionEvent] = Field(
        default_factory=list, description="Promotions, rollbacks, demotions."
    )
    trials: list[TrialRecord] = Field(
        default_factory=list, description="Every distinct candidate judged for promotion."
    )
    external_trials: list[ExternalTrials] = Field(
        default_factory=list,
        description="Searches outside promotion (tune_phase) and how many trials each ran.",
    )
