"""Benchmark: load and validate the bundled SPY sample (293,707 1-minute bars).

Targets: best wall time < 3 s and peak RSS < 1 GiB for read + validate. Run from the project
root in a fresh process (peak RSS is per process):

    .venv/bin/python benchmarks/bench_ingest.py [--repeats 3]

Prints a markdown table. Also times the two stages separately and the synthetic generator.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable

TARGET_SECONDS = 3.0
TARGET_RSS_MIB = 1024.0


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(function: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(first run, best run) wall time in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times[0], min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement")
    args = parser.parse_args()

    rss_before_import = peak_rss_mib()
    start = time.perf_counter()
    from trader_env.data import (
        DataConfig,
        generate_synthetic_market,
        load_bars_with_report,
        read_raw_bars,
        validate_bars,
    )

    import_seconds = time.perf_counter() - start
    sample = DataConfig(source="sample")
    first, best = timed(lambda: load_bars_with_report(sample), args.repeats)
    rss_after_load = peak_rss_mib()
    bars, report = load_bars_with_report(sample)
    raw = read_raw_bars(sample)
    _, read_best = timed(lambda: read_raw_bars(sample), args.repeats)
    _, validate_best = timed(lambda: validate_bars(raw), args.repeats)
    synthetic = DataConfig(source="synthetic")
    n_synthetic = synthetic.synthetic.n_sessions * synthetic.synthetic.bars_per_session
    _, synthetic_best = timed(lambda: generate_synthetic_market(synthetic), args.repeats)

    rows = [
        ("import trader_env.data", f"{import_seconds:.2f} s", ""),
        ("SPY read + validate, first run", f"{first:.2f} s", f"< {TARGET_SECONDS:.0f} s"),
        (
            f"SPY read + validate, best of {args.repeats}",
            f"{best:.2f} s",
            f"< {TARGET_SECONDS:.0f} s",
        ),
        ("  read_raw_bars (best)", f"{read_best:.2f} s", ""),
        ("  validate_bars (best)", f"{validate_best:.2f} s", ""),
        ("peak RSS before import", f"{rss_before_import:.0f} MiB", ""),
        ("peak RSS after SPY loads", f"{rss_after_load:.0f} MiB", f"< {TARGET_RSS_MIB:.0f} MiB"),
        (
            f"synthetic market, {len(synthetic.symbols)} x {n_synthetic:,} bars (best)",
            f"{synthetic_best:.2f} s",
            "",
        ),
    ]
    print(
        f"SPY sample: {bars.height:,} bars, {report.stats.sessions} sessions, "
        f"{report.repair_count('bad_print')} bad prints repaired\n"
    )
    print("| measurement | value | target |")
    print("|---|---|---|")
    for name, value, target in rows:
        print(f"| {name} | {value} | {target} |")
    within = best < TARGET_SECONDS and rss_after_load < TARGET_RSS_MIB
    print(f"\nwithin targets: {'yes' if within else 'NO'}")


if __name__ == "__main__":
    main()
