"""The main job: ``python -m pipelines`` runs the full pipeline, promotes the champion and
prints a summary a person can read.

Exit code 0 when the pipeline itself ran correctly, also when a gate failed (a failed gate is a
result); 1 when a step failed for any other reason.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time

#: Run config selecting the progress logger (Dagster uses a logger only when run config names it).
LOGGING: dict[str, dict[str, dict[str, object]]] = {"loggers": {"progress": {}}}


def _progress_logger():
    """A console logger that shows what the assets say (progress, results), not Dagster's
    engine events: a failed gate skips later steps, and their engine errors would read like a
    crash; the summary at the end reports every verdict and every real error instead."""
    import dagster as dg

    class _UserMessages(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            meta = getattr(record, "dagster_meta", None) or {}
            if meta.get("dagster_event") is not None:
                return False
            # Steps skipped behind a failed gate: the summary says which gate blocked what.
            if meta.get("orig_message", "").startswith("Dependencies for step"):
                return False
            record.step = meta.get("step_key") or "run"
            record.text = meta.get("orig_message", record.getMessage())
            return True

    @dg.logger(description="Asset messages only, to stdout.")
    def progress(_init_context) -> logging.Logger:
        log = logging.getLogger("pipelines.progress")
        log.setLevel(logging.INFO)
        log.propagate = False
        if not log.handlers:
            handler = logging.StreamHandler(sys.stdout)
            handler.addFilter(_UserMessages())
            handler.setFormatter(logging.Formatter("%(asctime)s %(step)s: %(text)s", "%H:%M:%S"))
            log.addHandler(handler)
        return log

    return progress


#: Tags of every run the main command executes: whose process runs it, on which host.
PID_TAG, HOST_TAG = "trader/pid", "trader/host"


def _process_tags() -> dict[str, str]:
    import socket

    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def fail_dead_runs(instance) -> list[str]:
    """Mark as failed the earlier main-command runs of this host whose process is gone.

    A run executed in-process (``execute_in_process``) is never seen by the daemon's run
    monitoring: when its process is killed (SIGKILL, OOM, power loss) it stays "started" in
    the UI forever. Returns one line per run found (failed now, or still running elsewhere).
    """
    import socket

    import dagster as dg

    host = socket.gethostname()
    unfinished = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING],
            tags={HOST_TAG: host},
        )
    )
    lines = []
    for run in unfinished:
        pid = int(run.tags.get(PID_TAG, "0") or 0)
        if pid and pid != os.getpid() and _alive(pid):
            lines.append(f"run {run.run_id} ({run.job_name}) is still running in process {pid}")
            continue
        instance.report_run_failed(
            run,
            f"The process {pid} that executed this run is gone (killed or crashed) before the "
            "run finished; marked failed by the next `python -m pipelines`.",
        )
        lines.append(
            f"earlier run {run.run_id} ({run.job_name}) did not finish: its process {pid} is "
            "gone (killed?); marked failed. Stored assets are those of the last completed steps."
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["signal"]:
        from pipelines.production import signal_command

        return signal_command(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m pipelines",
        description=__doc__,
        epilog="`python -m pipelines signal [--symbol S]` prints the serving champion's "
        "next-bar target position instead.",
    )
    parser.add_argument("--job", default="full_pipeline", help="job to run (default full_pipeline)")
    parser.add_argument("--profile", help="dev (default), full or test; sets TRADER_PROFILE")
    parser.add_argument(
        "--advisory-gates",
        action="store_true",
        help="report gate verdicts without blocking later phases (research; sets "
        "TRADER_GATES=advisory); promotion still requires a passed gate",
    )
    args = parser.parse_args(argv)
    if args.profile:
        os.environ["TRADER_PROFILE"] = args.profile
    if args.advisory_gates:
        os.environ["TRADER_GATES"] = "advisory"

    from pipelines.instance import ensure_dagster_home

    home = ensure_dagster_home()
    import dagster as dg

    from trader_env.yaml_config import ConfigError

    try:
        from pipelines.definitions import defs
    except ConfigError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 1
    from pipelines.failures import blocked_by_input, not_run, step_failures
    from pipelines.partitions import all_symbols_tags
    from pipelines.phases import gates_enforced
    from pipelines.summary import PhaseStatus, render_summary
    from trader_env.config import PHASES

    loggers = {"progress": _progress_logger()}
    profile = os.environ.get("TRADER_PROFILE", "dev")
    print(f"Running job {args.job!r} (profile {profile}, DAGSTER_HOME {home})", flush=True)
    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        for line in fail_dead_runs(instance):
            print(f"Note: {line}", flush=True)
        job = defs.resolve_job_def(args.job)
        # Jobs with the symbol-partitioned data assets run over every symbol at once.
        tags = {**_process_tags(), **(all_symbols_tags() if job.partitions_def is not None else {})}
        result = job.with_logger_defs(loggers).execute_in_process(
            run_config=LOGGING, instance=instance, raise_on_error=False, tags=tags
        )
        # Each failure once, by its cause; steps it kept from running are "not run".
        failures = step_failures(result)
        blocked = not_run(result, failures)
        champion = ledger = signals = None
        if args.job in ("full_pipeline", "nightly_retrain"):
            promoted = (
                defs.resolve_job_def("promote_champion")
                .with_logger_defs(loggers)
                .execute_in_process(
                    run_config=LOGGING,
                    instance=instance,
                    raise_on_error=False,
                    tags=_process_tags(),
                )
            )
            missing_input = blocked_by_input(promoted, job, failures)
            blocked.update(missing_input)
            failures.update(
                {k: v for k, v in step_failures(promoted).items() if k not in missing_input}
            )
            if promoted.is_node_success("champion_model"):
                champion = promoted.output_for_node("champion_model")
            if promoted.is_node_success("forward_ledger"):
                ledger = promoted.output_for_node("forward_ledger")
            if promoted.is_node_success("champion_signal"):
                signals = promoted.output_for_node("champion_signal")

    def output(node: str):
        return result.output_for_node(node) if result.is_node_success(node) else None

    statuses = [
        PhaseStatus(
            phase=phase,
            model=output(f"phase{phase}_model"),
            evaluation=output(f"phase{phase}_evaluation"),
            error=failures.get(f"phase{phase}_model") or failures.get(f"phase{phase}_evaluation"),
            not_run_because=blocked.get(f"phase{phase}_model"),
        )
        for phase in PHASES
    ]
    print(render_summary(statuses, champion, enforced=gates_enforced()))
    if ledger is not None or signals is not None:
        from pipelines.production import render_production

        print(render_production(ledger, signals))
    print(f"\nRun {result.run_id} finished in {time.perf_counter() - started:.0f} s.")
    if failures:
        print("\nErrors (not gate verdicts):", file=sys.stderr)
        for step, message in failures.items():
            print(f"  {step}: {message}", file=sys.stderr)
        # Phases say it in the summary above; list the other steps here.
        for step, cause in blocked.items():
            if not re.fullmatch(r"phase\d+_(model|evaluation)", step):
                print(f"  {step}: not run: {cause} failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
