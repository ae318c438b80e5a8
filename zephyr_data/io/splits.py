"""The splits of a dataset in the Hub's layout, on the Hub or in a local folder: which files
``datasets.load_dataset(..., split=NAME)`` would read.

A split's files are the ``data_files`` of the default config in README.md's YAML ``configs``,
or, when the card declares none, the files that ``datasets`` finds by its naming conventions
(``data/train-00000-of-00001.parquet``, ``train_0.jsonl``, ``test/``, ...). Both are resolved
with ``datasets``' own functions, so ``--input-split train_sft`` reads exactly the rows
``load_dataset(..., split="train_sft")`` loads, and no other file of the folder (a build's
``manifest.json`` or ``truecased.jsonl``).

A Hub dataset whose card declares its configs is downloaded split by split: only the files of
the splits read are fetched.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..core.errors import InputError
from .hubcalls import hub_call

log = logging.getLogger(__name__)
SPLIT_HINT = ("pass --input-split NAME (several: --input-split train_sft,test_sft); the "
              "splits are those datasets.load_dataset would load.")


def card_patterns(folder: Path) -> dict[str, list[str]] | None:
    """Split -> ``data_files`` patterns of the default config that README.md's YAML declares,
    or None when it declares no configs (or there is no README.md)."""
    readme = folder / "README.md"
    if not readme.is_file():
        return None
    from datasets.data_files import sanitize_patterns
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    try:
        configs = MetadataConfigs.from_dataset_card_data(DatasetCard.load(readme).data)
    except Exception as err:  # YAML or configs the datasets library cannot read
        raise InputError(str(readme), "configs", f"the card's YAML configs cannot be read: "
                         f"{err}", "fix the YAML header of README.md.") from None
    if not configs:
        return None
    name = configs.get_default_config_name()
    data_files = configs[name].get("data_files") if name is not None else None
    if data_files is None:
        return None
    return {split: [str(p) for p in patterns]
            for split, patterns in sanitize_patterns(data_files).items()}


def folder_patterns(folder: Path) -> dict[str, list[str]]:
    """Split -> patterns of a dataset folder: its card's default config, else the naming
    conventions of ``datasets`` ({} when nothing matches)."""
    patterns = card_patterns(folder)
    if patterns is not None:
        return patterns
    from datasets.data_files import EmptyDatasetError, get_data_patterns

    try:
        return {str(split): list(p) for split, p in get_data_patterns(str(folder)).items()}
    except EmptyDatasetError:
        return {}


def choose_splits(patterns: dict[str, list[str]], wanted: list[str] | None,
                  where: str) -> list[str]:
    """The splits to read: ``wanted``, or the only split there is."""
    available = list(patterns)
    if not available:
        raise InputError(where, None, "no data files found (no split to read).",
                         "check the dataset and its README.md configs.")
    if wanted is None:
        if len(available) > 1:
            raise InputError(where, None, f"holds several splits ({', '.join(available)}); "
                             "reading them all would mix them (and a build's *_gen splits "
                             "repeat its *_sft rows).", SPLIT_HINT)
        return available
    unknown = [s for s in wanted if s not in patterns]
    if unknown:
        raise InputError(where, None, f"has no split {', '.join(map(repr, unknown))}; its "
                         f"splits are {', '.join(available)}.", SPLIT_HINT)
    return list(dict.fromkeys(wanted))


def split_files(folder: Path, wanted: list[str] | None, where: str,
                readable: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The files (sorted, per split in order) of the chosen splits of a dataset folder, and the
    split names. Every file must have one of the ``readable`` suffixes."""
    from datasets.data_files import resolve_pattern

    patterns = folder_patterns(folder)
    splits = choose_splits(patterns, wanted, where)
    files: list[str] = []
    for split in splits:
        found: set[str] = set()
        for pattern in patterns[split]:
            try:
                found.update(resolve_pattern(pattern, str(folder)))
            except FileNotFoundError:
                continue
        skipped = sorted(os.path.basename(f) for f in found if not f.lower().endswith(readable))
        if skipped:
            log.info("%s: split %r: skipped %d file(s) without a readable suffix (%s)", where,
                     split, len(skipped), ", ".join(skipped[:5]))
        kept = sorted(f for f in found if f.lower().endswith(readable))
        if not kept:
            raise InputError(where, None, f"split {split!r} has no readable data files "
                             f"(patterns {patterns[split]}; readable: {', '.join(readable)}).",
                             "check the dataset; convert it to JSON Lines or parquet.")
        files += kept
    return files, splits


def download_hub(hub_id: str, revision: str | None,
                 wanted: list[str] | None, suffixes: tuple[str, ...]
                 ) -> tuple[list[str], str, list[str]]:
    """Download the chosen splits of a Hub dataset (from the cache when offline); return their
    files, the commit they came from and the split names."""
    from huggingface_hub import snapshot_download

    where = f"--input {hub_id}"

    def failure(detail: str) -> InputError:
        return InputError(where, None, f"could not download the Hub dataset at revision "
                          f"{revision or 'main'}: {detail}", "check the id and revision, your "
                          "network and HF_TOKEN; or pass local files with --input PATH, or "
                          "--sample for the bundled sample.")

    with hub_call(failure):
        card = snapshot_download(hub_id, repo_type="dataset", revision=revision,
                                 allow_patterns=["README.md"])
    commit = Path(card).name  # snapshots/<commit>
    patterns = card_patterns(Path(card))
    if patterns is not None:  # only the chosen splits' files
        allow = [p for split in choose_splits(patterns, wanted, where) for p in patterns[split]]
    else:
        allow = [f"*{s}" for s in suffixes] + [f"*{s.upper()}" for s in suffixes]
    with hub_call(failure):
        folder = snapshot_download(hub_id, repo_type="dataset", revision=commit,
                                   allow_patterns=["README.md", *allow])
    files, splits = split_files(Path(folder), wanted, where, suffixes)
    return files, commit, splits
