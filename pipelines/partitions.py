"""Symbols as a static partition dimension of the data assets (``raw_bars`` .. ``regimes``).

The keys are ``data.yaml``'s ``symbols`` (or the source's own symbols when that list is empty),
read when the definitions are built, from the settings they are built with (profile and config
folder). Dagster needs partitions before any run exists, so they are a load-time setting, not a
per-run one. :func:`environment_symbols` (also ``SYMBOL_PARTITIONS``) are those of the ``TRADER_*``
environment, built on first use, so that importing this module reads no config: the main
command builds definitions from its flags, whatever the environment's configs say.
Everything downstream of ``regimes`` is unpartitioned and reads every symbol.

A run over several symbols is one run over a partition range (the tags below): what the main
command, the nightly schedule and the new-files sensor launch. A backfill from the UI instead
launches one run per symbol (``BACKFILL_POLICY``), which the run queue executes in parallel.
"""

from collections.abc import Callable, MutableMapping, Sequence
from functools import cache
from typing import Any

import dagster as dg
import polars as pl

from pipelines.settings import PipelineSettings
from trader_env.lineage import frame_fingerprint, versions_by_symbol
from trader_env.yaml_config import ConfigError

#: UI backfills of the data assets: one run per symbol, so symbols are processed in parallel
#: and a bad file of one symbol fails only that symbol's run.
BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def configured_symbols(settings: PipelineSettings) -> list[str]:
    """The partition keys: ``data.yaml`` symbols (in ``settings``' config folder and profile), or
    the source's own when none are listed.

    Raises :class:`~trader_env.yaml_config.ConfigError` naming the file when the data config is
    invalid, when the ``files`` source has neither a fixed symbol nor a ``symbols`` list (its
    symbols are only known once files are read, and partitions must exist before any run), and
    when a symbol has no production cost model or a malformed one (``costs.yaml``).
    """
    configs = settings.configs
    config = configs.data
    if not config.symbols:
        raise ConfigError(
            f"{configs.config_dir / 'data.yaml'}: key 'symbols' must list the symbols to partition the "
            f"data by when source '{config.source}' has no fixed symbol (files.symbol is null), "
            "e.g. symbols: [SPY, QQQ]"
        )
    if config.market is not None:
        # Refused here, when the definitions load, rather than after hours of training.
        configs.production_costs(config.symbols, config.market)
    return list(config.symbols)


def symbol_partitions(settings: PipelineSettings) -> dg.StaticPartitionsDefinition:
    """The symbol partitions of definitions built with ``settings``."""
    return dg.StaticPartitionsDefinition(configured_symbols(settings))


@cache
def environment_symbols() -> dg.StaticPartitionsDefinition:
    """The partitions of the definitions ``dagster dev`` loads: those of the ``TRADER_*``
    environment, read on the first call."""
    return symbol_partitions(PipelineSettings.from_env())


def __getattr__(name: str) -> Any:
    # ``SYMBOL_PARTITIONS``: the environment's partitions, built when first asked for (PEP 562).
    if name == "SYMBOL_PARTITIONS":
        return environment_symbols()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Builds a group's symbol-partitioned assets and checks for the given partitions.
DefinitionsBuilder = Callable[
    [dg.PartitionsDefinition],
    tuple[list[dg.AssetsDefinition], list[dg.AssetChecksDefinition]],
]


def environment_definitions(
    module_globals: MutableMapping[str, Any], names: Sequence[str], build: DefinitionsBuilder
) -> Callable[[str], Any]:
    """A module ``__getattr__`` (PEP 562) giving ``names``: the assets then checks that
    ``build`` makes for the environment's partitions (:func:`environment_symbols`), built on the
    first access, so that importing the module reads no config (the Definitions call ``build``
    with their own partitions). Once built they become module globals, so that
    ``dg.load_assets_from_modules`` finds them too."""

    @cache
    def built() -> dict[str, Any]:
        assets, checks = build(environment_symbols())
        definitions = dict(zip(names, [*assets, *checks], strict=True))
        module_globals.update(definitions)
        return definitions

    def module_getattr(name: str) -> Any:
        if name in names:
            return built()[name]
        raise AttributeError(f"module {module_globals['__name__']!r} has no attribute {name!r}")

    return module_getattr


def all_symbols_tags(partitions: dg.PartitionsDefinition | None = None) -> dict[str, str]:
    """Run tags that make one run cover every symbol of ``partitions`` (default: the
    environment's, :func:`environment_symbols`): a single-run partition range."""
    keys = (partitions or environment_symbols()).get_partition_keys()
    return {RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]}


def partitioned_output(
    context: dg.AssetExecutionContext, frame: pl.DataFrame, metadata: dict
) -> dg.Output[pl.DataFrame]:
    """The output of a symbol-partitioned frame, with data versions and content hashes.

    Dagster gives every partition of one run the same data version, so the version is the
    content hash of the run's rows: exactly the symbol's own hash in a one-symbol run, and in a
    run over several symbols a hash that changes whenever any of them does (conservative: it never
    hides a change). Each partition also gets ``content_hash``, the hash of its own rows alone,
    and its own row count.
    """
    hashes = versions_by_symbol(frame, context.partition_keys)
    rows = dict(frame.group_by("symbol").len().iter_rows())
    for symbol, content_hash in hashes.items():
        context.add_asset_metadata(
            {"content_hash": content_hash, "symbol_rows": rows.get(symbol, 0)},
            partition_key=symbol,
        )
    # A one-symbol run's rows are that symbol's rows: its hash is the version, not hashed twice.
    version = next(iter(hashes.values())) if len(hashes) == 1 else frame_fingerprint(frame)
    return dg.Output(frame, data_version=dg.DataVersion(version), metadata=metadata)
