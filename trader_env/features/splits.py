"""Chronological train / validation / test splits with an embargo, walk-forward folds and
normalisation statistics fitted on the training part.

Parts are ranges of whole sessions of one calendar shared by all symbols. Between
consecutive parts at least ``embargo_sessions`` sessions of the data are left out, taken from
the end of the earlier part (evaluation parts keep their configured start). Why an embargo:
features are causal, so nothing flows from a later part into an earlier one; but a window that
spans sessions makes the first bars of a later part depend on the last bars of the earlier
part, so the parts would not be independent samples. A window of w bars reaches w - 1 bars
back, i.e. ceil((w - 1) / bars per session) sessions; the embargo must cover the longest
cross-session window (market features with ``cross_session: true``, regimes by default). With
per-session windows no window crosses a session boundary, so one session (the default) is
more than enough; it also keeps the overnight gap between parts. With ``embargo_sessions``
null (the default) the embargo is exactly what the windows need, at least one session.

By default (``method: auto``) the parts follow the data: its sessions are cut by
``fractions``, and when the data spans at least 12 months each cut moves to the nearest first
session of a month, so the parts are calendar periods (the SPY sample, 2017-01..2019-12 cut at
0.66 / 0.17 / 0.17, gives train 2017-2018, validation 2019H1, test 2019H2).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from trader_env.contracts import BAR_KEYS
from trader_env.features.config import REGIME_INPUTS, FeaturesConfig, resolved_config
from trader_env.features.frames import require_columns
from trader_env.features.market_profile import MarketProfile
from trader_env.features.normalization import NormalizationStats, fit_normalization
from trader_env.scalars import as_datetime
from trader_env.sessions import session_date_expr
from trader_env.yaml_config import ConfigError

PartName = Literal["train", "validation", "test"]
PARTS: tuple[PartName, ...] = ("train", "validation", "test")


class PartBounds(BaseModel):
    """Where one part lies: inclusive session dates, first and last bar, sizes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_session: date = Field(description="First session of the part (inclusive).")
    last_session: date = Field(description="Last session of the part (inclusive).")
    start_ts: datetime = Field(description="First bar of the part (UTC).")
    end_ts: datetime = Field(description="Last bar of the part (UTC).")
    sessions: int = Field(description="Sessions in the part.")
    rows: int = Field(description="Rows of the split frame in the part.")
    rows_per_symbol: dict[str, int] = Field(description="Rows per symbol (0 if absent).")


class Fold(BaseModel):
    """One walk-forward fold: a rolling training window followed by its validation window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int = Field(description="Fold number, chronological from 0.")
    train: PartBounds = Field(description="Training window of the fold.")
    validation: PartBounds = Field(description="Validation window, after the embargo.")
    normalization: NormalizationStats = Field(
        description="Fitted on this fold's training window only."
    )


class Splits(BaseModel):
    """A JSON-serialisable description of the splits of one frame."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["auto", "dates", "fractions"] = Field(description="How the parts were chosen.")
    session_timezone: str = Field(
        description="Session clock defining session dates ('TZ' or 'TZ@HH:MM')."
    )
    embargo_sessions: int = Field(description="Sessions left out between consecutive parts.")
    required_embargo_sessions: int = Field(
        description="Sessions the longest cross-session window needs (<= embargo_sessions)."
    )
    parts: dict[str, PartBounds] = Field(description="train, validation and test bounds.")
    embargoed_sessions: list[date] = Field(
        description="Sessions of the data strictly between consecutive parts (left out)."
    )
    folds: list[Fold] = Field(description="Walk-forward folds (empty when n_folds = 0).")
    feature_names: tuple[str, ...] = Field(
        description="Normalised inputs, in observation order: market features, then regime "
        "inputs when regimes were given."
    )
    normalization: NormalizationStats = Field(description="Fitted on the training part only.")
    market: MarketProfile | None = Field(
        default=None,
        description="The market the data came from: type (detected or from data.yaml), "
        "session clock, bar interval, bars per year (for annualisation and cost defaults).",
    )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible mapping."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Splits:
        """Inverse of :meth:`to_dict`."""
        return cls.model_validate(data)

    def normalization_for(self, fold: int | None = None) -> NormalizationStats:
        """Statistics of the main training part, or of fold ``fold``'s training window."""
        if fold is None:
            return self.normalization
        return self._fold(fold).normalization

    def _fold(self, fold: int) -> Fold:
        if not 0 <= fold < len(self.folds):
            raise ValueError(f"fold {fold} does not exist; there are {len(self.folds)} folds")
        return self.folds[fold]

    def bounds(self, part: PartName, fold: int | None = None) -> PartBounds:
        """Bounds of ``part`` of the main split, or of fold ``fold`` (train / validation)."""
        if fold is None:
            if part not in self.parts:
                raise ValueError(f"unknown part {part!r}; expected one of {list(self.parts)}")
            return self.parts[part]
        if part == "train":
            return self._fold(fold).train
        if part == "validation":
            return self._fold(fold).validation
        raise ValueError(f"folds have train and validation parts only, got {part!r}")


