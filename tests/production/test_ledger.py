"""The forward ledger grows by exactly the new days, is never rewritten, survives kill -9 and
concurrent appends from separate processes."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import polars as pl
import pytest

from trader_env.dataset import Dataset
from trader_env.env import EnvConfig
from trader_env.production import (
    ForwardLedger,
    LedgerError,
    forward_sessions,
    forward_summary,
    play_forward_days,
)
from trader_env.workflow import load_policy

from .workers import lock_held, start_together, start_worker, worker_result


def _append(ledger: ForwardLedger, policy, market: Dataset, env: EnvConfig, end, version: int = 1):
    """Append ``market``'s forward days after ``end`` (the champion's selection end)."""
    return ledger.append(
        lambda rows: play_forward_days(policy, market, env, rows, end, version, "phase2")
    )


def test_ledger_grows_by_exactly_the_new_days_and_keeps_its_bytes(
    tmp_path: Path, leaning_model, market: Dataset, env_config: EnvConfig, market_through
) -> None:
    policy = load_policy("PPO", leaning_model(2))
    end = market.splits.parts["validation"].last_session
    forward = forward_sessions(market, end)
    assert len(forward) >= 6
    ledger = ForwardLedger(tmp_path)
    assert ledger.rows() == []

    # The market as it stood three forward days in, then the whole of it.
    earlier = market_through(forward[2])
    first = _append(ledger, policy, earlier, env_config, end)
    assert [row.session for row in first] == forward[:3]
    before = ledger.path.read_bytes()
    second = _append(ledger, policy, market, env_config, end, version=2)
    assert [row.session for row in second] == forward[3:]
    assert ledger.path.read_bytes().startswith(before), "existing rows are never rewritten"
    assert _append(ledger, policy, market, env_config, end) == [], "no new day, nothing appended"

    rows = ledger.rows()
    assert [row.session for row in rows] == forward
    assert [row.champion_version for row in rows] == [1] * 3 + [2] * (len(forward) - 3)
    for previous, row in zip(rows, rows[1:], strict=False):
        assert row.start_equity == previous.equity, "each day starts from the last close"
    for row in rows:
        assert row.equity == pytest.approx(row.start_equity + row.net_pnl)
        assert row.costs > 0 and row.turnover > 0, "the long champion trades and pays"
        assert row.positions_at_close == {"SYNA": 0.0, "SYNB": 0.0}, "flat at every close"
        assert row.drawdown <= 0 and row.intraday_drawdown <= 0
    summary = forward_summary(rows, 1.0)
    assert summary["n_days"] == len(forward) and 0.0 <= summary["psr_vs_validation"] <= 1.0


def test_a_day_is_independent_of_how_many_days_one_run_appends(
    tmp_path: Path, leaning_model, market: Dataset, env_config: EnvConfig, market_through
) -> None:
    policy = load_policy("PPO", leaning_model(None))
    end = market.splits.parts["validation"].last_session
    forward = forward_sessions(market, end)
    in_one = _append(ForwardLedger(tmp_path / "a"), policy, market, env_config, end)
    stepwise = ForwardLedger(tmp_path / "b")
    for day in forward:
        _append(stepwise, policy, market_through(day), env_config, end)
    for a, b in zip(stepwise.rows(), in_one, strict=True):
        assert a.session == b.session
        assert a.net_pnl == pytest.approx(b.net_pnl, rel=1e-6, abs=1e-6)
        assert a.costs == pytest.approx(b.costs, rel=1e-6, abs=1e-6)


def test_a_day_already_in_the_ledger_is_refused(tmp_path: Path) -> None:
    ledger = ForwardLedger(tmp_path)
    row = {
        "session": "2024-03-07",
        "champion_version": 1,
        "phase": "phase2",
        "start_equity": 1.0,
        "net_pnl": 0.0,
        "costs": 0.0,
        "turnover": 0.0,
        "daily_return": 0.0,
        "equity": 1.0,
        "drawdown": 0.0,
        "intraday_drawdown": 0.0,
        "positions_at_close": {},
        "recorded_at": "now",
    }
    from trader_env.production import LedgerRow

    ledger.append(lambda rows: [LedgerRow.model_validate(row)])
    with pytest.raises(LedgerError, match="session 2024-03-07 is not after 2024-03-07"):
        ledger.append(lambda rows: [LedgerRow.model_validate(row)])
    ledger.path.write_text(ledger.path.read_text() + "{not json\n")
    with pytest.raises(LedgerError, match=r"forward.jsonl, line 2: not a ledger row"):
        ledger.rows()


def test_ledger_survives_kill_9_during_an_append(
    tmp_path: Path, leaning_model, market: Dataset, env_config: EnvConfig, market_through
) -> None:
    model = leaning_model(2)
    policy = load_policy("PPO", model)
    end = market.splits.parts["validation"].last_session
    forward = forward_sessions(market, end)
    ledger = ForwardLedger(tmp_path)
    earlier = market_through(forward[1])
    _append(ledger, policy, earlier, env_config, end)
    before = ledger.path.read_bytes()

    go = tmp_path / "go"
    go.touch()
    # Slow predictions (20 ms) keep the append busy for seconds: killed while it holds the lock.
    n_sessions = str(market.features["session"].n_unique())
    worker = start_worker("ledger", str(tmp_path), str(model), n_sessions, "0.02", str(go))
    deadline = time.monotonic() + 120
    while not lock_held(ledger.folder):
        assert worker.poll() is None, "the worker ended before taking the lock"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.0)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()

    assert ledger.path.read_bytes() == before, "the killed append left the ledger as it was"
    assert not lock_held(ledger.folder), "the kernel released the dead process's lock"
    assert not list(ledger.folder.glob(".tmp-*")), "no torn temporary file"
    resumed = _append(ledger, policy, market, env_config, end)
    assert [row.session for row in resumed] == forward[2:]
    assert ledger.path.read_bytes().startswith(before)


def test_two_processes_appending_at_the_same_moment_lose_nothing(
    tmp_path: Path, leaning_model, market: Dataset
) -> None:
    model = leaning_model(2)
    end = market.splits.parts["validation"].last_session
    forward = forward_sessions(market, end)
    n_all = market.features["session"].n_unique()
    go = tmp_path / "go"
    # One sees the market three forward days in, the other the whole of it.
    workers = [
        start_worker("ledger", str(tmp_path), str(model), str(n), "0", str(go))
        for n in (n_all - len(forward) + 3, n_all)
    ]
    start_together(go, workers)
    outputs = [worker_result(worker) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers)
    sessions = [str(row.session) for row in ForwardLedger(tmp_path).rows()]
    assert sessions == [str(day) for day in forward], "every forward day exactly once, in order"
    appended = sorted(day for output in outputs for day in output["appended"])
    assert appended == sessions, "what each process reports is what the ledger holds"
    assert pl.Series(sessions).is_unique().all()
