"""Volatility targeting through position size (the plan's ``target_sigma``).

The size a long or short decision opens at bar ``t`` is capped at
``target_sigma / sigma_t``, with ``sigma_t`` the market's annualised realised volatility up to
bar ``t``: the std (ddof=1) of the last ``volatility_window`` one-bar log returns times
``sqrt(bars_per_year)``. Inside a session the return is close-to-close; a session's first bar
uses its own ``log(close / open)``, so the overnight gap never enters an intraday volatility
(the regimes measure volatility the same way). A position of ``f`` times equity in a market of
volatility ``sigma_t`` has a volatility of ``f x sigma_t``, so the cap keeps the strategy's
volatility at or under the target whatever the market does.

The cap only ever shrinks a position: the sizing method's own fraction (fixed 100 %, or Kelly
capped at 25 % in phase 5 on) stays the upper bound, and the environment takes the smaller of
the two, so sizing never leverages up in a quiet market. Before ``volatility_window`` returns
exist, or when the window's std is 0, there is no cap (``inf``).
"""

from __future__ import annotations

import math

import numpy as np


def intraday_log_returns(
    open_: np.ndarray, close: np.ndarray, session_first: np.ndarray
) -> np.ndarray:
    """One-bar log returns, float64 ``(n,)``: ``log(close_t / close_{t-1})`` inside a session,
    ``log(close_t / open_t)`` at a session's first bar (and at bar 0)."""
    log_close: np.ndarray = np.log(close)  # numpy types a ufunc of an ndarray as Any
    returns = np.empty_like(log_close)
    returns[0] = log_close[0] - math.log(open_[0])
    returns[1:] = np.diff(log_close)
    first = np.asarray(session_first, dtype=bool)
    returns[first] = log_close[first] - np.log(open_[first])
    return returns


def realised_volatility(
    open_: np.ndarray,
    close: np.ndarray,
    session_first: np.ndarray,
    window: int,
    bars_per_year: float,
) -> np.ndarray:
    """Annualised realised volatility per bar, float64 ``(n,)``; NaN before ``window`` returns.

    Entry ``t`` uses bars ``<= t`` only (the bar the order is decided at is already observed).
    """
    if window < 2:
        raise ValueError(f"volatility window must be >= 2 bars, got {window}")
    returns = intraday_log_returns(open_, close, session_first)
    out = np.full(returns.shape[0], np.nan)
    if returns.shape[0] < window:
        return out
    windows = np.lib.stride_tricks.sliding_window_view(returns, window)
    out[window - 1 :] = windows.std(axis=1, ddof=1) * math.sqrt(bars_per_year)
    return out


def size_caps(volatility: np.ndarray, target_sigma: float) -> np.ndarray:
    """``target_sigma / volatility`` per bar (fraction of equity), ``inf`` where the volatility
    is NaN or 0 (no cap)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        caps = target_sigma / volatility
    return np.where(np.isfinite(caps), caps, np.inf)