def required_embargo_sessions(config: FeaturesConfig) -> int:
    """Whole sessions that the longest cross-session window of the resolved ``config`` reaches
    back (0 if none), with the market's bars per session."""
    return config.required_embargo_sessions()


def make_splits(
    frame: pl.DataFrame,
    config: FeaturesConfig | None = None,
    regimes: pl.DataFrame | None = None,
) -> Splits:
    """Split ``frame`` (output of ``compute_features``: ``symbol``, ``ts``, ``session`` and the
    features of ``config.market``) chronologically and fit normalisation on the training part.

    With ``regimes`` (output of ``compute_regimes``) the frame is inner-joined with it on
    (symbol, ts) and the regime inputs ``realized_vol_ann`` and ``trend_strength`` are
    normalised too. Pass a config resolved on the bars
    (:meth:`~trader_env.features.FeaturesConfig.resolve`); an unresolved one is resolved on
    ``regimes`` when given (cross-session regimes keep whole sessions, so bars per session
    reads right) or else on ``frame`` (per-session warm-ups shorten its sessions). Raises
    :class:`~trader_env.yaml_config.ConfigError` naming the config key when a part comes out
    empty or the embargo is shorter than a window needs.
    """
    cfg = resolved_config(regimes if regimes is not None else frame, config)
    split_cfg = cfg.splits
    data, feature_names = _with_regime_inputs(frame, regimes, cfg.market.feature_names())
    embargo, required = _checked_embargo(cfg)
    sessions = data["session"].unique().sort().to_numpy()
    ranges = _embargoed_ranges(_part_ranges(cfg, sessions), embargo)
    embargoed = [
        s
        for earlier, later in zip(PARTS, PARTS[1:], strict=False)
        for s in sessions[ranges[earlier][1] : ranges[later][0]].tolist()
    ]
    symbols = data["symbol"].unique().sort().to_list()
    parts = {name: _bounds(data, sessions, ranges[name], symbols) for name in PARTS}
    method = split_cfg.normalization
    folds = [
        Fold(
            index=k,
            train=_bounds(data, sessions, train, symbols),
            validation=_bounds(data, sessions, validation, symbols),
            normalization=fit_normalization(
                _in_sessions(data, sessions, train), feature_names, method
            ),
        )
        for k, (train, validation) in enumerate(
            _fold_ranges(ranges["train"][0], ranges["validation"][1], embargo, cfg)
        )
    ]
    return Splits(
        method=split_cfg.method,
        session_timezone=cfg.session_clock,
        embargo_sessions=embargo,
        required_embargo_sessions=required,
        parts=parts,
        embargoed_sessions=embargoed,
        folds=folds,
        feature_names=tuple(feature_names),
        normalization=fit_normalization(
            _in_sessions(data, sessions, ranges["train"]), feature_names, method
        ),
        market=cfg.market_profile,
    )


