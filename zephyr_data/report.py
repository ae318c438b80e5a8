"""The quality report of a build, and the helpers the notebooks use to explore one.

``write_report(folder, manifest)`` draws PNG plots from a built folder's data files and its
manifest into ``folder/report/``; ``report_markdown(paths)`` is the card section that links them.
The plots read only the primary splits (a split whose files are byte copies of an earlier one,
such as ``train_gen`` of ``train_sft``, is skipped), so nothing is counted twice:

- ``turns_per_dialogue.png``: messages per dialogue;
- ``tokens_per_message.png``: whitespace-separated tokens per message, by role;
- ``drops_per_reason.png``: rows dropped per reason (``manifest["stats"]["dropped"]``);
- ``truecased_share.png`` (pipelines that truecase): share of dialogues truecased, and of user
  and assistant messages when the build has ``truecased.jsonl``;
- preference data (``score_chosen`` column): ``scores.png`` (chosen and rejected),
  ``score_margin.png`` (chosen minus rejected) and ``rows_per_source.png`` (from a ``source``
  column, else from the counters ``source:<name>`` that :class:`SourceCounter` leaves).

The PNGs carry no software version or date (``metadata={"Software": None}``), use matplotlib's
default style whatever the user's settings, and live outside ``data/``, so they do not enter the
data fingerprint; the same data and manifest give the same bytes with the same matplotlib.

The notebooks call the rest: :func:`open_build`, :func:`summary_markdown`, :func:`ensure_report`,
:func:`dropped_counts`, :func:`page_dropped`, :func:`format_dropped`, :func:`truecasing_source`,
:func:`truecasing_changes`, :func:`format_truecasing`.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .steps import Stats, Step

REPORT_DIR = "report"
TRUECASED_FILE = "truecased.jsonl"
SOURCE_PREFIX = "source:"
PLOTS = ("turns_per_dialogue", "tokens_per_message", "drops_per_reason", "truecased_share",
         "scores", "score_margin", "rows_per_source")
CAPTIONS = {
    "turns_per_dialogue": "Turns per dialogue",
    "tokens_per_message": "Tokens per message (whitespace-separated)",
    "drops_per_reason": "Rows dropped per reason",
    "truecased_share": "Share truecased",
    "scores": "Scores of chosen and rejected",
    "score_margin": "Score margin (chosen minus rejected)",
    "rows_per_source": "Rows per source",
}
AFTER_ROW_STEPS = ("duplicate", "over_target_size")  # drops made after the per-row steps
FIGSIZE = (8.0, 4.5)
DPI = 100
_SHARD = re.compile(r"^(?P<split>.+)-\d{5}-of-\d{5}\.parquet$")


# ------------------------------------------------------------------ counters the report reads


class SourceCounter(Step):
    """Counts rows per ``row["source"]`` as ``source:<name>``; place it last in ``steps()``,
    so it counts the rows that passed every rule (duplicates are removed after it)."""

    name = "count_source"

    def __init__(self, key: str = "source"):
        self.key = key

    def apply(self, row: dict[str, Any], stats: Stats) -> dict[str, Any]:
        stats.counters[f"{SOURCE_PREFIX}{row.get(self.key) or 'unknown'}"] += 1
        return row


# ------------------------------------------------------------------ reading a build


def _split_files(folder: Path) -> dict[str, list[Path]]:
    files: dict[str, list[Path]] = {}
    for path in sorted((folder / "data").glob("*.parquet")):
        m = _SHARD.match(path.name)
        if m:
            files.setdefault(m["split"], []).append(path)
    return files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
        shas = tuple(known.get(f"data/{p.name}") or _sha256(p) for p in files[split])
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


# Every character Python's str.split() splits on, for RE2 (whose \s is ASCII-only).
_WHITESPACE = "".join(chr(i) for i in range(0x110000) if chr(i).isspace())
_WORD = "[^" + "".join(f"\\x{{{ord(c):x}}}" for c in _WHITESPACE) + "]+"


def whitespace_tokens(texts: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Whitespace-separated tokens per string (``len(text.split())``), counted in arrow
    without materializing the tokens."""
    counts = pc.count_substring_regex(texts, pattern=_WORD)
    return np.asarray(counts.to_numpy(zero_copy_only=False), dtype=np.int64)


