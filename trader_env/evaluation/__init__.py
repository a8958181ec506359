"""Evaluation: backtests in the training environment, metrics, reports, gates, champion.

quantstats, matplotlib, torch and the environment are imported only by the functions that
need them, so importing this package stays cheap (numpy, pandas, polars, pydantic).
"""

from trader_env.evaluation.backtest import BacktestResult, Policy, run_backtest
from trader_env.evaluation.champion import (
    ChampionEvent,
    ChampionRecord,
    ChampionRegistry,
    ChampionRegistryError,
    PromotionDecision,
)
from trader_env.evaluation.detection import (
    DetectionLimit,
    detectable_sharpe,
    detection_limit,
    detection_probability,
    min_track_record_length,
    required_sharpe,
)
from trader_env.evaluation.gates import CriterionResult, GateCriterion, GateResult, evaluate_gate
from trader_env.evaluation.metrics import (
    METRIC_KEYS,
    compute_metrics,
    daily_turnover,
    intraday_max_drawdowns,
    share_of_days_within_drawdown,
    validate_returns,
    win_rate,
)
from trader_env.evaluation.per_regime import (
    bar_sharpe,
    per_regime_metrics,
    regime_degradation,
    regime_summary,
)
from trader_env.evaluation.psr import probabilistic_sharpe_ratio, psr_from_statistics
from trader_env.evaluation.reports import (
    plot_equity,
    regime_table_markdown,
    write_metrics_json,
    write_tearsheet,
)

__all__ = [
    "METRIC_KEYS",
    "BacktestResult",
    "ChampionEvent",
    "ChampionRecord",
    "ChampionRegistry",
    "ChampionRegistryError",
    "CriterionResult",
    "DetectionLimit",
    "GateCriterion",
    "GateResult",
    "Policy",
    "PromotionDecision",
    "bar_sharpe",
    "compute_metrics",
    "daily_turnover",
    "detectable_sharpe",
    "detection_limit",
    "detection_probability",
    "evaluate_gate",
    "intraday_max_drawdowns",
    "min_track_record_length",
    "per_regime_metrics",
    "plot_equity",
    "probabilistic_sharpe_ratio",
    "psr_from_statistics",
    "regime_degradation",
    "regime_summary",
    "regime_table_markdown",
    "required_sharpe",
    "run_backtest",
    "share_of_days_within_drawdown",
    "validate_returns",
    "win_rate",
    "write_metrics_json",
    "write_tearsheet",
]
