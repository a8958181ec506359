"""The observation rows of one episode: the market columns of every bar, then the agent's own
state (the risk features), written bar by bar as the episode is played.

An observation at bar ``t`` is the ``window`` rows ending at ``t`` (oldest first), float32
``(window, n_columns)``. Without risk features the rows are the market's prepared feature
matrix itself (read-only, shared by episodes); with them each episode gets its own copy of
the rows it can observe, whose risk columns the environment fills in after each bar.
"""

from __future__ import annotations

import numpy as np

from trader_env.env.step_data import RISK_FEATURES, StepData


class ObservationRows:
    """Rows ``start - window + 1 .. end`` of an episode; ``row0`` maps a bar to its row."""

    __slots__ = ("window", "n_columns", "clip", "risk_features", "rows", "row0")

    def __init__(self, window: int, n_columns: int, clip: float, risk_features: bool) -> None:
        self.window = window
        self.n_columns = n_columns
        self.clip = clip
        self.risk_features = risk_features
        self.rows = np.zeros((0, n_columns), dtype=np.float32)
        self.row0 = 0

    def start(self, market: StepData, start: int, end: int) -> None:
        """Rows for an episode deciding first at bar ``start`` and ending at bar ``end``:
        market columns, risk columns zero (flat, no drawdown), time left in the last one."""
        if not self.risk_features:
            self.row0 = 0
            self.rows = market.features
            return
        self.row0 = start - (self.window - 1)
        features = market.features[self.row0 : end + 1]
        rows = np.zeros((features.shape[0], self.n_columns), dtype=np.float32)
        rows[:, : features.shape[1]] = features
        rows[:, -1] = np.minimum(market.time_left[self.row0 : end + 1], self.clip)
        self.rows = rows

    def at(self, t: int) -> np.ndarray:
        """The observation at bar ``t``: float32 ``(window, n_columns)``, a copy."""
        row = t - self.row0
        return self.rows[row - self.window + 1 : row + 1].copy()

    def write_risk(
        self, u: int, exposure: float, unrealised: float, drawdown: float, turnover_today: float
    ) -> None:
        """The agent's state at bar ``u`` into its row: exposure (position value / equity),
        unrealised P&L / capital, session drawdown (fraction), turnover today (/ capital),
        each clipped to ``[-clip, clip]`` with NaN as 0.0 (time left, the last column, is
        static)."""
        b = self.clip
        row = self.rows[u - self.row0]
        c = self.n_columns - len(RISK_FEATURES)
        # Clip inline (hot path): in range -> value; above/below -> bound; NaN -> 0.0.
        x = exposure
        row[c] = x if -b <= x <= b else (b if x > b else -b if x < -b else 0.0)
        x = unrealised
        row[c + 1] = x if -b <= x <= b else (b if x > b else -b if x < -b else 0.0)
        x = drawdown
        row[c + 2] = x if -b <= x <= b else (b if x > b else -b if x < -b else 0.0)
        x = turnover_today
        row[c + 3] = x if -b <= x <= b else (b if x > b else -b if x < -b else 0.0)
