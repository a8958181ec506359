"""The ``settings`` resource (profile, config folder, storage root, gate mode): in every job's
run config with the ``TRADER_*`` environment as defaults, chosen per run in a real Dagster
instance, and passed by the main command without touching ``os.environ``."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
import yaml

import trader_env.costs
import trader_env.phase_config.loader
import trader_env.yaml_config
from pipelines.__main__ import build_parser, main, settings_from_args
from pipelines.build import build_definitions
from pipelines.partitions import all_symbols_tags
from pipelines.settings import SETTINGS_FIELDS, SETTINGS_KEY, GateMode, PipelineSettings
from trader_env.paths import PROJECT_ROOT

from .main_command import copy_configs

# Definitions built inside a test: pytest's warning capture bypasses the filter set in
# pipelines/__init__.py for the (preview) partitioned asset checks.
pytestmark = pytest.mark.filterwarnings("ignore:Specifying a partitions_def on an AssetCheckSpec")

ENV_NAMES = ("TRADER_PROFILE", "TRADER_CONFIG_DIR", "TRADER_STORAGE_ROOT", "TRADER_GATES")
DATA_ASSETS = ("raw_bars", "bars", "features", "regimes", "splits")


def _edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _settings_field(job: dg.JobDefinition) -> dg.Field:
    resources = job.run_config_schema.config_type.fields["resources"]  # type: ignore[attr-defined]
    return resources.config_type.fields[SETTINGS_KEY]


def _run_config(**settings: str) -> dict[str, Any]:
    return {"resources": {SETTINGS_KEY: {"config": settings}}}


def _selection(*names: str) -> list[dg.AssetKey]:
    return [dg.AssetKey(name) for name in names]


def test_every_job_shows_the_settings_and_their_defaults(tmp_path: Path) -> None:
    settings = PipelineSettings(
        profile="test",
        config_dir=str(PROJECT_ROOT / "assets_config"),
        storage_root=str(tmp_path / "root"),
        gates="advisory",
    )
    defs = build_definitions(settings)
    names = ("full_pipeline", "nightly_retrain", "promote_champion", "market_data", "tune_phase")
    for name in names:
        field = _settings_field(defs.resolve_job_def(name))
        config = field.config_type.fields["config"]  # type: ignore[attr-defined]
        assert tuple(config.config_type.fields) == SETTINGS_FIELDS, name
        assert not field.is_required, f"{name}: every setting has a default"
        assert field.default_value == {"config": settings.run_config()[SETTINGS_KEY]["config"]}
    gates = config.config_type.fields["gates"].config_type.inner_type  # Noneable(Enum)
    assert [value.config_value for value in gates.enum_values] == ["enforced", "advisory"]


def test_environment_variables_are_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, instance: dg.DagsterInstance
) -> None:
    configs = copy_configs(tmp_path / "config")
    _edit(
        configs / "data.yaml",
        lambda d: d["profiles"]["test"]["synthetic"].update(symbols=["SYNX", "SYNY"]),
    )
    root = tmp_path / "env_root"
    env = {
        "TRADER_PROFILE": "test",
        "TRADER_CONFIG_DIR": str(configs),
        "TRADER_STORAGE_ROOT": str(root),
        "TRADER_GATES": "advisory",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    job = build_definitions(PipelineSettings.from_env()).resolve_job_def("market_data")
    expected = {"profile": "test", "config_dir": str(configs), "storage_root": str(root)}
    assert _settings_field(job).default_value == {"config": {**expected, "gates": "advisory"}}
    # Load time: the partitions are the symbols of the environment's config folder and profile.
    assert job.partitions_def is not None
    assert job.partitions_def.get_partition_keys() == ["SYNX", "SYNY"]
    # A run without settings in its run config uses those defaults.
    result = job.execute_in_process(instance=instance, tags=all_symbols_tags(job.partitions_def))
    assert result.success
    assert sorted(p.name for p in (root / "assets" / "bars").iterdir()) == [
        "SYNX.parquet",
        "SYNY.parquet",
    ]

    unset = PipelineSettings.from_env({})
    assert unset.profile == "dev" and unset.gates == GateMode.enforced
    assert unset.config_path == PROJECT_ROOT / "assets_config"
    assert unset.storage == PROJECT_ROOT / "data"
    with pytest.raises(ValueError, match="TRADER_GATES must be one of"):
        PipelineSettings.from_env({"TRADER_GATES": "off"})


@pytest.fixture
def yaml_reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each YAML file (by name) is read from now on, by every config loader."""
    reads: Counter[str] = Counter()
    read = trader_env.yaml_config.read_yaml

    def counting(path: Path) -> dict[str, Any]:
        reads[Path(path).name] += 1
        return read(path)

    for module in (trader_env.yaml_config, trader_env.phase_config.loader, trader_env.costs):
        monkeypatch.setattr(module, "read_yaml", counting)
    return reads