def _messages(table: pa.Table, column: str) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """Flattened ``content`` and ``role`` of a ``[{content, role}]`` column, and its lengths."""
    col = table[column].combine_chunks()
    flat = pc.list_flatten(col)
    lengths = pc.list_value_length(col).to_numpy(zero_copy_only=False)
    return pc.struct_field(flat, "content"), pc.struct_field(flat, "role"), lengths


def _last_content(table: pa.Table, column: str) -> pa.Array:
    """The ``content`` of each row's last message (rows with no message are skipped)."""
    col = table[column].combine_chunks()
    parents = pc.list_parent_indices(col).to_numpy()
    last = np.append(parents[1:] != parents[:-1], True) if len(parents) else np.zeros(0, bool)
    return pc.struct_field(pc.list_flatten(col).filter(pa.array(last)), "content")


# ------------------------------------------------------------------ plotting


def _style():
    import matplotlib
    import matplotlib.style

    stack = matplotlib.style.context("default")
    return stack, matplotlib.rc_context({
        "font.size": 10, "axes.titlesize": 11, "axes.titleweight": "bold",
        "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
        "axes.spines.right": False, "savefig.dpi": DPI})


def _figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    return fig, fig.add_subplot()


def _save(fig: Any, path: Path) -> Path:
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return path


def _note(ax: Any, text: str) -> None:
    ax.text(0.99, 0.97, text, transform=ax.transAxes, ha="right", va="top", fontsize=9,
            bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85, "edgecolor": "0.7"})


def _splits_label(splits: Sequence[str]) -> str:
    return " + ".join(splits) if splits else "no splits"


def plot_turns(table: pa.Table, splits: Sequence[str], path: Path) -> Path:
    _, _, lengths = _messages(table, "messages")
    fig, ax = _figure()
    if len(lengths):
        values, counts = np.unique(lengths, return_counts=True)
        ax.bar(values, counts, width=0.8, color="tab:blue")
        ax.set_xticks(values if len(values) <= 25 else np.unique(
            np.linspace(values.min(), values.max(), 20).astype(int)))
        _note(ax, f"mean {lengths.mean():.1f}, median {np.median(lengths):g}, "
                  f"max {lengths.max()}")
    ax.set_title(f"Turns per dialogue ({len(lengths):,} dialogues, {_splits_label(splits)})")
    ax.set_xlabel("messages per dialogue (user and assistant turns)")
    ax.set_ylabel("dialogues")
    return _save(fig, path)


def plot_tokens(table: pa.Table, splits: Sequence[str], path: Path) -> Path:
    groups: list[tuple[str, np.ndarray]] = []
    if "score_chosen" in table.column_names:
        groups = [("prompt (user)", whitespace_tokens(table["prompt"])),
                  ("chosen reply", whitespace_tokens(_last_content(table, "chosen"))),
                  ("rejected reply", whitespace_tokens(_last_content(table, "rejected")))]
    else:
        content, role, _ = _messages(table, "messages")
        counts = whitespace_tokens(content)
        roles = np.asarray(role.to_numpy(zero_copy_only=False), dtype=object)
        groups = [(name, counts[roles == name]) for name in ("user", "assistant")]
    fig, ax = _figure()
    top = max((int(c.max()) for _, c in groups if len(c)), default=1)
    bins = np.unique(np.round(np.logspace(0, np.log10(max(top, 2)) + 0.01, 40)))
    for (name, counts), color in zip(groups, ("tab:blue", "tab:green", "tab:red")):
        if len(counts):
            empty = int(np.sum(counts == 0))
            ax.hist(counts[counts > 0], bins=bins, histtype="step", linewidth=1.8, color=color,
                    label=f"{name}: {len(counts):,} messages, median {np.median(counts):g}"
                    + (f", {empty:,} empty" if empty else ""))
    ax.set_xscale("log")
    smallest = min((int(c[c > 0].min()) for _, c in groups if np.any(c > 0)), default=1)
    ax.set_xlim(max(1, smallest / 1.5), bins[-1])
    ax.set_title(f"Tokens per message ({_splits_label(splits)})")
    ax.set_xlabel("tokens per message: whitespace-separated words, not model tokens (log scale)")
    ax.set_ylabel("messages")
    ax.legend(loc="upper left", fontsize=9)
    return _save(fig, path)


