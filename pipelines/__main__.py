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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dagster as dg

if TYPE_CHECKING:
    from pipelines.settings import PipelineSettings
    from trader_env.production.loop import LedgerOutcome
    from trader_env.workflow import ChampionDecision

#: Run config selecting the progress logger (Dagster uses a logger only when run config names it).
LOGGING: dict[str, Any] = {"loggers": {"progress": {}}}


def _progress_logger():
    """A console logger that shows what the assets say (progress, results), not Dagster's
    engine events: a failed gate skips later steps, and their engine errors would read like a
    crash; the summary at the end reports every verdict and every real error instead."""

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


def build_parser() -> argparse.ArgumentParser:
    """The main command's flags; each defaults to its ``TRADER_*`` environment variable."""
    parser = argparse.ArgumentParser(
        prog="python -m pipelines",
        description=__doc__,
        epilog="`python -m pipelines signal [--symbol S]` prints the serving champion's "
        "next-bar target position instead.",
    )
    parser.add_argument("--job", default="full_pipeline", help="job to run (default full_pipeline)")
    parser.add_argument(
        "--profile", help="dev (default), full or test (default: $TRADER_PROFILE, else dev)"
    )
    parser.add_argument(
        "--config-dir",
        help="folder of the YAML configs (default: $TRADER_CONFIG_DIR, else assets_config)",
    )
    parser.add_argument(
        "--storage-root",
        help="root of data and artifacts (default: $TRADER_STORAGE_ROOT, else data)",
    )
    parser.add_argument(
        "--advisory-gates",
        action="store_true",
        help="report gate verdicts without blocking later phases (research; like "
        "TRADER_GATES=advisory); promotion still requires a passed gate",
    )
    return parser


def settings_from_args(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> PipelineSettings:
    """The run's settings: the ``TRADER_*`` variables of ``environ`` (default ``os.environ``)
    with the flags given on top. The environment itself is never changed: the settings go to
    the definitions (partitions) and to each run's config (``resources.settings``)."""
    from pipelines.settings import GateMode, PipelineSettings

    defaults = PipelineSettings.from_env(environ)
    return PipelineSettings(
        profile=args.profile or defaults.profile,
        config_dir=args.config_dir or defaults.config_dir,
        storage_root=args.storage_root or defaults.storage_root,
        gates=GateMode.advisory if args.advisory_gates else defaults.gates,
    )


@dataclass
class Outcome:
    """What the main command's runs produced: the job's result, the failures by cause, the
    steps they kept from running, and the promote_champion job's outputs."""

    result: dg.ExecuteInProcessResult
    failures: dict[str, str]
    blocked: dict[str, str]
    champion: ChampionDecision | None = None
    ledger: LedgerOutcome | None = None
    signals: list[dict] | None = None


def run_jobs(
    defs: dg.Definitions, job_name: str, settings: PipelineSettings, instance: dg.DagsterInstance
) -> Outcome:
    """Run ``job_name`` in this process (over every symbol when it is partitioned), then, after a
    training job, ``promote_champion``; both with ``settings`` as run config."""
    from pipelines.failures import blocked_by_input, not_run, step_failures
    from pipelines.partitions import all_symbols_tags

    loggers = {"progress": _progress_logger()}
    run_config = {**LOGGING, "resources": settings.run_config()}
    job = defs.resolve_job_def(job_name)
    # Jobs with the symbol-partitioned data assets run over every symbol at once.
    ranges = all_symbols_tags(job.partitions_def) if job.partitions_def is not None else {}
    result = job.with_logger_defs(loggers).execute_in_process(
        run_config=run_config,
        instance=instance,
        raise_on_error=False,
        tags={**_process_tags(), **ranges},
    )
    # Each failure once, by its cause; steps it kept from running are "not run".
    failures = step_failures(result)
    outcome = Outcome(result, failures, not_run(result, failures))
    if job_name not in ("full_pipeline", "nightly_retrain"):
        return outcome
    promoted = (
        defs.resolve_job_def("promote_champion")
        .with_logger_defs(loggers)
        .execute_in_process(
            run_config=run_config, instance=instance, raise_on_error=False, tags=_process_tags()
        )
    )
    missing_input = blocked_by_input(promoted, job, failures)
    outcome.blocked.update(missing_input)
    failures.update({k: v for k, v in step_failures(promoted).items() if k not in missing_input})
    output = _outputs(promoted)
    outcome.champion = output("champion_decision")
    outcome.ledger = output("forward_ledger")
    outcome.signals = output("champion_signal")
    return outcome


def _outputs(result: dg.ExecuteInProcessResult) -> Callable[[str], Any]:
    """``node -> output``, None for a node that did not succeed."""

    def output(node: str) -> Any:
        return result.output_for_node(node) if result.is_node_success(node) else None

    return output


def report(outcome: Outcome, settings: PipelineSettings, seconds: float) -> int:
    """Print the summary (phases, champion, production loop) and the errors; the exit code."""
    from pipelines.summary import PhaseStatus, render_summary
    from trader_env.phase_config import PHASES

    output = _outputs(outcome.result)
    failures, blocked = outcome.failures, outcome.blocked
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
    print(render_summary(statuses, outcome.champion, enforced=settings.gates_enforced))
    if outcome.ledger is not None or outcome.signals is not None:
        from pipelines.production import render_production

        print(render_production(outcome.ledger, outcome.signals))
    print(f"\nRun {outcome.result.run_id} finished in {seconds:.0f} s.")
    if not failures:
        return 0
    print("\nErrors (not gate verdicts):", file=sys.stderr)
    for step, message in failures.items():
        print(f"  {step}: {message}", file=sys.stderr)
    # Phases say it in the summary above; list the other steps here.
    for step, cause in blocked.items():
        if not re.fullmatch(r"phase\d+_(model|evaluation)", step):
            print(f"  {step}: not run: {cause} failed", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["signal"]:
        from pipelines.production import signal_command

        return signal_command(argv[1:])
    args = build_parser().parse_args(argv)
    from pipelines.instance import dagster_home, prepare_dagster_home
    from trader_env.yaml_config import ConfigError

    try:
        settings = settings_from_args(args)
        from pipelines.build import build_definitions

        defs = build_definitions(settings)
    except (ConfigError, ValueError) as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 1
    home = prepare_dagster_home(dagster_home())
    print(
        f"Running job {args.job!r} (profile {settings.profile}, gates {settings.gates.value}, config "
        f"{settings.config_path}, storage {settings.storage}, DAGSTER_HOME {home})",
        flush=True,
    )
    started = time.perf_counter()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for line in fail_dead_runs(instance):
            print(f"Note: {line}", flush=True)
        outcome = run_jobs(defs, args.job, settings, instance)
    return report(outcome, settings, time.perf_counter() - started)


if __name__ == "__main__":
    sys.exit(main())