def test_a_run_uses_the_storage_root_and_configs_of_its_run_config(
    tmp_path: Path, storage: Path, instance: dg.DagsterInstance, yaml_reads: Counter[str]
) -> None:
    default_root = tmp_path / "default_root"
    defs = build_definitions(PipelineSettings(profile="test", storage_root=str(default_root)))
    configs = copy_configs(tmp_path / "config")
    _edit(configs / "data.yaml", lambda d: d["profiles"]["test"]["synthetic"].update(n_sessions=50))
    _edit(
        configs / "phase0.yaml",
        lambda d: d["profiles"]["test"]["training"].update(total_timesteps=256),
    )
    run_root = tmp_path / "run_root"
    job = defs.resolve_job_def("full_pipeline")
    yaml_reads.clear()
    result = job.execute_in_process(
        run_config=_run_config(
            profile="test", config_dir=str(configs), storage_root=str(run_root), gates="enforced"
        ),
        instance=instance,
        tags=all_symbols_tags(job.partitions_def),
        asset_selection=_selection(*DATA_ASSETS, "phase0_model"),
        raise_on_error=False,
    )
    assert result.is_node_success("phase0_model")
    bars: pl.DataFrame = result.output_for_node("bars")
    assert bars.height == 2 * 50 * 60, "the copy's 50 sessions of 60 bars (shipped: 60)"
    model = result.output_for_node("phase0_model")
    assert model.timesteps == 256, "the copy's phase-0 budget (shipped: 512)"
    assert model.model_path.is_relative_to(run_root)
    for symbol in ("SYNA", "SYNB"):
        assert (run_root / "assets" / "bars" / f"{symbol}.parquet").is_file()
    assert (run_root / "assets" / "splits.json").is_file()
    assert not default_root.exists() and not storage.exists(), "nothing at the default roots"
    stored = instance.get_run_by_id(result.run_id)
    assert stored is not None
    assert stored.run_config["resources"][SETTINGS_KEY]["config"]["storage_root"] == str(run_root)
    # Loaded once per run (by the resource), not once per asset and check body.
    assert yaml_reads["features.yaml"] == 1
    assert yaml_reads["phase0.yaml"] == 1
    assert yaml_reads["data.yaml"] == 2, "once as configured, once with raw_bars' run config"


@pytest.mark.slow
def test_advisory_gates_of_one_run_let_the_next_phase_train(
    storage: Path, instance: dg.DagsterInstance, config_dir_factory: Callable[..., Path]
) -> None:
    configs = config_dir_factory(failing_phase=0)
    defs = build_definitions(
        PipelineSettings(profile="test", config_dir=str(configs), storage_root=str(storage))
    )
    job = defs.resolve_job_def("full_pipeline")
    selection = _selection(*DATA_ASSETS, "phase0_model", "phase0_evaluation", "phase1_model")
    severities = {"enforced": dg.AssetCheckSeverity.ERROR, "advisory": dg.AssetCheckSeverity.WARN}
    for gates, severity in severities.items():
        result = job.execute_in_process(
            run_config=_run_config(gates=gates),
            instance=instance,
            tags=all_symbols_tags(job.partitions_def),
            asset_selection=selection,
            raise_on_error=False,
        )
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert checks["phase0_gate"].passed is False and checks["phase0_gate"].severity == severity
        assert result.is_node_success("phase1_model") is (gates == "advisory"), gates


def test_settings_from_flags_override_the_environment() -> None:
    env = {"TRADER_PROFILE": "full", "TRADER_STORAGE_ROOT": "/srv/a", "TRADER_GATES": "enforced"}
    args = build_parser().parse_args(["--profile", "test", "--advisory-gates"])
    settings = settings_from_args(args, env)
    assert (settings.profile, settings.storage_root) == ("test", "/srv/a")
    assert settings.gates == GateMode.advisory and not settings.gates_enforced
    assert settings.config_path == PROJECT_ROOT / "assets_config"


def test_main_command_passes_its_flags_without_changing_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    root = tmp_path / "root"
    before = dict(os.environ)
    code = main(["--job", "market_data", "--profile", "test", "--storage-root", str(root)])
    assert code == 0, capsys.readouterr().err
    assert dict(os.environ) == before
    # The test profile's synthetic symbols, not the dev profile's SPY: partitions follow the flag.
    assert sorted(p.name for p in (root / "assets" / "bars").iterdir()) == [
        "SYNA.parquet",
        "SYNB.parquet",
    ]
    assert "profile test" in capsys.readouterr().out


def test_relative_files_path_resolves_under_the_runs_storage_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADER_STORAGE_ROOT", str(tmp_path / "env_root"))
    settings = PipelineSettings(storage_root=str(tmp_path / "run_root"))
    config = settings.configs.data_with({"source": "files", "files": {"path": "drop"}})
    assert config.files.path == (tmp_path / "run_root" / "drop").resolve()
    assert settings.configs.data is settings.configs.data, "loaded once"
    assert settings.configs.phase(2) is settings.configs.phase(2), "loaded once"
