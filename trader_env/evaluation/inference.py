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
from typing import TYPE_CHECKING, Any, Literal

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
            head = mlp_head(policy)
            return model if head is None else FastMlpPolicy(model, policy, head)
    if type(policy).__name__ == "RecurrentActorCriticPolicy":
        from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy

        if type(policy) is RecurrentActorCriticPolicy:
            head = mlp_head(policy)
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


def mlp_head(
    policy: ActorCriticPolicy, part: Literal["actor", "critic"] = "actor", *, cpu_only: bool = True
) -> list[_Layer] | None:
    """The layers after the features, as float32 numpy ``(weight (in, out), bias, activation)``:
    the actor's (``policy_net`` then ``action_net``, ``n`` logits) or the critic's
    (``value_net`` of the extractor then the policy's ``value_net``, one value). None when the
    policy's input, output or layers are outside what the numpy path reproduces (see the
    module docstring), or with ``cpu_only`` when the policy is not on the CPU."""
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
    extractor = policy.pi_features_extractor if part == "actor" else policy.vf_features_extractor
    if type(extractor) is not FlattenExtractor:
        return None
    if type(policy.mlp_extractor) is not MlpExtractor:
        return None
    if cpu_only and policy.device.type != "cpu":
        return None
    if any(p.dtype != torch.float32 for p in policy.parameters()):
        return None
    if part == "actor":
        modules, outputs = [*policy.mlp_extractor.policy_net, policy.action_net], action_space.n
    else:
        modules, outputs = [*policy.mlp_extractor.value_net, policy.value_net], 1
    layers: list[_Layer] = []
    for module in modules:
        if type(module) is torch.nn.Linear and module.bias is not None:
            weight = module.weight.detach().cpu().numpy().T.copy()  # (in, out): x @ weight
            layers.append((weight, module.bias.detach().cpu().numpy().copy(), None))
        elif type(module) in (torch.nn.Tanh, torch.nn.ReLU) and layers and layers[-1][2] is None:
            weight, bias, _ = layers[-1]
            layers[-1] = (weight, bias, "tanh" if type(module) is torch.nn.Tanh else "relu")
        else:
            return None
    if layers[-1][2] is not None or layers[-1][0].shape[1] != outputs:
        return None  # the head must end in a linear layer with its number of outputs
    return layers


def _gamma(fan_in: int) -> float:
    """Higham's ``gamma_{n+1}`` for a dot product of ``fan_in`` terms plus a bias, with both
    roundoffs (torch's float32 and this module's float64) in ``u``."""
    m = (fan_in + 1) * (_U32 + _U64)
    return m / (1.0 - m)


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
            gamma = _gamma(fan_in)
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


