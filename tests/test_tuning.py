"""What a tuning proposal claims: the best trial's edge over the committed configuration, day
by day on the selection slice, deflated by the alternatives the search tried."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from trader_env.phase_config import load_phase_config
from trader_env.tuning import TuningResult, edge_significance, write_proposal

DAYS = 76  # SPY's selection slice at the dev profile


def _search(edge: float, n_alternatives: int, seed: int = 0) -> dict[int, np.ndarray]:
    """Trial 0 (committed) plus alternatives that differ from it by noise; trial 1 adds
    ``edge`` a day on top of its noise."""
    rng = np.random.default_rng(seed)
    committed = rng.normal(0.0002, 0.006, DAYS)
    daily = {0: committed}
    for number in range(1, n_alternatives + 1):
        daily[number] = committed + rng.normal(0.0, 0.003, DAYS) + (edge if number == 1 else 0)
    return daily


def test_a_real_edge_is_significant_and_a_lucky_one_is_not():
    assert edge_significance(_search(0.002, 11), best=1) > 0.95
    # The same trial without its edge: best of twelve by luck only.
    lucky = _search(0.0, 11)
    best = max(range(1, 12), key=lambda n: float(np.mean(lucky[n] - lucky[0])))
    assert edge_significance(lucky, best) < 0.95


def test_more_alternatives_demand_more_of_the_best():
    few, many = _search(0.0006, 2, seed=3), _search(0.0006, 30, seed=3)
    assert edge_significance(few, 1) > edge_significance(many, 1)


def test_no_claim_when_the_committed_configuration_won_or_was_not_scored():
    daily = _search(0.001, 3)
    assert edge_significance(daily, best=0) is None
    del daily[0]
    assert edge_significance(daily, best=1) is None


@pytest.mark.parametrize(
    ("significance", "verdict"),
    [(0.99, ": significant."), (0.40, ": NOT significant: the gain may be the search's luck")],
)
def test_the_proposal_says_whether_its_gain_is_significant(
    tmp_path: Path, significance: float, verdict: str
) -> None:
    config = load_phase_config(2, "dev")
    result = TuningResult(
        phase=2,
        metric="sharpe",
        n_trials=12,
        best_score=2.85,
        best_trial=1,
        committed_score=-3.56,
        best_overrides={"algorithm": {"hyperparameters": {"ent_coef": 0.0143}}},
        edge_significance=significance,
    )
    text = write_proposal(result, tmp_path, config).read_text()
    assert "by more than the best of 11 alternative(s) would by luck" in text
    assert f"is {significance:.3g}{verdict}" in text.replace("\n# ", " ")
