"""Worker processes for the kill -9 and concurrency tests (run as a script, never imported).

    python worker.py ledger STORAGE MODEL N_SESSIONS DELAY_S GO_FILE
        append the forward days of the first N_SESSIONS sessions of the test market for the
        champion policy at MODEL, predicting slowly (DELAY_S per call), after GO_FILE exists
    python worker.py promote STORAGE MODEL SHARPE GO_FILE
        consider MODEL for promotion (the serving champion re-measured at 0.0) after GO_FILE exists

Prints one JSON line with what it did.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch
from conftest import through


def _wait(go: Path) -> None:
    """Say this process is ready (``<go>.ready-<pid>``), then wait for ``go``."""
    go.with_name(f"{go.name}.ready-{os.getpid()}").touch()
    while not go.exists():
        time.sleep(0.01)


class SlowPolicy:
    """A real policy whose predict takes ``delay`` seconds longer: keeps the append running."""

    def __init__(self, policy, delay: float) -> None:
        self.policy, self.delay = policy, delay

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        time.sleep(self.delay)
        return self.policy.predict(observation, state, episode_start, deterministic)


def ledger(storage: str, model: str, n_sessions: str, delay: str, go: str) -> None:
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
    rows = ForwardLedger(storage).append(
        lambda existing: play_forward_days(
            policy, market, env, existing, selection_end, 1, "phase2"
        )
    )
    print(json.dumps({"appended": [str(row.session) for row in rows]}))


def promote(storage: str, model: str, sharpe: str, go: str) -> None:
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
    # Whichever champion serves when the lock is taken is "re-measured" at 0.0: both candidates
    # beat it, and both decisions are taken under the lock against the champion as it is then.
    decision = registry.consider(candidate, strong, champion_sharpe=0.0)
    print(json.dumps({"promoted": decision.promoted, "version": decision.current.version}))


if __name__ == "__main__":
    {"ledger": ledger, "promote": promote}[sys.argv[1]](*sys.argv[2:])
