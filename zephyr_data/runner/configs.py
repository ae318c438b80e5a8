"""The output's derived configs (a preference build's ``trl``), written after the default
config's splits from their files, a row group at a time, with the same writer: the same rows
give the same bytes, and their files join the manifest and the fingerprint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ..io.writer import ShardedParquetWriter, arrow_schema


def write_configs(pipeline: Any, folder: Path, max_rows: int) -> dict[str, dict[str, Any]]:
    """Write every config of ``pipeline.configs()`` into ``folder/<name>/``; return, per config,
    its folder and rows and bytes per split (for the manifest and the card)."""
    written: dict[str, dict[str, Any]] = {}
    for config in pipeline.configs():
        target = folder / config.name
        target.mkdir()
        schema = arrow_schema(config.features())
        splits = {}
        for split, source in config.splits.items():
            writer = ShardedParquetWriter(target, split, schema, max_rows)
            for path in sorted((folder / "data").glob(f"{source}-*.parquet")):
                parquet = pq.ParquetFile(path)
                for group in range(parquet.num_row_groups):
                    writer.write(config.convert(parquet.read_row_group(group)))
            writer.close()
            splits[split] = {"num_examples": writer.num_rows, "num_bytes": writer.num_bytes,
                             "from": source}
        written[config.name] = {"dir": config.name, "splits": splits}
    return written