def plot_drops(manifest: dict[str, Any], path: Path) -> Path:
    stats = manifest["stats"]
    dropped = sorted(stats["dropped"].items(), key=lambda kv: (kv[1], kv[0]))
    rows_in = max(stats["rows_in"], 1)
    fig, ax = _figure()
    if dropped:
        names = [k for k, _ in dropped]
        counts = [v for _, v in dropped]
        kinds = {"tab:red": "benchmark contamination", "tab:blue": "row rules",
                 "0.55": "after the row rules (deduplication, sampling)"}
        colors = ["tab:red" if k.startswith("contaminated_") else
                  "0.55" if k in AFTER_ROW_STEPS else "tab:blue" for k in names]
        bars = ax.barh(names, counts, color=colors)
        for bar, n in zip(bars, counts):
            ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                    f" {n:,} ({n / rows_in:.1%})", va="center", fontsize=9)
        ax.set_xlim(0, max(counts) * 1.3)
        ax.grid(axis="y", visible=False)
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color=c, label=label) for c, label in kinds.items()
                           if c in colors], loc="lower right", fontsize=9)
    else:
        ax.text(0.5, 0.5, "no rows dropped", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
    ax.set_title(f"Rows dropped per reason ({stats['rows_in']:,} in, {stats['kept']:,} kept, "
                 f"{stats['dropped_total']:,} dropped)")
    ax.set_xlabel("rows dropped (% of rows in)")
    ax.set_ylabel("reason")
    return _save(fig, path)


def _truecased_records(folder: Path) -> list[dict[str, Any]] | None:
    path = folder / TRUECASED_FILE
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def plot_truecased(folder: Path, manifest: dict[str, Any], table: pa.Table,
                   path: Path) -> Path:
    stats = manifest["stats"]
    counters = stats.get("counters", {})
    reached = stats["rows_in"] - sum(n for k, n in stats["dropped"].items()
                                     if k not in AFTER_ROW_STEPS)
    bars = [("dialogues\n(passed the rules)", counters.get("truecased_dialogues", 0), reached)]
    records = _truecased_records(folder)
    if records is not None and table.num_rows:
        ids = set(table["prompt_id"].to_pylist())
        changed = {(r["prompt_id"], int(r["index"])) for r in records if r["prompt_id"] in ids}
        _, role, lengths = _messages(table, "messages")
        roles = Counter(role.to_pylist())
        by_role = Counter("user" if i % 2 == 0 else "assistant" for _, i in changed)
        bars = [("dialogues\n(output)", len({p for p, _ in changed}), table.num_rows),
                ("user messages\n(output)", by_role["user"], roles["user"]),
                ("assistant messages\n(output)", by_role["assistant"], roles["assistant"])]
    fig, ax = _figure()
    labels = [b[0] for b in bars]
    shares = [100 * n / total if total else 0.0 for _, n, total in bars]
    ax.barh(labels, shares, height=0.5, color="tab:orange", label="truecased")
    ax.barh(labels, [100 - s for s in shares], left=shares, height=0.5, color="0.85",
            label="unchanged")
    for y, (_, n, total) in enumerate(bars):
        ax.text(max(shares[y], 0) + 1, y, f"{n:,} of {total:,} ({n / total if total else 0:.1%})",
                va="center", fontsize=9)
    ax.set_xlim(0, 100)
    ax.set_ylim(len(bars) - 0.4, -0.6)
    ax.grid(axis="y", visible=False)
    ax.legend(loc="lower right", fontsize=9)
    source = ("truecased.jsonl, rows in the output" if records is not None
              else "manifest counters; a truecased.jsonl adds messages")
    ax.set_title(f"Share truecased ({source})")
    ax.set_xlabel("% whose capitalization was repaired")
    return _save(fig, path)


def _score_bins(values: np.ndarray, manifest: dict[str, Any]) -> np.ndarray:
    width = 0.5 if manifest.get("config", {}).get("score") == "overall" else 0.25
    lo, hi = np.floor(values.min()), np.ceil(values.max())
    return np.arange(lo - width / 2, hi + width, width)


def _score_label(manifest: dict[str, Any]) -> str:
    if manifest.get("config", {}).get("score") == "overall":
        return "score: GPT-4 overall_score (1 to 10)"
    return "score: mean of the aspect ratings (1 to 5)"


def plot_scores(table: pa.Table, manifest: dict[str, Any], splits: Sequence[str],
                path: Path) -> Path:
    chosen = table["score_chosen"].to_numpy()
    rejected = table["score_rejected"].to_numpy()
    fig, ax = _figure()
    if len(chosen):
        bins = _score_bins(np.concatenate([chosen, rejected]), manifest)
        ax.hist([chosen, rejected], bins=bins, color=["tab:green", "tab:red"],
                label=[f"chosen (mean {chosen.mean():.2f})",
                       f"rejected (mean {rejected.mean():.2f})"])
        ax.legend(loc="upper left", fontsize=9)
    ax.set_title(f"Scores of chosen and rejected ({len(chosen):,} pairs, "
                 f"{_splits_label(splits)})")
    ax.set_xlabel(_score_label(manifest))
    ax.set_ylabel("pairs")
    return _save(fig, path)


def plot_margin(table: pa.Table, manifest: dict[str, Any], splits: Sequence[str],
                path: Path) -> Path:
    margin = table["score_chosen"].to_numpy() - table["score_rejected"].to_numpy()
    fig, ax = _figure()
    ties = int(np.sum(np.isclose(margin, 0))) if len(margin) else 0
    if len(margin):
        width = 0.5 if manifest.get("config", {}).get("score") == "overall" else 0.25
        lo, hi = np.floor(min(margin.min(), 0)), np.ceil(margin.max())
        ax.hist(margin, bins=np.arange(lo - width / 2, hi + width, width), color="tab:purple")
        _note(ax, f"ties (margin 0): {ties:,} ({ties / len(margin):.1%})\n"
                  f"median margin {np.median(margin):g}")
    ax.set_title(f"Score margin of the pairs ({len(margin):,} pairs, {_splits_label(splits)})")
    ax.set_xlabel("score_chosen − score_rejected (score points)")
    ax.set_ylabel("pairs")
    return _save(fig, path)


def source_counts(table: pa.Table, manifest: dict[str, Any]) -> tuple[dict[str, int], str]:
    """Rows per source: from a ``source`` column, else the ``source:<name>`` counters."""
    if "source" in table.column_names:
        counts = Counter(table["source"].to_pylist())
        return dict(counts), "rows in the output"
    counters = manifest.get("stats", {}).get("counters", {})
    counts = {k[len(SOURCE_PREFIX):]: v for k, v in counters.items()
              if k.startswith(SOURCE_PREFIX)}
    return counts, "rows that passed every rule, before deduplication"


def plot_sources(counts: dict[str, int], what: str, path: Path) -> Path:
    items = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]))
    total = sum(counts.values()) or 1
    fig, ax = _figure()
    bars = ax.barh([k for k, _ in items], [v for _, v in items], color="tab:blue")
    for bar, (_, n) in zip(bars, items):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {n:,} ({n / total:.1%})",
                va="center", fontsize=9)
    ax.set_xlim(0, max(v for _, v in items) * 1.25)
    ax.grid(axis="y", visible=False)
    ax.set_title(f"Rows per source ({sum(counts.values()):,} {what})")
    ax.set_xlabel("rows")
    ax.set_ylabel("source")
    return _save(fig, path)


