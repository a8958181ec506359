"""Fast deterministic inference for SB3 policies: the action of ``predict(deterministic=True)``
computed in numpy from the policy's own weights.

SB3's ``predict`` costs ~0.2-0.5 ms per call on the phase networks (observation 5 x 18, MLP
64 x 64): eval-mode switch, numpy -> tensor conversion, preprocessing, a ``Categorical``
distribution object, tensor -> numpy. The same layers as float32 numpy matmuls cost a few
microseconds; the backtest calls the policy once per bar, so this is what bounds evaluation.

:func:`fast_policy` recognises two policy classes, exactly (subclasses may override the
forward pass, so they fall back):

- ``ActorCriticPolicy`` (PPO ``MlpPolicy``): flatten the float32 observation (SB3's
  ``FlattenExtractor``), the actor MLP (``mlp_extractor.policy_net``: ``Linear`` layers with
  ``Tanh`` or ``ReLU``), ``action_net``, argmax of the logits. The actor's own features
  extractor is used, so shared or separate pi/vf extractors both work; the critic is never
  evaluated (the action does not depend on it).
- ``RecurrentActorCriticPolicy`` (sb3-contrib RecurrentPPO ``MlpLstmPolicy``): the same with
  the actor LSTM (``lstm_actor``, any number of layers) between the flatten and the MLP. The
  state is SB3's own format, ``(h, c)`` float32 arrays of shape ``(n_lstm_layers, n_envs,
  hidden)``, zeros when None, reset per environment where ``episode_start`` is True, so states
  can be passed between this object and SB3's ``predict`` either way. ``shared_lstm`` and
  ``enable_critic_lstm`` only change the critic, which is not evaluated.

Exactness. SB3 picks the argmax of ``softmax(logits)`` computed by torch in float32.

- Feed-forward policies: exact by construction. The logits are computed in float64 from the
  float32 observation and weights (i.e. almost exactly), and every call bounds how far
  torch's float32 logits can be from them (Higham's ``gamma_n`` bound per ``Linear``, a few
  ulps per activation, propagated through the layers from the largest observation value).
  When a row's two largest logits are closer than twice that bound plus the ulps where
  torch's softmax can tie them, the whole batch is answered by the model's own ``predict``.
  The bound is a worst case (~1e-4 on the phase networks, actual differences ~1e-7), so an
  untrained model (logits ~1e-2 apart) falls back on a few percent of calls, a trained one
  almost never.
- Recurrent policies (float32 numpy, like torch): the LSTM state is carried by each
  implementation, so a near-tie cannot be handed back to SB3 without its torch state; this
  path therefore takes the numpy argmax. (Replaying torch's own LSTM per call would keep the
  state bit-exact but costs ~250 us, as much as the rest of ``predict``.)
  The two states differ by float32 rounding (~1e-7; torch's own LSTM gives different bits
  with and without oneDNN), so actions can differ only where two logits are within that
  rounding of each other, i.e. where the policy is indifferent. The tests check equality
  over thousands of steps of trained and untrained models.

Falls back to the model itself (its ``predict``, unchanged) for: anything that is not an SB3
algorithm or policy (e.g. rule-based policies), any other policy class (CNN, multi-input,
SAC/DQN/... policies, subclasses), a features extractor other than ``FlattenExtractor``, an
observation space that is not a non-image ``Box``, an action space other than
``Discrete(n)`` starting at 0, activations other than ``Tanh``/``ReLU``, non-float32
weights, a policy on a device other than the CPU (GPU kernels round differently), an LSTM
that is bidirectional, has projections or no biases; and, per call, for
``deterministic=False``, observations that are not one vectorised batch of the observation
space's shape (a single unbatched observation, dicts), and the near-ties described above.

The weights are copied when :func:`fast_policy` is called: train first, then wrap.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from trader_env.evaluation.backtest_result import Policy

if TYPE_CHECKING:  # SB3 and torch are imported lazily: rule-based policies never need them
    from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
    from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy

#: float32 and float64 unit roundoffs.
_U32 = 2.0**-24
_U64 = 2.0**-53
#: Error of one float32 activation (tanh, sigmoid via tanh), in units of the roundoff, for
#: values of magnitude <= 1: numpy's and torch's vectorised tanh are accurate to 1-4 ulps.
_ACTIVATION_ULPS = 8.0

#: Smallest ``rows * in * out`` for which OpenBLAS multithreads a matrix product.
_BLAS_THREADING_SIZE = 2**18

_Layer = tuple[np.ndarray, np.ndarray, str | None]  # weight (in, out), bias (out,), activation


def fast_policy(model: Policy) -> Policy:
    """A fast ``predict`` for ``model`` (an SB3 algorithm or policy), or ``model`` itself.

    Returns an object with SB3's ``predict(observation, state=None, episode_start=None,
    deterministic=False) -> (actions, state)``: :class:`FastMlpPolicy` or
    :class:`FastLstmPolicy` when the policy is recognised (see the module docstring for
    what is and the exactness argument), else ``model`` unchanged.
    """
    policy = _sb3_policy(model)
    if policy is None:
        return model
    if type(policy).__name__ == "ActorCriticPolicy":
        from stable_baselines3.common.policies import ActorCriticPolicy

        if type(policy) is ActorCriticPolicy:
            head = _actor_head(policy)
            return model if head is None else FastMlpPolicy(model, policy, head)
    if type(policy).__name__ == "RecurrentActorCriticPolicy":
        from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy

        if type(policy) is RecurrentActorCriticPolicy:
            head = _actor_head(policy)
            lstm = _lstm_layers(policy)
            if head is None or lstm is None:
                return model
            return FastLstmPolicy(model, policy, lstm, head)
    return model


def _sb3_policy(model: object) -> BasePolicy | None:
    """The SB3 ``BasePolicy`` of an algorithm or policy, None for anything else."""
    if "stable_baselines3" not in sys.modules:
        return None  # no SB3 object can exist; rule-based policies need no torch import
    from stable_baselines3.common.base_class import BaseAlgorithm
    from stable_baselines3.common.policies import BasePolicy

    if isinstance(model, BaseAlgorithm):
        return model.policy
    if isinstance(model, BasePolicy):
        return model
    return None


def _actor_head(policy: ActorCriticPolicy) -> list[_Layer] | None:
    """Actor layers after the features (``policy_net`` then ``action_net``), or None when
    the policy's input, output or layers are outside what the numpy path reproduces."""
    import torch
    from gymnasium import spaces
    from stable_baselines3.common.distributions import CategoricalDistribution
    from stable_baselines3.common.preprocessing import is_image_space
    from stable_baselines3.common.torch_layers import FlattenExtractor, MlpExtractor

    if not isinstance(policy.observation_space, spaces.Box) or is_image_space(
        policy.observation_space
    ):
        return None
    action_space = policy.action_space
    if not isinstance(action_space, spaces.Discrete) or int(action_space.start) != 0:
        return None
    if type(policy.action_dist) is not CategoricalDistribution:
        return None
    if type(policy.pi_features_extractor) is not FlattenExtractor:
        return None
    if type(policy.mlp_extractor) is not MlpExtractor:
        return None
    if policy.device.type != "cpu":
        return None
    if any(p.dtype != torch.float32 for p in policy.parameters()):
        return None
    modules = [*policy.mlp_extractor.policy_net, policy.action_net]
    layers: list[_Layer] = []
    for module in modules:
        if type(module) is torch.nn.Linear and module.bias is not None:
            weight = module.weight.detach().numpy().T.copy()  # (in, out): x @ weight
            layers.append((weight, module.bias.detach().numpy().copy(), None))
        elif type(module) in (torch.nn.Tanh, torch.nn.ReLU) and layers and layers[-1][2] is None:
            weight, bias, _ = layers[-1]
            layers[-1] = (weight, bias, "tanh" if type(module) is torch.nn.Tanh else "relu")
        else:
            return None
    if layers[-1][2] is not None or layers[-1][0].shape[1] != action_space.n:
        return None  # action_net must be the last, linear layer with n outputs
    return layers


