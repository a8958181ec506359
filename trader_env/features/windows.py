"""Windows of the features layer: a number of bars or a span of trading time.

A window is a number of bars (``30``, ``"30bars"``) or a span of trading time converted with
the data's bar interval: ``"90min"``, ``"4h"``, ``"1d"`` (``d`` = whole sessions of the
market: 390 one-minute bars of US equities, 48 thirty-minute bars of crypto, 24 hourly bars
of FX). A gap inside a session makes a window span more wall-clock time, never fewer bars.
"""

from __future__ import annotations

import math
import re

from trader_env.features.market_profile import MarketProfile
from trader_env.yaml_config import ConfigError

#: A window: bars (int, or "<n>bar(s)"), or trading time ("<n>min", "<n>h", "<n>d").
Window = int | str
_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(bars?|min|h|d)\s*$")


def check_window(value: Window) -> Window:
    """``value`` if it is a valid window, else ValueError (pydantic reports it)."""
    if isinstance(value, bool):
        raise ValueError(f"a window must be a number of bars or a duration, got {value!r}")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"a window must be >= 1 bar, got {value}")
        return value
    if not _WINDOW.match(value):
        raise ValueError(
            f"window {value!r}: expected bars (30, '30bars') or trading time ('90min', '4h', '1d')"
        )
    return value


def check_windows(value: list[Window]) -> list[Window]:
    """``value`` if every window is valid and none repeats, else ValueError."""
    for window in value:
        check_window(window)
    if len(set(value)) != len(value):
        raise ValueError(f"windows must be unique, got {value}")
    return value


def span_bars(value: str, profile: MarketProfile, key: str) -> float:
    """Exact (fractional) bars of a window given as text ('30bars', '90min', '4h', '1d') at
    ``profile``'s bar interval. Raises :class:`ConfigError` naming ``key`` if invalid."""
    match = _WINDOW.match(value)
    if match is None:
        raise ConfigError(f"{key}: invalid window {value!r}")
    amount, unit = float(match.group(1)), match.group(2)
    if unit.startswith("bar"):
        return amount
    if unit == "d":
        return amount * profile.session_bars
    return profile.bars(amount * (60.0 if unit == "h" else 1.0))


def window_bars(value: Window, profile: MarketProfile, key: str, minimum: int = 1) -> int:
    """Bars of ``value`` for ``profile``'s bar interval, rounded to the nearest bar.

    Raises :class:`ConfigError` naming ``key`` when the window is shorter than ``minimum``
    bars at this bar size (e.g. '30min' of 30-minute bars for a standard deviation).
    """
    if isinstance(value, int):
        bars = value
    else:
        bars = max(1, int(math.floor(span_bars(value, profile, key) + 0.5)))
    if bars < minimum:
        raise ConfigError(
            f"{key}: {value!r} is {bars} bar(s) of {profile.bar_seconds / 60:g}-minute bars; "
            f"it needs >= {minimum} bars: use a longer window"
        )
    return bars


def in_bars(value: Window, what: str) -> int:
    """A window already converted to bars; ValueError naming ``what`` (e.g. 'market
    windows') if it is still trading time, i.e. the config was not resolved."""
    if not isinstance(value, int):
        raise ValueError(f"{what} are not resolved to bars: call resolve() first")
    return value