def write_report(folder: Path, manifest: dict[str, Any],
                 out_dir: Path | None = None) -> list[Path]:
    """Draw the plots of a built folder into ``folder/report/`` (or ``out_dir``); return their
    paths in the order of ``PLOTS``. A plot whose data the build lacks is left out."""
    folder = Path(folder)
    out = Path(out_dir) if out_dir is not None else folder / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    table, splits = read_rows(folder, manifest)
    paths: list[Path] = []
    style, rc = _style()
    with style, rc:
        if "messages" in table.column_names:
            paths.append(plot_turns(table, splits, out / "turns_per_dialogue.png"))
            paths.append(plot_tokens(table, splits, out / "tokens_per_message.png"))
        if "stats" in manifest:
            paths.append(plot_drops(manifest, out / "drops_per_reason.png"))
            counters = manifest["stats"].get("counters", {})
            if manifest.get("config", {}).get("truecase") or "truecased_dialogues" in counters:
                paths.append(plot_truecased(folder, manifest, table,
                                            out / "truecased_share.png"))
        if "score_chosen" in table.column_names:
            paths.append(plot_scores(table, manifest, splits, out / "scores.png"))
            paths.append(plot_margin(table, manifest, splits, out / "score_margin.png"))
            counts, what = source_counts(table, manifest)
            if counts:
                paths.append(plot_sources(counts, what, out / "rows_per_source.png"))
    return paths


