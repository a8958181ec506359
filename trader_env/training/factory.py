"""Build Stable-Baselines3 models from a :class:`~trader_env.phase_config.PhaseConfig`.

PPO comes from stable-baselines3, RecurrentPPO (LSTM policy) from sb3-contrib. Every model
gets an explicit SB3 logger, so ``learn()`` never creates a ``/tmp/SB3-*`` folder (docs/architecture.md,
'Measured facts about the stack'): no output at all by default, TensorBoard event files when a folder is given.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from stable_baselines3.common.logger import Logger, TensorBoardOutputFormat
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.common.vec_env import VecEnv

from trader_env.contracts import MarketArrays
from trader_env.env import make_vec_env
from trader_env.phase_config import PhaseConfig, TrainingConfig
from trader_env.training.ppo import NumpyRolloutPPO
from trader_env.training.widen import COLUMNS_ATTRIBUTE, widen_state_dict, widening_problem

if TYPE_CHECKING:  # regime_policy and abstain import this module
    from trader_env.training.abstain import AbstainingPolicy
    from trader_env.training.regime_policy import RegimeRouterPolicy

#: Hyperparameters passed to the SB3 constructor under their own names.
_SB3_HYPERPARAMETERS = (
    "learning_rate",
    "n_steps",
    "batch_size",
    "n_epochs",
    "gamma",
    "gae_lambda",
    "ent_coef",
    "clip_range",
    "vf_coef",
    "max_grad_norm",
)


def algorithm_class(
    name: str,
) -> type[OnPolicyAlgorithm] | type[RegimeRouterPolicy] | type[AbstainingPolicy]:
    """The class that trains or loads models of an algorithm name: the SB3 class of an
    :class:`~trader_env.phase_config.AlgorithmConfig` name, phase 6's
    :class:`~trader_env.training.regime_policy.RegimeRouterPolicy` (``"RegimeRouter"``, load
    only) or an abstaining phase's :class:`~trader_env.training.abstain.AbstainingPolicy`
    (``"Abstain"``, load only). Every one has ``load(path, device=...)`` returning an object with
    ``predict``."""
    if name == "PPO":
        return NumpyRolloutPPO
    if name == "RecurrentPPO":
        from sb3_contrib import RecurrentPPO

        return RecurrentPPO
    if name == "RegimeRouter":
        from trader_env.training.regime_policy import RegimeRouterPolicy

        return RegimeRouterPolicy
    if name == "Abstain":
        from trader_env.training.abstain import AbstainingPolicy

        return AbstainingPolicy
    raise ValueError(
        f"unknown algorithm {name!r}: expected 'PPO', 'RecurrentPPO', 'RegimeRouter' or 'Abstain'"
    )


def trainable_class(name: str) -> type[OnPolicyAlgorithm]:
    """The SB3 class of an algorithm name that trains (PPO, RecurrentPPO)."""
    cls = algorithm_class(name)
    if not issubclass(cls, OnPolicyAlgorithm):
        raise ValueError(f"algorithm {name!r} only loads saved policies: it cannot be trained")
    return cls


def algorithm_name(model: OnPolicyAlgorithm) -> str:
    """The :class:`~trader_env.phase_config.AlgorithmConfig` name that trains and loads
    ``model`` (``"PPO"`` for :class:`~trader_env.training.ppo.NumpyRolloutPPO`, whose files are
    SB3 PPO files)."""
    for name in ("PPO", "RecurrentPPO"):
        if type(model) is trainable_class(name):
            return name
    raise ValueError(f"{type(model).__name__} is not a trainable algorithm of this project")


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when torch sees a GPU, else ``cpu``; other values unchanged."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("training.device is 'cuda' but torch sees no CUDA device")
    return device


def configure_torch(training: TrainingConfig) -> str:
    """Set torch's intra-op threads and turn off the argument checks of torch's distributions
    (both process-wide); return the resolved device.

    Each PPO minibatch builds a ``Categorical`` from the logits, whose default check walks the
    tensor for values outside its support (~15 % of an update on these networks). Non-finite
    logits are still caught: the losses are checked by the diagnostics, and the next rollout
    refuses to sample from them (:class:`~trader_env.training.ppo.NumpyRolloutPolicy`).
    """
    torch.set_num_threads(training.torch_threads)
    torch.distributions.Distribution.set_default_validate_args(False)
    return resolve_device(training.device)


def policy_kwargs(config: PhaseConfig) -> dict[str, Any]:
    """SB3 ``policy_kwargs``: separate policy and value MLPs of ``net_arch`` (+ LSTM size),
    and torch's fused Adam (one kernel for every parameter's update instead of a loop over
    them: ~15 % of an update on these small networks; the same algorithm). SB3 sets Adam's
    ``eps`` to 1e-5 only when it is given no optimizer arguments, so it is restated here:
    torch's default 1e-8 takes far larger steps on these small money-scaled gradients."""
    hyper = config.algorithm.hyperparameters
    kwargs: dict[str, Any] = {
        "net_arch": {"pi": list(hyper.net_arch), "vf": list(hyper.net_arch)},
        "optimizer_kwargs": {"fused": True, "eps": 1e-5},
    }
    if config.algorithm.name == "RecurrentPPO" and hyper.lstm_hidden_size is not None:
        kwargs["lstm_hidden_size"] = hyper.lstm_hidden_size
    return kwargs


