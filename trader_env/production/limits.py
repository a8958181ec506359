"""When the champion's forward days break its limits, and the forward equity plot.

Two rules, checked on the forward ledger rows of the serving champion only (a new champion
starts with a clean record):

1. **Daily drawdown**: a forward day whose intraday drawdown reached the phase-3 daily
   drawdown limit (``max_daily_drawdown_pct`` of ``phase3.yaml``, 5 %), or on which that
   limit halted trading. One such day is enough: it is the loss the limit exists to prevent.
2. **Below expectation**: a one-sided test of H0 "the true forward Sharpe is at least the
   expectation", the expectation being the Sharpe the champion was selected on (validation),
   and never less than zero: a serving model is expected at least not to lose money, so one
   that loses with significance is demoted whatever its validation said (and when none was
   recorded). The statistic is the probabilistic Sharpe ratio (Bailey and Lopez de Prado
   2012) of the forward daily returns with the expectation as benchmark, i.e.
   P(true Sharpe > expectation) given the forward Sharpe, the number of days and the
   returns' skew and kurtosis. H0 is rejected when it falls below ``alpha`` (5 %) after at
   least ``min_days`` forward days (20, about a month: fewer days leave the test no power
   and its normal approximation poor). A champion that does not trade (zero variance) is
   never judged by this rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from trader_env.evaluation.psr import probabilistic_sharpe_ratio
from trader_env.production.ledger import PERIODS_PER_YEAR, LedgerRow, forward_summary


class ForwardLimits(BaseModel):
    """Thresholds of the two rollback rules (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    daily_drawdown_limit: float = Field(
        default=0.05, gt=0.0, lt=1.0, description="Phase 3's daily drawdown limit, fraction."
    )
    min_days: int = Field(default=20, ge=4, description="Forward days before rule 2 applies.")
    alpha: float = Field(default=0.05, gt=0.0, lt=0.5, description="Significance of rule 2.")


@dataclass(frozen=True)
class RollbackVerdict:
    """``demote``: a limit was broken; ``reason``: which, with the measured numbers."""

    demote: bool
    reason: str


def judge_forward(
    rows: list[LedgerRow], validation_sharpe: float | None, limits: ForwardLimits
) -> RollbackVerdict:
    """Apply both rules to one champion's forward ``rows`` (oldest first)."""
    for row in rows:
        halted = [halt for halt in row.halts if "daily_drawdown" in halt]
        if -row.intraday_drawdown >= limits.daily_drawdown_limit or halted:
            return RollbackVerdict(
                True,
                f"forward day {row.session}: intraday drawdown {-row.intraday_drawdown:.2%} "
                f"reached the daily drawdown limit of {limits.daily_drawdown_limit:.0%}"
                + (f" ({'; '.join(halted)})" if halted else ""),
            )
    summary = forward_summary(rows, validation_sharpe)
    n = summary["n_days"]
    expectation = max(validation_sharpe, 0.0) if validation_sharpe is not None else 0.0
    if not math.isfinite(expectation):
        expectation = 0.0
    returns = np.array([row.daily_return for row in rows], dtype=np.float64)
    psr = (
        probabilistic_sharpe_ratio(returns, expectation / math.sqrt(PERIODS_PER_YEAR))
        if n
        else math.nan
    )
    if n >= limits.min_days and math.isfinite(psr) and psr < limits.alpha:
        return RollbackVerdict(
            True,
            f"forward Sharpe {summary['forward_sharpe']:.2f} over {n} days is significantly "
            f"below the expectation {expectation:.2f} (validation Sharpe "
            f"{_number(validation_sharpe)}, floored at 0; PSR {psr:.3f} < {limits.alpha:g})",
        )
    detail = (
        f"PSR vs expectation {expectation:.2f}: {psr:.3f}"
        if math.isfinite(psr)
        else ("PSR undefined")
    )
    return RollbackVerdict(
        False,
        f"within limits over {n} forward day(s): worst intraday drawdown "
        f"{-summary['worst_intraday_drawdown']:.2%} < {limits.daily_drawdown_limit:.0%}; "
        f"{detail}" + (f" (judged from {limits.min_days} days)" if n < limits.min_days else ""),
    )


def _number(value: float | None) -> str:
    return "none" if value is None else f"{value:.2f}"


def plot_forward(
    rows: list[LedgerRow], validation_sharpe: float | None, path: Path | str, title: str
) -> Path:
    """PNG of the forward equity (closes) against what the validation Sharpe promised.

    The expectation compounds ``SR_val / sqrt(252) * sigma`` a day, with ``sigma`` the std of
    the forward daily returns (the risk the champion actually took), from the first row's
    start equity; the band is +- 2 sigma sqrt(t) around it.
    """
    if not rows:
        raise ValueError("cannot plot an empty forward ledger")
    from trader_env.evaluation.reports import headless_matplotlib, save_figure

    headless_matplotlib()
    import matplotlib.pyplot as plt

    returns = np.array([row.daily_return for row in rows])
    start = rows[0].start_equity
    days = np.arange(len(rows) + 1)
    equity = np.concatenate(([start], [row.equity for row in rows]))
    sigma = float(returns.std(ddof=1)) if len(returns) >= 2 else 0.0
    fig, axis = plt.subplots(figsize=(10, 4.5))
    axis.plot(days, equity, lw=1.4, label="forward equity (ledger)")
    if validation_sharpe is not None and math.isfinite(validation_sharpe):
        mu = validation_sharpe / math.sqrt(PERIODS_PER_YEAR) * sigma
        expected = start * (1.0 + mu) ** days
        band = 2.0 * sigma * np.sqrt(days) * start
        axis.plot(
            days, expected, ls="--", lw=1.1, label=f"validation Sharpe {validation_sharpe:.2f}"
        )
        axis.fill_between(days, expected - band, expected + band, alpha=0.15, label="+- 2 sigma")
    labels = ["start"] + [str(row.session) for row in rows]
    ticks = np.unique(np.linspace(0, len(rows), num=min(8, len(rows) + 1)).astype(int))
    axis.set_xticks(ticks, [labels[i] for i in ticks], rotation=20)
    axis.set_title(title)
    axis.set_ylabel("equity")
    axis.grid(alpha=0.3)
    axis.legend(loc="best", fontsize=8)
    return save_figure(fig, path)
