"""The ``new_market_files`` sensor: new or changed files in the drop folder request a run.

The sensor only looks at file names, sizes and modification times; it never opens a file. A
malformed file therefore still requests a run, and that run fails in ``raw_bars`` with the
validation message (file, line, column), where a person looks for it in the UI. The sensor
itself only skips (missing folder, unreadable config), it does not fail.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import dagster as dg

from pipelines.jobs import full_pipeline
from pipelines.partitions import all_symbols_tags
from trader_env.data import load_data_config
from trader_env.data.files import CSV_SUFFIXES, PARQUET_SUFFIXES
from trader_env.yaml_config import ConfigError

#: Seconds between two looks at the drop folder.
INTERVAL_SECONDS = 60
#: Names of at most this many changed files go into the run's tags (the log lists all of them).
TAGGED_NAMES = 5

#: (modification time in ns, size in bytes) of one file: changes whenever the file is rewritten.
Fingerprint = tuple[int, int]


def _is_data_file(path: Path) -> bool:
    """Same selection as the ``files`` source: CSV / Parquet, not hidden, not README*.

    Hidden files are skipped too because copy tools (rsync, browsers) write partial files under
    a hidden temporary name and rename them when complete.
    """
    name = path.name
    return (
        not name.startswith(".")
        and not name.upper().startswith("README")
        and path.suffix.lower() in CSV_SUFFIXES + PARQUET_SUFFIXES
    )


def scan_data_files(path: Path) -> dict[str, Fingerprint]:
    """Fingerprints of the data files in ``path`` (a folder, not recursed, or one file).

    Keys are absolute paths. A file deleted while scanning is left out. Raises
    ``FileNotFoundError`` when ``path`` does not exist, ``OSError`` when it cannot be listed.
    """
    entries = [path] if path.is_file() else sorted(path.iterdir())
    fingerprints: dict[str, Fingerprint] = {}
    for entry in entries:
        if not _is_data_file(entry):
            continue
        try:
            stat = entry.stat()
        except FileNotFoundError:
            continue
        if entry.is_file():
            fingerprints[str(entry.resolve())] = (stat.st_mtime_ns, stat.st_size)
    return fingerprints


def parse_cursor(cursor: str | None) -> dict[str, Fingerprint]:
    """The fingerprints stored by the previous evaluation; empty for no or unreadable cursor."""
    if not cursor:
        return {}
    try:
        stored = json.loads(cursor)
        return {str(name): (int(value[0]), int(value[1])) for name, value in stored.items()}
    except (ValueError, TypeError, AttributeError, IndexError, KeyError):
        return {}


def serialize_cursor(fingerprints: Mapping[str, Fingerprint]) -> str:
    """Deterministic JSON of ``{absolute path: [mtime_ns, size]}``."""
    return json.dumps({name: list(value) for name, value in sorted(fingerprints.items())})


def changed_files(
    previous: Mapping[str, Fingerprint], current: Mapping[str, Fingerprint]
) -> dict[str, Fingerprint]:
    """Files of ``current`` that are new or whose fingerprint differs from ``previous``."""
    return {name: value for name, value in current.items() if previous.get(name) != value}


def run_key_for(changed: Mapping[str, Fingerprint]) -> str:
    """A run key unique to this set of file versions: the same versions never run twice."""
    digest = hashlib.sha256(serialize_cursor(changed).encode("utf-8")).hexdigest()
    return f"new-market-files-{digest[:16]}"


def files_run_config(folder: Path) -> dict:
    """Run config that points ``raw_bars`` at the ``files`` source in ``folder``."""
    return {"ops": {"raw_bars": {"config": {"source": "files", "path": str(folder)}}}}


@dg.sensor(
    name="new_market_files",
    target=full_pipeline,
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Runs full_pipeline over every symbol on the files source when CSV / Parquet "
    "files in the drop folder (data.yaml files.path, default data/raw) are added or rewritten. "
    "Removed files are forgotten without a run. Files are validated by the run, not by the sensor.",
)
def new_market_files(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    try:
        folder = load_data_config().files.path
    except ConfigError as exc:
        return dg.SensorResult(skip_reason=f"cannot read the data config: {exc}")
    try:
        current = scan_data_files(folder)
    except FileNotFoundError:
        return dg.SensorResult(
            skip_reason=f"drop folder {folder} does not exist: create it or set files.path in "
            "data.yaml"
        )
    except OSError as exc:
        return dg.SensorResult(skip_reason=f"cannot list drop folder {folder}: {exc}")

    previous = parse_cursor(context.cursor)
    cursor = serialize_cursor(current)
    changed = changed_files(previous, current)
    if not changed:
        reason = (
            f"no .csv / .parquet / .pq files in {folder}"
            if not current
            else f"no new or changed files among the {len(current)} in {folder}"
        )
        return dg.SensorResult(skip_reason=reason, cursor=cursor)

    names = sorted(Path(name).name for name in changed)
    context.log.info(f"{len(names)} new or changed file(s) in {folder}: {', '.join(names)}")
    shown = ", ".join(names[:TAGGED_NAMES]) + (" ..." if len(names) > TAGGED_NAMES else "")
    request = dg.RunRequest(
        run_key=run_key_for(changed),
        run_config=files_run_config(folder),
        tags={
            **all_symbols_tags(),
            "trigger": "new_market_files",
            "market_files/folder": str(folder),
            "market_files/changed": shown,
        },
    )
    return dg.SensorResult(run_requests=[request], cursor=cursor)
