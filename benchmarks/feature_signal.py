"""What the observation predicts, per period: the ceiling on what a policy can learn from it.

For each observed feature (normalised as the policy sees it), its correlation with the log
return over the next k bars (the information coefficient, IC), on non-overlapping decision
bars inside sessions, for the fit part of the training split, the selection slice (its last
15 %), validation and test; ``t`` = IC x sqrt(decisions). Then a causal rule that trades the
strongest of them: a contrarian position (short after a rise of more than ``z`` standard
deviations of the feature, long after such a fall, else flat; decided every k bars, flat at
each session's end) with the market's production cost per side, on the same four parts. If
such a rule loses on the training data itself, a policy reading the same features has no
cost-surviving edge to find there.

    .venv/bin/python benchmarks/feature_signal.py --market spy
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from benchmarks.bench_learning import load_market
from trader_env.contracts import MarketArrays
from trader_env.costs import production_costs, with_production_costs
from trader_env.phase_config import load_phase_config
from trader_env.training.selection import carve_selection_slice
from trader_env.workflow import env_cost_per_side_bps

Parts = dict[str, list[MarketArrays]]


def decisions(arrays: MarketArrays, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the decision bars (every k bars of a session) and the bar k later that ends
    each one's holding (the session's last bar for the last decision)."""
    starts, ends = [], []
    for session in np.unique(arrays.session_id):
        bars = np.flatnonzero(arrays.session_id == session)
        chosen = bars[::k]
        starts.append(chosen)
        ends.append(np.append(chosen[1:], bars[-1]))
    return np.concatenate(starts), np.concatenate(ends)


def information_coefficients(parts: Parts, k: int) -> dict[str, list[tuple[float, float]]]:
    """Feature -> (IC, t) per part, over decisions that span a full k bars."""
    names = next(iter(parts.values()))[0].feature_names
    table: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for arrays in parts.values():
        x, y = [], []
        for a in arrays:
            start, end = decisions(a, k)
            full = end - start == k
            x.append(a.features[start[full]])
            y.append(np.log(a.close[end[full]] / a.close[start[full]]))
        features, returns = np.concatenate(x), np.concatenate(y)
        for i, name in enumerate(names):
            ic = float(np.corrcoef(features[:, i], returns)[0, 1])
            table[name].append((ic, ic * math.sqrt(len(returns))))
    return table


def contrarian_rule(
    arrays: list[MarketArrays], k: int, feature: str, z: float, cost_bps: float
) -> tuple[float, float, float]:
    """Annualised Sharpe of daily P&L, net P&L (% of capital) and daily turnover (x capital)
    of the contrarian rule on ``feature`` with threshold ``z``, one unit of capital."""
    daily, turnover = [], []
    for a in arrays:
        column = a.feature_names.index(feature)
        start, end = decisions(a, k)
        signal = a.features[start, column]
        position = np.where(signal > z, -1.0, np.where(signal < -z, 1.0, 0.0))
        last = np.append(a.session_id[start][1:] != a.session_id[start][:-1], True)
        position[last] = 0.0  # flat for the session's last stretch
        pnl = position * np.log(a.close[end] / a.close[start])
        for session in np.unique(a.session_id[start]):
            held = position[a.session_id[start] == session]
            traded = float(np.abs(np.diff(np.concatenate(([0.0], held, [0.0])))).sum())
            gross = float(pnl[a.session_id[start] == session].sum())
            daily.append(gross - traded * cost_bps * 1e-4)
            turnover.append(traded)
    returns = np.asarray(daily)
    std = float(returns.std(ddof=1))
    sharpe = float(returns.mean() / std * math.sqrt(252)) if std > 0 else 0.0
    return sharpe, 100 * float(returns.sum()), float(np.mean(turnover))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--market", choices=["synthetic", "spy"], default="spy")
    parser.add_argument("--profile", default="dev")
    args = parser.parse_args()
    market, _, symbols, market_type = load_market(args.market, args.profile)
    config = with_production_costs(
        load_phase_config(2, args.profile),
        production_costs(symbols, market_type, profile=args.profile),
    )
    cost_bps = env_cost_per_side_bps(config.env, market.bars)
    fit, held, info = carve_selection_slice(
        market.arrays("train"), 0.15, market.splits.embargo_sessions
    )
    parts: Parts = {
        "fit": fit,
        "selection slice": held,
        "validation": market.arrays("validation"),
        "test": market.arrays("test"),
    }
    print(f"{args.market}: selection slice {info}; cost {cost_bps:.3f} bps per side")
    for k in (5, 15):
        print(f"\nk = {k} bars: IC (t) of each feature with the next {k} bars' log return\n")
        print("| feature | " + " | ".join(parts) + " |")
        print("|---|" + "---:|" * len(parts))
        for name, cells in information_coefficients(parts, k).items():
            row = " | ".join(f"{ic:+.3f} ({t:+.1f})" for ic, t in cells)
            print(f"| {name} | {row} |")
    print("\ncontrarian rule: Sharpe (net P&L %, daily turnover x)\n")
    print("| k | feature | z | " + " | ".join(parts) + " |")
    print("|---:|---|---:|" + "---|" * len(parts))
    for k, feature in ((15, "log_return_15"), (15, "log_return_5"), (5, "log_return_15")):
        for z in (1.0, 1.5, 2.0, 2.5, 3.0):
            cells = [contrarian_rule(p, k, feature, z, cost_bps) for p in parts.values()]
            row = " | ".join(f"{s:+.2f} ({pnl:+.1f} %, {t:.1f}x)" for s, pnl, t in cells)
            print(f"| {k} | {feature} | {z} | {row} |")


if __name__ == "__main__":
    main()
