"""Turnover curriculum: stages of growing turnover allowance, advanced on earned Sharpe.

A :class:`Curriculum` lives with the training loop (a callback), not inside the environment:
one instance sees the episodes of every vectorised copy. After each finished episode the
callback calls :meth:`Curriculum.record_episode` with the episode's Sharpe; when it returns
True it pushes the new stage to the environments with
``vec_env.env_method("set_curriculum_stage", curriculum.stage)``.

Stage ``i`` is left for ``i + 1`` when both hold: at least ``min_episodes`` episodes were
played in stage ``i``, and the mean Sharpe of the last ``sharpe_window`` episodes played in
stage ``i`` exceeds its ``sharpe_threshold``. The Sharpe window restarts with each stage, so
a stage is judged on its own episodes. Passing the last stage's criterion marks the
curriculum ``graduated`` (there is no stage to advance to).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from trader_env.env.config import CurriculumConfig, CurriculumStage


@dataclass(frozen=True)
class Advancement:
    """One advancement: after ``episode`` episodes in total, ``from_stage`` -> ``to_stage``."""

    episode: int
    from_stage: int
    to_stage: int
    mean_sharpe: float


class Curriculum:
    """Stage bookkeeping; see the module docstring for the advancement rule."""

    def __init__(self, config: CurriculumConfig):
        self.stages: tuple[CurriculumStage, ...] = config.stages
        self.sharpe_window = config.sharpe_window
        self.stage = 0
        self.episodes = 0
        self.episodes_per_stage = [0] * len(self.stages)
        self.history: list[Advancement] = []
        self.graduated = False
        self._recent: deque[float] = deque(maxlen=config.sharpe_window)

    @property
    def current(self) -> CurriculumStage:
        """The active stage."""
        return self.stages[self.stage]

    @property
    def at_last_stage(self) -> bool:
        """Whether the active stage is the last one."""
        return self.stage == len(self.stages) - 1

    def mean_recent_sharpe(self) -> float:
        """Mean Sharpe of the current stage's last ``sharpe_window`` episodes (NaN if fewer)."""
        if len(self._recent) < self.sharpe_window:
            return math.nan
        return sum(self._recent) / len(self._recent)

    def _criterion_met(self) -> bool:
        stage = self.current
        mean = self.mean_recent_sharpe()
        return self.episodes_per_stage[self.stage] >= stage.min_episodes and (
            mean > stage.sharpe_threshold
        )

    def record_episode(self, sharpe: float) -> bool:
        """Record one finished episode's annualised Sharpe; return True if the stage advanced.

        A non-finite Sharpe counts as an episode with Sharpe 0 (it earned nothing).
        """
        value = sharpe if math.isfinite(sharpe) else 0.0
        self.episodes += 1
        self.episodes_per_stage[self.stage] += 1
        self._recent.append(value)
        if not self._criterion_met():
            return False
        if self.at_last_stage:
            self.graduated = True
            return False
        mean = self.mean_recent_sharpe()
        self.history.append(Advancement(self.episodes, self.stage, self.stage + 1, mean))
        self.stage += 1
        self._recent.clear()
        return True

    def state(self) -> dict[str, object]:
        """Plain-data snapshot for callbacks, logs and asset metadata."""
        return {
            "stage": self.stage,
            "n_stages": len(self.stages),
            "target_turnover": self.current.target_turnover,
            "episodes": self.episodes,
            "episodes_per_stage": list(self.episodes_per_stage),
            "mean_recent_sharpe": self.mean_recent_sharpe(),
            "graduated": self.graduated,
            "history": [
                {
                    "episode": a.episode,
                    "from_stage": a.from_stage,
                    "to_stage": a.to_stage,
                    "mean_sharpe": a.mean_sharpe,
                }
                for a in self.history
            ],
        }
