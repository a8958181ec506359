"""Environment copies stepped in one process under Stable-Baselines3's ``VecEnv`` contract,
without the copies SB3's ``DummyVecEnv`` makes on every step.

``DummyVecEnv.step_wait`` deep-copies every info dict and the observation buffer on every
step, because a generic environment may hand out objects it mutates later. Profiled on phase 2
(8 copies) that copy was 27 % of ``learn()``. :class:`IntradayTradingEnv` returns fresh values
on every step (a new observation array, a new info dict of immutable values), so nothing needs
copying; and training copies run with ``info="episode"`` (nothing per bar, the episode's
summary at its end). What SB3 reads stays as it documents it: ``terminal_observation`` and
``TimeLimit.truncated`` in the info of a copy whose episode ended (which is then reset),
seeds applied at the next reset (copy ``i`` gets ``seed + i``), ``env_method``, ``get_attr``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

from trader_env.env.trading_env import IntradayTradingEnv


class InProcessVecEnv(DummyVecEnv):
    """Copies of :class:`IntradayTradingEnv` stepped in sequence in this process.

    ``step`` returns a new observation array ``(n_envs, window, n_columns)`` float32 (SB3's
    rollout buffer and ``_last_obs`` keep references to it), rewards ``(n_envs,)`` float32 (as
    ``DummyVecEnv``), dones ``(n_envs,)`` bool and the environments' own info dicts.
    """

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]]):
        super().__init__(list(env_fns))
        for index, env in enumerate(self.envs):
            if type(env) is not IntradayTradingEnv:
                raise TypeError(
                    f"InProcessVecEnv steps IntradayTradingEnv copies without copying their "
                    f"infos; copy {index} is a {type(env).__name__} (use SB3's DummyVecEnv)"
                )
        space = self.observation_space
        assert space.shape is not None  # IntradayTradingEnv observes a Box
        self._obs_shape = (self.num_envs, *space.shape)
        self._obs_dtype = space.dtype

    def step_wait(self) -> VecEnvStepReturn:
        observations = np.empty(self._obs_shape, dtype=self._obs_dtype)
        rewards = np.empty(self.num_envs, dtype=np.float32)
        dones = np.empty(self.num_envs, dtype=bool)
        infos = []
        actions = self.actions
        for index, env in enumerate(self.envs):
            obs, reward, terminated, truncated, info = env.step(actions[index])
            done = terminated or truncated
            if done:
                info["TimeLimit.truncated"] = truncated and not terminated
                info["terminal_observation"] = obs
                obs, self.reset_infos[index] = env.reset()
            observations[index] = obs
            rewards[index] = reward
            dones[index] = done
            infos.append(info)
        return observations, rewards, dones, infos
