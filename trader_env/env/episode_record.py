"""The per-bar record of one episode, for backtests: what the environment booked at each bar.

Training needs only an episode's summary (``info["episode_metrics"]``); a backtest needs every
bar. Instead of one ``info`` dict per bar, which the backtest would have to take apart again,
an environment built with ``info="record"`` appends one tuple per bar here and hands the whole
record over in the last step's ``info["episode_record"]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Columns of :attr:`EpisodeRecord.values`, in order (money unless stated).
RECORD_COLUMNS: tuple[str, ...] = (
    "bar",  # index of the bar in the environment's arrays (the bar the step ended on)
    "action",  # the action given to the step (0 short, 1 flat, 2 long)
    "reward",  # scaled, as the learner sees it
    "equity",  # marked at the bar's close
    "position",  # signed units held after the bar
    "cost",
    "turnover_penalty",
    "risk_penalty",
    "net_pnl",  # equity change over the bar, after costs
    "traded_notional",
)


@dataclass(frozen=True)
class EpisodeRecord:
    """One episode's bars: ``values`` float64 ``(n_bars, len(RECORD_COLUMNS))``, the risk
    events ``(bar, event)`` and the closed trades ``(bar, net P&L)``, in bar order."""

    values: np.ndarray
    risk_events: tuple[tuple[int, str], ...]
    closed_trades: tuple[tuple[int, float], ...]

    def column(self, name: str) -> np.ndarray:
        """One column of :attr:`values` ``(n_bars,)``."""
        values: np.ndarray = self.values[:, RECORD_COLUMNS.index(name)]
        return values


class EpisodeRecorder:
    """Collects the bars of the episode being played (one tuple per bar: cheap in the step)."""

    __slots__ = ("_rows", "_events", "_closed")

    def __init__(self) -> None:
        self._rows: list[tuple[float, ...]] = []
        self._events: list[tuple[int, str]] = []
        self._closed: list[tuple[int, float]] = []

    def start(self) -> None:
        """Forget the previous episode."""
        self._rows = []
        self._events = []
        self._closed = []

    def append(
        self,
        row: tuple[float, ...],
        event: str | None,
        closed: tuple[float, ...],
    ) -> None:
        """One bar: ``row`` in the order of :data:`RECORD_COLUMNS`, its risk event (None if
        none) and the net P&L of each trade it closed."""
        self._rows.append(row)
        if event is not None:
            self._events.append((int(row[0]), event))
        if closed:
            bar = int(row[0])
            self._closed.extend((bar, pnl) for pnl in closed)

    def finish(self) -> EpisodeRecord:
        """The episode's record."""
        values = np.array(self._rows, dtype=np.float64).reshape(-1, len(RECORD_COLUMNS))
        return EpisodeRecord(values, tuple(self._events), tuple(self._closed))
