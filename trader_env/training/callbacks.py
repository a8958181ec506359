"""SB3 callbacks: training diagnostics, the turnover curriculum and progress reports.

Checkpoints use SB3's own :class:`stable_baselines3.common.callbacks.CheckpointCallback`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from typing import Any, Protocol

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from trader_env.env import Curriculum
from trader_env.env.config import CurriculumConfig
from trader_env.env.trading_env import NON_FINITE_EQUITY

#: Timesteps over which ``min_entropy_early`` is taken (or half the budget if shorter).
EARLY_ENTROPY_TIMESTEPS = 50_000
#: Episodes in ``training_sharpe_30`` and the other "recent episodes" finals.
RECENT_EPISODES = 30
#: Updates averaged in the final ``explained_variance`` (one update alone is noisy).
RECENT_UPDATES = 5

#: SB3 logger keys read after each ``train()`` -> names in the diagnostics.
_TRAIN_KEYS = {
    "train/entropy_loss": "entropy_loss",
    "train/explained_variance": "explained_variance",
    "train/value_loss": "value_loss",
    "train/approx_kl": "approx_kl",
    "train/policy_gradient_loss": "policy_gradient_loss",
    "train/clip_fraction": "clip_fraction",
}
#: Losses that must stay finite (explained variance is NaN, legitimately, for constant returns).
_LOSSES = ("entropy_loss", "value_loss", "policy_gradient_loss", "approx_kl")


class SupportsInfo(Protocol):
    """Anything with ``info(message)``: a ``logging.Logger``, Dagster's ``context.log``."""

    def info(self, msg: str, /) -> object: ...


class SupportsWarning(SupportsInfo, Protocol):
    """Anything with ``info`` and ``warning``: a ``logging.Logger``, Dagster's ``context.log``."""

    def warning(self, msg: str, /) -> object: ...


def _episode_metrics(info: dict[str, Any]) -> dict[str, Any]:
    try:
        metrics: dict[str, Any] = info["episode_metrics"]
        return metrics
    except KeyError:
        raise KeyError(
            "the environment ended an episode without info['episode_metrics'] (the "
            "IntradayTradingEnv contract): these callbacks need it"
        ) from None


def _mean(values: Iterable[float]) -> float:
    listed = list(values)
    return float(np.mean(listed)) if listed else math.nan


