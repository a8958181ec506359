"""The reward: money, scaled.

``reward = reward_scaling x (net_pnl - turnover_penalty - risk_penalty)`` where every part is
in money and ``net_pnl`` is the change of mark-to-market equity over the step, after costs.
The environment reports each unscaled part in ``info``, so over any run

    sum(reward) / reward_scaling + sum(turnover_penalty + risk_penalty) == sum(net_pnl)

holds up to float rounding, unless a reward was non-finite: such a reward is replaced by 0.0,
counted, and logged once per episode with ``logging.WARNING``.
"""

from __future__ import annotations

import logging
import math

logger = logging.getLogger(__name__)


class RewardComposer:
    """Composes the scaled reward and guards it against non-finite values."""

    __slots__ = ("scaling", "nonfinite_count", "_episode")

    def __init__(self, scaling: float):
        if not (scaling > 0.0 and math.isfinite(scaling)):
            raise ValueError(f"reward scaling must be finite and > 0, got {scaling}")
        self.scaling = scaling
        self.nonfinite_count = 0
        self._episode = ""

    def start_episode(self, label: str) -> None:
        """Reset the count; ``label`` names the episode in the warning (e.g. symbol, start)."""
        self.nonfinite_count = 0
        self._episode = label

    def compose(
        self, net_pnl: float, turnover_penalty: float, risk_penalty: float, where: object
    ) -> float:
        """Scaled reward of one step; 0.0 (counted, logged once) if it is not finite.

        ``where`` identifies the step in the warning (e.g. the bar's timestamp).
        """
        reward = self.scaling * (net_pnl - turnover_penalty - risk_penalty)
        if math.isfinite(reward):
            return reward
        self.nonfinite_count += 1
        if self.nonfinite_count == 1:
            logger.warning(
                "non-finite reward in episode %s at %s (net_pnl=%r, turnover_penalty=%r, "
                "risk_penalty=%r): replaced by 0.0; later ones in this episode are only counted",
                self._episode,
                where,
                net_pnl,
                turnover_penalty,
                risk_penalty,
            )
        return 0.0