def _with_regime_inputs(
    frame: pl.DataFrame, regimes: pl.DataFrame | None, feature_names: tuple[str, ...]
) -> tuple[pl.DataFrame, tuple[str, ...]]:
    """``frame`` joined with the regime inputs of ``regimes`` (when given) and the names of
    every column to normalise; refuses missing columns and an empty result."""
    require_columns(frame, (*BAR_KEYS, "session"), "make_splits frame")
    data = frame
    if regimes is not None:
        require_columns(regimes, (*BAR_KEYS, *REGIME_INPUTS), "make_splits regimes")
        data = frame.join(
            regimes.select(*BAR_KEYS, *REGIME_INPUTS), on=list(BAR_KEYS), maintain_order="left"
        )
        feature_names = (*feature_names, *REGIME_INPUTS)
    require_columns(data, feature_names, "make_splits frame")
    if data.height == 0:
        raise ValueError("make_splits: the frame has no rows (after joining regimes)")
    return data, feature_names


def _checked_embargo(cfg: FeaturesConfig) -> tuple[int, int]:
    """(embargo, required embargo) in sessions of the resolved ``cfg``; ConfigError when the
    embargo is shorter than the longest cross-session window needs."""
    required = cfg.required_embargo_sessions()
    embargo = cfg.splits.embargo_sessions
    assert embargo is not None  # resolved
    if embargo < required:
        raise ConfigError(
            f"splits.embargo_sessions: {embargo} is shorter than the {required} session(s) the "
            f"longest cross-session window reaches back (market {cfg.market.max_window_bars()} "
            f"bars, cross_session={cfg.market.cross_session}; regime "
            f"{cfg.regime.max_window_bars()} bars, cross_session={cfg.regime.cross_session}); "
            f"set splits.embargo_sessions >= {required}"
        )
    return embargo, required


def _embargoed_ranges(
    ranges: dict[str, tuple[int, int]], embargo: int
) -> dict[str, tuple[int, int]]:
    """``ranges`` (session index ranges per part) with each earlier part shortened at its end
    until ``embargo`` sessions separate it from the next; ConfigError if one empties."""
    for earlier, later in zip(PARTS, PARTS[1:], strict=False):
        lo, hi = ranges[earlier]
        gap = ranges[later][0] - hi
        if gap < embargo:
            hi -= embargo - gap
            if hi <= lo:
                raise ConfigError(
                    f"splits.embargo_sessions: an embargo of {embargo} session(s) before "
                    f"{later} leaves no session in {earlier} ({ranges[earlier][1] - lo} "
                    f"session(s)); lower it or give {earlier} more sessions"
                )
            ranges[earlier] = (lo, hi)
    return ranges


def select_split(
    frame: pl.DataFrame, splits: Splits, part: PartName, fold: int | None = None
) -> pl.DataFrame:
    """Rows of ``frame`` in ``part`` of the main split, or of fold ``fold``.

    Works on any (symbol, ts) frame: bars, features or regimes; the session is taken from the
    ``session`` column, or derived from ``ts`` in ``splits.session_timezone`` when absent.
    """
    bounds = splits.bounds(part, fold)
    in_part = pl.col("session").is_between(bounds.first_session, bounds.last_session)
    if "session" in frame.columns:
        return frame.filter(in_part)
    require_columns(frame, ("ts",), "select_split frame")
    return (
        frame.with_columns(session_date_expr(splits.session_timezone))
        .filter(in_part)
        .drop("session")
    )


