"""Factories for single and vectorised environments (Stable-Baselines3 compatible)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import gymnasium as gym
import numpy as np

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


class SeedShift(gym.Wrapper[np.ndarray, int, np.ndarray, int]):
    """Adds ``shift`` to every seed given to ``reset``: a vectorised env seeds copy ``i`` with
    ``seed + i``, so a copy shifted by ``-j`` draws the same episodes as copy ``i - j``."""

    def __init__(self, env: gym.Env[np.ndarray, int], shift: int):
        super().__init__(env)
        self._shift = shift

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        return self.env.reset(seed=None if seed is None else seed + self._shift, options=options)


@dataclass(frozen=True)
class EnvFactory:
    """Picklable zero-argument constructor for ``DummyVecEnv`` / ``SubprocVecEnv``."""

    config: EnvConfig
    arrays: tuple[MarketArrays, ...]
    mode: Mode = "train"
    seed: int | None = None
    monitor: bool = True
    seed_shift: int = 0  # see SeedShift

    def __call__(self) -> gym.Env:
        env: gym.Env = IntradayTradingEnv(self.arrays, self.config, mode=self.mode)
        if self.seed is not None:
            env.action_space.seed(self.seed)
        if self.seed_shift:
            env = SeedShift(env, self.seed_shift)
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
    mirrored: Sequence[MarketArrays] = (),
) -> VecEnv:
    """``n_envs`` copies in an SB3 ``DummyVecEnv`` or ``SubprocVecEnv``.

    Copy ``i`` is seeded with ``seed + i`` (SB3's convention: applied at the first reset), so
    training copies play different episodes. With ``mirrored`` (one array per array of
    ``arrays``, same bars, e.g. :meth:`~trader_env.dataset.Dataset.mirrored`; ``n_envs``
    even), copies are antithetic pairs: copy ``n_envs / 2 + j`` plays on ``mirrored`` the
    episodes that copy ``j`` plays on ``arrays`` (the same windows in the same order: episode
    draws depend only on the copy's seed), so a rollout holds each window in both directions
    and what a window's drift adds to the gradient of one copy, its mirror takes away.
    Each copy is wrapped in SB3's ``Monitor`` when ``monitor`` is True. On two cores
    ``dummy`` is the faster choice (docs/architecture.md, 'Measured facts about the stack').
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
    mirror = tuple(mirrored)
    half = n_envs // 2 if mirror else n_envs
    if mirror:
        _check_pairs(data, mirror, n_envs)

    def factory(rank: int) -> EnvFactory:
        shift = -half if rank >= half else 0  # copy half + j draws copy j's episodes
        return EnvFactory(
            env_config,
            mirror if rank >= half else data,
            mode=mode,
            seed=None if seed is None else seed + rank + shift,
            monitor=monitor,
            seed_shift=shift,
        )

    # Typed as SB3 takes them (a list is invariant in its element type).
    factories: list[Callable[[], gym.Env]] = [factory(rank) for rank in range(n_envs)]
    if vec_env_cls == "dummy":
        vec_env: VecEnv = DummyVecEnv(factories)
    elif vec_env_cls == "subproc":
        vec_env = SubprocVecEnv(factories, start_method=start_method)
    else:
        raise ValueError(f"vec_env_cls must be 'dummy' or 'subproc', got {vec_env_cls!r}")
    if seed is not None:
        vec_env.seed(seed)
    return vec_env


def _check_pairs(
    arrays: tuple[MarketArrays, ...], mirrored: tuple[MarketArrays, ...], n_envs: int
) -> None:
    if n_envs % 2:
        raise ValueError(f"mirrored copies come in pairs: n_envs must be even, got {n_envs}")
    if len(arrays) != len(mirrored):
        raise ValueError(f"{len(mirrored)} mirrored arrays for {len(arrays)} arrays")
    for real, mirror in zip(arrays, mirrored, strict=True):
        if mirror.symbol != real.symbol or not np.array_equal(mirror.ts, real.ts):
            raise ValueError(
                f"mirrored[{mirror.symbol}] does not have the bars of arrays[{real.symbol}]: a "
                "pair must play the same episodes"
            )
