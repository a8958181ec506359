"""IO manager storing polars frames as Parquet and other values as pickles, atomically.

dagster-polars 0.27 breaks with polars 2.x (it passes a removed ``rechunk=`` argument), so the
pipeline carries this small manager instead of pinning polars back.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from trader_env.atomic import atomic_path


class ParquetIOManager(dg.ConfigurableIOManager):
    """Frames go to ``<base_dir>/<asset key>.parquet``, everything else to ``.pkl``.

    Partitioned assets store one file per partition under ``<base_dir>/<asset key>/``; a
    downstream asset that reads several partitions gets them concatenated in partition order.
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
        partition = context.partition_key if context.has_partition_key else None
        if isinstance(obj, pl.DataFrame):
            path = self._file(context.asset_key, partition, ".parquet")
            with atomic_path(path) as tmp:
                obj.write_parquet(tmp, statistics=True)
        else:
            path = self._file(context.asset_key, partition, ".pkl")
            with atomic_path(path) as tmp:
                tmp.write_bytes(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})

    def load_input(self, context: dg.InputContext) -> Any:
        key = context.asset_key
        if context.has_asset_partitions:
            partitions = list(context.asset_partition_keys)
            return pl.concat([self._read(key, partition) for partition in sorted(partitions)])
        return self._read(key, None)

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
