"""The forward ledger: how the serving champion does on days newer than its selection.

Layout under the storage root::

    champion/ledger/forward.jsonl    one JSON object per forward session, oldest first
    champion/ledger/.lock            serialises appends (fcntl, released when a process dies)

Append-only: a run reads the file under the lock, plays the champion over the sessions after
both the last ledger row and the last session its selection used (``selection_end``), and
writes the old bytes followed by the new rows to a temporary file that replaces the ledger
(``os.replace``). The existing bytes are carried over unchanged, so a day already in the ledger
is never recomputed, by this champion or a later one; a run killed at any point leaves the old
file or the complete new one, and the next run appends exactly the missing days.

Each session is played on its own, from its first bar (``window - 1`` warm-up bars of the
previous session before it) with the ledger's equity at the previous close split evenly over
the symbols that trade that day, under the champion's own environment config (production
costs, risk limits). A day's row therefore depends only on the rows before it and that day's
bars, not on how many days one run appends.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from trader_env.atomic import atomic_write_bytes, locked
from trader_env.dataset import Dataset
from trader_env.env import EnvConfig
from trader_env.evaluation.backtest import Policy, run_backtest
from trader_env.evaluation.metrics import intraday_max_drawdowns
from trader_env.evaluation.psr import probabilistic_sharpe_ratio
from trader_env.paths import storage_root
from trader_env.production.sessions import arrays_for_sessions, forward_sessions

LEDGER_DIR = "champion/ledger"
LEDGER_FILE = "forward.jsonl"
#: Sessions per year used to annualise the forward Sharpe (as every evaluation does).
PERIODS_PER_YEAR = 252


class LedgerError(ValueError):
    """The ledger file is unreadable, or an append would rewrite or reorder its days."""


class LedgerRow(BaseModel):
    """One forward session of the serving champion (money in the account's currency)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    session: date = Field(description="Session date (exchange calendar day).")
    champion_version: int = Field(description="Registry version that traded the day.")
    phase: str = Field(description="Phase of that champion, e.g. 'phase2'.")
    start_equity: float = Field(description="Equity at the previous close (all symbols).")
    net_pnl: float = Field(description="Equity change over the day, after costs.")
    costs: float = Field(description="Commission + spread + slippage paid.")
    turnover: float = Field(description="Traded notional / start equity.")
    daily_return: float = Field(description="net_pnl / start_equity.")
    equity: float = Field(description="Equity at the close.")
    drawdown: float = Field(description="Close equity vs the ledger's peak close, <= 0.")
    intraday_drawdown: float = Field(
        description="Worst drawdown within the day from the day's running peak over the "
        "symbols (each its own account), <= 0."
    )
    positions_at_close: dict[str, float] = Field(description="Units held at the close.")
    halts: list[str] = Field(default_factory=list, description="Risk halts of the day.")
    recorded_at: str = Field(description="UTC time the row was appended.")


class ForwardLedger:
    """The ledger in ``<root>/champion/ledger`` (``root`` defaults to the storage root)."""

    def __init__(self, root: Path | str | None = None) -> None:
        self.folder = Path(root if root is not None else storage_root()) / LEDGER_DIR
        self.path = self.folder / LEDGER_FILE

    def _parse(self, data: bytes) -> list[LedgerRow]:
        rows = []
        for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
            try:
                rows.append(LedgerRow.model_validate_json(line))
            except ValidationError as exc:
                raise LedgerError(
                    f"{self.path}, line {number}: not a ledger row ({exc.errors()[0]['msg']} at "
                    f"{'.'.join(str(p) for p in exc.errors()[0]['loc']) or 'top level'})"
                ) from exc
        return rows

    def rows(self) -> list[LedgerRow]:
        """Every row, oldest first (empty before the first append)."""
        return self._parse(self.path.read_bytes()) if self.path.exists() else []

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return locked(self.folder)

    def append(self, compute: Callable[[list[LedgerRow]], list[LedgerRow]]) -> list[LedgerRow]:
        """Under the lock: ``compute(existing rows)`` gives the new rows, which are appended.

        Returns the appended rows. Raises :class:`LedgerError` when a new row's session is
        not after the last one (the ledger's days are strictly increasing and never redone).
        """
        with self._locked():
            old = self.path.read_bytes() if self.path.exists() else b""
            existing = self._parse(old)
            new = compute(existing)
            last = existing[-1].session if existing else None
            for row in new:
                if last is not None and row.session <= last:
                    raise LedgerError(
                        f"{self.path}: session {row.session} is not after {last}; a ledger day "
                        "is never recomputed"
                    )
                last = row.session
            if new:
                lines = "".join(row.model_dump_json() + "\n" for row in new).encode("utf-8")
                prefix = old if not old or old.endswith(b"\n") else old + b"\n"
                atomic_write_bytes(self.path, prefix + lines)
        return new


def play_forward_days(
    policy: Policy,
    market: Dataset,
    env_config: EnvConfig,
    existing: list[LedgerRow],
    selection_end: date,
    champion_version: int,
    phase: str,
) -> list[LedgerRow]:
    """Ledger rows of the stored sessions after ``selection_end`` and after the last row.

    See the module docstring for how each session is played. ``existing`` are the ledger's
    rows (their last equity carries over; an empty ledger starts with ``initial_capital`` per
    symbol).
    """
    after = max(selection_end, existing[-1].session) if existing else selection_end
    n_symbols = market.bars["symbol"].n_unique()
    equity = existing[-1].equity if existing else env_config.initial_capital * n_symbols
    peak = max((row.equity for row in existing), default=equity)
    rows = []
    for session in forward_sessions(market, after):
        arrays = arrays_for_sessions(market, session, session, env_config.window - 1)
        capital = equity / len(arrays)
        result = run_backtest(
            policy,
            arrays,
            env_config.model_copy(update={"initial_capital": capital}),
            session_timezone=market.splits.session_timezone,
        )
        bars = result.bars
        if bars["session"].n_unique() != 1 or bars["session"][0] != session:
            raise LedgerError(
                f"forward session {session}: the backtest covered {bars['session'].unique()}"
            )
        net = float(bars["net_pnl"].sum())
        worst = min(
            float(
                intraday_max_drawdowns(group["equity"].to_numpy(), np.zeros(group.height), capital)[
                    0
                ]
            )
            for _, group in bars.group_by("symbol", maintain_order=True)
        )
        close = bars.group_by("symbol", maintain_order=True).agg(pl.col("position").last())
        end = equity + net
        peak = max(peak, end)
        rows.append(
            LedgerRow(
                session=session,
                champion_version=champion_version,
                phase=phase,
                start_equity=equity,
                net_pnl=net,
                costs=float(bars["cost"].sum()),
                turnover=float(bars["traded_notional"].sum()) / equity,
                daily_return=net / equity,
                equity=end,
                drawdown=end / peak - 1.0,
                intraday_drawdown=worst,
                positions_at_close=dict(zip(close["symbol"], close["position"], strict=True)),
                halts=[
                    f"{row['symbol']} {row['ts']:%H:%M} UTC: {row['reason']}"
                    for row in result.halts.iter_rows(named=True)
                ],
                recorded_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            )
        )
        equity = end
    return rows


def forward_summary(rows: list[LedgerRow], validation_sharpe: float | None) -> dict[str, Any]:
    """Forward statistics of ``rows`` (one champion's days) against its validation Sharpe.

    ``forward_sharpe``: annualised daily Sharpe (``sqrt(252)`` x mean / std); ``psr_vs_validation``:
    probability that the true forward Sharpe exceeds the validation Sharpe (Bailey and Lopez de
    Prado's PSR with the benchmark at the validation Sharpe, per day), NaN with fewer than 4
    days, zero variance or no validation Sharpe. ``total_return``, ``worst_intraday_drawdown``
    and ``max_drawdown`` (of the closes) are fractions.
    """
    returns = np.array([row.daily_return for row in rows], dtype=np.float64)
    n = len(returns)
    std = float(returns.std(ddof=1)) if n >= 2 else math.nan
    sharpe = float(returns.mean()) / std * math.sqrt(PERIODS_PER_YEAR) if std > 0 else math.nan
    benchmark = (
        validation_sharpe / math.sqrt(PERIODS_PER_YEAR)
        if validation_sharpe is not None and math.isfinite(validation_sharpe)
        else math.nan
    )
    psr = (
        probabilistic_sharpe_ratio(returns, benchmark)
        if n and math.isfinite(benchmark)
        else math.nan
    )
    equity = np.cumprod(1.0 + returns) if n else np.ones(0)
    peaks = np.maximum.accumulate(np.concatenate(([1.0], equity)))[1:] if n else equity
    return {
        "n_days": n,
        "first_session": rows[0].session.isoformat() if rows else None,
        "last_session": rows[-1].session.isoformat() if rows else None,
        "forward_sharpe": sharpe,
        "validation_sharpe": validation_sharpe if validation_sharpe is not None else math.nan,
        "psr_vs_validation": psr,
        "total_return": float(equity[-1] - 1.0) if n else 0.0,
        "max_drawdown": float((equity / peaks - 1.0).min()) if n else 0.0,
        "worst_intraday_drawdown": min((row.intraday_drawdown for row in rows), default=0.0),
        "total_costs": float(sum(row.costs for row in rows)),
        "mean_turnover": float(np.mean([row.turnover for row in rows])) if n else 0.0,
    }