def network(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The ``policy_kwargs`` that shape the network (not the device or the optimiser's
    implementation): what a warm start must match."""
    return {k: v for k, v in kwargs.items() if k not in ("device", "optimizer_kwargs")}


def hyperparameter_kwargs(config: PhaseConfig) -> dict[str, Any]:
    """The SB3 constructor arguments named in ``config.algorithm.hyperparameters``."""
    hyper = config.algorithm.hyperparameters
    return {name: getattr(hyper, name) for name in _SB3_HYPERPARAMETERS}


def make_sb3_logger(tensorboard_dir: Path | None = None) -> Logger:
    """An SB3 logger writing nothing, or TensorBoard event files into ``tensorboard_dir``.

    Values recorded during training stay readable in ``logger.name_to_value`` either way.
    """
    if tensorboard_dir is None:
        return Logger(folder=None, output_formats=[])
    folder = Path(tensorboard_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return Logger(folder=str(folder), output_formats=[TensorBoardOutputFormat(str(folder))])


def make_training_env(config: PhaseConfig, arrays: Sequence[MarketArrays]) -> VecEnv:
    """``training.n_envs`` copies of the phase's environment, copy ``i`` seeded ``seed + i``,
    vectorised as ``training.vec_env`` says (:func:`~trader_env.env.factory.make_vec_env`),
    each reporting only its episode summaries (what the callbacks read)."""
    training = config.training
    return make_vec_env(
        config.env, arrays, training.n_envs, training.vec_env, seed=training.seed, info="episode"
    )


def build_model(
    config: PhaseConfig,
    vec_env: VecEnv,
    device: str | None = None,
    tensorboard_dir: Path | None = None,
) -> OnPolicyAlgorithm:
    """A fresh PPO / RecurrentPPO for ``vec_env``, seeded with ``training.seed``.

    ``device`` defaults to the config's (``auto`` resolved); call :func:`configure_torch`
    first to set torch's thread count.
    """
    cls = trainable_class(config.algorithm.name)
    model = cls(
        config.algorithm.policy,
        vec_env,
        policy_kwargs=policy_kwargs(config),
        seed=config.training.seed,
        device=device or resolve_device(config.training.device),
        verbose=0,
        **hyperparameter_kwargs(config),
    )
    model.set_logger(make_sb3_logger(tensorboard_dir))
    setattr(model, COLUMNS_ATTRIBUTE, env_columns(vec_env))
    return model


def env_columns(vec_env: VecEnv) -> list[str]:
    """The observation's column names of ``vec_env``'s trading environments."""
    return list(vec_env.get_attr("feature_names", indices=[0])[0])


def load_warm_start(
    path: Path,
    vec_env: VecEnv,
    config: PhaseConfig,
    device: str | None = None,
    tensorboard_dir: Path | None = None,
) -> tuple[OnPolicyAlgorithm | None, str]:
    """Load the previous phase's model to continue training on ``vec_env``, if compatible.

    Compatible means: same algorithm (policy class), same network (``policy_kwargs``), and the
    saved observation and action spaces equal ``vec_env``'s. The weights and optimiser state
    are kept; every hyperparameter and the seed come from ``config``. With
    ``training.widen_warm_start``, an observation that only gained columns (same window) is
    compatible too: the network is widened so that it starts out computing what the saved one
    did (:mod:`~trader_env.training.widen`; the optimiser starts afresh). Returns
    ``(model, note)`` or ``(None, note)``, the note saying in words why training continues or
    starts fresh.
    """
    path = Path(path)
    if not path.is_file():
        return None, f"started fresh: no previous model at {path}"
    from trader_env.training.abstain import extract_declined, is_abstain_file

    def continue_from(extract: Callable[[Path], Path]) -> tuple[OnPolicyAlgorithm | None, str]:
        """Warm start from the SB3 model inside a composite file, extracted to a scratch dir."""
        with tempfile.TemporaryDirectory(prefix="composite-warm-start-") as scratch:
            inner = extract(Path(scratch))
            return load_warm_start(inner, vec_env, config, device, tensorboard_dir)

    if is_abstain_file(path):
        # The previous phase abstained (its best checkpoint was not significant on the
        # selection slice); its weights are still the best starting point it has.
        model, note = continue_from(lambda folder: extract_declined(path, folder))
        if model is None:
            return None, f"{note} (the declined weights of the abstaining {path.name})"
        return model, f"{note} (the weights the abstaining {path.name} declined to trade)"
    cls = trainable_class(config.algorithm.name)
    expected_policy = cls.policy_aliases[config.algorithm.policy]
    data, params, _ = load_from_zip_file(path, device="cpu", load_data=True)
    if data is None:
        return None, f"started fresh: {path} holds no model data"
    saved_policy = data.get("policy_class")
    if saved_policy is not expected_policy:
        saved_name = getattr(saved_policy, "__name__", repr(saved_policy))
        return None, (
            f"started fresh: {path.name} holds a {saved_name} policy, this phase trains "
            f"{config.algorithm.name} ({expected_policy.__name__})"
        )
    if data.get("action_space") != vec_env.action_space:
        return None, (
            f"started fresh: action space changed from {data.get('action_space')} to "
            f"{vec_env.action_space}"
        )
    saved_kwargs = network(data.get("policy_kwargs") or {})
    wanted_kwargs = network(policy_kwargs(config))
    if saved_kwargs != wanted_kwargs:
        return None, (f"started fresh: network changed from {saved_kwargs} to {wanted_kwargs}")
    if data.get("observation_space") != vec_env.observation_space:
        saved_weights = (params or {}).get("policy")
        return _widened_warm_start(
            path, data, saved_weights, vec_env, config, device, tensorboard_dir
        )
    model = cls.load(
        path,
        env=vec_env,
        device=device or resolve_device(config.training.device),
        seed=config.training.seed,
        **hyperparameter_kwargs(config),
    )
    model.set_random_seed(config.training.seed)
    model.set_logger(make_sb3_logger(tensorboard_dir))
    setattr(model, COLUMNS_ATTRIBUTE, env_columns(vec_env))
    return model, f"warm-started from {path.name} (same spaces, algorithm and network)"


def _widened_warm_start(
    path: Path,
    data: dict[str, Any],
    saved_weights: object,
    vec_env: VecEnv,
    config: PhaseConfig,
    device: str | None,
    tensorboard_dir: Path | None,
) -> tuple[OnPolicyAlgorithm | None, str]:
    """:func:`load_warm_start` when the observation's space differs: with
    ``training.widen_warm_start`` and only new columns, a fresh model for ``vec_env`` holding
    ``saved_weights`` (the saved policy's state dict, as read from ``path``), widened; else
    ``None`` and why not."""
    saved_space, space = data.get("observation_space"), vec_env.observation_space
    changed = f"observation space changed from {saved_space} to {space}"
    if not config.training.widen_warm_start:
        return None, (
            f"started fresh: {changed} (the observation's columns differ between phases; "
            f"training.widen_warm_start is off)"
        )
    if not isinstance(saved_weights, dict):
        return None, f"started fresh: {path.name} holds no policy weights"
    old_columns, new_columns = data.get(COLUMNS_ATTRIBUTE), env_columns(vec_env)
    saved_shape = tuple(getattr(saved_space, "shape", None) or ())
    shape = tuple(space.shape or ())
    problem = widening_problem(old_columns, new_columns)
    if problem is None and (len(shape) != 2 or saved_shape != (shape[0], len(old_columns or ()))):
        problem = "the observation window differs"
    if problem is not None:
        return None, f"started fresh: {changed}; {problem}"
    assert old_columns is not None  # widening_problem refuses a model without columns
    model = build_model(config, vec_env, device=device, tensorboard_dir=tensorboard_dir)
    try:
        state = widen_state_dict(
            saved_weights,
            model.policy.state_dict(),
            old_columns,
            new_columns,
            window=int(shape[0]),
        )
    except ValueError as error:
        return None, f"started fresh: {changed}; the network does not widen ({error})"
    model.policy.load_state_dict(state)
    added = [name for name in new_columns if name not in old_columns]
    return model, (
        f"warm-started from {path.name}, widened to the new observation column(s) {added} "
        f"(their weights start at zero, so the policy starts out as the saved one; the "
        f"optimiser starts afresh)"
    )