def report_markdown(paths: Sequence[Path]) -> str:
    """The card section linking the plots, by paths relative to the card."""
    if not paths:
        return ""
    lines = ["## Quality report", "",
             f"Plots drawn from this folder's data files and `manifest.json` (in `{REPORT_DIR}/`;"
             " token counts are whitespace-separated words, not model tokens; mirrored splits "
             "are counted once).", ""]
    for path in paths:
        stem = Path(path).stem
        caption = CAPTIONS.get(stem, stem.replace("_", " ").capitalize())
        lines += [f"### {caption}", "", f"![{caption}]({REPORT_DIR}/{Path(path).name})", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------ exploring a build


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

        from .hubcalls import HubDownloadError, hub_call

        with hub_call(lambda detail: HubDownloadError(
                f"{spec}: could not download the Hub dataset: {detail.rstrip('.')}. Check the "
                "id, the network and HF_TOKEN (`hf auth login`), or open a local build folder.")):
            folder = Path(snapshot_download(str(spec), repo_type="dataset"))
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) \
        if manifest_path.is_file() else {}
    return Build(folder, manifest)


def summary_markdown(manifest: dict[str, Any]) -> str:
    """Splits, rows in/kept/dropped per reason, counters and decontamination, as Markdown."""
    if not manifest:
        return "_This folder has no `manifest.json`: no build statistics to show._"
    lines = [f"**Pipeline** `{manifest.get('pipeline', '?')}`, input "
             f"{(manifest.get('input') or {}).get('description', '?')}, fingerprint "
             f"`{str(manifest.get('fingerprint', ''))[:16]}`", "",
             "| split | rows |", "|---|---:|"]
    lines += [f"| {name} | {s['num_examples']:,} |"
              for name, s in manifest.get("splits", {}).items()]
    stats = manifest.get("stats")
    if stats:
        lines += ["", "| rows | count |", "|---|---:|", f"| in | {stats['rows_in']:,} |",
                  f"| kept | {stats['kept']:,} |"]
        lines += [f"| dropped: `{k}` | {v:,} |" for k, v in stats["dropped"].items()]
        lines += [f"| {k.replace('_', ' ')} | {v:,} |" for k, v in stats["counters"].items()]
    deco = manifest.get("decontamination") or {}
    setting = deco.get("source", manifest.get("config", {}).get("decontaminate"))
    lines += ["", f"**Decontamination**: {setting if setting is not None else 'not recorded'}"]
    return "\n".join(lines)


def ensure_report(build: Build) -> list[Path]:
    """The build's ``report/`` plots; drawn into a temporary folder if the build has none."""
    existing = build.folder / REPORT_DIR
    paths = [existing / f"{name}.png" for name in PLOTS if (existing / f"{name}.png").is_file()]
    if paths:
        return paths
    return write_report(build.folder, build.manifest,
                        out_dir=Path(tempfile.mkdtemp(prefix="zephyr-report-")))


