"""The budget-held oracle: exact against brute force, within its budget, and equal to the
greedy sign policy when trading is free and unlimited."""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl
import pytest

from trader_env.data import generate_synthetic_market
from trader_env.data.config import SyntheticSourceConfig
from trader_env.evaluation.gates import GateCriterion
from trader_env.phase_config import load_phase_config
from trader_env.workflow.fair_oracle import (
    budget_held_oracle,
    budget_units,
    mean_daily_turnover,
    optimal_session_positions,
    turnover_budget,
)


def path_value(path: np.ndarray, expected: np.ndarray, cost: float, size: float) -> float:
    changes = np.abs(np.diff(path, prepend=0.0))
    return float(np.sum(size * path * expected) - cost * size * changes.sum())


def brute_force(expected: np.ndarray, cost: float, units: int | None, size: float) -> float:
    """Best value over every path in {-1, 0, 1}^n that ends flat and stays within ``units``."""
    best = -np.inf
    for head in itertools.product((-1.0, 0.0, 1.0), repeat=len(expected) - 1):
        path = np.array([*head, 0.0])
        if units is not None and np.abs(np.diff(path, prepend=0.0)).sum() > units:
            continue
        best = max(best, path_value(path, expected, cost, size))
    return best


@pytest.mark.parametrize("units", [0, 1, 2, 3, 4, None])
@pytest.mark.parametrize("cost", [0.0, 0.3, 1.5])
def test_dp_equals_brute_force_on_tiny_sessions(units: int | None, cost: float) -> None:
    rng = np.random.default_rng(units or 0)
    expected = rng.normal(0.0, 1.0, size=(12, 6))
    size = 0.5
    positions = optimal_session_positions(expected, cost, units, size)
    for session, path in zip(expected, positions, strict=True):
        assert path[-1] == 0.0
        assert set(np.unique(path)) <= {-size, 0.0, size}
        value = path_value(path / size, session, cost, size)
        assert value == pytest.approx(brute_force(session, cost, units, size), abs=1e-12)


def test_budget_is_respected_on_every_session() -> None:
    rng = np.random.default_rng(5)
    expected = rng.normal(0.0, 1.0, size=(200, 60))
    for budget, size in [(3.0, 1.0), (1.5, 0.25), (0.0, 1.0)]:
        units = budget_units(budget, size)
        positions = optimal_session_positions(expected, 0.01, units, size)
        turnover = np.abs(np.diff(positions, axis=1, prepend=0.0)).sum(axis=1)
        assert turnover.max() <= budget + 1e-12
    # An unconstrained policy on this noise trades far more than 3x a session.
    free = optimal_session_positions(expected, 0.01, None, 1.0)
    assert np.abs(np.diff(free, axis=1, prepend=0.0)).sum(axis=1).mean() > 10


def test_free_and_unlimited_is_the_greedy_sign_policy() -> None:
    rng = np.random.default_rng(11)
    expected = rng.normal(0.0, 1.0, size=(30, 40))
    positions = optimal_session_positions(expected, 0.0, None, 1.0)
    greedy = np.sign(expected)
    greedy[:, -1] = 0.0
    np.testing.assert_array_equal(positions, greedy)


def test_synthetic_market_budget_held_oracle() -> None:
    market = generate_synthetic_market(SyntheticSourceConfig(n_sessions=6, bars_per_session=60))
    oracle = market.oracle
    assert {"expected_next", "next_return"} <= set(oracle.columns)
    # The realised next return is what the generator's gross P&L was paid on.
    np.testing.assert_allclose(
        oracle["pnl"].to_numpy(), oracle["position"].to_numpy() * oracle["next_return"].to_numpy()
    )
    tz = "America/New_York"
    held = budget_held_oracle(oracle, tz, cost_bps=0.5, budget=3.0)
    free = budget_held_oracle(oracle, tz, cost_bps=0.0, budget=None)
    assert held.select("symbol", "ts").equals(oracle.select("symbol", "ts"))
    assert mean_daily_turnover(held, tz) <= 3.0
    assert mean_daily_turnover(free, tz) > mean_daily_turnover(held, tz)
    # Free and unlimited: the sign of the true drift, flat on each session's last bar.
    last = pl.col("ts") == pl.col("ts").max().over("symbol", pl.col("ts").dt.date())
    expected_sign = oracle.select(
        pl.when(last).then(0.0).otherwise(pl.col("expected_next").sign())
    ).to_series()
    np.testing.assert_array_equal(free["position"].to_numpy(), expected_sign.to_numpy())
    # Held to the budget, the oracle earns less in expectation but never more turnover.
    gross = (held["position"] * oracle["expected_next"]).sum()
    assert 0 < gross < (free["position"] * oracle["expected_next"]).sum()


def test_turnover_budget_reads_the_gate() -> None:
    config = load_phase_config(2, profile="dev")
    gate = [
        GateCriterion(metric="daily_turnover", op=">=", threshold=0.5),
        GateCriterion(metric="daily_turnover", op="<=", threshold=2.5),
        GateCriterion(metric="sharpe", op="<=", threshold=9.0),
    ]
    assert turnover_budget(config.model_copy(update={"gate": gate})) == 2.5
    assert turnover_budget(config.model_copy(update={"gate": gate[:1]})) is None