class _ErrorBound:
    """Bound on ``|torch's float32 logit - the exact logit|``, affine in the largest input.

    For a ``Linear`` with fan-in ``n`` computed in floating point in any order (torch's
    float32, this module's float64), ``|fl(Wx + b) - (Wx + b)| <= gamma_{n+1} (|W||x| + |b|)``
    with ``gamma_m = m u / (1 - m u)`` (Higham, Accuracy and Stability of Numerical
    Algorithms, 3.5); ``u`` here is the sum of both roundoffs, so the bound covers the
    difference between the two computations. An input error ``e`` adds ``|W| e``. Per layer,
    with ``R = max_i sum_j |W_ij|`` and ``B = max |b|``: magnitude ``S = R H + B`` (``H``
    bounds the input), error ``E' = gamma S + R E``; ``tanh`` keeps ``H = 1``, is
    1-Lipschitz and adds its own rounding, ``relu`` is exact with ``H = S``. Every step is
    affine in the input bound ``X``, so the bound is ``offset + slope * X``.
    """

    def __init__(self, layers: list[_Layer]) -> None:
        self.layers = [
            (
                float(np.abs(weight).sum(axis=0).max()),
                float(np.abs(bias).max()),
                weight.shape[0],
                activation,
            )
            for weight, bias, activation in layers
        ]
        self.offset = self._at(0.0)
        self.slope = self._at(1.0) - self.offset

    def _at(self, x_max: float) -> float:
        bound, error = x_max, 0.0
        for row_sum, bias_max, fan_in, activation in self.layers:
            m = (fan_in + 1) * (_U32 + _U64)
            gamma = m / (1.0 - m)
            magnitude = row_sum * bound + bias_max
            error = gamma * magnitude + row_sum * error
            if activation == "tanh":
                bound, error = 1.0, error + _ACTIVATION_ULPS * _U32
            elif activation == "relu":
                bound = magnitude * (1.0 + gamma)
        return error

    def __call__(self, x_max: float) -> float:
        return self.offset + self.slope * x_max


