"""Load one split of a published chat dataset, by Hub id or local folder, and check its schema.

    from zephyr_data import load_dataset_split

    sft = load_dataset_split("HuggingFaceH4/ultrachat_200k", "train_sft", task="sft")
    dpo = load_dataset_split("my-org/ultrafeedback", "train_prefs", task="dpo",
                             revision="3f2a...")        # a branch, tag or (to pin) a commit
    local = load_dataset_split("outputs/ultrachat", "test_sft", task="sft")

The schema and its check are ``core.schema``'s; a local folder built by a pipeline is first
checked against its ``manifest.json`` (``integrity``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from ..core.errors import DatasetLoadError
from ..core.ids import is_repo_id
from ..core.schema import REQUIRED, validate_dataset
from .hubcalls import describe_failure


def load_dataset_split(name_or_path: str, split: str, *, task: Literal["sft", "dpo"],
                       revision: str | None = None, allow_empty_content: bool = False,
                       verify: bool = True) -> Any:
    """Load ``split`` of a Hub dataset or local folder and check it for ``task``.

    ``revision`` (a branch, tag or commit) applies to Hub ids; for a local folder it must be a
    commit (or branch) that its ``published.json`` records for this build, as a push writes it
    (a pin is never ignored).
    ``allow_empty_content`` accepts messages whose content is an empty string (the public
    ``ultrafeedback_binarized`` has a few empty responses); everything else is still checked.
    ``verify`` (default) checks a local build folder's split files against its
    ``manifest.json`` first (:mod:`zephyr_data.integrity`); ``verify=False`` skips it.
    Returns a ``datasets.Dataset``; raises :class:`DatasetLoadError` (an ``IntegrityError`` for
    a folder that does not match its manifest) or :class:`SchemaError`.
    """
    if task not in REQUIRED:
        raise DatasetLoadError(f"task={task!r}: expected 'sft' (messages) or 'dpo' (prompt, "
                               "chosen, rejected).")
    dataset = _load(name_or_path, split, revision, verify)
    where = f"{name_or_path}{'@' + revision if revision else ''} split {split!r}"
    validate_dataset(dataset, task=task, where=where, allow_empty_content=allow_empty_content)
    return dataset


def _load(name_or_path: str, split: str, revision: str | None, verify: bool) -> Any:
    import datasets

    path = Path(name_or_path).expanduser()
    kwargs: dict[str, Any]
    if path.is_dir():
        from .integrity import check_local_revision, verify_split  # builds on our errors

        if verify:
            verify_split(path, split)
        check_local_revision(path, revision)
        source, kwargs = str(path), {}
    elif path.is_file():
        if revision:
            raise DatasetLoadError(f"revision={revision!r} was given, but {name_or_path} is a "
                                   "local file, which has no revisions. Drop the revision.")
        builder = _file_builder(path)
        source, kwargs = builder, {"data_files": {split: str(path)}}
    elif name_or_path.startswith(("/", ".", "~")) or not is_repo_id(name_or_path,
                                                                           namespace=False):
        raise DatasetLoadError(f"{name_or_path}: no such local folder or file, and not a Hub "
                               "dataset id (ORG/NAME). Check the path, or build the dataset "
                               "first.")
    else:
        source, kwargs = name_or_path, {"revision": revision}
    try:
        return datasets.load_dataset(source, split=split, **kwargs)
    except Exception as err:  # every Hub message goes through describe_failure: no token
        detail = describe_failure(err)
        if isinstance(err, ValueError) and "split" in str(err).lower():
            raise DatasetLoadError(f"{name_or_path}: no split {split!r} ({detail}). Pass one "
                                   "of its splits, e.g. train_sft or train_prefs.") from None
        if not isinstance(err, OSError) and source != name_or_path:
            raise  # a local file or folder that datasets cannot read: its own error
        hub = "" if source != name_or_path else (  # OSError: not found, not reachable, ...
            " If it is a private or gated Hub dataset, log in with `hf auth login` or set "
            "HF_TOKEN; offline (HF_HUB_OFFLINE=1), only datasets already in the cache load.")
        raise DatasetLoadError(f"{name_or_path}{'@' + revision if revision else ''}: could not "
                               f"load split {split!r}: {detail.rstrip('.')}.{hub}") from None


def _file_builder(path: Path) -> str:
    suffixes = [s for s in path.suffixes if s not in (".gz", ".zst", ".bz2", ".xz")]
    suffix = suffixes[-1] if suffixes else ""
    if suffix == ".parquet":
        return "parquet"
    if suffix in (".json", ".jsonl"):
        return "json"
    raise DatasetLoadError(f"{path}: expected a folder in the Hub's layout, or a .parquet, "
                           ".json or .jsonl file.")

