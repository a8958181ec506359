"""Benchmark: the pipeline as Dagster runs it.

(a) Wall time of the README's main job, ``.venv/bin/python -m pipelines --profile <profile>``,
    in a subprocess with a fresh storage root and DAGSTER_HOME (profile ``dev`` by default:
    ~10-15 min on 2 cores; ``--profile test`` checks the script in ~1 min).
(b) A 4-symbol partitioned data run, raw_bars -> bars -> features -> regimes (partitioned by
    symbol) -> splits (all symbols) with their asset checks, on a synthetic market of 4 symbols x
    ``--sessions`` x 390 one-minute bars, three ways:
    - one run over the 4-symbol partition range with Dagster's multiprocess executor (the UI /
      CLI path: one fresh process per step, at most ``MAX_CONCURRENT_STEPS`` at once);
    - the same run in-process (``execute_in_process``, what ``python -m pipelines`` and the tests
      use);
    - per symbol, as a UI backfill runs it (``BackfillPolicy.multi_run(1)``): four one-symbol runs
      of the partitioned assets, ``os.cpu_count()`` at a time in separate processes, then one run
      of ``splits`` over all symbols.

    .venv/bin/python benchmarks/bench_pipeline.py [--profile dev] [--skip-main] [--skip-data]

Prints markdown tables and writes them to benchmarks/results/pipeline.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    import dagster as dg

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS = PROJECT_ROOT / "benchmarks" / "results" / "pipeline.md"
DATA_ASSETS = ("raw_bars", "bars", "features", "regimes", "splits")
PARTITIONED_ASSETS = DATA_ASSETS[:-1]
BENCH_JOB = "bench_data_and_features"
BENCH_PARTITIONED_JOB = "bench_partitioned_data"
BENCH_SPLITS_JOB = "bench_splits"
SYMBOLS = ["SYNA", "SYNB", "SYNC", "SYND"]
BARS_PER_SESSION = 390
#: Run config that keeps Dagster's console logger to warnings: the tables are the output.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _isolated_env(root: Path, profile: str) -> dict[str, str]:
    """Environment of a run that writes only below ``root``."""
    return {
        **os.environ,
        "TRADER_PROFILE": profile,
        "TRADER_STORAGE_ROOT": str(root / "storage"),
        "DAGSTER_HOME": str(root / "dagster_home"),
        "SB3_LOGDIR": str(root / "sb3"),
    }


def run_main_job(profile: str) -> tuple[float, int]:
    """Wall seconds and exit code of ``python -m pipelines --profile <profile>``.

    The child runs in its own process group, which is killed if this script is interrupted.
    """
    with tempfile.TemporaryDirectory(prefix="bench_pipeline_main_") as tmp:
        env = _isolated_env(Path(tmp), profile)
        command = [sys.executable, "-m", "pipelines", "--profile", profile]
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, start_new_session=True)
        try:
            code = process.wait()
        except BaseException:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        return time.perf_counter() - start, code


def write_four_symbol_config(target: Path, sessions: int) -> Path:
    """A copy of assets_config with a 4-symbol synthetic market split by fractions."""
    shutil.copytree(PROJECT_ROOT / "assets_config", target)
    data_yaml = target / "data.yaml"
    data = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    data["source"] = "synthetic"
    data["synthetic"].update(
        {"symbols": SYMBOLS, "n_sessions": sessions, "bars_per_session": BARS_PER_SESSION}
    )
    data_yaml.write_text(yaml.safe_dump(data), encoding="utf-8")
    # The default splits are calendar dates of the bundled 2017-2019 sample.
    features_yaml = target / "features.yaml"
    features = yaml.safe_load(features_yaml.read_text(encoding="utf-8"))
    features["splits"]["method"] = "fractions"
    features_yaml.write_text(yaml.safe_dump(features), encoding="utf-8")
    return target


def bench_data_job() -> dg.JobDefinition:
    """The data and feature assets with their checks as one job of the project's definitions.

    Module level and without arguments so that ``dg.reconstructable`` can rebuild it in every
    step process.
    """
    return bench_job(BENCH_JOB)


def bench_job(name: str) -> dg.JobDefinition:
    """A job of the project's definitions: the data and feature assets with their checks
    (``BENCH_JOB``), only the symbol-partitioned ones, or only ``splits``."""
    import dagster as dg

    from pipelines.definitions import defs

    selections = {
        BENCH_JOB: DATA_ASSETS,
        BENCH_PARTITIONED_JOB: PARTITIONED_ASSETS,
        BENCH_SPLITS_JOB: DATA_ASSETS[-1:],
    }
    job = dg.define_asset_job(name, selection=dg.AssetSelection.assets(*selections[name]))
    return dg.Definitions.merge(defs, dg.Definitions(jobs=[job])).resolve_job_def(name)


def _step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    return {
        stat.step_key: stat.end_time - stat.start_time
        for stat in instance.get_run_step_stats(run_id)
        if stat.end_time is not None and stat.start_time is not None
    }


def _all_symbols_tags() -> dict[str, str]:
    from pipelines.partitions import all_symbols_tags

    return all_symbols_tags()


def run_data_job(multiprocess: bool) -> tuple[float, bool, dict[str, float]]:
    """Wall seconds, success and per-step seconds of one run of the data job over all symbols.

    Expects TRADER_STORAGE_ROOT / TRADER_CONFIG_DIR / DAGSTER_HOME set for this process.
    """
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        start = time.perf_counter()
        if multiprocess:
            with dg.execute_job(
                dg.reconstructable(bench_data_job),
                instance=instance,
                run_config=QUIET,
                tags=_all_symbols_tags(),
            ) as result:
                success, run_id = result.success, result.run_id
        else:
            result = bench_data_job().execute_in_process(
                run_config=QUIET, instance=instance, raise_on_error=False, tags=_all_symbols_tags()
            )
            success, run_id = result.success, result.run_id
        seconds = time.perf_counter() - start
        return seconds, success, _step_seconds(instance, run_id)


def _one_symbol_run(symbol: str) -> tuple[bool, dict[str, float]]:
    """One run of the partitioned data assets for ``symbol``, in this (worker) process."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        result = bench_job(BENCH_PARTITIONED_JOB).execute_in_process(
            run_config=QUIET, instance=instance, raise_on_error=False, partition_key=symbol
        )
        steps = _step_seconds(instance, result.run_id)
    return result.success, {f"{step}[{symbol}]": seconds for step, seconds in steps.items()}


