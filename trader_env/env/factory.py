"""Factories for single and vectorised environments (Stable-Baselines3 compatible)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import gymnasium as gym

from trader_env.contracts import MarketArrays
from trader_env.env.config import EnvConfig
from trader_env.env.trading_env import IntradayTradingEnv, Mode

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
) -> IntradayTradingEnv:
    """Build one environment.

    ``config`` defaults to the realistic phase-1 :class:`EnvConfig`; ``arrays`` default to the
    training split of the project's default data (train mode only). With ``seed`` the
    environment is reset with it once, and its action space seeded, so that later
    ``reset()`` calls follow a reproducible sequence.
    """
    data = _as_tuple(arrays) if arrays is not None else _default_arrays(mode)
    env = IntradayTradingEnv(data, config or EnvConfig(), mode=mode)
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


@dataclass(frozen=True)
class EnvFactory:
    """Picklable zero-argument constructor for ``DummyVecEnv`` / ``SubprocVecEnv``."""

    config: EnvConfig
    arrays: tuple[MarketArrays, ...]
    mode: Mode = "train"
    seed: int | None = None
    monitor: bool = True

    def __call__(self) -> gym.Env:
        env = IntradayTradingEnv(self.arrays, self.config, mode=self.mode)
        if self.seed is not None:
            env.action_space.seed(self.seed)
        if not self.monitor:
            return env
        from stable_baselines3.common.monitor import Monitor

        return Monitor(env)


def make_vec_env(
    config: EnvConfig | None,
    arrays: Sequence[MarketArrays] | None,
    n_envs: int,
    vec_env_cls: Literal["dummy", "subproc"] = "dummy",
    seed: int | None = None,
    monitor: bool = True,
    *,
    mode: Mode = "train",
    start_method: str | None = None,
) -> VecEnv:
    """``n_envs`` copies in an SB3 ``DummyVecEnv`` or ``SubprocVecEnv``.

    Copy ``i`` is seeded with ``seed + i`` (SB3's convention: applied at the first reset), so
    training copies play different episodes. Each copy is wrapped in SB3's ``Monitor`` when
    ``monitor`` is True. On two cores ``dummy`` is the faster choice (docs/architecture.md, 'Measured facts about the stack').
    In eval mode every copy plays the same symbols in the same order, so evaluate with one
    environment (:func:`make_env`) and ``len(env.symbols)`` episodes.
    ``start_method`` is passed to ``SubprocVecEnv`` (SB3 default: forkserver, whose workers
    re-import torch; ``"fork"`` starts them in milliseconds).
    """
    if n_envs < 1:
        raise ValueError(f"n_envs must be >= 1, got {n_envs}")
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    data = _as_tuple(arrays) if arrays is not None else _default_arrays(mode)
    env_config = config or EnvConfig()
    # Typed as SB3 takes them (a list is invariant in its element type).
    factories: list[Callable[[], gym.Env]] = [
        EnvFactory(
            env_config,
            data,
            mode=mode,
            seed=None if seed is None else seed + rank,
            monitor=monitor,
        )
        for rank in range(n_envs)
    ]
    if vec_env_cls == "dummy":
        vec_env: VecEnv = DummyVecEnv(factories)
    elif vec_env_cls == "subproc":
        vec_env = SubprocVecEnv(factories, start_method=start_method)
    else:
        raise ValueError(f"vec_env_cls must be 'dummy' or 'subproc', got {vec_env_cls!r}")
    if seed is not None:
        vec_env.seed(seed)
    return vec_env
