"""The values the phase and champion assets carry: trained models, evaluations, decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from trader_env.evaluation.champion_records import ChampionRecord
from trader_env.evaluation.gates import GateResult
from trader_env.features.splits import PartName
from trader_env.phase_config import PhaseConfig

#: Parts of the split that every evaluation backtests. Gates and promotion read the first
#: only; test results are reported, never used to decide anything.
EVALUATION_PARTS: tuple[PartName, ...] = ("validation", "test")
GATE_PART: PartName = "validation"
REPORT_PART: PartName = "test"


@dataclass(frozen=True)
class PhaseModel:
    """A trained phase model and everything needed to trace it back (the model asset's value).

    ``config`` is the phase config as it trained: with ``costs: production`` its environment
    already charges every symbol's production costs.
    """

    phase: int
    model_path: Path
    config: PhaseConfig
    algorithm: str
    timesteps: int
    wall_time_s: float
    fps: float
    device: str
    warm_start_note: str
    diagnostics: dict[str, Any]
    curriculum_history: list[dict[str, float]]
    training_checks: GateResult
    lineage: dict[str, Any]
    tensorboard_dir: Path | None = None
    # The checkpoint kept by the selection slice, its score and why (None: no selection).
    selection: dict[str, Any] | None = None

    @property
    def training_metrics(self) -> dict[str, float]:
        return dict(self.diagnostics.get("finals", {}))

    @property
    def abstention(self) -> str | None:
        """Why the phase saved a policy that never trades (its kept checkpoint was not
        significant on the selection slice); None when it trades."""
        if self.selection is None or not self.selection.get("abstain"):
            return None
        return str(self.selection["reason"])


@dataclass(frozen=True)
class PhaseEvaluation:
    """Held-out results of one phase model (the evaluation asset's value).

    - ``metrics``: part -> metric -> value, the agent in its own training environment; the gate
      is judged on ``metrics[GATE_PART]``.
    - ``production_metrics``: the same policy under production costs (identical to
      ``metrics`` for phases that train with them), plus cost sensitivity (0x-3x) and the
      break-even cost per side.
    - ``baselines``: part -> baseline name -> metric -> value, under production costs.
    - ``gate_costs``: ``production`` when the gate was judged under production costs, the only
      case in which the model may serve; ``none`` for the costless phases.
    """

    phase: int
    model_path: Path
    metrics: dict[str, dict[str, float]]
    gate: GateResult
    gate_costs: Literal["none", "production"] = "production"
    production_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    baselines: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    reports: dict[str, Path] = field(default_factory=dict)
    regime_table: str = ""
    lineage: dict[str, Any] = field(default_factory=dict)

    @property
    def gate_metrics(self) -> dict[str, float]:
        return self.metrics[GATE_PART]

    @property
    def validation_sharpe(self) -> float:
        return self.metrics[GATE_PART]["sharpe"]

    @property
    def test_sharpe(self) -> float:
        """Reported only: nothing decides on it."""
        return self.metrics[REPORT_PART]["sharpe"]


@dataclass(frozen=True)
class ChampionDecision:
    """What the champion step decided (the ``champion_decision`` asset's value)."""

    promoted: bool
    reason: str
    candidate_phase: int | None
    champion: ChampionRecord | None  # serving after the decision
    previous: ChampionRecord | None  # serving before it
    skipped: dict[int, str]  # phase -> why it was not a candidate
    demoted: tuple[str, ...] = ()  # reasons of champions demoted or refused in this step
    champion_remeasured_sharpe: float | None = None  # serving champion, validation, this run