def _rows_times(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``x @ weight`` for ``x`` ``(n, in)``, kept on one thread.

    OpenBLAS splits a product over threads from ``n * in * out >= 2**18`` on (its
    ``GEMM_MULTITHREAD_THRESHOLD``); on a busy 2-core machine that made a (4, 291) x
    (291, 1024) LSTM product take 1.5-3 ms instead of ~0.1 ms. Below that size ``np.dot``
    (the least overhead); above it a stacked product, which numpy computes row by row.
    """
    small = x.shape[0] * weight.size < _BLAS_THREADING_SIZE
    # numpy types both products as Any: the annotation states what they are.
    product: np.ndarray = np.dot(x, weight) if small else (x[:, None, :] @ weight)[:, 0, :]
    return product


def _forward(layers: list[_Layer], x: np.ndarray) -> np.ndarray:
    """Forward pass of ``layers`` over rows of ``x`` ``(n, in)`` -> ``(n, out)``, in the
    layers' dtype (``x`` must have it: a mixed-dtype matmul is slower)."""
    for weight, bias, activation in layers:
        x = _rows_times(x, weight)
        x += bias
        if activation == "tanh":
            np.tanh(x, out=x)
        elif activation == "relu":
            np.maximum(x, 0.0, out=x)
    return x


class FastMlpPolicy:
    """Deterministic ``predict`` of a PPO ``MlpPolicy`` in numpy (see the module docstring).

    The logits are computed in float64 from the float32 observation and weights, i.e. almost
    exactly, so only torch's float32 rounding has to be bounded. ``fallback`` is the wrapped
    model (its ``predict`` answers everything this does not); ``fallback_calls`` counts the
    calls it answered.
    """

    def __init__(self, model: Policy, policy: ActorCriticPolicy, head: list[_Layer]) -> None:
        self.fallback = model
        shape = policy.observation_space.shape
        assert shape is not None  # _actor_head accepted only a Box space, which has a shape
        self.observation_shape = tuple(shape)
        self.n_inputs = int(np.prod(self.observation_shape))
        # Each bias is the last row of its weight, multiplied by a constant 1 column of the
        # layer's input buffer: one product per layer instead of a product and an addition.
        self.layers = [(np.vstack([w, b[None, :]]).astype(np.float64), a) for w, b, a in head]
        self.bound = _ErrorBound(head)
        self.fallback_calls = 0
        self._buffers: dict[int, list[np.ndarray]] = {}

    def logits(self, x: np.ndarray) -> np.ndarray:
        """float64 logits ``(n, n_actions)`` of float32 flattened observations ``x`` ``(n, in)``.

        Not thread-safe: the layer inputs live in buffers reused across calls.
        """
        buffers = self._buffers.get(x.shape[0])
        if buffers is None:
            buffers = [np.ones((x.shape[0], w.shape[0]), dtype=np.float64) for w, _ in self.layers]
            self._buffers[x.shape[0]] = buffers
        buffers[0][:, :-1] = x
        out = buffers[0]
        for k, (weight, activation) in enumerate(self.layers):
            out = _rows_times(buffers[k], weight)
            if activation == "tanh":
                np.tanh(out, out=buffers[k + 1][:, :-1])
            elif activation == "relu":
                np.maximum(out, 0.0, out=buffers[k + 1][:, :-1])
            elif k + 1 < len(self.layers):  # two consecutive Linear layers
                buffers[k + 1][:, :-1] = out
        return out

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, Any]:
        """SB3's ``predict``: actions ``(n_envs,)`` int64 and ``state`` unchanged."""
        obs = _batch(observation, self.observation_shape) if deterministic else None
        if obs is not None and obs.size:
            x = obs.reshape(obs.shape[0], self.n_inputs)
            logits = self.logits(x)
            actions = _decided(logits.tolist(), self.bound(float(np.abs(x).max())))
            if actions is not None:
                return np.array(actions, dtype=np.int64), state
        self.fallback_calls += 1
        return self.fallback.predict(
            observation, state=state, episode_start=episode_start, deterministic=deterministic
        )


