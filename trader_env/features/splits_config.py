"""Configuration of the chronological splits, the embargo and the normalisation."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class DateRange(BaseModel):
    """An inclusive range of session dates."""

    model_config = ConfigDict(extra="forbid")

    start: date = Field(description="First session date of the part (inclusive).")
    end: date = Field(description="Last session date of the part (inclusive).")

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class DateSplitsConfig(BaseModel):
    """Session-date ranges of the three chronological parts (used when method is dates)."""

    model_config = ConfigDict(extra="forbid")

    train: DateRange = Field(
        default=DateRange(start=date(2017, 1, 1), end=date(2018, 12, 31)),
        description="Training sessions (dates, inclusive).",
    )
    validation: DateRange = Field(
        default=DateRange(start=date(2019, 1, 1), end=date(2019, 6, 30)),
        description="Validation sessions (dates, inclusive).",
    )
    test: DateRange = Field(
        default=DateRange(start=date(2019, 7, 1), end=date(2019, 12, 31)),
        description="Test sessions (dates, inclusive).",
    )

    @model_validator(mode="after")
    def _chronological(self) -> DateSplitsConfig:
        if not (self.train.end < self.validation.start and self.validation.end < self.test.start):
            raise ValueError(
                "parts must be chronological and disjoint: train.end < validation.start and "
                "validation.end < test.start"
            )
        return self


class FractionSplitsConfig(BaseModel):
    """Shares of the sessions given to each part (used when method is fractions)."""

    model_config = ConfigDict(extra="forbid")

    train: float = Field(default=0.66, gt=0, lt=1, description="Share of sessions (0..1).")
    validation: float = Field(default=0.17, gt=0, lt=1, description="Share of sessions (0..1).")
    test: float = Field(default=0.17, gt=0, lt=1, description="Share of sessions (0..1).")

    @model_validator(mode="after")
    def _sum_to_one(self) -> FractionSplitsConfig:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"train + validation + test must be 1, got {total}")
        return self


class WalkForwardConfig(BaseModel):
    """Rolling walk-forward folds over the sessions before the test part."""

    model_config = ConfigDict(extra="forbid")

    n_folds: int = Field(
        default=0,
        ge=0,
        description="Number of folds (0 = none). The development sessions (train start to "
        "validation end) are cut into n_folds + train_blocks equal blocks; fold k trains on "
        "blocks k .. k+train_blocks-1 and validates on the next block.",
    )
    train_blocks: int = Field(
        default=2,
        ge=1,
        description="Blocks (of equal session count) in each fold's rolling training window.",
    )


class SplitsConfig(BaseModel):
    """Chronological train / validation / test splits, embargo and normalisation."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["auto", "dates", "fractions"] = Field(
        default="auto",
        description="`auto`: the data's own sessions cut by `fractions`, each cut moved to the "
        "nearest first session of a month when the data spans at least 12 months (calendar "
        "periods, e.g. the SPY sample's 2017-18 / 2019H1 / 2019H2); `dates`: the date ranges "
        "of `dates`; `fractions`: shares of sessions, unrounded.",
    )
    dates: DateSplitsConfig = Field(
        default_factory=DateSplitsConfig, description="Date ranges used when method is dates."
    )
    fractions: FractionSplitsConfig = Field(
        default_factory=FractionSplitsConfig,
        description="Session shares used when method is fractions.",
    )
    embargo_sessions: int | None = Field(
        default=None,
        ge=0,
        description="Whole sessions left out between consecutive parts (taken from the end of "
        "the earlier part); must cover the longest cross-session window. Null: exactly that "
        "(at least 1, which keeps the gap between sessions between parts).",
    )
    walk_forward: WalkForwardConfig = Field(
        default_factory=WalkForwardConfig, description="Optional walk-forward folds."
    )
    normalization: Literal["standard", "robust"] = Field(
        default="standard",
        description="Per-feature scaling fitted on the training part: `standard` = (x - mean) "
        "/ std, `robust` = (x - median) / IQR.",
    )
