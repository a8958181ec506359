"""Per-feature scaling fitted on the training part only, applied to every part."""

from __future__ import annotations

import math
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from trader_env.features.frames import require_columns

NormalizationMethod = Literal["standard", "robust"]

# A spread below this fraction of max(|center|, 1) is rounding noise of a constant feature.
_RELATIVE_SCALE_FLOOR = 1e-12


class NormalizationStats(BaseModel):
    """Centers and scales of features: ``x' = (x - center) / scale``, JSON-serialisable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: NormalizationMethod = Field(
        description="`standard`: center = mean, scale = population std; `robust`: center = "
        "median, scale = interquartile range (q75 - q25, linear interpolation)."
    )
    feature_names: tuple[str, ...] = Field(description="Features, in order.")
    center: tuple[float, ...] = Field(description="Center of each feature (feature units).")
    scale: tuple[float, ...] = Field(
        description="Scale of each feature (feature units, > 0); 1 for constant features so "
        "they map to 0 instead of blowing up."
    )
    rows: int = Field(description="Rows the statistics were fitted on.")

    @model_validator(mode="after")
    def _consistent(self) -> NormalizationStats:
        n = len(self.feature_names)
        if len(self.center) != n or len(self.scale) != n:
            raise ValueError(
                f"{n} features but {len(self.center)} centers and {len(self.scale)} scales"
            )
        bad = [
            name
            for name, c, s in zip(self.feature_names, self.center, self.scale, strict=True)
            if not (math.isfinite(c) and math.isfinite(s) and s > 0)
        ]
        if bad:
            raise ValueError(f"non-finite center or non-positive scale for {bad}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible mapping."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NormalizationStats:
        """Inverse of :meth:`to_dict`."""
        return cls.model_validate(data)


def fit_normalization(
    frame: pl.DataFrame,
    feature_names: list[str] | tuple[str, ...],
    method: NormalizationMethod = "standard",
) -> NormalizationStats:
    """Fit centers and scales of ``feature_names`` on ``frame`` (pass the training part only).

    Nulls are ignored. A zero spread gets scale 1 (for ``robust``, a zero IQR with a non-zero
    std falls back to the std); a feature without a finite center is an error.
    """
    names = list(feature_names)
    require_columns(frame, names, "fit_normalization")
    if frame.height == 0:
        raise ValueError("fit_normalization: no rows to fit on (empty training part)")
    stats = frame.select(
        *[pl.col(c).mean().alias(f"mean:{c}") for c in names],
        *[pl.col(c).std(ddof=0).alias(f"std:{c}") for c in names],
        *[pl.col(c).median().alias(f"median:{c}") for c in names],
        *[
            (pl.col(c).quantile(0.75, "linear") - pl.col(c).quantile(0.25, "linear")).alias(
                f"iqr:{c}"
            )
            for c in names
        ],
    ).row(0, named=True)
    centers, scales = [], []
    for name in names:
        if method == "standard":
            center, spread = stats[f"mean:{name}"], stats[f"std:{name}"]
        else:
            center, spread = stats[f"median:{name}"], stats[f"iqr:{name}"]
            if not _usable(spread, center):
                spread = stats[f"std:{name}"]
        if center is None or not math.isfinite(center):
            raise ValueError(f"fit_normalization: feature {name!r} has no finite value to fit")
        centers.append(float(center))
        scales.append(float(spread) if _usable(spread, center) else 1.0)
    return NormalizationStats(
        method=method,
        feature_names=tuple(names),
        center=tuple(centers),
        scale=tuple(scales),
        rows=frame.height,
    )


def apply_normalization(frame: pl.DataFrame, stats: NormalizationStats) -> pl.DataFrame:
    """Return ``frame`` with every feature of ``stats`` replaced by ``(x - center) / scale``
    (Float64); other columns are untouched. Pure: ``frame`` is not modified."""
    require_columns(frame, stats.feature_names, "apply_normalization")
    return frame.with_columns(
        ((pl.col(name) - center) / scale).alias(name)
        for name, center, scale in zip(stats.feature_names, stats.center, stats.scale, strict=True)
    )


def _usable(spread: float | None, center: float | None) -> bool:
    if spread is None or not math.isfinite(spread):
        return False
    reference = max(abs(center), 1.0) if center is not None and math.isfinite(center) else 1.0
    return spread > _RELATIVE_SCALE_FLOOR * reference
