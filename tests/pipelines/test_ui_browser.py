"""The real UI: ``dagster dev`` serves the asset graph with the phase gates, and a run launched
through Dagster's GraphQL API materializes the market data.

Needs Debian's ``chromium`` and ``chromium-driver`` (``scripts/install_browser.sh``). Skipped
without them on a workstation; in CI (``CI=true``) a missing browser fails the test instead.
The server runs in its own process group, which is ended (SIGTERM, then SIGKILL) at the end,
and the test checks that none of its processes survive.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
import yaml

from pipelines.partitions import all_symbols_tags
from trader_env.paths import PROJECT_ROOT, config_dir
from trader_env.phase_config import PHASES

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
IN_CI = os.environ.get("CI") == "true"
SERVER_START_TIMEOUT_S = 120
UI_TIMEOUT_S = 90
RUN_TIMEOUT_S = 180
#: Rows of ``bars`` in the test profile: 2 symbols x 60 sessions x 60 bars.
TEST_PROFILE_BARS = 2 * 60 * 60

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    # gql (under dagster-graphql's client) warns about its own deprecated call style.
    pytest.mark.filterwarnings("ignore::DeprecationWarning:gql.*"),
    pytest.mark.timeout(SERVER_START_TIMEOUT_S + RUN_TIMEOUT_S + 60),
    pytest.mark.skipif(
        not CHROMIUM.exists() and not IN_CI,
        reason=f"{CHROMIUM} is missing: run scripts/install_browser.sh (CI=true fails instead)",
    ),
]


@dataclass(frozen=True)
class DevServer:
    """A running ``dagster dev``: where it listens, its log, its storage root."""

    port: int
    log: Path
    storage: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _private_config(root: Path) -> Path:
    """A copy of the configs whose drop folder is an empty folder here, so the drop-folder
    sensor of the served definitions never starts a run from files in the real data/raw."""
    configs = root / "assets_config"
    shutil.copytree(config_dir(), configs)
    data_yaml = configs / "data.yaml"
    data = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    (root / "raw").mkdir()
    data["files"]["path"] = str(root / "raw")
    data_yaml.write_text(yaml.safe_dump(data), encoding="utf-8")
    return configs


def _wait_until(condition: Callable[[], bool], timeout_s: float, what: str, server: DevServer):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    pytest.fail(
        f"timed out after {timeout_s} s waiting for {what}; server log:\n{server.log_tail()}"
    )


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory: pytest.TempPathFactory, process_groups) -> Iterator[DevServer]:
    root = tmp_path_factory.mktemp("dagster_dev")
    home = root / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    storage = root / "storage"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "TRADER_STORAGE_ROOT": str(storage),
        "TRADER_PROFILE": "test",
        "TRADER_CONFIG_DIR": str(_private_config(root)),
        "SB3_LOGDIR": str(root / "sb3"),
    }
    port = process_groups.free_port()
    dagster = Path(sys.executable).parent / "dagster"
    group = process_groups.start(
        [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        log=root / "dagster_dev.log",
        cwd=PROJECT_ROOT,
        env=env,
    )
    process = group.process
    server = DevServer(port=port, log=group.log, storage=storage)

    def serving() -> bool:
        if process.poll() is not None:
            pytest.fail(f"dagster dev exited with {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/server_info", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    _wait_until(serving, SERVER_START_TIMEOUT_S, "the webserver", server)
    # process_groups ends the server (SIGTERM, then SIGKILL) and fails on survivors.
    yield server


@pytest.fixture
def browser(tmp_path: Path):
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.fail(f"{CHROMIUM} or {CHROMEDRIVER} missing: run scripts/install_browser.sh")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1600,1300",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def _open_and_wait_for(driver, server: DevServer, path: str, texts: list[str]) -> str:
    """Open ``path`` and wait until the JS app has rendered every one of ``texts``."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    driver.get(server.url + path)

    def body_text() -> str:
        try:
            return driver.find_element(By.TAG_NAME, "body").text
        except WebDriverException:
            return ""

    deadline = time.monotonic() + UI_TIMEOUT_S
    while time.monotonic() < deadline:
        text = body_text()
        if all(expected in text for expected in texts):
            # The first visit shows a newsletter dialog over the page; dismiss it.
            for button in driver.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
                button.click()
            return body_text()
        time.sleep(1)
    missing = [expected for expected in texts if expected not in body_text()]
    pytest.fail(f"{path} never showed {missing}; server log:\n{server.log_tail()}")


def test_ui_shows_the_phase_assets_and_their_gates(dagster_dev, browser, tmp_path) -> None:
    phase_assets = [f"phase{p}_{kind}" for p in PHASES for kind in ("model", "evaluation")]
    lineage = (
        f"/assets/phase{PHASES[-1]}_evaluation?view=lineage&lineageScope=upstream&lineageDepth=20"
    )
    text = _open_and_wait_for(
        browser, dagster_dev, lineage, ["raw_bars", "bars", "splits", *phase_assets]
    )
    assert "Lineage" in text
    graph_png = tmp_path / "asset_lineage.png"
    assert browser.save_screenshot(str(graph_png)) and graph_png.stat().st_size > 10_000

    checks = _open_and_wait_for(
        browser, dagster_dev, "/assets/phase2_evaluation?view=checks", ["phase2_gate"]
    )
    assert "blocking asset check" in checks
    assert browser.save_screenshot(str(tmp_path / "phase2_checks.png"))


