"""Phase 6, Market Regime Mastery: one specialist per market regime behind a smoothed router.

The policy is ONE object with SB3's ``predict`` (:class:`RegimeRouterPolicy`), saved as ONE
file, so the backtest, the baselines' comparison, the champion registry and serving load and
use it like any other model (``algorithm_class("RegimeRouter").load(path)``).

Router. The observation's last row carries the regime one-hot of the current bar (phase 5's
``include_regime``). Per environment the router keeps exponentially smoothed regime
probabilities ``p_t = decay x p_{t-1} + (1 - decay) x onehot_t`` with the plan's
``max_correlation_decay`` (0.95: a half-life of ~14 bars) and switches to the specialist of a
new regime only when that regime dominates (``p > dominance``, 0.5 by default). A label that
flickers for a few bars therefore never switches the policy; a regime that persists does,
after ~14 bars from a settled state. The smoothed state travels in ``predict``'s ``state``
(the backtest carries it between calls), so the object itself holds no per-episode state;
``episode_start`` restarts it from the current one-hot.

Specialists. Each regime's specialist is fine-tuned from the warm start (phase 5's model, or
the serving phase-6 champion's own specialist) on the training sessions where that regime
covers most bars, played back to back. A regime with fewer than ``min_sessions`` such sessions
(high volatility is ~5 % of SPY's bars) is served by the generalist: the warm start fine-tuned
on every training session. The budget ``training.total_timesteps`` is split evenly among the
models trained.

File format: a zip holding ``manifest.json`` (decay, dominance, regime column indices, which
model serves each regime) and one SB3 zip per trained model.
"""

from __future__ import annotations

import io
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trader_env.contracts import REGIMES, MarketArrays
from trader_env.training.model_archive import (
    archive_algorithm,
    read_manifest,
    write_model_archive,
)

if TYPE_CHECKING:
    from trader_env.phase_config import PhaseConfig
    from trader_env.training.callbacks import SupportsInfo
    from trader_env.training.train import TrainingResult

#: The algorithm name phase models and champion records carry for this policy.
REGIME_ROUTER = "RegimeRouter"
GENERALIST = "generalist"
FORMAT_VERSION = 1


def regime_columns(feature_names: Sequence[str]) -> list[int]:
    """Indices of the regime one-hot columns (order of :data:`REGIMES`) in an observation row."""
    names = list(feature_names)
    missing = [f"regime_{r}" for r in REGIMES if f"regime_{r}" not in names]
    if missing:
        raise ValueError(
            f"the regime router needs the regime one-hot in the observation (env.include_regime); "
            f"missing columns {missing}"
        )
    return [names.index(f"regime_{r}") for r in REGIMES]


def _is_recurrent(model: object) -> bool:
    return type(model).__name__ == "RecurrentPPO"


