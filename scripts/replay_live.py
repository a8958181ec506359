"""Replay live operation: hand the last months of the stored sample to the drop folder, one
session at a time, while ``dagster dev`` runs (its ``new_market_files`` sensor starts
``full_pipeline`` for each new file, and ``promote_champion`` follows with the forward ledger,
the rollback rules and the signal).

    bash scripts/ui.sh &                                   # dagster dev (daemon + UI)
    .venv/bin/python scripts/replay_live.py --months 3     # in another terminal

Before the first session the whole history goes into ``history.parquet``; then each session
arrives as ``<date>.parquet``. With ``--wait`` (default) the next session is written only once
the runs of the previous one have finished, so the UI shows one day after the other; after
each day a line reports the champion, the ledger and any demotion. Use ``--interval`` for a
fixed pace instead. The drop folder defaults to the ``files`` source's (``data/raw``); it
must hold no other data files. Re-running continues after the last session already written.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

import dagster as dg  # noqa: E402

from pipelines.instance import ensure_dagster_home  # noqa: E402
from trader_env.data import load_bars, load_data_config  # noqa: E402
from trader_env.evaluation.champion import ChampionRegistry  # noqa: E402
from trader_env.paths import storage_root  # noqa: E402
from trader_env.production import ForwardLedger, forward_summary  # noqa: E402
from trader_env.production.replay import (  # noqa: E402
    HISTORY_FILE,
    replay_sessions,
    write_history,
    write_session,
)

ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def status_line(storage: Path, session: str) -> str:
    """One line: the serving champion, the ledger's size and the champion's forward numbers."""
    registry = ChampionRegistry(storage)
    champion = registry.current()
    rows = ForwardLedger(storage).rows()
    parts = [session]
    parts.append(f"champion v{champion.version} ({champion.phase})" if champion else "no champion")
    if rows:
        last = rows[-1]
        parts.append(
            f"ledger {len(rows)} day(s), last {last.session}: net {last.net_pnl:+,.2f}, "
            f"costs {last.costs:,.2f}, intraday drawdown {last.intraday_drawdown:.2%}"
        )
    if champion is not None:
        own = [row for row in rows if row.champion_version == champion.version]
        if len(own) >= 2:
            summary = forward_summary(own, champion.validation_sharpe)
            parts.append(
                f"forward Sharpe {summary['forward_sharpe']:.2f} over {len(own)} day(s), "
                f"PSR vs validation {summary['psr_vs_validation']:.2f}"
            )
    line = " | ".join(parts)
    history = registry.history()
    if history and history[-1].action == "demoted":
        line += f"\n    last registry event: DEMOTED v{history[-1].replaced_version}: {history[-1].reason}"
    return line


def wait_idle(instance: dg.DagsterInstance, name: str, timeout: float) -> None:
    """Wait until the sensor's run for file ``name`` and the promotion after it have finished
    and nothing else is queued or running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [
            run
            for run in instance.get_runs(
                filters=dg.RunsFilter(tags={"trigger": "new_market_files"})
            )
            if name in run.tags.get("market_files/changed", "").split(", ")
        ]
        if runs and runs[0].is_finished:
            record = instance.get_run_record_by_id(runs[0].run_id)
            ended = dt.datetime.fromtimestamp(record.end_time or 0.0, tz=dt.UTC)  # type: ignore[union-attr]
            # promote_champion is launched by a run-status sensor once the training run ended.
            promotions = instance.get_runs(
                filters=dg.RunsFilter(job_name="promote_champion", created_after=ended)
            )
            active = instance.get_runs(filters=dg.RunsFilter(statuses=ACTIVE))
            if promotions and not active:
                return
        time.sleep(5)
    raise TimeoutError(
        f"no finished runs for {name} within {timeout:.0f} s: is `dagster dev` running with "
        "DAGSTER_HOME set as in scripts/ui.sh, and its sensors on?"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--months", type=float, default=3.0, help="months replayed (default 3)")
    parser.add_argument("--drop", type=Path, help="drop folder (default: data.yaml files.path)")
    parser.add_argument("--source", default="sample", help="where the bars come from")
    parser.add_argument("--interval", type=float, help="seconds between sessions (no waiting)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="max wait per session, s")
    parser.add_argument("--max-sessions", type=int, help="stop after this many sessions")
    args = parser.parse_args(argv)

    config = load_data_config()
    drop = args.drop or config.files.path
    drop.mkdir(parents=True, exist_ok=True)
    source = config.model_copy(update={"source": args.source})
    bars = load_bars(source)
    timezone = config.session_timezone
    sessions = replay_sessions(bars, timezone, args.months)
    storage = storage_root()
    home = ensure_dagster_home()
    print(
        f"Replaying {len(sessions)} sessions {sessions[0]}..{sessions[-1]} into {drop} "
        f"(storage {storage}, DAGSTER_HOME {home})",
        flush=True,
    )
    written = sorted(path.name for path in drop.glob("20*.parquet"))
    files = []
    if not (drop / HISTORY_FILE).exists():
        write_history(bars, drop, sessions[0], timezone)
        files.append((None, HISTORY_FILE))
    else:
        # A re-run first waits for the runs of the last file an earlier replay wrote.
        files.append((None, written[-1] if written else HISTORY_FILE))
    pending = [s for s in sessions if not (drop / f"{s.isoformat()}.parquet").exists()]
    if args.max_sessions is not None:
        pending = pending[: args.max_sessions]
    files += [(session, f"{session.isoformat()}.parquet") for session in pending]
    with dg.DagsterInstance.get() as instance:
        for session, name in files:
            if session is not None:
                write_session(bars, drop, session, timezone)
            if args.interval is not None:
                time.sleep(args.interval)
            else:
                wait_idle(instance, name, args.timeout)
            print(status_line(storage, name.removesuffix(".parquet")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