def run_per_symbol() -> tuple[float, bool, dict[str, float]]:
    """Wall seconds, success and step seconds of four one-symbol runs (``os.cpu_count()`` at a
    time, each in its own process, as the run queue of a UI backfill) and one ``splits`` run."""
    import dagster as dg

    start = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1, mp_context=context) as pool:
        outcomes = list(pool.map(_one_symbol_run, SYMBOLS))
    steps: dict[str, float] = {}
    for _, symbol_steps in outcomes:
        steps.update(symbol_steps)
    with dg.DagsterInstance.get() as instance:
        result = bench_job(BENCH_SPLITS_JOB).execute_in_process(
            run_config=QUIET, instance=instance, raise_on_error=False
        )
        steps.update(_step_seconds(instance, result.run_id))
    success = result.success and all(ok for ok, _ in outcomes)
    return time.perf_counter() - start, success, steps


def data_runs(sessions: int, repeats: int) -> list[tuple[str, float, bool, dict[str, float]]]:
    """Runs of the data job in the three ways, alternating, in one temporary storage root.

    Every run recomputes every step (nothing is skipped when outputs exist), so sharing the
    storage root between runs does not change what is measured.
    """
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench_pipeline_data_") as tmp:
        root = Path(tmp)
        os.environ.update(_isolated_env(root, "dev"))
        os.environ["TRADER_CONFIG_DIR"] = str(write_four_symbol_config(root / "config", sessions))
        (root / "dagster_home").mkdir()
        (root / "dagster_home" / "dagster.yaml").write_text(
            "telemetry:\n  enabled: false\n", encoding="utf-8"
        )
        for _ in range(repeats):
            for mode, multiprocess in (("multiprocess", True), ("in-process", False)):
                seconds, success, steps = run_data_job(multiprocess)
                runs.append((mode, seconds, success, steps))
            seconds, success, steps = run_per_symbol()
            runs.append(("per-symbol runs", seconds, success, steps))
    return runs


