"""Report files: tear sheet HTML, equity PNG, metrics JSON, regime markdown."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from trader_env.evaluation.per_regime import per_regime_metrics
from trader_env.evaluation.reports import (
    plot_equity,
    regime_table_markdown,
    write_metrics_json,
    write_tearsheet,
)


def _bars(n_days: int = 5, bars_per_day: int = 40) -> pl.DataFrame:
    rng = np.random.default_rng(5)
    n = n_days * bars_per_day
    start = dt.datetime(2024, 3, 4, 14, 30, tzinfo=dt.UTC)
    ts = [
        start + dt.timedelta(days=day, minutes=minute)
        for day in range(n_days)
        for minute in range(bars_per_day)
    ]
    price = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    position = np.where(np.arange(n) // 25 % 2 == 0, 400.0, -400.0)
    equity = 40_000 + np.cumsum(np.concatenate(([0.0], position[:-1] * np.diff(price))))
    return pl.DataFrame(
        {
            "symbol": ["SPY"] * n,
            "ts": pl.Series(ts, dtype=pl.Datetime("us", "UTC")),
            "equity": equity,
            "benchmark_equity": 40_000 * price / price[0],
            "position": position,
        }
    )


def test_tearsheet_is_written_atomically(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    index = pd.bdate_range("2024-01-02", periods=40)
    returns = pd.Series(rng.normal(0.001, 0.01, 40), index=index)
    bench = pd.Series(rng.normal(0.0005, 0.012, 40), index=index)
    path = write_tearsheet(returns, bench, tmp_path / "report" / "tearsheet.html", "Phase 2 test")
    html = path.read_text()
    assert path.stat().st_size > 50_000
    assert "Phase 2 test" in html and "Sharpe" in html and "<svg" in html
    assert [p.name for p in path.parent.iterdir()] == ["tearsheet.html"]  # no temp file left
    with pytest.raises(ValueError, match="exactly the dates"):
        write_tearsheet(returns, bench.iloc[1:], tmp_path / "x.html", "bad")
    with pytest.raises(ValueError, match="never trades"):
        write_tearsheet(returns * 0, bench, tmp_path / "flat.html", "flat")
    assert not (tmp_path / "flat.html").exists()


def test_equity_plot_is_a_real_png(tmp_path: Path) -> None:
    path = plot_equity(_bars(), tmp_path / "equity.png", title="Backtest SPY")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000  # three panels of lines, not a blank canvas
    with pytest.raises(ValueError, match="benchmark_equity"):
        plot_equity(_bars().drop("benchmark_equity"), tmp_path / "bad.png")


def test_metrics_json_turns_nan_into_null(tmp_path: Path) -> None:
    metrics = {
        "sharpe": 1.25,
        "calmar": float("nan"),
        "sortino": float("inf"),
        "n_days": np.int64(20),
        "per_regime": {"low_vol_trending": {"sharpe": np.float64(0.5)}},
        "passed": np.bool_(True),
    }
    path = write_metrics_json(metrics, tmp_path / "metrics.json")
    loaded = json.loads(path.read_text())
    assert loaded == {
        "sharpe": 1.25,
        "calmar": None,
        "sortino": None,
        "n_days": 20,
        "per_regime": {"low_vol_trending": {"sharpe": 0.5}},
        "passed": True,
    }
    with pytest.raises(TypeError, match="not JSON data"):
        write_metrics_json({"when": dt.date(2024, 1, 1)}, tmp_path / "bad.json")


def test_regime_table_markdown_has_a_row_per_regime() -> None:
    frame = pl.DataFrame(
        {
            "regime": ["low_vol_trending"] * 40 + ["high_vol_ranging"] * 3,
            "bar_return": [0.001, -0.0005] * 20 + [0.0] * 3,
        }
    )
    text = regime_table_markdown(per_regime_metrics(frame, bars_per_year=2520, min_bars=30))
    lines = text.strip().splitlines()
    assert len(lines) == 2 + 4
    assert lines[2].startswith("| low_vol_trending | 40 | 93.0% |")
    assert "high_vol_ranging (too few bars) | 3" in text
    assert "| high_vol_trending (too few bars) | 0 | 0.0% | n/a |" in text
