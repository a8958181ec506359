"""Hyperparameter search for one phase on the selection slice (Optuna TPE), as a proposal.

Each trial trains the phase with sampled hyperparameters on the training split minus its
selection slice (:mod:`trader_env.training.selection`) and is scored by the best checkpoint's
score on that slice: neither the validation split (the gate) nor the test split (reported)
takes part. The phase's committed configuration is the first trial, so a proposal is only a
change when a sampled configuration beat it. The best configuration is written as a YAML file
of the keys that changed, for a person to adopt into ``assets_config/phaseN.yaml``; the
number of trials must reach the champion registry (see
:meth:`~trader_env.evaluation.champion.ChampionRegistry.record_external_trials`) because the
best of many configurations is a selected result that the deflated Sharpe ratio must discount.

Optuna is imported by :func:`tune_phase` only: importing this module stays cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from trader_env.atomic import atomic_write_text
from trader_env.dataset import Dataset
from trader_env.evaluation.psr import (
    expected_max_sharpe,
    per_period_sharpe,
    probabilistic_sharpe_ratio,
    trial_sharpe_variance,
)
from trader_env.phase_config import PhaseConfig
from trader_env.workflow.records import PhaseModel
from trader_env.workflow.training import load_policy, stamp, train_phase_model, training_arrays
from trader_env.yaml_config import deep_merge

if TYPE_CHECKING:  # both imports are heavy; tune_phase imports optuna when it runs
    import optuna

    from trader_env.training.callbacks import SupportsInfo

#: Deflated Sharpe ratio of the best trial's edge over the committed configuration from
#: which a proposal calls its gain significant (the gates' PSR bar).
EDGE_SIGNIFICANCE = 0.95

#: Selection slice used when the phase itself does not hold one out (a tuning objective must
#: never be the training data nor validation/test).
DEFAULT_SELECTION_FRACTION = 0.15

#: name -> (kind, arguments): "log" (low, high), "float" (low, high), "choice" (options).
#: ``net_arch`` options are widths joined by "x" (Optuna's categorical values are scalars).
SEARCH_SPACE: dict[str, tuple[str, tuple[Any, ...]]] = {
    "learning_rate": ("log", (1e-4, 1e-3)),
    "ent_coef": ("float", (0.0, 0.02)),
    "gamma": ("choice", (0.99, 0.995, 0.998)),
    "n_epochs": ("choice", (5, 10)),
    "net_arch": ("choice", ("64x64", "128x128", "32x32")),
}


@dataclass(frozen=True)
class TuningResult:
    """What a search tried and what it proposes.

    ``trials``: one dict per trial in order (``number``, ``params``, ``score`` or None when the
    trial failed, ``kept_timesteps``, ``error``). ``best_overrides``: the phase YAML keys that
    the best trial changes (empty when the committed configuration won). ``edge_significance``:
    how sure the slice is that the best trial beats the committed configuration beyond the
    luck of the search (:func:`edge_significance`; None when the committed one won).
    """

    phase: int
    metric: str
    n_trials: int
    best_score: float
    best_trial: int
    committed_score: float | None
    best_overrides: dict[str, Any]
    trials: list[dict[str, Any]] = field(default_factory=list)
    proposal_path: Path | None = None
    edge_significance: float | None = None


def _overrides(params: dict[str, Any], warm_start: bool | None) -> dict[str, Any]:
    hyper = {key: value for key, value in params.items() if key != "net_arch"}
    if "net_arch" in params:
        hyper["net_arch"] = [int(width) for width in str(params["net_arch"]).split("x")]
    out: dict[str, Any] = {"algorithm": {"hyperparameters": hyper}}
    if warm_start is not None:
        out["training"] = {"warm_start": warm_start}
    return out


def _committed_params(config: PhaseConfig) -> dict[str, Any]:
    hyper = config.algorithm.hyperparameters
    return {
        "learning_rate": hyper.learning_rate,
        "ent_coef": hyper.ent_coef,
        "gamma": hyper.gamma,
        "n_epochs": hyper.n_epochs,
        "net_arch": "x".join(str(width) for width in hyper.net_arch),
    }


def _space_including(committed: dict[str, Any]) -> dict[str, tuple[str, tuple[Any, ...]]]:
    """:data:`SEARCH_SPACE` widened so that the committed configuration (trial 0) lies in it:
    its value joins a choice's options, and a range is stretched to reach it."""
    space = {}
    for name, (kind, args) in SEARCH_SPACE.items():
        value = committed[name]
        if kind == "choice":
            space[name] = (kind, tuple(dict.fromkeys((value, *args))))
        else:
            space[name] = (kind, (min(args[0], value), max(args[1], value)))
    return space