class RegimeRouterPolicy:
    """Per-regime specialists behind a smoothed regime router; SB3-compatible ``predict``.

    ``models``: name -> SB3 model (feed-forward); ``routes[i]``: the model name serving regime
    ``REGIMES[i]``; ``columns``: indices of the regime one-hot in an observation row.
    """

    def __init__(
        self,
        models: dict[str, Any],
        routes: Sequence[str],
        columns: Sequence[int],
        decay: float,
        dominance: float = 0.5,
    ) -> None:
        if len(routes) != len(REGIMES) or len(columns) != len(REGIMES):
            raise ValueError(f"routes and columns need one entry per regime ({len(REGIMES)})")
        unknown = sorted(set(routes) - set(models))
        if unknown:
            raise ValueError(f"routes name model(s) {unknown} that are not in {sorted(models)}")
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        if not 0.0 <= dominance < 1.0:
            raise ValueError(f"dominance must be in [0, 1), got {dominance}")
        self.models = dict(models)
        self.routes = tuple(routes)
        self.columns = list(columns)
        self.decay = float(decay)
        self.dominance = float(dominance)

    # ------------------------------------------------------------------ routing
    def route(
        self, onehot: np.ndarray, state: tuple[np.ndarray, np.ndarray] | None, starts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Smoothed probabilities ``(n, 4)`` and the active regime ``(n,)`` after this bar.

        ``onehot``: the current bar's regime one-hot per environment ``(n, 4)``; ``starts``:
        True where an episode starts (the state restarts from ``onehot`` there).
        """
        n = onehot.shape[0]
        if state is None:
            probs, active = onehot.copy(), onehot.argmax(axis=1)
        else:
            probs = self.decay * state[0] + (1.0 - self.decay) * onehot
            active = state[1].copy()
            restart = np.asarray(starts, dtype=bool).reshape(n)
            probs[restart] = onehot[restart]
            active[restart] = onehot[restart].argmax(axis=1)
        leader = probs.argmax(axis=1)
        rows = np.arange(n)
        switch = (leader != active) & (probs[rows, leader] > self.dominance)
        active = np.where(switch, leader, active)
        return probs, active

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[Any, ...]]:
        """Actions ``(n,)`` for observations ``(n, window, columns)``, and the state to pass
        back with the next call: ``(probabilities, active regime, recurrent states)``.

        A feed-forward specialist is evaluated on the rows routed to it only; a recurrent one
        (RecurrentPPO) on every row at every bar, so that its memory is current when the
        router switches to it.
        """
        batch = np.asarray(observation)
        n = len(batch)
        onehot = batch[:, -1, self.columns].astype(np.float64)
        starts = np.ones(n, bool) if episode_start is None else np.asarray(episode_start, bool)
        routing = None if state is None else (state[0], state[1])
        memories: dict[str, Any] = {} if state is None else dict(state[2])
        probs, active = self.route(onehot, routing, starts)
        actions = np.empty(n, dtype=np.int64)
        names = np.asarray(self.routes, dtype=object)[active]
        for name, model in self.models.items():
            rows = np.flatnonzero(names == name)
            if _is_recurrent(model):
                chosen, memories[name] = model.predict(
                    batch,
                    state=memories.get(name),
                    episode_start=starts,
                    deterministic=deterministic,
                )
                actions[rows] = np.asarray(chosen).reshape(-1)[rows]
            elif rows.size:
                chosen, _ = model.predict(batch[rows], deterministic=deterministic)
                actions[rows] = np.asarray(chosen).reshape(-1)
        return actions, (probs, active, memories)

    # ------------------------------------------------------------------ persistence
    def manifest(self) -> dict[str, Any]:
        from trader_env.training.factory import algorithm_name

        return {
            "format": FORMAT_VERSION,
            "algorithm": REGIME_ROUTER,
            "decay": self.decay,
            "dominance": self.dominance,
            "columns": self.columns,
            "base_algorithm": {name: algorithm_name(m) for name, m in self.models.items()},
            "routes": dict(zip(REGIMES, self.routes, strict=True)),
            "models": sorted(self.models),
        }

    def save(self, path: Path | str) -> Path:
        """Write the policy to ``path`` atomically (one zip file)."""
        models = {f"{name}.zip": model for name, model in self.models.items()}
        return write_model_archive(path, self.manifest(), models)

    @classmethod
    def load(cls, path: Path | str, device: str = "cpu", **_: Any) -> RegimeRouterPolicy:
        """Read a policy written by :meth:`save` (its models on ``device``)."""
        from trader_env.training.factory import trainable_class

        path = Path(path)
        with zipfile.ZipFile(path) as archive:
            manifest = read_manifest(archive, path, REGIME_ROUTER, FORMAT_VERSION)
            models = {
                name: trainable_class(manifest["base_algorithm"][name]).load(
                    io.BytesIO(archive.read(f"{name}.zip")), device=device
                )
                for name in manifest["models"]
            }
        return cls(
            models,
            [manifest["routes"][r] for r in REGIMES],
            manifest["columns"],
            manifest["decay"],
            manifest["dominance"],
        )


def is_router_file(path: Path | str) -> bool:
    """Whether ``path`` is a saved :class:`RegimeRouterPolicy` (not a plain SB3 model, nor
    another composite such as an abstaining phase's file)."""
    return archive_algorithm(path) == REGIME_ROUTER


# ---------------------------------------------------------------------- training data
def dominant_regime_sessions(arrays: MarketArrays) -> dict[int, list[int]]:
    """Regime code -> session ids of ``arrays`` where that regime covers most bars."""
    sessions, starts = np.unique(arrays.session_id, return_index=True)
    bounds = [*starts[1:], len(arrays)]
    out: dict[int, list[int]] = {code: [] for code in range(len(REGIMES))}
    for session, start, end in zip(sessions, starts, bounds, strict=True):
        counts = np.bincount(arrays.regime[start:end], minlength=len(REGIMES))
        out[int(counts.argmax())].append(int(session))
    return out


def select_sessions(arrays: MarketArrays, sessions: Sequence[int]) -> MarketArrays:
    """``arrays`` restricted to ``sessions`` (played back to back; ids stay increasing)."""
    mask = np.isin(arrays.session_id, np.asarray(sessions, dtype=np.int64))
    return MarketArrays(
        symbol=arrays.symbol,
        ts=arrays.ts[mask],
        open=arrays.open[mask],
        high=arrays.high[mask],
        low=arrays.low[mask],
        close=arrays.close[mask],
        features=np.ascontiguousarray(arrays.features[mask]),
        feature_names=arrays.feature_names,
        regime=arrays.regime[mask],
        session_id=arrays.session_id[mask],
        extras={name: values[mask] for name, values in arrays.extras.items()},
    )


def specialist_markets(
    arrays: Sequence[MarketArrays], min_sessions: int, min_bars: int
) -> tuple[dict[str, list[MarketArrays]], list[str]]:
    """Training markets per model and the model serving each regime.

    Returns ``(markets, routes)``: ``markets[name]`` the arrays a model trains on (one per
    symbol with enough bars), ``routes[i]`` the model of ``REGIMES[i]``. A regime with fewer
    than ``min_sessions`` dominant sessions over all symbols routes to :data:`GENERALIST`,
    which then trains on every session.
    """
    by_symbol = [(a, dominant_regime_sessions(a)) for a in arrays]
    markets: dict[str, list[MarketArrays]] = {}
    routes: list[str] = []
    for code, regime in enumerate(REGIMES):
        total = sum(len(sessions[code]) for _, sessions in by_symbol)
        selected = [
            select_sessions(a, sessions[code]) for a, sessions in by_symbol if sessions[code]
        ]
        selected = [a for a in selected if len(a) > min_bars]
        if total >= min_sessions and selected:
            markets[regime] = selected
            routes.append(regime)
        else:
            routes.append(GENERALIST)
    if GENERALIST in routes:
        markets[GENERALIST] = list(arrays)
    return markets, routes


def warm_start_files(path: Path | None, folder: Path) -> dict[str, Path]:
    """Model name -> SB3 file to warm-start from: every name maps to ``path`` for a plain SB3
    model; a saved router's own models are extracted into ``folder`` (nightly retraining
    continues the serving phase-6 champion, specialist by specialist)."""
    if path is None or not Path(path).is_file():
        return {}
    if not is_router_file(path):
        return {name: Path(path) for name in (*REGIMES, GENERALIST)}
    files: dict[str, Path] = {}
    with zipfile.ZipFile(path) as archive:
        manifest = read_manifest(archive, Path(path), REGIME_ROUTER, FORMAT_VERSION)
        for name in manifest["models"]:
            target = folder / f"{name}.zip"
            target.write_bytes(archive.read(f"{name}.zip"))
            files[name] = target
    # A regime the champion served with its generalist starts from that generalist.
    for regime in REGIMES:
        source = files.get(manifest["routes"][regime])
        if regime not in files and source is not None:
            files[regime] = source
    return files


def train_regime_policy(
    config: PhaseConfig,
    train_arrays: Sequence[MarketArrays],
    output_path: Path,
    warm_start_path: Path | None = None,
    logger: SupportsInfo | None = None,
    tensorboard_dir: Path | None = None,
) -> TrainingResult:
    """Train phase 6's specialists and save the router (see the module docstring).

    Returns a :class:`~trader_env.training.train.TrainingResult` whose diagnostics pool every
    specialist's episodes (one diagnostics callback follows all of them).
    """
    from stable_baselines3.common.callbacks import CallbackList

    from trader_env.env.step_data import observation_feature_names
    from trader_env.training.callbacks import DiagnosticsCallback, ProgressCallback
    from trader_env.training.factory import (
        build_model,
        configure_torch,
        load_warm_start,
        make_training_env,
    )
    from trader_env.training.train import TrainingResult

    settings = config.regime_policy
    if settings is None:
        raise ValueError(f"phase {config.phase}: train_regime_policy needs regime_policy set")
    output_path = Path(output_path)
    device = configure_torch(config.training)
    columns = regime_columns(observation_feature_names(train_arrays[0], config.env))
    min_bars = config.env.episode_length + config.env.window
    markets, routes = specialist_markets(train_arrays, settings.min_sessions, min_bars)
    per_model = max(config.training.total_timesteps // len(markets), 1)
    diagnostics = DiagnosticsCallback(config.env.reward_scaling, config.env.initial_capital)
    models: dict[str, Any] = {}
    notes: list[str] = []
    timesteps = 0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="regime-warm-start-") as scratch:
        sources = warm_start_files(warm_start_path, Path(scratch))
        for name, arrays in markets.items():
            vec_env = make_training_env(config, arrays)
            try:
                model, note = (None, "started fresh: no previous model given")
                source = sources.get(name)
                if config.training.warm_start and source is not None:
                    model, note = load_warm_start(
                        source, vec_env, config, device=device, tensorboard_dir=tensorboard_dir
                    )
                if model is None:
                    model = build_model(config, vec_env, device, tensorboard_dir)
                progress = ProgressCallback(30.0, logger, label=f"phase {config.phase} {name}")
                model.learn(per_model, callback=CallbackList([diagnostics, progress]))
                timesteps += int(model.num_timesteps)
            finally:
                vec_env.close()
            models[name] = model
            sessions = sum(len(np.unique(a.session_id)) for a in arrays)
            notes.append(f"{name} ({sessions} sessions): {note}")
    wall_time = time.perf_counter() - start
    policy = RegimeRouterPolicy(
        models, routes, columns, settings.max_correlation_decay, settings.dominance
    )
    policy.save(output_path)
    return TrainingResult(
        model_path=output_path,
        timesteps=timesteps,
        wall_time_s=wall_time,
        fps=timesteps / wall_time if wall_time > 0 else float("nan"),
        device=device,
        seed=config.training.seed,
        algorithm=REGIME_ROUTER,
        warm_start_note="; ".join(notes),
        diagnostics=diagnostics.diagnostics(),
    )