def _batch(observation: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    """``observation`` as a float32 ``(n_envs, *shape)`` array (SB3's ``.float()`` cast), or
    None when it is not one vectorised batch (SB3 then handles it, or raises)."""
    if type(observation) is np.ndarray:
        obs = observation
    elif isinstance(observation, dict | tuple):
        return None
    else:
        obs = np.asarray(observation)
    if obs.ndim != len(shape) + 1 or obs.shape[1:] != shape or obs.dtype.kind not in "fiub":
        return None
    return obs if obs.dtype == np.float32 else obs.astype(np.float32)


def _decided(rows: list[list[float]], error: float) -> list[int] | None:
    """Argmax of each row of logits, or None when a row's two largest are too close to call.

    ``error`` bounds ``|torch's logit - this logit|``, so torch's gap between two logits is
    at least this gap minus twice that. Torch's softmax can then still tie (or swap) logits
    a few ulps apart: it subtracts the log-sum-exp (magnitude <= 2 max|logit| + log n) and
    exponentiates, each within a few ulps; 16 ulps of that magnitude covers both.
    Non-finite logits (SB3 raises on them) also return None. Python floats: for the few
    rows of a backtest this is several times faster than numpy reductions.
    """
    actions = []
    for row in rows:
        if not math.isfinite(sum(row)):
            return None
        best = max(row)
        index = row.index(best)
        if len(row) > 1:
            second = max(row[:index] + row[index + 1 :])
            largest = max(best, -min(row))
            margin = 2.0 * error + 16.0 * _U32 * (2.0 * largest + math.log(len(row)) + 2.0)
            if not best - second > margin:
                return None
        actions.append(index)
    return actions


def _lstm_layers(
    policy: RecurrentActorCriticPolicy,
) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Per LSTM layer, fused weights ``(in + hidden, 4 hidden)`` and bias ``(4 hidden,)``
    with the input, forget and output gate rows halved (``sigmoid(z) = (tanh(z/2) + 1)/2``,
    and halving is exact in binary floating point), or None if the LSTM is unsupported."""
    import torch

    lstm = policy.lstm_actor
    if (
        type(lstm) is not torch.nn.LSTM
        or lstm.bidirectional
        or lstm.proj_size != 0
        or not lstm.bias
        or lstm.batch_first
    ):
        return None
    hidden = lstm.hidden_size
    # torch's gate order: input, forget, cell (g), output.
    scale = np.concatenate(
        [np.full(hidden, 0.5), np.full(hidden, 0.5), np.ones(hidden), np.full(hidden, 0.5)]
    ).astype(np.float32)
    layers = []
    for k in range(lstm.num_layers):
        w_ih = getattr(lstm, f"weight_ih_l{k}").detach().numpy()
        w_hh = getattr(lstm, f"weight_hh_l{k}").detach().numpy()
        b = (
            getattr(lstm, f"bias_ih_l{k}").detach().numpy()
            + getattr(lstm, f"bias_hh_l{k}").detach().numpy()
        )
        weight = np.concatenate([w_ih, w_hh], axis=1).T * scale  # (in + hidden, 4 hidden)
        layers.append((np.ascontiguousarray(weight, dtype=np.float32), (b * scale)))
    return layers


class FastLstmPolicy:
    """Deterministic ``predict`` of a RecurrentPPO ``MlpLstmPolicy`` in numpy.

    See the module docstring for the state format and the exactness argument. ``fallback``
    is the wrapped model, ``fallback_calls`` counts the calls it answered.
    """

    def __init__(
        self,
        model: Policy,
        policy: RecurrentActorCriticPolicy,
        lstm: list[tuple[np.ndarray, np.ndarray]],
        head: list[_Layer],
    ) -> None:
        self.fallback = model
        shape = policy.observation_space.shape
        assert shape is not None  # _actor_head accepted only a Box space, which has a shape
        self.observation_shape = tuple(shape)
        self.n_inputs = int(np.prod(self.observation_shape))
        self.lstm = lstm
        self.hidden = policy.lstm_actor.hidden_size
        self.layers = head
        self.fallback_calls = 0

    def predict(
        self,
        observation: Any,
        state: tuple[np.ndarray, np.ndarray] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """SB3's ``predict``: actions ``(n_envs,)`` int64 and the next ``(h, c)`` state."""
        obs = _batch(observation, self.observation_shape) if deterministic else None
        if obs is None:
            self.fallback_calls += 1
            return self.fallback.predict(
                observation, state=state, episode_start=episode_start, deterministic=deterministic
            )
        n_envs = obs.shape[0]
        shape = (len(self.lstm), n_envs, self.hidden)
        if state is None:
            h = np.zeros(shape, dtype=np.float32)
            c = np.zeros(shape, dtype=np.float32)
        else:
            h = np.asarray(state[0], dtype=np.float32)
            c = np.asarray(state[1], dtype=np.float32)
            if h.shape != shape or c.shape != shape:
                raise ValueError(
                    f"LSTM state has shapes {h.shape} and {c.shape}, expected {shape} "
                    f"(n_lstm_layers, n_envs, hidden)"
                )
        if episode_start is not None:
            keep = 1.0 - np.asarray(episode_start, dtype=np.float32).reshape(1, n_envs, 1)
            h = h * keep
            c = c * keep
        x = obs.reshape(n_envs, self.n_inputs)
        hidden = self.hidden
        new_h = np.empty_like(h)
        new_c = np.empty_like(c)
        for k, (weight, bias) in enumerate(self.lstm):
            inputs = np.concatenate([x, h[k]], axis=1)
            gates = _rows_times(inputs, weight)
            gates += bias
            np.tanh(gates, out=gates)
            sig = gates[:, : 2 * hidden] * 0.5 + 0.5  # input, forget gates
            out_gate = gates[:, 3 * hidden :] * 0.5 + 0.5
            cell = sig[:, hidden:] * c[k] + sig[:, :hidden] * gates[:, 2 * hidden : 3 * hidden]
            new_c[k] = cell
            x = out_gate * np.tanh(cell)
            new_h[k] = x
        logits = _forward(self.layers, x)
        return logits.argmax(axis=1), (new_h, new_c)
