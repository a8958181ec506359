"""Decision interval: the agent decides every ``k`` bars; one environment step spans them.

``EnvConfig.decision_interval = k`` (bars, default 1: a decision at every bar). Two designs
were possible: (a) one step spans the bars up to the next decision, or (b) a step per bar
whose action is applied only on decision bars and ignored otherwise. The environment uses
(a): the learner sees only the decisions it makes, so there are ``k`` times fewer, more
meaningful transitions, no action that has no effect (under (b) PPO would push gradients
through ``k - 1`` ignored actions per decision: pure variance), and a discount ``gamma``
spans ``k`` times more market time per step. Nothing else changes bar by bar:

- A step decided at bar ``t`` places its order exactly as a one-bar step does (fills at
  ``open[t + 1]`` or ``close[t]``), then holds it: the bars after the first place no order.
- Each bar of the step is still marked to market, checked against the drawdown limits (a
  breach flattens at that bar's close, a halt ends the step and the episode), flattened at
  its session's last bar, and charged its own turnover, drawdown and volatility penalties;
  the step's reward is the sum of its bars' rewards, so the reward identity
  (``sum(reward) / scaling + penalties == net P&L``) holds per bar and per step.
- Decision bars follow the session clock, not the episode's start: bar ``u`` hands the next
  decision to the agent when its offset in the session is a multiple of ``k`` or it is the
  session's last bar (where a one-bar step decides about the overnight gap, as at ``k = 1``).
  So a step never crosses a session boundary, every session is decided at the same times of
  day, and a step is shorter than ``k`` only before the session's last bar, at the start of
  a training episode (up to the next aligned bar) or at the end of the data.
- Turnover is bounded by construction: at most one order per decision (``1 + ceil(n / k)``
  decisions in a session of ``n`` bars, each at most a flip of 2x the position), plus the
  session-end flatten and risk flattens.

With ``k > 1`` the step's ``info`` holds the values of its last bar, money summed over the
step (:data:`SUMMED_KEYS`), every trade closed in it (``closed_trade_pnl``), the last risk
event in it, the step's ``reward``, and ``bars``: the per-bar ``info`` of each bar (each
with its own ``reward``), which the backtest records row by row. At ``k = 1`` the info has
neither ``bars`` nor ``reward`` and every step is exactly what it was before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: Per-bar money in ``info`` that a multi-bar step reports summed over its bars.
SUMMED_KEYS: tuple[str, ...] = (
    "net_pnl",
    "cost",
    "turnover_penalty",
    "risk_penalty",
    "drawdown_penalty",
    "volatility_penalty",
    "traded_notional",
)


def decision_bars(session_first: np.ndarray, session_last: np.ndarray, k: int) -> list[bool]:
    """``decides[u]``: a step that reaches bar ``u`` ends there (the agent decides at ``u``).

    ``session_first``, ``session_last``: bool ``(n,)`` session flags of the bars. A bar
    decides when its offset in its session (0 at the session's first bar; bars before the
    first flagged start count from the data's first bar) is a multiple of ``k``, or when it
    ends its session. ``k = 1``: every bar.
    """
    if k < 1:
        raise ValueError(f"decision interval must be >= 1 bar, got {k}")
    n = len(session_first)
    index = np.arange(n)
    starts = np.where(np.asarray(session_first, dtype=bool), index, 0)
    offset = index - np.maximum.accumulate(starts) if n else index
    decides: list[bool] = ((offset % k == 0) | np.asarray(session_last, dtype=bool)).tolist()
    return decides


def merge_bar_infos(bars: Sequence[dict[str, Any]], reward: float) -> dict[str, Any]:
    """The ``info`` of a step over ``bars`` (per-bar infos, oldest first) of total ``reward``.

    Values of the last bar; :data:`SUMMED_KEYS` summed; ``closed_trade_pnl`` concatenated;
    ``risk_event`` the last one that occurred; ``bars`` the per-bar infos themselves.
    """
    info = dict(bars[-1])
    for key in SUMMED_KEYS:
        info[key] = sum(bar[key] for bar in bars)
    info["closed_trade_pnl"] = tuple(pnl for bar in bars for pnl in bar["closed_trade_pnl"])
    events = [bar["risk_event"] for bar in bars if bar["risk_event"] is not None]
    info["risk_event"] = events[-1] if events else None
    info["reward"] = reward
    info["bars"] = tuple(bars)
    return info
