"""Checkpoint selection on a slice held out of the training split (neither validation nor test).

Research platforms keep the best epoch by a held-out return rather than the last one; here the
last ``fraction`` of the training sessions, after an embargo, is that held-out slice. The
policy is copied periodically while it trains and each copy is scored there (by a worker
process, while training goes on), the final policy once more at the end, and the weights
with the best score are the ones saved. The choice never sees the validation split,
where the gate is judged, nor the test split, which is only reported.
"""

from __future__ import annotations

import datetime as dt
import math
import multiprocessing as mp
import weakref
from collections.abc import Sequence
from concurrent.futures import (
    BrokenExecutor,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
)
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


def _no_learning(_progress: float) -> float:
    """The learning-rate schedule of a policy copy that is only scored (picklable)."""
    return 0.0


@dataclass(frozen=True)
class PolicyCopy:
    """Everything needed to rebuild a policy with given weights, in this process or another:
    its class, spaces and keyword arguments, and the weights (CPU tensors)."""

    policy_class: type[BasePolicy]
    observation_space: Any
    action_space: Any
    kwargs: dict[str, Any]
    state: dict[str, Any]

    @classmethod
    def of(cls, model: Any) -> PolicyCopy:
        """A copy of ``model``'s current policy (an SB3 on-policy algorithm)."""
        state = {k: v.detach().to("cpu", copy=True) for k, v in model.policy.state_dict().items()}
        kwargs = {"use_sde": model.use_sde, **model.policy_kwargs}
        return cls(model.policy_class, model.observation_space, model.action_space, kwargs, state)

    def build(self) -> BasePolicy:
        """The policy, in evaluation mode, on the CPU."""
        policy = self.policy_class(
            self.observation_space, self.action_space, _no_learning, **self.kwargs
        )
        policy.load_state_dict(self.state)
        policy.set_training_mode(False)
        return policy


def _score_copy(
    selection: SelectionSlice, env: EnvConfig, policy_copy: PolicyCopy
) -> dict[str, float]:
    """:meth:`SelectionSlice.score` of a rebuilt policy copy (runs in the scoring worker)."""
    return selection.score(policy_copy.build(), env)


def _scoring_worker() -> Executor:
    """Where checkpoints are scored while training goes on: a worker process where this
    process may start one (``forkserver``, else ``spawn``: a fresh interpreter, never a fork
    of a process with threads), else a thread (daemonic processes, e.g. a Celery worker's
    pool, may not have children). Like any such worker it imports the main module: a script
    that trains at top level, without ``if __name__ == "__main__":``, gets multiprocessing's
    error from the worker and its scores computed in the training process instead."""
    if mp.current_process().daemon:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="selection")
    methods = mp.get_all_start_methods()
    context = mp.get_context("forkserver" if "forkserver" in methods else "spawn")
    return ProcessPoolExecutor(max_workers=1, mp_context=context)


class CheckpointSelectionCallback(BaseCallback):
    """Copy the policy after the first update past every ``total_timesteps / checkpoints``
    steps and score the copy on the selection slice; score the final policy at the end of
    training; keep the best.

    Scoring is a deterministic backtest of a copy (no random draws, no shared state), so the
    training run is the same with or without this callback and a score is the same wherever
    it is computed. The copies are scored by a worker process while training goes on (its
    own interpreter: no GIL shared with the training loop), so on a machine with a spare core
    the backtests cost the training run little more than the final model's. After ``learn``,
    :meth:`restore_best` loads the best weights into the model and returns the record of the
    choice.
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
        #: (timesteps, the policy's copy) of every checkpoint taken while training.
        self.checkpoints: list[tuple[int, PolicyCopy]] = []
        self._pending: list[Future[dict[str, float]]] = []
        self._scorer: Executor | None = None
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
            copy_ = PolicyCopy.of(self.model)
            self.checkpoints.append((self.model.num_timesteps, copy_))
            if self._scorer is None:
                self._scorer = _scoring_worker()
                # Never left running by a training run that fails before its end.
                weakref.finalize(self, self._scorer.shutdown, wait=False, cancel_futures=True)
            self._pending.append(self._scorer.submit(_score_copy, self._slice, self._env, copy_))

    def _checkpoint_score(self, index: int) -> dict[str, float]:
        """Checkpoint ``index``'s score from the worker, or computed here if the worker died
        (the same numbers: the backtest is deterministic)."""
        try:
            return self._pending[index].result()
        except BrokenExecutor:
            return _score_copy(self._slice, self._env, self.checkpoints[index][1])

    def _on_training_end(self) -> None:
        final = self._slice.score(self.model.policy, self._env)
        try:
            scored = [self._checkpoint_score(i) for i in range(len(self._pending))] + [final]
        finally:
            if self._scorer is not None:
                self._scorer.shutdown(cancel_futures=True)
        final_state = {k: v.detach().clone() for k, v in self.model.policy.state_dict().items()}
        timesteps = [t for t, _ in self.checkpoints] + [self.model.num_timesteps]
        states = [c.state for _, c in self.checkpoints] + [final_state]
        for index, (steps, score) in enumerate(zip(timesteps, scored, strict=True)):
            self.scores.append({"timesteps": float(steps), **score})
            # Ties keep the later checkpoint: more training at the same held-out score.
            if score[self._metric] >= self._best_score:
                self._best_score = score[self._metric]
                self._best_state = states[index]
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
