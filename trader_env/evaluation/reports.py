"""Evaluation reports: quantstats HTML tear sheet, equity PNG, metrics JSON, regime table.

Every file is written atomically (temporary file in the destination folder, then
``os.replace``), so a reader never sees a half-written report. quantstats and matplotlib are
imported inside the functions: importing :mod:`trader_env.evaluation` stays fast.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import polars as pl

from trader_env.atomic import atomic_path, atomic_write_text
from trader_env.evaluation.metrics import validate_returns
from trader_env.sessions import session_date_expr

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PLOT_COLUMNS: tuple[str, ...] = ("symbol", "ts", "equity", "benchmark_equity", "position")


def headless_matplotlib() -> None:
    """Render to files only (no display) and silence matplotlib's missing-font warnings."""
    import matplotlib

    # Reports are written by workers without a display; "Agg" renders to files only.
    matplotlib.use("Agg")
    # quantstats asks for fonts (Arial) that minimal systems lack; the fallback is fine.
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)


def write_tearsheet(
    daily_returns: pd.Series, benchmark: pd.Series, path: Path | str, title: str
) -> Path:
    """Write the quantstats HTML tear sheet of ``daily_returns`` against ``benchmark``.

    Both are simple daily returns on the same date index (the benchmark is a Series, never a
    ticker, so nothing is downloaded). Takes a few seconds. Returns the written path.
    """
    validate_returns(daily_returns, "daily_returns")
    validate_returns(benchmark, "benchmark")
    if not daily_returns.index.equals(benchmark.index):
        raise ValueError("benchmark must have exactly the dates of daily_returns")
    if len(daily_returns) < 2:
        raise ValueError(f"a tear sheet needs at least 2 days of returns, got {len(daily_returns)}")
    if daily_returns.nunique() < 2:
        raise ValueError(
            f"a tear sheet needs daily returns that vary; all {len(daily_returns)} are "
            f"{daily_returns.iloc[0]:g} (a policy that never trades has nothing to chart)"
        )
    headless_matplotlib()
    import quantstats as qs

    index = pd.DatetimeIndex(daily_returns.index)
    strategy = pd.Series(daily_returns.to_numpy(), index=index, name="Strategy")
    reference = pd.Series(benchmark.to_numpy(), index=index, name="Buy & hold")
    destination = Path(path)
    with atomic_path(destination) as tmp, warnings.catch_warnings():
        # quantstats 0.0.86 and seaborn emit deprecation warnings from their own internals.
        warnings.simplefilter("ignore")
        qs.reports.html(
            strategy,
            benchmark=reference,
            output=str(tmp),
            title=title,
            benchmark_title="Buy & hold",
            strategy_title="Strategy",
        )
    return destination


def plot_equity(bars: pl.DataFrame, path: Path | str, title: str = "Backtest") -> Path:
    """Write a PNG with three stacked panels sharing the bar axis.

    1. account equity and buy-and-hold equity (currency), 2. drawdown of equity from its
    running peak (%), 3. position (units of the instrument, signed). ``bars`` needs
    :data:`PLOT_COLUMNS`; one line per symbol. The x axis counts bars (nights and weekends
    take no space); ticks mark the first bar of a session, labelled with the session date
    (``session`` column if present, else the New York date of ``ts``).
    """
    missing = set(PLOT_COLUMNS) - set(bars.columns)
    if missing:
        raise ValueError(f"per-bar frame lacks column(s) {sorted(missing)} needed for the plot")
    if bars.is_empty():
        raise ValueError("cannot plot an empty per-bar frame")
    headless_matplotlib()
    import matplotlib.pyplot as plt

    fig, (ax_equity, ax_drawdown, ax_position) = plt.subplots(
        3, 1, figsize=(11, 8), sharex=True, gridspec_kw={"height_ratios": [3, 1.4, 1.2]}
    )
    for (symbol,), group in bars.group_by("symbol", maintain_order=True):
        x = np.arange(group.height)
        equity = group["equity"].to_numpy()
        drawdown = equity / np.maximum.accumulate(equity) - 1.0
        ax_equity.plot(x, equity, lw=1.2, label=f"{symbol} policy")
        ax_equity.plot(
            x, group["benchmark_equity"].to_numpy(), lw=1.0, ls="--", label=f"{symbol} buy & hold"
        )
        ax_drawdown.fill_between(x, 100.0 * drawdown, 0.0, alpha=0.4, label=symbol)
        ax_position.step(x, group["position"].to_numpy(), where="post", lw=0.9, label=symbol)
    first = bars.filter(pl.col("symbol") == bars["symbol"][0])
    sessions = (
        first["session"]
        if "session" in first.columns
        else first.select(session_date_expr())["session"]
    ).to_numpy()
    starts = np.flatnonzero(np.concatenate(([True], sessions[1:] != sessions[:-1])))
    chosen = starts[np.unique(np.linspace(0, len(starts) - 1, num=min(8, len(starts))).astype(int))]
    ax_position.set_xticks(chosen, [str(sessions[i]) for i in chosen], rotation=20)
    ax_equity.set_title(title)
    ax_equity.set_ylabel("equity")
    ax_equity.legend(loc="best", fontsize=8)
    ax_drawdown.set_ylabel("drawdown %")
    ax_position.set_ylabel("position")
    ax_position.set_xlabel("bar (session date)")
    for axis in (ax_equity, ax_drawdown, ax_position):
        axis.grid(alpha=0.3)
    return save_figure(fig, path)


def _json_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_json_value(item) for item in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"metrics value {value!r} of type {type(value).__name__} is not JSON data")


def write_metrics_json(metrics: Mapping[str, Any], path: Path | str) -> Path:
    """Write ``metrics`` as indented JSON; NaN and infinities become ``null``."""
    text = json.dumps(_json_value(metrics), indent=2, sort_keys=True, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def regime_table_markdown(table: pl.DataFrame) -> str:
    """Markdown table of :func:`trader_env.evaluation.per_regime.per_regime_metrics` (or
    :func:`~trader_env.evaluation.per_regime.per_vol_bucket_metrics`) output; the first
    column (``regime`` or ``vol_bucket``) labels the rows."""
    label = table.columns[0]
    header = (
        f"| {label.replace('_', ' ')} | bars | share | Sharpe (bar, ann.) | volatility (ann.) "
        "| return | net P&L | in market | long |"
    )
    lines = [header, "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def fmt(value: float, spec: str) -> str:
        return "n/a" if value is None or not math.isfinite(value) else format(value, spec)

    for row in table.iter_rows(named=True):
        flag = "" if row["eligible"] else " (too few bars)"
        lines.append(
            f"| {row[label]}{flag} | {row['n_bars']} | {fmt(row['share_of_bars'], '.1%')} "
            f"| {fmt(row['sharpe'], '.2f')} | {fmt(row['annual_volatility'], '.1%')} "
            f"| {fmt(row['total_return'], '.2%')} | {fmt(row['net_pnl'], ',.2f')} "
            f"| {fmt(row.get('time_in_market', math.nan), '.0%')} "
            f"| {fmt(row.get('long_share', math.nan), '.0%')} |"
        )
    return "\n".join(lines) + "\n"


def save_figure(fig: Figure, path: Path | str) -> Path:
    """Lay out ``fig``, write it as a PNG (110 dpi) to ``path`` atomically and close it.
    Returns the written path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    destination = Path(path)
    with atomic_path(destination) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return destination