def forward(layers: list[_Layer], x: np.ndarray) -> np.ndarray:
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
    exactly, so only torch's float32 rounding has to be bounded. A batch with a near-tie is
    answered by the policy's own torch layers, called directly (``torch_calls`` counts them):
    the same kernels on the same tensors as SB3's ``predict``, so the same bits, without its
    per-call overhead (mode switches, checks, a distribution object; ~0.3 ms). ``fallback``
    is the wrapped model: its ``predict`` answers what is not one deterministic batch
    (``fallback_calls`` counts those calls).
    """

    def __init__(self, model: Policy, policy: ActorCriticPolicy, head: list[_Layer]) -> None:
        self.fallback = model
        self.policy = policy
        shape = policy.observation_space.shape
        assert shape is not None  # mlp_head accepted only a Box space, which has a shape
        self.observation_shape = tuple(shape)
        self.n_inputs = int(np.prod(self.observation_shape))
        # Each bias is the last row of its weight, multiplied by a constant 1 column of the
        # layer's input buffer: one product per layer instead of a product and an addition.
        self.layers = [(np.vstack([w, b[None, :]]).astype(np.float64), a) for w, b, a in head]
        self.bound = _ErrorBound(head)
        # Per layer: |weight| with |bias| as its last row, fan-in roundoff factor, activation.
        self._magnitudes = [
            (np.abs(weight), _gamma(weight.shape[0] - 1), activation)
            for weight, activation in self.layers
        ]
        self.fallback_calls = 0
        self.torch_calls = 0
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

    def logit_errors(self, n: int) -> np.ndarray:
        """Bound ``(n, n_actions)`` on ``|torch's float32 logit - the logit of`` :meth:`logits`
        ``|`` for each logit of the last ``n``-row call of :meth:`logits`.

        The bound of :class:`_ErrorBound` per output and for these inputs rather than for any
        input as large: a ``Linear`` over inputs whose torch values are within ``e`` of ours
        (``x``) adds ``gamma (|W| (|x| + e) + |b|) + |W| e`` (Higham 3.5 plus the propagated
        error); ``tanh`` adds its ulps, ``relu`` nothing. Several times tighter than the
        a-priori bound, so it decides most batches that one leaves open.
        """
        buffers = self._buffers[n]
        error = np.zeros((n, 1))
        for k, (magnitude, gamma, activation) in enumerate(self._magnitudes):
            scaled = gamma * np.abs(buffers[k])
            if k:
                scaled[:, :-1] += (1.0 + gamma) * error
            error = scaled @ magnitude
            if activation == "tanh":
                error += _ACTIVATION_ULPS * _U32
        return error

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
            rows = self.logits(x).tolist()
            if math.isfinite(sum(map(sum, rows))):  # else SB3's predict says what is wrong
                actions = _decided(rows, self.bound(float(np.abs(x).max())))
                if actions is None:
                    actions = _decided(rows, self.logit_errors(x.shape[0]).tolist())
                if actions is not None:
                    return np.array(actions, dtype=np.int64), state
                self.torch_calls += 1
                return self._torch_actions(obs), state
        self.fallback_calls += 1
        return self.fallback.predict(
            observation, state=state, episode_start=episode_start, deterministic=deterministic
        )

    def _torch_actions(self, obs: np.ndarray) -> np.ndarray:
        """What SB3's ``predict(obs, deterministic=True)`` computes, op for op: the actor's
        layers on the float32 batch, the ``Categorical``'s normalised logits and softmax, their
        argmax (``CategoricalDistribution.mode``). The policy has no dropout or batch norm
        (:func:`mlp_head` admits ``Linear``, ``Tanh`` and ``ReLU`` only), so its training mode
        does not matter."""
        import torch
        from stable_baselines3.common.policies import BaseModel

        policy = self.policy
        with torch.no_grad():
            # BaseModel's, as get_distribution calls it: the actor's extractor alone.
            features = BaseModel.extract_features(
                policy, torch.as_tensor(obs), policy.pi_features_extractor
            )
            logits = policy.action_net(policy.mlp_extractor.forward_actor(features))
            normalised = logits - logits.logsumexp(dim=-1, keepdim=True)
            actions = torch.argmax(torch.softmax(normalised, dim=-1), dim=1)
        chosen: np.ndarray = actions.numpy().astype(np.int64)
        return chosen


class StackedMlpPolicies:
    """Several :class:`FastMlpPolicy` of one architecture, each deciding for its own lane of
    observations, evaluated together: one stacked product per layer for every lane.

    A backtest's cost per bar is mostly numpy's per-call overhead on tiny products, not
    arithmetic, so K policies (checkpoints on one slice, fold models on their folds) decided
    in one call cost little more than one. Each lane is decided exactly as its own policy's
    :meth:`FastMlpPolicy.predict` would decide it: the same float64 logits, its own error
    bounds, and near-ties answered by its own torch layers on its whole lane.
    """

    def __init__(self, members: list[FastMlpPolicy]) -> None:
        self.members = members
        self.observation_shape = members[0].observation_shape
        self.n_inputs = members[0].n_inputs
        depth = len(members[0].layers)
        self.weights = [np.stack([m.layers[k][0] for m in members]) for k in range(depth)]
        self.magnitudes = [np.abs(weight) for weight in self.weights]
        self.gammas = [m_gamma for _, m_gamma, _ in members[0]._magnitudes]
        self.activations = [activation for _, activation in members[0].layers]
        self.offsets = np.array([m.bound.offset for m in members])
        self.slopes = np.array([m.bound.slope for m in members])
        self._buffers: dict[int, list[np.ndarray]] = {}

    @classmethod
    def of(cls, policies: list[Policy]) -> StackedMlpPolicies | None:
        """The stack of ``policies``, or None unless every one is a :class:`FastMlpPolicy` with
        the same layer shapes and activations (and there are at least two)."""
        if len(policies) < 2 or not all(type(p) is FastMlpPolicy for p in policies):
            return None
        members = [p for p in policies if isinstance(p, FastMlpPolicy)]
        first = members[0]
        shape = [(w.shape, a) for w, a in first.layers]
        if any([(w.shape, a) for w, a in m.layers] != shape for m in members[1:]):
            return None
        if any(m.observation_shape != first.observation_shape for m in members[1:]):
            return None
        return cls(members)

    def _logits(self, x: np.ndarray) -> np.ndarray:
        """float64 logits ``(lanes, rows, n_actions)`` of ``x`` ``(lanes, rows, in)``."""
        rows = x.shape[1]
        buffers = self._buffers.get(rows)
        if buffers is None:
            buffers = [
                np.ones((len(self.members), rows, w.shape[1]), dtype=np.float64)
                for w in self.weights
            ]
            self._buffers[rows] = buffers
        buffers[0][:, :, :-1] = x
        out = buffers[0]
        for k, (weight, activation) in enumerate(zip(self.weights, self.activations, strict=True)):
            out = np.matmul(buffers[k], weight)
            if activation == "tanh":
                np.tanh(out, out=buffers[k + 1][:, :, :-1])
            elif activation == "relu":
                np.maximum(out, 0.0, out=buffers[k + 1][:, :, :-1])
            elif k + 1 < len(self.weights):
                buffers[k + 1][:, :, :-1] = out
        return out

    def _logit_errors(self, rows: int) -> np.ndarray:
        """:meth:`FastMlpPolicy.logit_errors` of every lane ``(lanes, rows, n_actions)``."""
        buffers = self._buffers[rows]
        error = np.zeros((len(self.members), rows, 1))
        for k, (magnitude, gamma, activation) in enumerate(
            zip(self.magnitudes, self.gammas, self.activations, strict=True)
        ):
            scaled = gamma * np.abs(buffers[k])
            if k:
                scaled[:, :, :-1] += (1.0 + gamma) * error
            error = np.matmul(scaled, magnitude)
            if activation == "tanh":
                error += _ACTIVATION_ULPS * _U32
        return error

    def predict_lanes(self, observations: np.ndarray, live: list[bool]) -> np.ndarray:
        """Deterministic actions ``(lanes, rows)`` int64 of observations
        ``(lanes, rows, *observation_shape)``, lane ``l`` decided by member ``l`` where
        ``live[l]`` (flat elsewhere: nobody reads them).

        Every lane is first judged at once with its a-priori bound (:func:`_decided`'s rule in
        numpy); only the lanes it leaves open go through the tighter bound, torch or SB3.
        """
        lanes, rows = observations.shape[:2]
        x = observations.reshape(lanes, rows, self.n_inputs).astype(np.float32, copy=False)
        logits = self._logits(x)
        errors = self.offsets + self.slopes * np.abs(x).max(axis=(1, 2))
        chosen: np.ndarray = np.argmax(logits, axis=2)
        ordered = np.sort(logits, axis=2)
        best = ordered[:, :, -1]
        largest = np.maximum(best, -ordered[:, :, 0])
        softmax = 16.0 * _U32 * (2.0 * largest + math.log(logits.shape[2]) + 2.0)
        margin = best - ordered[:, :, -2]  # 0 when the best is tied: never decided here
        decided = (margin > (errors + errors)[:, None] + softmax).all(axis=1)
        tight: np.ndarray | None = None
        for lane in np.flatnonzero(~decided & np.asarray(live, dtype=bool)).tolist():
            member = self.members[lane]
            values = logits[lane].tolist()
            actions: Any = None
            if math.isfinite(sum(map(sum, values))):
                tight = self._logit_errors(rows) if tight is None else tight
                actions = _decided(values, tight[lane].tolist())
                if actions is None:
                    member.torch_calls += 1
                    actions = member._torch_actions(observations[lane]).tolist()
            if actions is None:  # non-finite logits: the member's own predict says why
                member.fallback_calls += 1
                actions = member.fallback.predict(observations[lane], deterministic=True)[0]
            chosen[lane] = actions
        return chosen


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


def _decided(rows: list[list[float]], error: float | list[list[float]]) -> list[int] | None:
    """Argmax of each row of (finite) logits, or None when a row's best logit is too close to
    another to call.

    ``error`` bounds ``|torch's logit - this logit|``: one bound for every logit, or one per
    logit (``error[row][j]``). Torch's gap between the best logit ``b`` and another ``j`` is
    at least this gap minus ``error_b + error_j``. Torch's softmax can then still tie (or
    swap) logits a few ulps apart: it subtracts the log-sum-exp (magnitude <= 2 max|logit| +
    log n) and exponentiates, each within a few ulps; 16 ulps of that magnitude covers both.
    Python floats: for the few rows of a backtest this is several times faster than numpy
    reductions.
    """
    actions = []
    for r, row in enumerate(rows):
        best = max(row)
        index = row.index(best)
        largest = max(best, -min(row))
        softmax = 16.0 * _U32 * (2.0 * largest + math.log(len(row)) + 2.0)
        errors = [error] * len(row) if isinstance(error, float) else error[r]
        for j, value in enumerate(row):
            if j != index and not best - value > errors[index] + errors[j] + softmax:
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
        assert shape is not None  # mlp_head accepted only a Box space, which has a shape
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
        logits = forward(self.layers, x)
        return logits.argmax(axis=1), (new_h, new_c)