def _assert_run_succeeds(client, run_id: str, server: DevServer) -> None:
    """Wait for the run ``run_id`` launched through ``client`` to end; fail unless it succeeded."""
    from dagster import DagsterRunStatus

    finished = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
    status: list[DagsterRunStatus] = []

    def done() -> bool:
        status.append(client.get_run_status(run_id))
        return status[-1] in finished

    _wait_until(done, RUN_TIMEOUT_S, f"run {run_id}", server)
    assert status[-1] == DagsterRunStatus.SUCCESS, server.log_tail()


def test_graphql_launch_materializes_market_data(dagster_dev) -> None:
    from dagster_graphql import DagsterGraphQLClient

    client = DagsterGraphQLClient("127.0.0.1", port_number=dagster_dev.port)
    run_id = client.submit_job_execution("market_data", tags=all_symbols_tags())
    _assert_run_succeeds(client, run_id, dagster_dev)
    stored = pl.concat(
        pl.read_parquet(dagster_dev.storage / "assets" / "bars" / f"{symbol}.parquet")
        for symbol in ("SYNA", "SYNB")
    )
    assert stored.height == TEST_PROFILE_BARS
    assert stored["symbol"].unique().sort().to_list() == ["SYNA", "SYNB"]


def test_launchpad_shows_the_settings_and_a_run_uses_the_ones_launched_with(
    dagster_dev, browser, tmp_path
) -> None:
    """The settings resource is in every job's Launchpad, pre-filled with the server's
    ``TRADER_*`` defaults; a run launched with other settings writes where they say."""
    launchpad = _open_and_wait_for(
        browser,
        dagster_dev,
        "/locations/pipelines.definitions/jobs/market_data/playground",
        ["settings:", "storage_root:", "Launch Run"],
    )
    for line in (
        f"storage_root: {dagster_dev.storage}",
        "profile: test",
        "gates: enforced",
        "config_dir: ",
    ):
        assert line in launchpad, launchpad
    assert browser.save_screenshot(str(tmp_path / "launchpad.png"))

    from dagster_graphql import DagsterGraphQLClient

    other_root = tmp_path / "other_storage"
    client = DagsterGraphQLClient("127.0.0.1", port_number=dagster_dev.port)
    run_id = client.submit_job_execution(
        "market_data",
        run_config={"resources": {"settings": {"config": {"storage_root": str(other_root)}}}},
        tags=all_symbols_tags(),
    )
    _assert_run_succeeds(client, run_id, dagster_dev)
    written = sorted(p.name for p in (other_root / "assets" / "bars").glob("*.parquet"))
    assert written == ["SYNA.parquet", "SYNB.parquet"]


def _graphql(server: DevServer, query: str, variables: dict) -> dict:
    request = urllib.request.Request(
        f"{server.url}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body
    return body["data"]


LAUNCH_BACKFILL = """
mutation ($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""

BACKFILL_RUNS = """
query ($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill {
      status
      runs(limit: 10) { runId status tags { key value } }
    }
  }
}"""


def test_ui_backfill_of_the_data_assets_runs_one_run_per_symbol(dagster_dev) -> None:
    """What "Materialize all" on the data assets does in the UI: an asset backfill that the
    daemon of ``dagster dev`` splits into one run per symbol (a one-key partition range each)."""
    params = {
        "partitionNames": ["SYNA", "SYNB"],
        "assetSelection": [{"path": ["raw_bars"]}, {"path": ["bars"]}],
        "title": "per-symbol data refresh",
    }
    launched = _graphql(dagster_dev, LAUNCH_BACKFILL, {"params": params})
    result = launched["launchPartitionBackfill"]
    assert result["__typename"] == "LaunchBackfillSuccess", result
    backfill: dict = {}

    def completed() -> bool:
        data = _graphql(dagster_dev, BACKFILL_RUNS, {"id": result["backfillId"]})
        backfill.update(data["partitionBackfillOrError"])
        return backfill["status"] in {"COMPLETED", "COMPLETED_SUCCESS", "FAILED", "CANCELED"}

    _wait_until(completed, RUN_TIMEOUT_S, "the backfill", dagster_dev)
    assert backfill["status"].startswith("COMPLETED"), (backfill, dagster_dev.log_tail())
    ranges = sorted(
        (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"])
        for tags in ({t["key"]: t["value"] for t in run["tags"]} for run in backfill["runs"])
    )
    assert ranges == [("SYNA", "SYNA"), ("SYNB", "SYNB")], json.dumps(backfill["runs"])
    assert all(run["status"] == "SUCCESS" for run in backfill["runs"]), backfill["runs"]
    for symbol in ("SYNA", "SYNB"):
        stored = pl.read_parquet(dagster_dev.storage / "assets" / "bars" / f"{symbol}.parquet")
        assert stored["symbol"].unique().to_list() == [symbol]
