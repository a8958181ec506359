"""Factories for single and vectorised environments (Stable-Baselines3 compatible)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import gymnasium as gym

from trader_env.contracts import MarketArrays
from trader_env.env.config import EnvConfig
from trader_env.env.step_data import StepData, prepare_step_data
from trader_env.env.trading_env import InfoLevel, IntradayTradingEnv, Mode

#: Training's ``vec_env`` setting and what it resolves to (:func:`resolve_vec_env`).
VecEnvChoice = Literal["auto", "inprocess", "subproc"]
VecEnvKind = Literal["inprocess", "subproc"]

if TYPE_CHECKING:
    from stable_baselines3.common.vec_env import VecEnv


def _default_arrays(mode: Mode) -> tuple[MarketArrays, ...]:
    if mode != "train":
        raise ValueError("mode='eval' needs explicit arrays (the split to evaluate on)")
    from trader_env.dataset import default_market_arrays

    loaded = default_market_arrays(split="train")
    return (loaded,) if isinstance(loaded, MarketArrays) else tuple(loaded)


def _as_tuple(arrays: Sequence[MarketArrays] | MarketArrays) -> tuple[MarketArrays, ...]:
    return (arrays,) if isinstance(arrays, MarketArrays) else tuple(arrays)


def make_env(
    config: EnvConfig | None = None,
    arrays: Sequence[MarketArrays] | None = None,
    *,
    mode: Mode = "train",
    seed: int | None = None,
    info: InfoLevel = "bar",
) -> IntradayTradingEnv:
    """Build one environment.

    ``config`` defaults to the realistic phase-1 :class:`EnvConfig`; ``arrays`` default to the
    training split of the project's default data (train mode only). With ``seed`` the
    environment is reset with it once, and its action space seeded, so that later
    ``reset()`` calls follow a reproducible sequence. ``info``: what each step reports (see
    :class:`IntradayTradingEnv`).
    """
    data = _as_tuple(arrays) if arrays is not None else _default_arrays(mode)
    env = IntradayTradingEnv(data, config or EnvConfig(), mode=mode, info=info)
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


@dataclass(frozen=True)
class EnvFactory:
    """Picklable zero-argument constructor of one copy (``SubprocVecEnv`` pickles it)."""

    config: EnvConfig
    arrays: tuple[MarketArrays, ...]
    mode: Mode = "train"
    seed: int | None = None
    info: InfoLevel = "bar"
    prepared: tuple[StepData, ...] | None = None  # shared by in-process copies

    def __call__(self) -> IntradayTradingEnv:
        env = IntradayTradingEnv(
            self.arrays, self.config, mode=self.mode, info=self.info, prepared=self.prepared
        )
        if self.seed is not None:
            env.action_space.seed(self.seed)
        return env


def resolve_vec_env(choice: VecEnvChoice, n_envs: int, cores: int | None = None) -> VecEnvKind:
    """The vectorisation ``auto`` stands for: a process per copy (``subproc``) when the machine
    gives every copy a core of its own with as many left for the learner (``cores >= 2 x
    n_envs``; ``cores`` defaults to the cores this process may run on), else ``inprocess``.

    On two cores ``inprocess`` is the faster (benchmarks/results/training.md): one step of a
    copy costs a few microseconds, less than sending it to another process and back.
    """
    if choice != "auto":
        return choice
    available = cores if cores is not None else len(os.sched_getaffinity(0))
    return "subproc" if available >= 2 * n_envs else "inprocess"


def make_vec_env(
    config: EnvConfig | None,
    arrays: Sequence[MarketArrays] | None,
    n_envs: int,
    vec_env_cls: VecEnvChoice = "inprocess",
    seed: int | None = None,
    *,
    mode: Mode = "train",
    start_method: str | None = None,
    info: InfoLevel = "episode",
) -> VecEnv:
    """``n_envs`` copies of the environment as an SB3 ``VecEnv``.

    ``vec_env_cls``: ``inprocess`` (:class:`~trader_env.env.vec_env.InProcessVecEnv`, every
    copy in this process), ``subproc`` (SB3's ``SubprocVecEnv``, a process per copy;
    ``start_method`` is passed to it: SB3's default forkserver re-imports torch in every
    worker, ``"fork"`` starts them in milliseconds) or ``auto`` (:func:`resolve_vec_env`).
    Copy ``i`` is seeded with ``seed + i`` (SB3's convention: applied at the first reset), so
    training copies play different episodes. ``info``: what each step reports
    (:class:`IntradayTradingEnv`; training reads only the episode summaries). No SB3
    ``Monitor``: the environment reports its own episode summaries. In eval mode every copy
    plays the same symbols in the same order, so evaluate with one environment
    (:func:`make_env`) and ``len(env.symbols)`` episodes.
    """
    if n_envs < 1:
        raise ValueError(f"n_envs must be >= 1, got {n_envs}")
    if vec_env_cls not in ("auto", "inprocess", "subproc"):
        raise ValueError(
            f"vec_env_cls must be 'auto', 'inprocess' or 'subproc', got {vec_env_cls!r}"
        )
    from stable_baselines3.common.vec_env import SubprocVecEnv

    from trader_env.env.vec_env import InProcessVecEnv

    data = _as_tuple(arrays) if arrays is not None else _default_arrays(mode)
    env_config = config or EnvConfig()
    kind = resolve_vec_env(vec_env_cls, n_envs)
    # In-process copies share one validated, precomputed copy of the data (~80 ms a symbol
    # each otherwise); a subprocess prepares its own rather than receive it pickled.
    prepared = None
    if kind == "inprocess" and n_envs > 1:
        prepared = tuple(prepare_step_data(a, env_config) for a in data)
    # Typed as SB3 takes them (a list is invariant in its element type).
    factories: list[Callable[[], gym.Env]] = [
        EnvFactory(
            env_config,
            data,
            mode=mode,
            seed=None if seed is None else seed + rank,
            info=info,
            prepared=prepared,
        )
        for rank in range(n_envs)
    ]
    vec_env: VecEnv
    if kind == "subproc":
        vec_env = SubprocVecEnv(factories, start_method=start_method)
    else:
        vec_env = InProcessVecEnv(factories)
    if seed is not None:
        vec_env.seed(seed)
    return vec_env