def _part_ranges(cfg: FeaturesConfig, sessions: np.ndarray) -> dict[str, tuple[int, int]]:
    """Half-open index ranges into ``sessions`` of each part, before the embargo."""
    split_cfg = cfg.splits
    n = len(sessions)
    ranges: dict[str, tuple[int, int]] = {}
    if split_cfg.method == "dates":
        for name in PARTS:
            dates = getattr(split_cfg.dates, name)
            lo = int(np.searchsorted(sessions, np.datetime64(dates.start), side="left"))
            hi = int(np.searchsorted(sessions, np.datetime64(dates.end), side="right"))
            if hi <= lo:
                raise ConfigError(
                    f"splits.dates.{name}: no session of the data falls in {dates.start}.."
                    f"{dates.end}; the data covers sessions {sessions[0]}..{sessions[-1]} "
                    f"({n} sessions). Change the dates or set splits.method: fractions"
                )
            ranges[name] = (lo, hi)
        return ranges
    shares = [getattr(split_cfg.fractions, name) for name in PARTS]
    edges = [0, *(int(round(n * c)) for c in np.cumsum(shares)[:-1]), n]
    if split_cfg.method == "auto":
        edges = _snap_to_months(sessions, edges)
    for name, share, lo, hi in zip(PARTS, shares, edges, edges[1:], strict=False):
        if hi <= lo:
            raise ConfigError(
                f"splits.fractions.{name}: a share of {share} of the data's {n} sessions "
                f"({sessions[0]}..{sessions[-1]}) is no whole session; use more data or a "
                f"larger share"
            )
        ranges[name] = (lo, hi)
    return ranges


#: Calendar months the data must span before ``auto`` cuts fall on month starts.
MIN_MONTHS_FOR_CALENDAR_CUTS = 12


def _snap_to_months(sessions: np.ndarray, edges: list[int]) -> list[int]:
    """Inner cut indexes moved to the nearest first session of a month, when the sessions
    span at least :data:`MIN_MONTHS_FOR_CALENDAR_CUTS` months (unchanged otherwise)."""
    months = sessions.astype("datetime64[M]")
    if (months[-1] - months[0]).astype(int) + 1 < MIN_MONTHS_FOR_CALENDAR_CUTS:
        return edges
    month_starts = np.flatnonzero(np.r_[True, months[1:] != months[:-1]])
    snapped = [edges[0]]
    for edge in edges[1:-1]:
        nearest = month_starts[np.argmin(np.abs(month_starts - edge))]
        snapped.append(int(nearest))
    return [*snapped, edges[-1]]


def _fold_ranges(
    start: int, end: int, embargo: int, cfg: FeaturesConfig
) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Rolling walk-forward folds over sessions [start, end) (train start to validation end)."""
    walk = cfg.splits.walk_forward
    if walk.n_folds == 0:
        return []
    blocks = walk.n_folds + walk.train_blocks
    edges = np.round(np.linspace(start, end, blocks + 1)).astype(int)
    folds = []
    for k in range(walk.n_folds):
        train = (int(edges[k]), int(edges[k + walk.train_blocks]) - embargo)
        validation = (int(edges[k + walk.train_blocks]), int(edges[k + walk.train_blocks + 1]))
        if train[1] <= train[0] or validation[1] <= validation[0]:
            raise ConfigError(
                f"splits.walk_forward.n_folds: {walk.n_folds} folds x {blocks} blocks of the "
                f"{end - start} development sessions leave fold {k} without training or "
                f"validation sessions after an embargo of {embargo}; use fewer folds"
            )
        folds.append((train, validation))
    return folds


def _in_sessions(
    data: pl.DataFrame, sessions: np.ndarray, index_range: tuple[int, int]
) -> pl.DataFrame:
    lo, hi = index_range
    first, last = sessions[lo].item(), sessions[hi - 1].item()
    return data.filter(pl.col("session").is_between(first, last))


def _bounds(
    data: pl.DataFrame, sessions: np.ndarray, index_range: tuple[int, int], symbols: list[str]
) -> PartBounds:
    lo, hi = index_range
    rows = _in_sessions(data, sessions, index_range)
    counts = dict(rows.group_by("symbol").agg(n=pl.len()).iter_rows())
    return PartBounds(
        first_session=sessions[lo].item(),
        last_session=sessions[hi - 1].item(),
        start_ts=as_datetime(rows["ts"].min(), "first bar time of the part"),
        end_ts=as_datetime(rows["ts"].max(), "last bar time of the part"),
        sessions=hi - lo,
        rows=rows.height,
        rows_per_symbol={symbol: int(counts.get(symbol, 0)) for symbol in symbols},
    )
