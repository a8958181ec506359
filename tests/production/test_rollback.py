"""A market that turns against the champion demotes it, with the reason in the registry; the
expectation test rejects a champion far below its validation Sharpe, and only then."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from trader_env.dataset import Dataset
from trader_env.env import EnvConfig
from trader_env.evaluation.champion import ChampionRecord, ChampionRegistry, SharpeEvidence
from trader_env.production import ForwardLedger, ForwardLimits, LedgerRow, judge_forward
from trader_env.production.loop import run_ledger_turn

#: Significant whatever the trial count: these tests are about the production loop.
STRONG = SharpeEvidence(sharpe_per_period=1.0, n_days=1000, skew=0.0, kurtosis=3.0)


def _promote(
    registry: ChampionRegistry, model: Path, env: EnvConfig, validation_sharpe: float, end: str
) -> int:
    record = ChampionRecord(
        phase="phase2",
        model_path=str(model),
        test_sharpe=validation_sharpe,
        validation_sharpe=validation_sharpe,
        gate_costs="production",
        lineage={
            "algorithm": "PPO",
            "env_config": env.model_dump(mode="json"),
            "selection_end": end,
        },
    )
    decision = registry.consider(record, STRONG, champion_sharpe=-1e9)
    assert decision.promoted
    return decision.current.version  # type: ignore[union-attr, return-value]


def test_a_crash_against_the_long_champion_demotes_it(
    tmp_path: Path, leaning_model, crashed_market: Dataset, env_config: EnvConfig
) -> None:
    registry = ChampionRegistry(tmp_path)
    end = crashed_market.splits.parts["validation"].last_session.isoformat()
    flat = _promote(registry, leaning_model(1), env_config, 0.5, end)
    long = _promote(registry, leaning_model(2), env_config, 1.0, end)

    outcome = run_ledger_turn(crashed_market, tmp_path, ForwardLimits())
    assert outcome.champion.version == long and outcome.demoted
    assert outcome.serving is not None and outcome.serving.version == flat
    assert registry.current().version == flat  # type: ignore[union-attr]
    event = registry.history()[-1]
    assert (event.action, event.replaced_version, event.version) == ("demoted", long, flat)
    first_day = outcome.appended[0]
    assert f"forward day {first_day.session}" in event.reason
    assert "reached the daily drawdown limit of 5%" in event.reason
    assert first_day.intraday_drawdown < -0.05, "the crash took more than the limit"
    assert "DEMOTED v2, now serving v1" in outcome.message
    assert outcome.plot is not None and outcome.plot.stat().st_size > 0

    # The restored champion starts with the next new day: nothing is recomputed or added now.
    again = run_ledger_turn(crashed_market, tmp_path, ForwardLimits())
    assert again.appended == [] and not again.demoted and again.champion.version == flat
    assert len(ForwardLedger(tmp_path).rows()) == len(outcome.appended)


def _rows(returns: np.ndarray) -> list[LedgerRow]:
    start = dt.date(2024, 1, 1)
    equity, rows = 100_000.0, []
    for i, value in enumerate(returns):
        end = equity * (1 + value)
        rows.append(
            LedgerRow(
                session=start + dt.timedelta(days=i),
                champion_version=1,
                phase="phase2",
                start_equity=equity,
                net_pnl=end - equity,
                costs=1.0,
                turnover=1.0,
                daily_return=float(value),
                equity=end,
                drawdown=0.0,
                intraday_drawdown=-0.001,
                positions_at_close={"SPY": 0.0},
                recorded_at="t",
            )
        )
        equity = end
    return rows


def test_expectation_test_needs_min_days_and_significance() -> None:
    rng = np.random.default_rng(0)
    losing = rng.normal(-0.002, 0.005, 40)  # annualised Sharpe about -6
    limits = ForwardLimits(min_days=20, alpha=0.05)
    assert not judge_forward(_rows(losing[:19]), 2.0, limits).demote, "too few days to judge"
    verdict = judge_forward(_rows(losing[:20]), 2.0, limits)
    assert verdict.demote and "significantly below the expectation 2.00" in verdict.reason
    # Performing as validated is not a breach, and a champion that never trades is not judged.
    as_validated = rng.normal(2.0 / np.sqrt(252) * 0.005, 0.005, 40)
    assert not judge_forward(_rows(as_validated), 2.0, limits).demote
    assert not judge_forward(_rows(np.zeros(40)), 2.0, limits).demote
    # The expectation is never below zero: a significant loser goes, whatever validation said.
    for validation in (None, -25.0):
        verdict = judge_forward(_rows(losing), validation, limits)
        assert verdict.demote and "below the expectation 0.00" in verdict.reason
    flat_loser = rng.normal(-0.0001, 0.005, 40)  # a Sharpe of about -0.3: not significant
    assert not judge_forward(_rows(flat_loser), -25.0, limits).demote