def _with(config: PhaseConfig, overrides: dict[str, Any]) -> PhaseConfig:
    return PhaseConfig.model_validate(deep_merge(config.model_dump(), overrides))


def tune_phase(
    config: PhaseConfig,
    market: Dataset,
    storage: Path,
    data_version: str,
    n_trials: int,
    previous: PhaseModel | None = None,
    seed: int = 0,
    logger: SupportsInfo | None = None,
) -> TuningResult:
    """Search ``config``'s hyperparameters with ``n_trials`` trainings (the first one is the
    committed configuration) and return the best; models go to ``<storage>/tuning/``.

    ``previous``: the model a warm-starting phase continues from; with it, warm versus fresh
    start is searched too. Trials that fail (e.g. a configuration the algorithm refuses) are
    recorded with their error and score nothing.
    """
    import optuna

    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    config = _with_selection(config)
    metric = config.training.selection.metric
    search_warm_start = previous is not None and config.training.warm_start
    trials: list[dict[str, Any]] = []
    space = _space_including(_committed_params(config))

    _, selection_slice = training_arrays(config, market)
    assert selection_slice is not None  # selection is enabled above
    daily: dict[int, np.ndarray] = {}  # trial number -> kept checkpoint's slice returns

    def objective(trial: optuna.Trial) -> float:
        params = _suggested(trial, space)
        warm = trial.suggest_categorical("warm_start", [True, False]) if search_warm_start else None
        record: dict[str, Any] = {"number": trial.number, "params": {**params, "warm_start": warm}}
        trials.append(record)
        try:
            trial_config = _with(config, _overrides(params, warm))
            model = train_phase_model(
                trial_config,
                market,
                storage / "tuning" / f"trial{trial.number:03d}",
                data_version,
                previous=previous if trial_config.training.warm_start else None,
            )
        except (ValueError, RuntimeError) as exc:
            record.update(score=None, error=str(exc))
            raise optuna.TrialPruned(str(exc)) from exc
        assert model.selection is not None  # selection is enabled above
        score = float(model.selection["kept_score"])
        record.update(score=score, kept_timesteps=model.selection["kept_timesteps"], error=None)
        backtest = selection_slice.backtest(_kept_policy(model), trial_config.env)
        daily[trial.number] = backtest.daily_returns.to_numpy()
        if logger is not None:
            logger.info(f"tune_phase {config.phase}: trial {trial.number} {metric} {score:.4g}")
        return score if math.isfinite(score) else -math.inf

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    committed = _committed_params(config)
    if search_warm_start:
        committed["warm_start"] = True
    study.enqueue_trial(committed)
    study.optimize(objective, n_trials=n_trials)
    return _best_of(config, trials, daily)


def _with_selection(config: PhaseConfig) -> PhaseConfig:
    """``config`` with checkpoint selection on (at the default slice when it was off): every
    trial is scored on the selection slice."""
    selection = config.training.selection
    if selection.enabled:
        return config
    training = config.training.model_copy(
        update={"selection": selection.model_copy(update={"fraction": DEFAULT_SELECTION_FRACTION})}
    )
    return config.model_copy(update={"training": training})


def _suggested(
    trial: optuna.Trial, space: dict[str, tuple[str, tuple[Any, ...]]]
) -> dict[str, Any]:
    """One value per hyperparameter of ``space``, drawn by ``trial``."""
    params: dict[str, Any] = {}
    for name, (kind, args) in space.items():
        if kind == "log":
            params[name] = trial.suggest_float(name, *args, log=True)
        elif kind == "float":
            params[name] = trial.suggest_float(name, *args)
        else:
            params[name] = trial.suggest_categorical(name, list(args))
    return params


def _kept_policy(model: PhaseModel) -> Any:
    """What a trial's kept checkpoint trades: its model, or the weights an abstaining phase
    declined (a trial is scored by its best checkpoint either way)."""
    from trader_env.training.abstain import AbstainingPolicy

    if model.abstention is not None:
        return AbstainingPolicy.load_declined(model.model_path)
    return load_policy(model.algorithm, model.model_path)


