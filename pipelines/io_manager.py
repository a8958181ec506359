"""IO manager storing polars frames as Parquet and other values as pickles, atomically.

dagster-polars 0.27 breaks with polars 2.x (it passes a removed ``rechunk=`` argument), so the
pipeline carries this small manager instead of pinning polars back. No ``from __future__ import
annotations``: Dagster reads the resource annotations.
"""

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from pipelines.settings import PipelineSettings
from trader_env.atomic import atomic_path


class ParquetIOManager(dg.ConfigurableIOManager):
    """Frames go to ``<base_dir>/<asset key>.parquet``, everything else to ``.pkl``.

    Partitioned assets (partition key = symbol) store one file per partition under
    ``<base_dir>/<asset key>/``. A run over several partitions hands over one value for all of
    them: a frame is split by its ``symbol`` column, a mapping by its keys. Loading several
    partitions gives them back the same way: frames concatenated in symbol order, other
    values as ``{partition: value}``.
    """

    base_dir: str

    def _stem(self, key: dg.AssetKey) -> Path:
        return Path(self.base_dir).joinpath(*key.path)

    def _file(self, key: dg.AssetKey, partition: str | None, suffix: str) -> Path:
        stem = self._stem(key)
        if partition is None:
            return stem.with_suffix(suffix)
        return stem / f"{partition.replace('|', '__')}{suffix}"

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        if not context.has_asset_partitions:
            path = self._write(context.asset_key, None, obj)
            context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})
            return
        partitions = list(context.asset_partition_keys)
        parts = _split(obj, partitions, context.asset_key)
        paths = [self._write(context.asset_key, key, parts[key]) for key in partitions]
        context.add_output_metadata({"path": dg.MetadataValue.path(str(paths[0].parent))})

    def _write(self, key: dg.AssetKey, partition: str | None, obj: Any) -> Path:
        if isinstance(obj, pl.DataFrame):
            path = self._file(key, partition, ".parquet")
            with atomic_path(path) as tmp:
                obj.write_parquet(tmp, statistics=True)
        else:
            path = self._file(key, partition, ".pkl")
            with atomic_path(path) as tmp:
                tmp.write_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
        return path

    def load_input(self, context: dg.InputContext) -> Any:
        key = context.asset_key
        if not context.has_asset_partitions:
            return self._read(key, None)
        # Sorted: stored frames follow the bars contract, sorted by (symbol, ts).
        partitions = sorted(context.asset_partition_keys)
        values = {partition: self._read(key, partition) for partition in partitions}
        if all(isinstance(value, pl.DataFrame) for value in values.values()):
            return pl.concat(list(values.values()), how="vertical")
        return values

    def _read(self, key: dg.AssetKey, partition: str | None) -> Any:
        parquet = self._file(key, partition, ".parquet")
        if parquet.exists():
            return pl.read_parquet(parquet)
        pickled = self._file(key, partition, ".pkl")
        if pickled.exists():
            return pickle.loads(pickled.read_bytes())
        where = f" partition {partition!r}" if partition else ""
        raise FileNotFoundError(
            f"asset {key.to_user_string()}{where} has no stored value under {self._stem(key)}: "
            "materialize it first"
        )


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
