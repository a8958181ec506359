"""Checkpoint selection on a slice held out of the training split (neither validation nor test).

Research platforms keep the best epoch by a held-out return rather than the last one; here the
last ``fraction`` of the training sessions, after an embargo, is that held-out slice. The
policy is copied periodically while it trains and each copy is scored there (in the
background, while training goes on), the final policy once more at the end, and the weights
with the best score are the ones saved. The choice never sees the validation split,
where the gate is judged, nor the test split, which is only reported.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import BasePolicy

from trader_env.contracts import MarketArrays
from trader_env.env.config import EnvConfig
from trader_env.evaluation.backtest import BacktestResult, run_backtest
from trader_env.evaluation.backtest_result import Policy
from trader_env.evaluation.metrics import daily_turnover
from trader_env.evaluation.psr import (
    deflated_sharpe_ratio,
    per_period_sharpe,
    sample_excess_kurtosis,
    sample_skew,
    trial_sharpe_variance,
)
from trader_env.phase_config import SelectionConfig

_EPOCH = dt.date(1970, 1, 1)


def slice_sessions(arrays: MarketArrays, first: int, last: int) -> MarketArrays | None:
    """The bars of ``arrays`` whose ``session_id`` is in ``[first, last]`` (None if none)."""
    keep = (arrays.session_id >= first) & (arrays.session_id <= last)
    if not keep.any():
        return None
    # session_id is non-decreasing, so the kept bars are one contiguous range.
    start, stop = int(np.argmax(keep)), int(len(keep) - np.argmax(keep[::-1]))
    return MarketArrays(
        symbol=arrays.symbol,
        ts=arrays.ts[start:stop],
        open=arrays.open[start:stop],
        high=arrays.high[start:stop],
        low=arrays.low[start:stop],
        close=arrays.close[start:stop],
        features=arrays.features[start:stop],
        feature_names=arrays.feature_names,
        regime=arrays.regime[start:stop],
        session_id=arrays.session_id[start:stop],
        extras={name: values[start:stop] for name, values in arrays.extras.items()},
    )


def carve_selection_slice(
    arrays: Sequence[MarketArrays], fraction: float, embargo_sessions: int
) -> tuple[list[MarketArrays], list[MarketArrays], dict[str, Any]]:
    """Split the training arrays into (fit, selection) by sessions of the shared calendar.

    The selection slice is the last ``ceil(fraction x sessions)`` sessions; the
    ``embargo_sessions`` before it are dropped from both, so that no cross-session window of
    the slice's first bars reaches into bars the policy trained on. Returns the two lists (one
    :class:`MarketArrays` per symbol present) and a description (dates and session counts).
    Raises ``ValueError`` naming ``training.selection.fraction`` when a part would be empty.
    """
    sessions = np.unique(np.concatenate([a.session_id for a in arrays]))
    n_selection = math.ceil(fraction * len(sessions))
    n_fit = len(sessions) - n_selection - embargo_sessions
    if n_selection < 1 or n_fit < 1:
        raise ValueError(
            f"training.selection.fraction: {fraction} of {len(sessions)} training sessions "
            f"leaves {max(n_fit, 0)} to train on and {n_selection} to select on (embargo "
            f"{embargo_sessions}); both need at least one session"
        )
    fit_last, selection_first = sessions[n_fit - 1], sessions[-n_selection]
    fit = [s for a in arrays if (s := slice_sessions(a, int(sessions[0]), int(fit_last)))]
    selection = [
        s for a in arrays if (s := slice_sessions(a, int(selection_first), int(sessions[-1])))
    ]

    def day(session: int) -> str:
        return (_EPOCH + dt.timedelta(days=int(session))).isoformat()

    info = {
        "fit_sessions": n_fit,
        "fit_last_session": day(fit_last),
        "embargo_sessions": embargo_sessions,
        "selection_sessions": n_selection,
        "selection_first_session": day(selection_first),
        "selection_last_session": day(sessions[-1]),
    }
    return fit, selection, info


def selection_scores(result: BacktestResult) -> dict[str, float]:
    """Sharpe (annualised, daily; 0 when the returns do not vary, e.g. never trading), net
    P&L (money) and daily turnover (x total capital) of a backtest on the selection slice, and
    what its significance needs: the per-day Sharpe, the number of days, and the skewness and
    (non-excess) kurtosis of the daily returns (NaN when they do not vary)."""
    daily = result.daily_returns.to_numpy()
    per_day = per_period_sharpe(daily)
    per_day = per_day if math.isfinite(per_day) else 0.0
    return {
        "sharpe": per_day * math.sqrt(252),
        "sharpe_per_day": per_day,
        "days": float(len(daily)),
        "skew": sample_skew(daily),
        "kurtosis": sample_excess_kurtosis(daily) + 3.0,
        "net_pnl": float(result.bars["net_pnl"].sum()),
        "daily_turnover": daily_turnover(
            result.traded_notional_per_day, result.initial_capital * len(result.symbols)
        ),
    }


def deflated_selection_sharpe(
    kept: dict[str, float], candidates: Sequence[dict[str, float]]
) -> float:
    """Deflated Sharpe ratio of the ``kept`` candidate on the selection slice: the probability
    that its true daily Sharpe beats the expected best of ``len(candidates)`` luckless ones,
    with the spread of the candidates' daily Sharpes as the trials' variance (Bailey and
    Lopez de Prado, 2014; :func:`~trader_env.evaluation.psr.deflated_sharpe_ratio`).

    ``kept`` and ``candidates`` are :func:`selection_scores` records. NaN when the kept
    candidate's returns do not vary (e.g. it never trades): nothing to be significant about.
    """
    sharpes = [c["sharpe_per_day"] for c in candidates]
    return deflated_sharpe_ratio(
        kept["sharpe_per_day"],
        int(kept["days"]),
        kept["skew"],
        kept["kurtosis"],
        n_trials=max(len(sharpes), 1),
        trial_variance=trial_sharpe_variance(sharpes),
    )


@dataclass(frozen=True)
class SelectionSlice:
    """The held-out end of the training split that picks the checkpoint to keep
    (see :func:`carve_selection_slice`)."""

    arrays: list[MarketArrays]
    info: dict[str, Any]  # dates and session counts of the slice, recorded with the choice
    session_timezone: str

    def score(self, policy: Policy, env: EnvConfig) -> dict[str, float]:
        """:func:`selection_scores` of a deterministic backtest of ``policy`` in ``env`` on the
        slice."""
        return selection_scores(self.backtest(policy, env))

    def backtest(self, policy: Policy, env: EnvConfig) -> BacktestResult:
        """A deterministic backtest of ``policy`` in ``env`` on the slice."""
        return run_backtest(policy, self.arrays, env, session_timezone=self.session_timezone)


class CheckpointSelectionCallback(BaseCallback):
    """Copy the policy after the first update past every ``total_timesteps / checkpoints``
    steps and score the copy on the selection slice; score the final policy at the end of
    training; keep the best.

    Scoring is a deterministic backtest of a frozen copy (no random draws, no shared state),
    so the training run is the same with or without this callback and the scores are the
    same whenever they are computed. They are computed in a background thread while training
    goes on: PPO's update spends most of its time in torch kernels, which release the GIL, so
    on a machine with a spare core the backtests cost the training run little more than the
    final model's. After ``learn``, :meth:`restore_best` loads the best weights into the model
    and returns the record of the choice.
    """

    def __init__(
        self,
        selection: SelectionSlice,
        env_config: EnvConfig,
        settings: SelectionConfig,
        total_timesteps: int,
    ):
        super().__init__()
        self._slice = selection
        self._env = env_config
        self._metric = settings.metric
        self._significance = settings.significance
        self._every = max(total_timesteps // settings.checkpoints, 1)
        self._next = self._every
        #: (timesteps, a copy of the policy) of every checkpoint taken while training.
        self.checkpoints: list[tuple[int, BasePolicy]] = []
        self._pending: list[Future[dict[str, float]]] = []
        self._scorer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="selection")
        self.scores: list[dict[str, float]] = []
        self._best_score = -math.inf
        self._best_state: dict[str, Any] | None = None
        self._best_timesteps = -1
        self._best_index = -1

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        # A rollout starts right after the previous update, so the weights copied here are
        # those trained on every transition so far (a copy in _on_step would miss the
        # update of the rollout being collected).
        if self.num_timesteps >= self._next:
            self._next += self._every * math.ceil(
                (self.num_timesteps + 1 - self._next) / self._every
            )
            state = {k: v.detach().clone() for k, v in self.model.policy.state_dict().items()}
            policy = self._frozen(state)
            self.checkpoints.append((self.model.num_timesteps, policy))
            self._pending.append(self._scorer.submit(self._slice.score, policy, self._env))

    def _frozen(self, state: dict[str, Any]) -> BasePolicy:
        """A policy of the model's class and settings holding the weights ``state``."""
        model = self.model
        policy: BasePolicy = model.policy_class(
            model.observation_space,
            model.action_space,
            model.lr_schedule,
            use_sde=model.use_sde,
            **model.policy_kwargs,
        )
        policy.load_state_dict(state)
        policy.set_training_mode(False)
        return policy

    def _on_training_end(self) -> None:
        final = self._slice.score(self.model.policy, self._env)
        try:
            scored = [future.result() for future in self._pending] + [final]
        finally:
            self._scorer.shutdown(cancel_futures=True)
        timesteps = [t for t, _ in self.checkpoints] + [self.model.num_timesteps]
        states = [p.state_dict() for _, p in self.checkpoints] + [self.model.policy.state_dict()]
        for index, (steps, score) in enumerate(zip(timesteps, scored, strict=True)):
            self.scores.append({"timesteps": float(steps), **score})
            # Ties keep the later checkpoint: more training at the same held-out score.
            if score[self._metric] >= self._best_score:
                self._best_score = score[self._metric]
                self._best_state = copy.deepcopy(states[index])
                self._best_timesteps = steps
                self._best_index = index

    def restore_best(self) -> dict[str, Any]:
        """Load the best-scoring weights into the model; the record of what was kept and why.

        The record's ``deflated_sharpe`` (:func:`deflated_selection_sharpe` over every
        candidate scored) is judged against ``training.selection.significance`` when set:
        ``abstain`` is true when it falls short (or is NaN), and the caller saves an
        :class:`~trader_env.training.abstain.AbstainingPolicy` instead of the weights."""
        if self._best_state is None:
            raise RuntimeError("no checkpoint was scored on the selection slice")
        final = self.model.num_timesteps
        kept_final = self._best_timesteps == final
        if not kept_final:
            self.model.policy.load_state_dict(self._best_state)
        final_score = self.scores[-1][self._metric]
        reason = (
            f"the final model ({final:,} timesteps) scored best on the selection slice: "
            f"{self._metric} {final_score:.4g}"
            if kept_final
            else f"the checkpoint at {self._best_timesteps:,} of {final:,} timesteps scored "
            f"best on the selection slice: {self._metric} {self._best_score:.4g} against "
            f"{final_score:.4g} for the final model"
        )
        deflated = deflated_selection_sharpe(self.scores[self._best_index], self.scores)
        abstain = self._significance is not None and not deflated >= self._significance
        if self._significance is not None:
            verdict = "abstains: it never trades" if abstain else "trades"
            reason += (
                f"; its deflated Sharpe ratio there is {deflated:.3g} (the best of "
                f"{len(self.scores)} candidates), significance {self._significance:g}: the "
                f"phase {verdict}"
            )
        return {
            **self._slice.info,
            "metric": self._metric,
            "kept_timesteps": int(self._best_timesteps),
            "kept_score": float(self._best_score),
            "final_score": float(final_score),
            "kept_final": kept_final,
            "deflated_sharpe": deflated,
            "candidates": len(self.scores),
            "significance": self._significance,
            "abstain": abstain,
            "reason": reason,
            "scores": list(self.scores),
        }