def edge_significance(daily: dict[int, np.ndarray], best: int) -> float | None:
    """How sure the selection slice is that trial ``best`` beats the committed configuration
    (trial 0) by more than the search's luck: the deflated Sharpe ratio of the day-by-day
    difference of their returns on the slice, against the expected best of that difference
    over every alternative tried (the variance of the alternatives' daily Sharpes of it).

    ``daily``: trial number -> the kept checkpoint's daily returns on the slice ``(days,)``.
    None when trial 0 or ``best`` has none or ``best`` is trial 0; NaN when the difference
    never varies.
    """
    if best == 0 or 0 not in daily or best not in daily:
        return None
    edges = {number: returns - daily[0] for number, returns in daily.items() if number != 0}
    # An alternative that trades exactly like trial 0 differs by nothing: a Sharpe of 0.
    sharpes = [per_period_sharpe(edge) for edge in edges.values()]
    sharpes = [sharpe if math.isfinite(sharpe) else 0.0 for sharpe in sharpes]
    luck = expected_max_sharpe(len(edges), trial_sharpe_variance(sharpes))
    return probabilistic_sharpe_ratio(edges[best], benchmark_sharpe=luck)


def _best_of(
    config: PhaseConfig, trials: list[dict[str, Any]], daily: dict[int, np.ndarray]
) -> TuningResult:
    """The best scored of ``trials`` (records of the objective) as a :class:`TuningResult`;
    ``daily``: each scored trial's returns on the slice (see :func:`edge_significance`)."""
    scored = [t for t in trials if t.get("score") is not None]
    if not scored:
        raise RuntimeError(f"tune_phase {config.phase}: every one of {len(trials)} trials failed")
    best = max(scored, key=lambda t: t["score"])
    overrides = {} if best["number"] == 0 else _changed(config, best["params"])
    return TuningResult(
        phase=config.phase,
        metric=config.training.selection.metric,
        n_trials=len(trials),
        best_score=best["score"],
        best_trial=best["number"],
        committed_score=trials[0].get("score"),
        best_overrides=overrides,
        trials=trials,
        edge_significance=edge_significance(daily, best["number"]),
    )


def _changed(config: PhaseConfig, params: dict[str, Any]) -> dict[str, Any]:
    """The phase YAML keys whose value the best trial changes."""
    committed = _committed_params(config)
    hyper = {k: v for k, v in params.items() if k in committed and v != committed[k]}
    warm = params.get("warm_start")
    changed = _overrides(
        hyper, warm if warm is not None and warm != config.training.warm_start else None
    )
    if not changed["algorithm"]["hyperparameters"]:
        del changed["algorithm"]
    return changed


def write_proposal(result: TuningResult, storage: Path, config: PhaseConfig) -> Path:
    """Write ``result`` as ``<storage>/proposals/phase<N>/<stamp>.yaml`` (atomically): a
    comment saying how it was found and the phase YAML keys to adopt."""
    path = storage / "proposals" / f"phase{result.phase}" / f"{stamp()}.yaml"
    slice_fraction = config.training.selection.fraction or DEFAULT_SELECTION_FRACTION
    committed = "failed" if result.committed_score is None else f"{result.committed_score:.4g}"
    header = [
        f"# Proposal for assets_config/phase{result.phase}.yaml from tune_phase (Optuna TPE),",
        f"# profile {config.profile}: {result.n_trials} trial(s), each trained on the training",
        f"# split minus its selection slice (the last {slice_fraction:.0%} of the training",
        f"# sessions) and scored by its best checkpoint's {result.metric} on that slice.",
        f"# Best: trial {result.best_trial}, {result.metric} {result.best_score:.4g}; the",
        f"# committed configuration (trial 0) scored {committed}.",
        "# Validation and test took no part. The trials count in the champion registry's",
        "# deflated Sharpe ratio. Adopt by merging the keys below into the phase's YAML.",
    ]
    if not result.best_overrides:
        header.append("# The committed configuration scored best: nothing to change.")
    elif result.edge_significance is not None:
        header += [
            "# Day by day on the slice, the probability that the best trial beats the committed",
            f"# configuration by more than the best of {result.n_trials - 1} alternative(s) "
            "would by luck",
            f"# (deflated Sharpe ratio of the difference) is {result.edge_significance:.3g}: "
            + (
                "significant."
                if result.edge_significance >= EDGE_SIGNIFICANCE
                else "NOT significant:\n# the gain may be the search's luck; adopt only with "
                "other evidence (validation)."
            ),
        ]
    body = yaml.safe_dump(result.best_overrides, sort_keys=True) if result.best_overrides else ""
    atomic_write_text(path, "\n".join(header) + "\n" + body)
    return path
