"""Worker processes for the kill -9, concurrency and full-disk tests (run as a script, never
imported; started by ``workers.py``).

    python worker.py ledger STORAGE MODEL N_SESSIONS DELAY_S GO_FILE [FSIZE]
        append the forward days of the first N_SESSIONS sessions of the test market for the
        champion policy at MODEL, predicting slowly (DELAY_S per call), after GO_FILE exists
    python worker.py promote STORAGE MODEL SHARPE GO_FILE [FSIZE]
        consider MODEL for promotion (the serving champion re-measured at 0.0) after GO_FILE exists
    python worker.py save-model SOURCE DESTINATION [FSIZE]
        load the PPO model at SOURCE and save it to DESTINATION as training saves its models

With FSIZE the operation runs with every file write beyond FSIZE bytes failing with EFBIG, as
on a full disk. Prints one JSON line with what it did, or ``{"error": <errno name>, ...}`` and
exits 3 when a write failed.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from conftest import through


def _wait(go: Path) -> None:
    """Say this process is ready (``<go>.ready-<pid>``), then wait for ``go``."""
    go.with_name(f"{go.name}.ready-{os.getpid()}").touch()
    while not go.exists():
        time.sleep(0.01)


def _run(operation: Callable[[], dict[str, Any]], fsize: str | None) -> None:
    """Print what ``operation`` returns; with ``fsize``, writes beyond that many bytes fail."""
    if fsize is not None:
        # Ignored, SIGXFSZ would kill the process; the write then fails with EFBIG instead.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(fsize), resource.RLIM_INFINITY))
    try:
        result = operation()
    except OSError as exc:
        name = errno.errorcode.get(exc.errno or 0, str(exc.errno))
        print(json.dumps({"error": name, "message": str(exc)}), flush=True)
        sys.exit(3)
    print(json.dumps(result), flush=True)


class SlowPolicy:
    """A real policy whose predict takes ``delay`` seconds longer: keeps the append running."""

    def __init__(self, policy, delay: float) -> None:
        self.policy, self.delay = policy, delay

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        time.sleep(self.delay)
        return self.policy.predict(observation, state, episode_start, deterministic)


def ledger(
    storage: str, model: str, n_sessions: str, delay: str, go: str, fsize: str | None = None
) -> None:
    from trader_env.costs import production_costs, with_production_costs
    from trader_env.data import load_bars, load_data_config
    from trader_env.dataset import build_market_data
    from trader_env.phase_config import load_phase_config
    from trader_env.production import ForwardLedger, play_forward_days
    from trader_env.workflow import load_policy

    torch.set_num_threads(1)
    bars = load_bars(load_data_config(profile="test"))
    full = build_market_data(bars, profile="test")
    selection_end = full.splits.parts["validation"].last_session
    last = full.features["session"].unique().sort().to_list()[int(n_sessions) - 1]
    market = through(full, last)
    policy = SlowPolicy(load_policy("PPO", model), float(delay))
    costs = production_costs(["SYNA", "SYNB"], "us_equity", profile="test")
    env = with_production_costs(load_phase_config(2, profile="test"), costs).env
    _wait(Path(go))

    def append() -> dict[str, Any]:
        rows = ForwardLedger(storage).append(
            lambda existing: play_forward_days(
                policy, market, env, existing, selection_end, 1, "phase2"
            )
        )
        return {"appended": [str(row.session) for row in rows]}

    _run(append, fsize)


def promote(storage: str, model: str, sharpe: str, go: str, fsize: str | None = None) -> None:
    from trader_env.evaluation import ChampionRecord, ChampionRegistry
    from trader_env.evaluation.champion import SharpeEvidence

    candidate = ChampionRecord(
        phase="phase2",
        model_path=model,
        validation_sharpe=float(sharpe),
        gate_costs="production",
    )
    strong = SharpeEvidence(sharpe_per_period=1.0, n_days=1000, skew=0.0, kurtosis=3.0)
    registry = ChampionRegistry(storage)
    _wait(Path(go))

    def consider() -> dict[str, Any]:
        # Whichever champion serves when the lock is taken is "re-measured" at 0.0: both
        # candidates beat it, and both decisions are taken under the lock against the champion
        # as it is then.
        decision = registry.consider(candidate, strong, champion_sharpe=0.0)
        assert decision.current is not None
        return {"promoted": decision.promoted, "version": decision.current.version}

    _run(consider, fsize)


def save_model(source: str, destination: str, fsize: str | None = None) -> None:
    from trader_env.training import algorithm_class, save_model_atomically

    model = algorithm_class("PPO").load(source, device="cpu")

    def save() -> dict[str, Any]:
        return {"saved": str(save_model_atomically(model, Path(destination)))}

    _run(save, fsize)


if __name__ == "__main__":
    {"ledger": ledger, "promote": promote, "save-model": save_model}[sys.argv[1]](*sys.argv[2:])