def _dump_entries(path: str | Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def dropped_counts(path: str | Path) -> dict[str, int]:
    """Rows per reason in a ``--dump-dropped`` file, most frequent first ({} if no file)."""
    if not Path(path).is_file():
        return {}
    counts = Counter(entry["reason"] for entry in _dump_entries(path))
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def dropped_markdown(path: str | Path) -> str:
    """A table of rows per reason in a ``--dump-dropped`` file, or why there is none."""
    if not Path(path).is_file():
        return (f"_No dump at `{path}`: build with `--dump-dropped PATH` and point "
                "`DROPPED` (or `ZEPHYR_DROPPED`) at it._")
    counts = dropped_counts(path)
    lines = [f"Dropped rows in `{path}`:", "", "| reason | rows |", "|---|---:|"]
    lines += [f"| `{reason}` | {n:,} |" for reason, n in counts.items()] or ["| (none) | 0 |"]
    return "\n".join(lines)


def _parse_detail(detail: Any) -> Any:
    if isinstance(detail, str) and detail.startswith("{"):
        try:
            return json.loads(detail)
        except json.JSONDecodeError:
            return detail
    return detail


def page_dropped(path: str | Path, reason: str | None = None, page: int = 0,
                 size: int = 10) -> list[dict[str, Any]]:
    """Page ``page`` (from 0) of ``size`` dropped rows, of one ``reason`` or all, in file
    order; each is ``{"reason", "detail", "ref", "row"}`` with a JSON detail decoded.
    A missing file gives an empty page."""
    out: list[dict[str, Any]] = []
    if not Path(path).is_file():
        return out
    skip = page * size
    for entry in _dump_entries(path):
        if reason is not None and entry["reason"] != reason:
            continue
        if skip:
            skip -= 1
            continue
        out.append({**entry, "detail": _parse_detail(entry.get("detail"))})
        if len(out) >= size:
            break
    return out


def _turns_of(row: Any) -> list[tuple[str, str]]:
    """(label, text) pairs of a dropped row, whatever stage dropped it."""
    if not isinstance(row, dict):
        return [("row", json.dumps(row, ensure_ascii=False))]
    turns: list[tuple[str, str]] = []
    messages = row.get("messages")
    if isinstance(messages, list) and "score_chosen" not in row:
        for i, m in enumerate(messages):
            if isinstance(m, dict):
                turns.append((str(m.get("role")), str(m.get("content"))))
            else:
                turns.append(("user" if i % 2 == 0 else "assistant", str(m)))
        return turns
    if "prompt" in row:
        turns.append(("user", str(row["prompt"])))
        for key in ("chosen", "rejected"):
            value = row.get(key)
            if isinstance(value, list) and value:
                turns.append((f"{key} (score {row.get('score_' + key)})",
                              str(value[-1].get("content"))))
            elif isinstance(value, dict):
                turns.append((f"{key} (score {value.get('score')})", str(value.get("response"))))
        if "chosen" not in row:
            for i, c in enumerate(row.get("completions") or []):
                score = c.get("score", c.get("overall", c.get("ratings")))
                turns.append((f"completion {i} (score {score})", str(c.get("response"))))
        return turns
    return [("row", json.dumps(row, ensure_ascii=False))]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f" … [{len(text) - limit:,} more chars]"


_PRE = "white-space:pre-wrap;margin:2px 0 6px 0;padding:4px;background:#f6f6f6"


def format_dropped(entries: Sequence[dict[str, Any]], max_chars: int = 800) -> str:
    """HTML for a page of dropped rows: reason, where it came from, why, and its turns."""
    if not entries:
        return "<p><i>no dropped rows on this page</i></p>"
    parts = []
    for entry in entries:
        detail = entry.get("detail")
        if isinstance(detail, dict):
            detail_html = "<br>".join(f"<b>{html.escape(str(k))}</b>: "
                                      f"{html.escape(_clip(str(v), max_chars))}"
                                      for k, v in detail.items())
        else:
            detail_html = html.escape(str(detail))
        turns = "".join(f"<div><b>{html.escape(label)}</b></div><pre style='{_PRE}'>"
                        f"{html.escape(_clip(text, max_chars))}</pre>"
                        for label, text in _turns_of(entry.get("row")))
        parts.append(f"<div style='border-top:1px solid #ccc;padding-top:4px'>"
                     f"<b>{html.escape(entry['reason'])}</b> &mdash; "
                     f"<code>{html.escape(str(entry.get('ref')))}</code><br>{detail_html}"
                     f"{turns}</div>")
    return "\n".join(parts)


# ------------------------------------------------------------------ truecasing before/after


def truecasing_source(build: Build) -> Path | None:
    """The build's ``truecased.jsonl`` (every repaired message of the output, before and
    after), or None for a build without one (e.g. a dataset not built by this project)."""
    path = build.folder / TRUECASED_FILE
    return path if path.is_file() else None


def truecasing_changes(source: str | Path, page: int = 0, size: int = 10
                       ) -> list[dict[str, Any]]:
    """Page ``page`` of truecased messages ``{"prompt_id", "index", "role", "before",
    "after"}`` from a ``truecased.jsonl``."""
    out: list[dict[str, Any]] = []
    for i, change in enumerate(_dump_entries(source)):
        if i < page * size:
            continue
        change.setdefault("role", "user" if int(change["index"]) % 2 == 0 else "assistant")
        out.append(change)
        if len(out) >= size:
            break
    return out


def _changed_spans(before: str, after: str) -> list[tuple[int, int]]:
    """Word spans of ``after`` whose letters differ from ``before`` (same-length texts)."""
    spans: list[tuple[int, int]] = []
    for m in re.finditer(r"\S+", after):
        if before[m.start():m.end()] != m.group():
            spans.append(m.span())
    return spans


def _highlight(text: str, spans: list[tuple[int, int]], color: str, lo: int, hi: int) -> str:
    out, pos = [], lo
    for start, end in spans:
        if end <= lo or start >= hi:
            continue
        out.append(html.escape(text[pos:start]))
        out.append(f"<mark style='background:{color}'>{html.escape(text[start:end])}</mark>")
        pos = end
    out.append(html.escape(text[pos:hi]))
    return "".join(out)


def format_truecasing(changes: Sequence[dict[str, Any]], context: int = 120) -> str:
    """HTML: for each truecased message, its before and after with changed words marked,
    cut to ``context`` characters around the first and last change."""
    if not changes:
        return "<p><i>no truecasing changes on this page</i></p>"
    parts = []
    for c in changes:
        before, after = c["before"], c["after"]
        if len(before) == len(after):
            spans = _changed_spans(before, after)
        else:  # not a pure case change: show it whole
            spans = [(0, len(after))]
        lo = max(0, spans[0][0] - context) if spans else 0
        hi = min(len(after), spans[-1][1] + context) if spans else len(after)
        cut_lo = "… " if lo else ""
        cut_hi = " …" if hi < len(after) else ""
        b_hi = hi if len(before) == len(after) else len(before)
        parts.append(
            f"<div style='border-top:1px solid #ccc;padding-top:4px'><code>"
            f"{html.escape(str(c['prompt_id'])[:12])}</code> message {c['index']} "
            f"({html.escape(str(c.get('role')))}), {len(spans)} word(s) changed"
            f"<pre style='{_PRE}'><b>before</b> {cut_lo}"
            f"{_highlight(before, spans, '#fdd', lo, b_hi)}{cut_hi}</pre>"
            f"<pre style='{_PRE}'><b>after</b>  {cut_lo}"
            f"{_highlight(after, spans, '#dfd', lo, hi)}{cut_hi}</pre></div>")
    return "\n".join(parts)


def truecasing_html(build: Build, page: int = 0, size: int = 5) -> str:
    """One page of a build's truecasing changes (dialogues in the output only), as HTML that
    says where they were read from."""
    source = truecasing_source(build)
    if source is None:
        return ("<p><i>This build records no truecasing changes: it has no "
                f"<code>{TRUECASED_FILE}</code>.</i></p>")
    changes = truecasing_changes(source, page, size)
    return (f"<p>Page {page} ({size} a page), read from the build's "
            f"<code>{TRUECASED_FILE}</code> (messages of the output); changed words are "
            "marked.</p>" + format_truecasing(changes))
