"""The production loop: the serving champion's signals, its forward ledger and rollback.

- :mod:`~trader_env.production.sessions`: arrays of arbitrary sessions (after every split),
  with the warm-up bars an observation needs.
- :mod:`~trader_env.production.signal`: the champion's target position for the next bar.
- :mod:`~trader_env.production.ledger`: an append-only record of the champion's forward days.
- :mod:`~trader_env.production.limits`: when the forward days break the risk limits.
"""

from trader_env.production.ledger import (
    ForwardLedger,
    LedgerError,
    LedgerRow,
    forward_summary,
    play_forward_days,
)
from trader_env.production.limits import ForwardLimits, RollbackVerdict, judge_forward, plot_forward
from trader_env.production.sessions import arrays_for_sessions, forward_sessions, stored_sessions
from trader_env.production.signal import Signal, compute_signals

__all__ = [
    "ForwardLedger",
    "ForwardLimits",
    "LedgerError",
    "LedgerRow",
    "RollbackVerdict",
    "Signal",
    "arrays_for_sessions",
    "compute_signals",
    "forward_sessions",
    "forward_summary",
    "judge_forward",
    "play_forward_days",
    "plot_forward",
    "stored_sessions",
]
