"""IO manager storing polars frames as Parquet and every other value as a typed JSON record,
atomically.

Nothing is pickled: a pickle from a storage root that several workers share would run its
writer's code in each of them. The records' format (type tag, versions, what may be inside)
is :mod:`trader_env.storage`'s; this module only says which asset stores which kind and where
its files are. dagster-polars 0.27 breaks with polars 2.x (it passes a removed ``rechunk=``
argument), so the pipeline carries this small manager instead of pinning polars back. No
``from __future__ import annotations``: Dagster reads the resource annotations.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from pipelines.settings import PipelineSettings
from trader_env.atomic import atomic_path, atomic_write_bytes
from trader_env.phase_config import PHASES
from trader_env.storage import (
    KINDS,
    SUFFIX,
    RecordKind,
    StoredValueError,
    dumps,
    read_record,
)

#: The record kind each asset that is not a frame stores.
ASSET_KINDS: dict[str, RecordKind] = {
    "raw_bars": KINDS["RawBars"],
    "splits": KINDS["Splits"],
    **{f"phase{phase}_model": KINDS["PhaseModel"] for phase in PHASES},
    **{f"phase{phase}_evaluation": KINDS["PhaseEvaluation"] for phase in PHASES},
    "champion_decision": KINDS["ChampionDecision"],
    "forward_ledger": KINDS["LedgerOutcome"],
    "champion_signal": KINDS["SignalRows"],
    "tuning_proposal": KINDS["TuningProposal"],
}
#: Suffix of the pickles earlier versions stored: refused, never read.
LEGACY_SUFFIX = ".pkl"


class LegacyPickleError(StoredValueError):
    """An asset is stored only as a pickle of an earlier version, which is never unpickled."""


def asset_file(base_dir: Path, key: dg.AssetKey, partition: str | None, suffix: str) -> Path:
    """Where asset ``key`` (its ``partition``, if any) is stored with ``suffix``."""
    stem = base_dir.joinpath(*key.path)
    if partition is None:
        return stem.with_suffix(suffix)
    return stem / f"{partition.replace('|', '__')}{suffix}"


def asset_kind(key: dg.AssetKey) -> RecordKind:
    """The record kind asset ``key`` stores (``ValueError`` for an asset without one)."""
    name = key.to_user_string()
    if name not in ASSET_KINDS:
        raise ValueError(
            f"asset {name} stores a value that is not a polars frame and has no record kind: "
            "add one to pipelines.io_manager.ASSET_KINDS"
        )
    return ASSET_KINDS[name]


def read_stored(base_dir: Path, key: dg.AssetKey, partition: str | None = None) -> Any:
    """The stored value of asset ``key`` (its ``partition``) under ``base_dir``.

    Raises ``FileNotFoundError`` when it was never materialized, :class:`LegacyPickleError`
    when only an earlier version's pickle is there and ``StoredValueError`` (file and
    problem) when the file is not a readable value of the asset's kind.
    """
    parquet = asset_file(base_dir, key, partition, ".parquet")
    if parquet.exists():
        return pl.read_parquet(parquet)
    record = asset_file(base_dir, key, partition, SUFFIX)
    if record.exists():
        return read_record(record, asset_kind(key))
    name = key.to_user_string()
    pickled = asset_file(base_dir, key, partition, LEGACY_SUFFIX)
    if pickled.exists():
        raise LegacyPickleError(
            f"{pickled}: asset {name} is stored as a pickle by an earlier version; pickles "
            "are no longer read (unpickling a file from the storage root can run any code). "
            f"Re-materialize {name} (`python -m pipelines`, or the asset in the UI): it is "
            "then stored as JSON and the .pkl file removed."
        )
    where = f" partition {partition!r}" if partition else ""
    raise FileNotFoundError(
        f"asset {name}{where} has no stored value under {base_dir.joinpath(*key.path)}: "
        "materialize it first"
    )


class ParquetIOManager(dg.ConfigurableIOManager):
    """Frames go to ``<base_dir>/<asset key>.parquet``, everything else to ``.json`` records
    of the asset's kind (:data:`ASSET_KINDS`).

    Partitioned assets (partition key = symbol) store one file per partition under
    ``<base_dir>/<asset key>/``. A run over several partitions hands over one value for all of
    them: a frame is split by its ``symbol`` column, a mapping by its keys. Loading several
    partitions gives them back the same way: frames concatenated in symbol order, other
    values as ``{partition: value}``.
    """

    base_dir: str

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        if not context.has_asset_partitions:
            path = self._write(context.asset_key, None, self._encode(context.asset_key, obj))
            context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})
            return
        partitions = list(context.asset_partition_keys)
        parts = _split(obj, partitions, context.asset_key)
        # Every partition is encoded before the first is written: a value that has no stored
        # form leaves all of them as they were.
        encoded = {key: self._encode(context.asset_key, parts[key], key) for key in partitions}
        paths = [self._write(context.asset_key, key, encoded[key]) for key in partitions]
        context.add_output_metadata({"path": dg.MetadataValue.path(str(paths[0].parent))})

    def _encode(
        self, key: dg.AssetKey, obj: Any, partition: str | None = None
    ) -> pl.DataFrame | bytes:
        """A frame as it is, any other value as its record's bytes (``StoredValueError``
        naming the file it would go to when it has no stored form)."""
        if isinstance(obj, pl.DataFrame):
            return obj
        try:
            return dumps(obj, asset_kind(key))
        except StoredValueError as exc:
            path = asset_file(Path(self.base_dir), key, partition, SUFFIX)
            raise StoredValueError(f"{path}: {exc}") from None

    def _write(self, key: dg.AssetKey, partition: str | None, value: pl.DataFrame | bytes) -> Path:
        base = Path(self.base_dir)
        if isinstance(value, pl.DataFrame):
            path = asset_file(base, key, partition, ".parquet")
            with atomic_path(path) as tmp:
                value.write_parquet(tmp, statistics=True)
        else:
            path = atomic_write_bytes(asset_file(base, key, partition, SUFFIX), value)
        # An earlier version's pickle of this value is superseded now: removed, never read.
        asset_file(base, key, partition, LEGACY_SUFFIX).unlink(missing_ok=True)
        return path

    def load_input(self, context: dg.InputContext) -> Any:
        key, base = context.asset_key, Path(self.base_dir)
        if not context.has_asset_partitions:
            return read_stored(base, key)
        # Sorted: stored frames follow the bars contract, sorted by (symbol, ts).
        partitions = sorted(context.asset_partition_keys)
        values = {partition: read_stored(base, key, partition) for partition in partitions}
        if all(isinstance(value, pl.DataFrame) for value in values.values()):
            return pl.concat(list(values.values()), how="vertical")
        return values


class StorageIOManager(dg.ConfigurableIOManagerFactory):
    """A :class:`ParquetIOManager` under the run's storage root: ``<storage_root>/assets`` of the
    ``settings`` resource, so a run launched with another storage root reads and writes there."""

    settings: dg.ResourceDependency[PipelineSettings]

    def create_io_manager(self, context: dg.InitResourceContext) -> ParquetIOManager:
        return ParquetIOManager(base_dir=str(self.settings.assets_dir))


def _split(obj: Any, partitions: list[str], key: dg.AssetKey) -> dict[str, Any]:
    """One value per partition of a partitioned output; refuses anything that would lose rows."""
    name = key.to_user_string()
    if isinstance(obj, pl.DataFrame):
        if "symbol" not in obj.columns:
            raise TypeError(f"asset {name}: a partitioned frame needs a 'symbol' column")
        parts = {p: obj.filter(pl.col("symbol") == p) for p in partitions}
        if sum(part.height for part in parts.values()) != obj.height:
            found = obj["symbol"].unique().sort().to_list()
            raise ValueError(
                f"asset {name}: rows of symbols {found} do not all belong to the run's "
                f"partitions {partitions}"
            )
        return parts
    if isinstance(obj, Mapping):
        if sorted(obj) != sorted(partitions):
            raise ValueError(
                f"asset {name}: value keyed by {sorted(obj)} for partitions {sorted(partitions)}"
            )
        return dict(obj)
    raise TypeError(
        f"asset {name}: a partitioned value must be a polars frame with a 'symbol' column or a "
        f"mapping keyed by partition, got {type(obj).__name__}"
    )
