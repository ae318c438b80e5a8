"""Reading a built folder: its manifest, its splits and a bounded sample of its rows, from a
local folder or a Hub dataset id."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..core.ids import sha256_file
from ..io.hubcalls import HubDownloadError, hub_call

TRUECASED_FILE = "truecased.jsonl"
_SHARD = re.compile(r"^(?P<split>.+)-\d{5}-of-\d{5}\.parquet$")


@dataclass
class Build:
    """A built dataset folder and its manifest (empty when the folder has none)."""

    folder: Path
    manifest: dict[str, Any]

    def load(self, **kwargs: Any) -> Any:
        """``datasets.load_dataset`` on the folder: a DatasetDict of every split."""
        from datasets import load_dataset

        return load_dataset(str(self.folder), **kwargs)


def open_build(spec: str | Path) -> Build:
    """A local build folder, or a Hub dataset id (downloaded with ``snapshot_download``)."""
    folder = Path(spec).expanduser()
    if not folder.is_dir():
        if Path(spec).is_absolute() or str(spec).startswith(".") or str(spec).count("/") != 1:
            raise FileNotFoundError(f"{spec}: no such folder, and not a Hub dataset id "
                                    "(ORG/NAME). Build one first, e.g. python -m "
                                    "pipelines.build_ultrachat --sample --output-dir PATH.")
        from huggingface_hub import snapshot_download

        with hub_call(lambda detail: HubDownloadError(
                f"{spec}: could not download the Hub dataset: {detail.rstrip('.')}. Check the "
                "id, the network and HF_TOKEN (`hf auth login`), or open a local build folder.")):
            folder = Path(snapshot_download(str(spec), repo_type="dataset"))
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) \
        if manifest_path.is_file() else {}
    return Build(folder, manifest)


def _split_files(folder: Path) -> dict[str, list[Path]]:
    files: dict[str, list[Path]] = {}
    for path in sorted((folder / "data").glob("*.parquet")):
        m = _SHARD.match(path.name)
        if m:
            files.setdefault(m["split"], []).append(path)
    return files


def _split_rank(split: str) -> tuple[int, int, str]:
    kind = next((i for i, suffix in enumerate(("_prefs", "_sft", "_gen"))
                 if split.endswith(suffix)), 3)
    return (kind, 0 if split.startswith("train") else 1, split)


def primary_splits(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """The splits to count, train first: of splits whose files are byte copies of each other
    (``train_gen`` of ``train_sft``), only one, preferring ``*_prefs``, then ``*_sft``."""
    files = _split_files(folder)
    known = manifest.get("files") or {}
    groups: dict[tuple[str, ...], list[str]] = {}
    for split in files:
        shas = tuple(known.get(f"data/{p.name}") or sha256_file(p) for p in files[split])
        groups.setdefault(shas, []).append(split)
    chosen = [min(names, key=_split_rank) for names in groups.values()]
    return sorted(chosen, key=lambda s: (_split_rank(s)[1], _split_rank(s)))


MAX_ROWS = 100_000  # plots of a bigger build are drawn from a uniform sample of this size


def read_rows(folder: Path, manifest: dict[str, Any]) -> tuple[pa.Table, list[str]]:
    """The rows of the primary splits, concatenated, and the names of those splits.

    At most ``MAX_ROWS`` rows are read, shared between the splits by their size, so memory
    stays bounded on a full-size build. Rows are stored sorted by ``prompt_id``, a hash, so the
    first rows of a split are a uniform sample of it.
    """
    files = _split_files(folder)
    splits = primary_splits(folder, manifest)
    sizes = {s: sum(pq.ParquetFile(p).metadata.num_rows for p in files[s]) for s in splits}
    total = sum(sizes.values())
    tables = []
    for split in splits:
        budget = sizes[split] if total <= MAX_ROWS else -(-MAX_ROWS * sizes[split] // total)
        for path in files[split]:
            if budget <= 0:
                break
            for batch in pq.ParquetFile(path).iter_batches(batch_size=1000):
                tables.append(pa.Table.from_batches([batch.slice(0, budget)]))
                budget -= min(budget, batch.num_rows)
                if budget <= 0:
                    break
    if not tables:
        return pa.table({}), splits
    return pa.concat_tables(tables), splits
