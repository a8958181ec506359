"""PPO whose rollouts run the policy in numpy: the same algorithm, without torch in the loop
that collects experience.

SB3's ``collect_rollouts`` calls the torch policy once per vectorised step: a tensor from the
observations, both MLPs, a ``Categorical`` distribution, a sample, its log-probability and
tensors back to numpy, ~350 us for a batch of 8-16 observations on one CPU thread, ~40 % of a
phase's training time. The same two MLPs as float32 numpy products cost ~60 us. So at each
rollout's start :class:`NumpyRolloutPPO` copies the actor and critic weights out of the torch
policy (they changed in the update before), and per step computes the logits and values in
numpy, samples each action from ``softmax(logits)`` with its own seeded generator and records
the sample's log-probability: what SB3 stores in the rollout buffer, computed from the same
weights in the same precision. The update (``train``) is SB3's, unchanged.

Everything else of SB3's rollout contract is kept: callbacks see ``rewards``, ``dones``,
``infos`` and the rest of the loop's locals at every step, a truncated episode is
bootstrapped with the value of its terminal observation, and the buffer's returns and
advantages come from SB3. Policies outside the numpy path (see
:func:`~trader_env.evaluation.inference.mlp_head`; gSDE) use SB3's own rollouts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.vec_env import VecEnv

from trader_env.evaluation.inference import forward, mlp_head

_Layers = list[tuple[np.ndarray, np.ndarray, str | None]]


class NumpyRolloutPolicy:
    """The actor and critic of an SB3 ``ActorCriticPolicy`` in float32 numpy, sampling
    actions with a numpy generator. Built from the policy's current weights."""

    def __init__(self, actor: _Layers, critic: _Layers, rng: np.random.Generator) -> None:
        self.actor = actor
        self.critic = critic
        self.rng = rng

    @classmethod
    def of(cls, policy: ActorCriticPolicy, rng: np.random.Generator) -> NumpyRolloutPolicy | None:
        """The numpy twin of ``policy``, or None when the policy is outside the numpy path."""
        actor = mlp_head(policy, "actor", cpu_only=False)
        critic = mlp_head(policy, "critic", cpu_only=False)
        if actor is None or critic is None:
            return None
        return cls(actor, critic, rng)

    def values(self, observations: np.ndarray) -> np.ndarray:
        """Critic values ``(n,)`` float32 of observations ``(n, *shape)``."""
        x = observations.reshape(observations.shape[0], -1).astype(np.float32, copy=False)
        values: np.ndarray = forward(self.critic, x)[:, 0]
        return values

    def act(self, observations: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sampled actions ``(n,)`` int64, their log-probabilities ``(n,)`` float32 and the
        critic values ``(n,)`` float32 of observations ``(n, *shape)``.

        Raises ``FloatingPointError`` when the policy's logits are not finite (its weights
        diverged): sampling from them would silently pick the first action.
        """
        n = observations.shape[0]
        x = observations.reshape(n, -1).astype(np.float32, copy=False)
        logits = forward(self.actor, x)
        if not np.isfinite(logits).all():
            raise FloatingPointError(
                "the policy's logits are not finite (its weights diverged): cannot sample actions"
            )
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        cumulative = np.cumsum(np.exp(log_probs), axis=1)
        draws = self.rng.random((n, 1), dtype=np.float32) * cumulative[:, -1:]
        actions = np.minimum((cumulative <= draws).sum(axis=1), logits.shape[1] - 1)
        chosen = log_probs[np.arange(n), actions]
        values: np.ndarray = forward(self.critic, x)[:, 0]
        return actions.astype(np.int64), chosen.astype(np.float32), values


class NumpyRolloutPPO(PPO):
    """SB3's PPO with rollouts collected by :class:`NumpyRolloutPolicy` (see the module
    docstring). Saved files are SB3 PPO files: ``PPO.load`` reads them, and this class reads
    files saved by ``PPO``."""

    _rollout_rng: np.random.Generator

    def set_random_seed(self, seed: int | None = None) -> None:
        """Seed SB3's generators and the rollout sampler's."""
        super().set_random_seed(seed)
        self._rollout_rng = np.random.default_rng(seed)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_rollout_rng"]

    def collect_rollouts(
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: RolloutBuffer,
        n_rollout_steps: int,
    ) -> bool:
        """Fill ``rollout_buffer`` with ``n_rollout_steps`` steps of every copy of ``env``
        (SB3's contract: False when a callback stopped the rollout)."""
        if not hasattr(self, "_rollout_rng"):
            self._rollout_rng = np.random.default_rng(self.seed)
        sampler = None
        if not self.use_sde and isinstance(self.policy, ActorCriticPolicy):
            sampler = NumpyRolloutPolicy.of(self.policy, self._rollout_rng)
        if sampler is None:
            return super().collect_rollouts(env, callback, rollout_buffer, n_rollout_steps)
        return self._collect(sampler, env, callback, rollout_buffer, n_rollout_steps)

    def _collect(
        self,
        sampler: NumpyRolloutPolicy,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: RolloutBuffer,
        n_rollout_steps: int,
    ) -> bool:
        assert self._last_obs is not None, "No previous observation was provided"
        self.policy.set_training_mode(False)
        n_steps = 0
        rollout_buffer.reset()
        callback.on_rollout_start()
        new_obs: Any = self._last_obs
        dones = np.asarray(self._last_episode_starts, dtype=bool)
        while n_steps < n_rollout_steps:
            actions, log_probs, values = sampler.act(np.asarray(self._last_obs))
            new_obs, rewards, dones, infos = env.step(actions)
            self.num_timesteps += env.num_envs
            # Callbacks read the loop's locals (SB3's contract): rewards, dones, infos, ...
            callback.update_locals(locals())
            if not callback.on_step():
                return False
            n_steps += 1
            if dones.any():
                self._update_info_buffer(infos, dones)
                for index in np.flatnonzero(dones):
                    info = infos[index]
                    terminal = info.get("terminal_observation")
                    if terminal is not None and info.get("TimeLimit.truncated", False):
                        # A truncated episode continues beyond the data: bootstrap its value.
                        terminal_value = sampler.values(np.asarray(terminal)[None])[0]
                        rewards[index] += self.gamma * terminal_value
            rollout_buffer.add(
                self._last_obs,  # type: ignore[arg-type]
                actions.reshape(-1, 1),
                rewards,
                self._last_episode_starts,  # type: ignore[arg-type]
                torch.from_numpy(values),
                torch.from_numpy(log_probs),
            )
            self._last_obs = new_obs
            self._last_episode_starts = dones
        last_values = torch.from_numpy(sampler.values(np.asarray(new_obs)))
        rollout_buffer.compute_returns_and_advantage(last_values=last_values, dones=dones)
        callback.update_locals(locals())
        callback.on_rollout_end()
        return True
