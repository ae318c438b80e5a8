"""The dataset card (``README.md``), generated from the manifest and the run's stats.

The YAML header is what the Hub reads (configs with ``data_files`` per split, features, splits
with their row counts, license, language, task categories, size category, tags); the body says
how the data was built, closely enough that a reader of the card alone can build it again.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from ..report import tables


def size_category(n: int) -> str:
    for limit, label in [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                         (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")]:
        if n < limit:
            return label
    return "10M<n<100M"


def card_data(pipeline: Any, manifest: dict[str, Any]) -> Any:
    """The card's YAML header, as ``huggingface_hub`` models it: what the Hub and ``datasets``
    read (``configs``: each split's ``data_files`` pattern; ``dataset_info``: the features,
    each split's rows and in-memory bytes, their sum), in the layout ``datasets`` writes."""
    from huggingface_hub import DatasetCardData

    splits = manifest["splits"]
    return DatasetCardData(
        license=pipeline.license, language=["en"], task_categories=pipeline.task_categories,
        size_categories=[size_category(manifest["stats"]["kept"])],
        tags=["zephyr", "alignment", "synthetic", *pipeline.tags],
        pretty_name=pipeline.pretty_name,
        configs=[{"config_name": "default",
                  "data_files": [{"split": name, "path": f"data/{name}-*"} for name in splits]}],
        dataset_info={
            "features": pipeline.features()._to_yaml_list(),
            "splits": [{"name": name, "num_bytes": s["num_bytes"],
                        "num_examples": s["num_examples"]} for name, s in splits.items()],
            "dataset_size": sum(s["num_bytes"] for s in splits.values())})


def render_command(command: list[str]) -> str:
    """The command as one shell line; the pipeline's ``python -m ...`` program is left whole."""
    if not command:
        return ""
    head, rest = command[0], command[1:]
    first = head if head.startswith("python -m ") else shlex.quote(head)
    return " ".join([first, *(shlex.quote(part) for part in rest)])


def load_snippet(manifest: dict[str, Any]) -> str:
    """How to load the dataset: by its Hub id and branch when it is pushed, else a path."""
    config = manifest["config"]
    repo = config.get("push_to_hub") or manifest.get("hub_repo") or "PATH_OR_ORG/NAME"
    branch = config.get("push_revision")
    first_split = next(iter(manifest["splits"]))
    task = "dpo" if first_split.endswith("_prefs") else "sft"
    rev = f', revision="{branch}"' if branch else ""
    pin = ("the commit id shown in the repo's history" if config.get("push_to_hub")
           else "the commit id of the pushed repo")
    return f"""```python
from datasets import load_dataset

ds = load_dataset("{repo}", split="{first_split}"{rev})

# or, checked against the {task.upper()} schema (roles, alternation, non-empty content):
from zephyr_data import load_dataset_split

ds = load_dataset_split("{repo}", "{first_split}", task="{task}"{rev})
```

To pin this exact version, pass `revision=` with {pin}: a branch moves, a commit does not.
Nothing in a commit can name the commit itself, so the push prints it and records it beside the
pushed folder, in `published.json` (never uploaded)."""


def render_card(pipeline: Any, manifest: dict[str, Any]) -> str:
    header = card_data(pipeline, manifest).to_yaml()
    stats = manifest["stats"]
    inp = manifest["input"]
    config = manifest["config"]
    source = inp["hub_id"] or inp["description"]
    revision = f" at revision `{inp['revision']}`" if inp.get("revision") else ""
    command = render_command(manifest["command"])
    split_table = tables.markdown(tables.split_rows(manifest["splits"]), ("split", "rows"))
    drops = tables.markdown(tables.drop_rows(stats), ("dropped because", "rows"))
    counters = tables.markdown(tables.counter_rows(stats), ("counter", "value"))
    versions = ", ".join(f"{k} {v}" for k, v in manifest["versions"].items())
    dropped = f"{stats['dropped_total']:,}"
    truecased = ""
    if "truecased_messages" in stats["counters"]:
        truecased = (f"\n- Messages truecased: {stats['counters']['truecased_messages']:,}"
                     f" (in {stats['counters'].get('truecased_dialogues', 0):,} dialogues).")
    return f"""---
{header}
---

# {pipeline.pretty_name}

{pipeline.card_intro}

## How to load it

{load_snippet(manifest)}

## Splits

{split_table}

{pipeline.card_splits()}

## How it was built

- Input: {source}{revision}; input fingerprint `{inp['fingerprint']}`.
- Command: `{command}`
- Package versions: {versions}.
- Rows in: {stats['rows_in']:,}; kept: {stats['kept']:,}; dropped: {dropped}.{truecased}
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