class DiagnosticsCallback(BaseCallback):
    """Training health: policy entropy, critic quality, episode money and reward reconciliation.

    After every PPO update it reads SB3's logged ``train/*`` values (entropy in nats is
    ``-entropy_loss``); at every episode end it reads the environment's
    ``info["episode_metrics"]`` and its own float64 sum of the rewards the learner received.
    :meth:`diagnostics` returns ``{"finals": {...}, "series": {...}}``; finals:

    - ``entropy``, ``entropy_loss``, ``value_loss``, ``approx_kl``: last update;
    - ``explained_variance``: mean over the last 5 updates;
    - ``min_entropy_early``: min entropy over updates within the first 50k timesteps (or the
      first half of a shorter budget; at least the first update), nats;
    - ``n_updates``, ``n_episodes``, ``completion_rate`` (share of episodes not halted),
      ``stable_episode_rate`` (share of episodes without a non-finite reward or equity; a
      risk halt counts as stable: the plan's "training stability");
    - ``nonfinite_count``: rewards the environment replaced, plus non-finite rewards the
      learner received, plus non-finite losses;
    - ``reward_reconciliation_error``: max over episodes of
      ``|sum(reward) / reward_scaling + penalties - net_pnl| / initial_capital``;
    - ``training_sharpe_30``, ``episode_reward_mean``, ``episode_net_pnl_mean`` (money),
      ``daily_turnover_mean`` (notional / capital), ``episode_max_drawdown_mean``: means over
      the last 30 episodes.

    NaN marks a value without data (e.g. no episode finished); gates treat NaN as a failure.
    """

    def __init__(self, reward_scaling: float, initial_capital: float, verbose: int = 0):
        super().__init__(verbose)
        self.reward_scaling = reward_scaling
        self.initial_capital = initial_capital
        self.early_timesteps = EARLY_ENTROPY_TIMESTEPS
        self.updates: dict[str, list[float]] = {"timesteps": []}
        self.updates.update({name: [] for name in _TRAIN_KEYS.values()})
        self.updates["entropy"] = []
        self.episodes: dict[str, list[float]] = {
            key: []
            for key in (
                "timesteps",
                "reward",
                "net_pnl",
                "sharpe",
                "daily_turnover",
                "max_drawdown",
                "n_trades",
                "completed",
                "stable",
                "reconciliation_error",
            )
        }
        self.nonfinite_count = 0
        self._n_updates_seen = 0
        self._reward_sums = np.zeros(0)
        self._recent_logged = 0

    # ------------------------------------------------------------------ SB3 hooks
    def _on_training_start(self) -> None:
        total = self.model._total_timesteps - self.model.num_timesteps
        self.early_timesteps = min(EARLY_ENTROPY_TIMESTEPS, max(total // 2, 1))
        self._start_timesteps = self.model.num_timesteps
        self._n_updates_seen = self.model._n_updates
        self._reward_sums = np.zeros(self.training_env.num_envs)

    def _on_rollout_start(self) -> None:
        self._read_update()

    def _on_training_end(self) -> None:
        self._read_update()

    def _on_rollout_end(self) -> None:
        new = len(self.episodes["timesteps"]) - self._recent_logged
        if new > 0:
            self._recent_logged += new
            finals = self._episode_finals()
            self.logger.record("episode/reward_mean", finals["episode_reward_mean"])
            self.logger.record("episode/net_pnl_mean", finals["episode_net_pnl_mean"])
            self.logger.record("episode/sharpe_mean", finals["training_sharpe_30"])
            self.logger.record("episode/daily_turnover_mean", finals["daily_turnover_mean"])

    def _on_step(self) -> bool:
        rewards = self.locals["rewards"]
        self._reward_sums += rewards
        finite = np.isfinite(rewards)
        if not finite.all():
            self.nonfinite_count += int((~finite).sum())
        dones = self.locals["dones"]
        if dones.any():
            infos = self.locals["infos"]
            for index in np.flatnonzero(dones):
                self._record_episode(
                    _episode_metrics(infos[index]), float(self._reward_sums[index])
                )
                self._reward_sums[index] = 0.0
        return True

    # ------------------------------------------------------------------ bookkeeping
    def _read_update(self) -> None:
        if self.model._n_updates == self._n_updates_seen:
            return
        self._n_updates_seen = self.model._n_updates
        logged = self.model.logger.name_to_value
        self.updates["timesteps"].append(float(self.model.num_timesteps - self._start_timesteps))
        for key, name in _TRAIN_KEYS.items():
            value = float(logged[key]) if key in logged else math.nan
            self.updates[name].append(value)
            if name in _LOSSES and key in logged and not math.isfinite(value):
                self.nonfinite_count += 1
        self.updates["entropy"].append(-self.updates["entropy_loss"][-1])

    def _record_episode(self, metrics: dict[str, Any], reward_sum: float) -> None:
        penalties = metrics["turnover_penalty_total"] + metrics["risk_penalty_total"]
        error = abs(reward_sum / self.reward_scaling + penalties - metrics["net_pnl"])
        episodes = self.episodes
        episodes["timesteps"].append(float(self.num_timesteps - self._start_timesteps))
        episodes["reward"].append(reward_sum)
        episodes["net_pnl"].append(float(metrics["net_pnl"]))
        episodes["sharpe"].append(float(metrics["sharpe"]))
        episodes["daily_turnover"].append(float(metrics["daily_turnover_mean"]))
        episodes["max_drawdown"].append(float(metrics["max_drawdown"]))
        episodes["n_trades"].append(float(metrics["n_trades"]))
        episodes["completed"].append(1.0 if metrics["completed"] else 0.0)
        # Stable: no non-finite value in the episode; a risk halt is a normal end here.
        stable = metrics["nonfinite_rewards"] == 0 and metrics["halt_reason"] != NON_FINITE_EQUITY
        episodes["stable"].append(1.0 if stable else 0.0)
        episodes["reconciliation_error"].append(error / self.initial_capital)
        self.nonfinite_count += int(metrics["nonfinite_rewards"])

    def _episode_finals(self) -> dict[str, float]:
        recent = {key: values[-RECENT_EPISODES:] for key, values in self.episodes.items()}
        return {
            "training_sharpe_30": _mean(recent["sharpe"]),
            "episode_reward_mean": _mean(recent["reward"]),
            "episode_net_pnl_mean": _mean(recent["net_pnl"]),
            "daily_turnover_mean": _mean(recent["daily_turnover"]),
            "episode_max_drawdown_mean": _mean(recent["max_drawdown"]),
        }

    def _min_entropy_early(self) -> float:
        timesteps, entropy = self.updates["timesteps"], self.updates["entropy"]
        early = [e for t, e in zip(timesteps, entropy, strict=True) if t <= self.early_timesteps]
        if not early and entropy:
            early = entropy[:1]
        return min(early) if early else math.nan

    def diagnostics(self) -> dict[str, Any]:
        """``{"finals": {name: float}, "series": {"updates": {...}, "episodes": {...}}}``."""
        updates, episodes = self.updates, self.episodes

        def last(name: str) -> float:
            return updates[name][-1] if updates[name] else math.nan

        n_episodes = len(episodes["timesteps"])
        finals: dict[str, float] = {
            "n_updates": float(len(updates["timesteps"])),
            "entropy": last("entropy"),
            "entropy_loss": last("entropy_loss"),
            "value_loss": last("value_loss"),
            "approx_kl": last("approx_kl"),
            "explained_variance": _mean(updates["explained_variance"][-RECENT_UPDATES:]),
            "min_entropy_early": self._min_entropy_early(),
            "n_episodes": float(n_episodes),
            "completion_rate": _mean(episodes["completed"]),
            "stable_episode_rate": _mean(episodes["stable"]),
            "nonfinite_count": float(self.nonfinite_count),
            "reward_reconciliation_error": (
                max(episodes["reconciliation_error"]) if n_episodes else math.nan
            ),
            **self._episode_finals(),
        }
        return {
            "finals": finals,
            "series": {
                "updates": {key: list(values) for key, values in updates.items()},
                "episodes": {key: list(values) for key, values in episodes.items()},
            },
        }


class CurriculumCallback(BaseCallback):
    """Drives a :class:`~trader_env.env.Curriculum` from finished episodes' Sharpe ratios.

    One curriculum sees the episodes of every environment copy; when it advances, the new
    stage is pushed to all copies (``env_method("set_curriculum_stage", i)``; each applies it
    at its next session start). ``history`` lists the advancements with their timesteps.
    """

    def __init__(self, config: CurriculumConfig, verbose: int = 0):
        super().__init__(verbose)
        self.curriculum = Curriculum(config)
        self.history: list[dict[str, float]] = []

    def _on_step(self) -> bool:
        dones = self.locals["dones"]
        if not dones.any():
            return True
        infos = self.locals["infos"]
        for index in np.flatnonzero(dones):
            metrics = _episode_metrics(infos[index])
            if self.curriculum.record_episode(float(metrics["sharpe"])):
                advancement = self.curriculum.history[-1]
                self.training_env.env_method("set_curriculum_stage", self.curriculum.stage)
                self.history.append(
                    {
                        "timesteps": float(self.num_timesteps),
                        "episode": float(advancement.episode),
                        "from_stage": float(advancement.from_stage),
                        "to_stage": float(advancement.to_stage),
                        "mean_sharpe": advancement.mean_sharpe,
                    }
                )
                self.logger.record("curriculum/stage", self.curriculum.stage)
        return True

    def finals(self) -> dict[str, float]:
        """``curriculum_final_stage`` (index) and ``curriculum_graduated`` (0/1)."""
        return {
            "curriculum_final_stage": float(self.curriculum.stage),
            "curriculum_graduated": float(self.curriculum.graduated),
        }


class ProgressCallback(BaseCallback):
    """Reports timesteps, fps and ETA every ``interval_s`` seconds (and at the end).

    ``log`` is anything with ``info(str)``: Dagster passes ``context.log``; the default is the
    ``trader_env.training`` Python logger.
    """

    def __init__(self, interval_s: float = 30.0, log: SupportsInfo | None = None, label: str = ""):
        super().__init__(0)
        self.interval_s = interval_s
        self.log: SupportsInfo = log or logging.getLogger("trader_env.training")
        self.label = label
        self._start = 0.0
        self._last = 0.0
        self._start_timesteps = 0
        self._total = 0

    def _on_training_start(self) -> None:
        self._start = self._last = time.monotonic()
        self._start_timesteps = self.model.num_timesteps
        self._total = self.model._total_timesteps - self.model.num_timesteps

    def _on_step(self) -> bool:
        now = time.monotonic()
        if now - self._last >= self.interval_s:
            self._last = now
            self._report(now)
        return True

    def _on_training_end(self) -> None:
        self._report(time.monotonic())

    def _report(self, now: float) -> None:
        done = self.model.num_timesteps - self._start_timesteps
        elapsed = max(now - self._start, 1e-9)
        fps = done / elapsed
        remaining = max(self._total - done, 0)
        eta = remaining / fps if fps > 0 else math.inf
        prefix = f"{self.label}: " if self.label else ""
        self.log.info(
            f"{prefix}{done:,}/{self._total:,} timesteps ({100 * done / max(self._total, 1):.1f} %)"
            f", {fps:,.0f} fps, elapsed {elapsed:.0f} s, ETA {eta:.0f} s"
        )