def render(
    profile: str,
    main: tuple[float, int] | None,
    runs: list[tuple[str, float, bool, dict[str, float]]],
    sessions: int,
) -> str:
    from pipelines.definitions import MAX_CONCURRENT_STEPS

    lines = [
        "# Pipeline benchmark (Dagster layer)",
        "",
        f"`benchmarks/bench_pipeline.py`, {dt.date.today()}, {os.cpu_count()} CPU cores (shared), "
        f"Python {platform.python_version()}, load average at the end "
        f"{os.getloadavg()[0]:.1f} (other processes share the cores).",
        "",
    ]
    if main is not None:
        seconds, code = main
        lines += [
            "| main job | profile | wall time | exit code |",
            "|---|---|---|---|",
            f"| `python -m pipelines --profile {profile}` | {profile} | {seconds:.1f} s | {code} |",
            "",
        ]
    if runs:
        n_bars = len(SYMBOLS) * sessions * BARS_PER_SESSION
        lines += [
            f"Data run: {' -> '.join(DATA_ASSETS)} plus their asset checks, synthetic market "
            f"{len(SYMBOLS)} symbols x {sessions} sessions x {BARS_PER_SESSION} bars "
            f"= {n_bars:,} bars; {', '.join(PARTITIONED_ASSETS)} partitioned by symbol. "
            f"Multiprocess: one run over the 4-symbol partition range, one process per step, "
            f"max_concurrent={MAX_CONCURRENT_STEPS}. In-process: the same run in one process. "
            f"Per-symbol runs: one in-process run per symbol, {os.cpu_count()} at a time in "
            "separate processes (what a UI backfill does), then `splits` over all symbols.",
            "",
            "| execution | wall time | success | sum of step times | slowest step |",
            "|---|---|---|---|---|",
        ]
        for mode, seconds, success, steps in runs:
            slowest = max(steps.items(), key=lambda item: item[1]) if steps else ("-", 0.0)
            lines.append(
                f"| {mode} | {seconds:.1f} s | {success} | {sum(steps.values()):.1f} s | "
                f"{slowest[0]} ({slowest[1]:.1f} s) |"
            )
        walls = {mode: seconds for mode, seconds, _, _ in runs}
        fastest = min(walls, key=walls.__getitem__)
        lines += [
            "",
            f"Fastest here: {fastest} ({walls[fastest]:.1f} s). The multiprocess executor pays "
            "a fresh Python process per step (importing Dagster, torch and the definitions, "
            "plus log capture), several seconds each against step times of a fraction of a "
            "second at this size; it pays off when steps are long (training) or when cores "
            "outnumber the per-step overhead.",
        ]
        lines += ["", "Step times (s) of the last ranged run of each executor:", ""]
        last = {mode: steps for mode, _, _, steps in runs if mode != "per-symbol runs"}
        keys = sorted({key for steps in last.values() for key in steps})
        lines += ["| step | " + " | ".join(last) + " |", "|---" * (len(last) + 1) + "|"]
        for key in keys:
            cells = " | ".join(f"{steps.get(key, float('nan')):.2f}" for steps in last.values())
            lines.append(f"| {key} | {cells} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="dev", help="profile of the main job (dev/test/full)")
    parser.add_argument("--sessions", type=int, default=120, help="sessions per symbol in (b)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per executor in (b)")
    parser.add_argument("--skip-main", action="store_true", help="skip (a), the main job")
    parser.add_argument("--skip-data", action="store_true", help="skip (b), the data run")
    args = parser.parse_args()

    main_result = None if args.skip_main else run_main_job(args.profile)
    runs = [] if args.skip_data else data_runs(args.sessions, args.repeats)
    report = render(args.profile, main_result, runs, args.sessions)
    print(report)
    failed = [mode for mode, _, success, _ in runs if not success]
    if failed or (main_result is not None and main_result[1] != 0):
        sys.exit(f"not written to {RESULTS}: a run failed ({failed or 'main job'}), see above")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
