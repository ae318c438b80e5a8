"""The dataset card (``README.md``), generated from the manifest and the run's stats.

The YAML header is what the Hub reads (configs with ``data_files`` per split, features, splits
with their row counts, license, language, task categories, size category, tags); the body says
how the data was built, closely enough that a reader of the card alone can build it again.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import yaml


def size_category(n: int) -> str:
    for limit, label in [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")]:
        if n < limit:
            return label
    return "10M<n<100M"


def card_header(pipeline: Any, manifest: dict[str, Any]) -> dict[str, Any]:
    splits = manifest["splits"]
    total = manifest["stats"]["kept"]
    return {
        "license": pipeline.license,
        "language": ["en"],
        "task_categories": pipeline.task_categories,
        "size_categories": [size_category(total)],
        "tags": ["zephyr", "alignment", "synthetic", *pipeline.tags],
        "pretty_name": pipeline.pretty_name,
        "configs": [{"config_name": "default",
                     "data_files": [{"split": name, "path": f"data/{name}-*"} for name in splits]}],
        "dataset_info": {
            "features": pipeline.features()._to_yaml_list(),
            "splits": [{"name": name, "num_bytes": s["num_bytes"],
                        "num_examples": s["num_examples"]} for name, s in splits.items()],
        },
    }


def _table(rows: list[tuple[str, Any]], head: tuple[str, str]) -> str:
    lines = [f"| {head[0]} | {head[1]} |", "|---|---:|"]
    lines += [f"| {a} | {b:,} |" if isinstance(b, int) else f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines)


def render_card(pipeline: Any, manifest: dict[str, Any]) -> str:
    header = yaml.safe_dump(card_header(pipeline, manifest), sort_keys=False, allow_unicode=True)
    stats = manifest["stats"]
    inp = manifest["input"]
    config = manifest["config"]
    source = inp["hub_id"] or inp["description"]
    revision = f" at revision `{inp['revision']}`" if inp.get("revision") else ""
    command = " ".join(shlex.quote(part) for part in manifest["command"])
    split_rows = _table([(name, s["num_examples"]) for name, s in manifest["splits"].items()],
                        ("split", "rows"))
    drops = _table([(f"`{k}`", v) for k, v in stats["dropped"].items()] or [("(none)", 0)],
                   ("dropped because", "rows"))
    counters = _table([(k.replace("_", " "), v) for k, v in stats["counters"].items()]
                      or [("(none)", 0)], ("counter", "value"))
    versions = ", ".join(f"{k} {v}" for k, v in manifest["versions"].items())
    repo = manifest.get("hub_repo") or "PATH_OR_ORG/NAME"
    first_split = next(iter(manifest["splits"]))
    return f"""---
{header}---

# {pipeline.pretty_name}

{pipeline.card_intro}

## How to load it

```python
from datasets import load_dataset

ds = load_dataset("{repo}", split="{first_split}")
```

## Splits

{split_rows}

{pipeline.card_splits()}

## How it was built

- Input: {source}{revision}; input fingerprint `{inp['fingerprint']}`.
- Command: `{command}`
- Package versions: {versions}.
- Rows in: {stats['rows_in']:,}; kept: {stats['kept']:,}; dropped: {stats['dropped_total']:,}.
- Output fingerprint (sha256 over the data files' sha256): `{manifest['fingerprint']}`.

{pipeline.card_method()}

### Rows dropped, by reason

{drops}

### Counters

{counters}

### Full configuration

```json
{json.dumps(config, indent=2, sort_keys=True)}
```

To rebuild: install this project (`pip install zephyr-data`) and run the command above with the
same configuration and input revision. The same input and configuration give byte-identical
parquet files and the same fingerprint, whatever the number of worker processes or the order of
the input rows. `manifest.json` beside this card lists every file with its sha256.
"""
