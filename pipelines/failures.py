"""Why a run failed, by cause: the underlying error of each failed step, once, and the steps
that did not run because of it (``not run: <step> failed``), for the main command's summary.

Dagster reports an exception raised in an asset as ``DagsterExecutionStepExecutionError: Error
occurred while executing op "splits"`` with the real error as its cause, and a step of another
run that needed the failed asset's output as an error of its own ("Error occurred while loading
input ..."). Neither is what a user must fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import dagster as dg

#: Errors whose text is the cause a user fixes (config and data, with file, line and key).
CAUSES = ("ConfigError", "DataValidationError")
#: A blocking asset check that failed: a verdict the summary reports, not an error.
CHECK_FAILED = "DagsterAssetCheckFailedError"
_LOAD_INPUT = re.compile(r'Error occurred while loading input "([^"]+)"')


def failure_cause(event: dg.DagsterEvent) -> str:
    """The underlying message of a ``STEP_FAILURE`` event: a ``dg.Failure``'s description,
    else the innermost ConfigError / DataValidationError of the error's cause chain as
    ``ClassName: message``, else the innermost error of the chain."""
    data = event.step_failure_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        return data.user_failure_data.description.strip()
    error = data.error
    if error is None:
        return "unknown error"
    innermost = error
    while error is not None:
        if error.cls_name in CAUSES:
            innermost = error
            break
        innermost, error = error, error.cause
    text = innermost.message.strip()
    # The message starts with the exception's qualified class name: keep the short one.
    _, _, rest = text.partition(": ")
    return f"{innermost.cls_name}: {rest or text}"


def step_failures(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """Failed steps (not failed checks) by step key -> their cause."""
    failures: dict[str, str] = {}
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        if error is not None and error.cls_name == CHECK_FAILED:
            continue
        assert event.step_key is not None  # a step failure event names its step
        failures[event.step_key] = failure_cause(event)
    return failures


def _ancestors(job: dg.JobDefinition, node: str) -> set[str]:
    structure = job.graph.dependency_structure
    seen: set[str] = set()
    stack = [node]
    while stack:
        for upstream in structure.all_upstream_outputs_from_node(stack.pop()):
            name = upstream.node_name
            if name not in seen:
                seen.add(name)
                stack.append(name)
    return seen


def not_run(result: dg.ExecuteInProcessResult, failed: Iterable[str]) -> dict[str, str]:
    """Steps of ``result``'s job that never started because a ``failed`` step upstream failed,
    by step key -> the failed step(s), comma-separated. Asset-check steps are left out: their
    asset not running says it all."""
    failed = set(failed)
    if not failed:
        return {}
    job = result.job_def
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    nodes = job.graph.node_names()
    check_steps = {n for n in nodes if any(n.startswith(f"{m}_") for m in nodes if m != n)}
    blocked = {}
    for node in sorted(set(nodes) - started - check_steps):
        causes = sorted(_ancestors(job, node) & failed)
        if causes:
            blocked[node] = ", ".join(causes)
    return blocked


def blocked_by_input(
    later: dg.ExecuteInProcessResult, job: dg.JobDefinition, failed: Iterable[str]
) -> dict[str, str]:
    """Failed steps of ``later`` (a run after ``job``'s, e.g. champion promotion) that only
    missed an input which ``job`` did not produce because its step ``failed`` (or a step
    upstream of it failed): step -> the failed step(s), comma-separated. A step whose input could not be loaded
    for another reason is not listed."""
    failed = set(failed)
    nodes = set(job.graph.node_names())
    blocked = {}
    for event in later.get_step_failure_events():
        error = event.step_failure_data.error
        match = _LOAD_INPUT.search(error.message) if error is not None else None
        if match is None or match.group(1) not in nodes:
            continue
        source = match.group(1)
        upstream = ({source} | _ancestors(job, source)) & failed
        if upstream:
            assert event.step_key is not None  # a step failure event names its step
            blocked[event.step_key] = ", ".join(sorted(upstream))
    return blocked
