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
  column, else from the counters ``source:<name>`` of the ``count_source`` step).

The PNGs carry no software version or date (``metadata={"Software": None}``), use matplotlib's
default style whatever the user's settings, and live outside ``data/``, so they do not enter the
data fingerprint; the same data and manifest give the same bytes with the same matplotlib.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..steps.binarize import SOURCE_PREFIX
from ..steps.stages import Deduplicate, TargetSize
from .stats import ReportData

REPORT_DIR = "report"
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
AFTER_ROW_STEPS = (Deduplicate.name, TargetSize.name)  # drops made after the per-row steps
FIGSIZE = (8.0, 4.5)
DPI = 100


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


def _median(values: np.ndarray, counts: np.ndarray) -> float:
    cumulative = np.cumsum(counts)
    total = cumulative[-1]
    low = values[np.searchsorted(cumulative, (total + 1) // 2)]
    high = values[np.searchsorted(cumulative, total // 2 + 1)]
    return (low + high) / 2


def plot_turns(data: ReportData, path: Path) -> Path:
    fig, ax = _figure()
    values = np.array(sorted(data.lengths), dtype=np.int64)
    counts = np.array([data.lengths[v] for v in values], dtype=np.int64)
    n = int(counts.sum())
    if n:
        ax.bar(values, counts, width=0.8, color="tab:blue")
        ax.set_xticks(values if len(values) <= 25 else np.unique(
            np.linspace(values.min(), values.max(), 20).astype(int)))
        _note(ax, f"mean {(values * counts).sum() / n:.1f}, median "
                  f"{_median(values, counts):g}, max {values.max()}")
    ax.set_title(f"Turns per dialogue ({n:,} dialogues, {_splits_label(data.splits)})")
    ax.set_xlabel("messages per dialogue (user and assistant turns)")
    ax.set_ylabel("dialogues")
    return _save(fig, path)


def plot_tokens(data: ReportData, path: Path) -> Path:
    groups = data.token_groups()
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
    sample = (f", a uniform sample of {data.sampled:,} of {data.rows:,} rows"
              if data.sampled < data.rows else "")
    ax.set_title(f"Tokens per message ({_splits_label(data.splits)}{sample})")
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


def plot_truecased(data: ReportData, manifest: dict[str, Any], path: Path) -> Path:
    stats = manifest["stats"]
    counters = stats.get("counters", {})
    reached = stats["rows_in"] - sum(n for k, n in stats["dropped"].items()
                                     if k not in AFTER_ROW_STEPS)
    bars = [("dialogues\n(passed the rules)", counters.get("truecased_dialogues", 0), reached)]
    if data.has_changes and data.rows:
        bars = [("dialogues\n(output)", data.truecased_dialogues, data.rows),
                ("user messages\n(output)", data.truecased_roles["user"],
                 data.role_messages["user"]),
                ("assistant messages\n(output)", data.truecased_roles["assistant"],
                 data.role_messages["assistant"])]
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
    source = ("truecased.jsonl, rows in the output" if data.has_changes
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


def plot_scores(data: ReportData, manifest: dict[str, Any], path: Path) -> Path:
    chosen, rejected = np.concatenate(data.chosen), np.concatenate(data.rejected)
    fig, ax = _figure()
    if len(chosen):
        bins = _score_bins(np.concatenate([chosen, rejected]), manifest)
        ax.hist([chosen, rejected], bins=bins, color=["tab:green", "tab:red"],
                label=[f"chosen (mean {chosen.mean():.2f})",
                       f"rejected (mean {rejected.mean():.2f})"])
        ax.legend(loc="upper left", fontsize=9)
    ax.set_title(f"Scores of chosen and rejected ({len(chosen):,} pairs, "
                 f"{_splits_label(data.splits)})")
    ax.set_xlabel(_score_label(manifest))
    ax.set_ylabel("pairs")
    return _save(fig, path)


def plot_margin(data: ReportData, manifest: dict[str, Any], path: Path) -> Path:
    margin = np.concatenate(data.chosen) - np.concatenate(data.rejected)
    fig, ax = _figure()
    ties = int(np.sum(np.isclose(margin, 0))) if len(margin) else 0
    if len(margin):
        width = 0.5 if manifest.get("config", {}).get("score") == "overall" else 0.25
        lo, hi = np.floor(min(margin.min(), 0)), np.ceil(margin.max())
        ax.hist(margin, bins=np.arange(lo - width / 2, hi + width, width), color="tab:purple")
        _note(ax, f"ties (margin 0): {ties:,} ({ties / len(margin):.1%})\n"
                  f"median margin {np.median(margin):g}")
    ax.set_title(f"Score margin of the pairs ({len(margin):,} pairs, "
                 f"{_splits_label(data.splits)})")
    ax.set_xlabel("score_chosen − score_rejected (score points)")
    ax.set_ylabel("pairs")
    return _save(fig, path)


def source_counts(data: ReportData, manifest: dict[str, Any]) -> tuple[dict[str, int], str]:
    """Rows per source: from a ``source`` column, else the ``source:<name>`` counters."""
    if data.sources is not None:
        return dict(data.sources), "rows in the output"
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


def write_report(folder: Path, manifest: dict[str, Any], out_dir: Path | None = None,
                 data: ReportData | None = None) -> list[Path]:
    """Draw the plots of a built folder into ``folder/report/`` (or ``out_dir``) from ``data``
    (collected while writing; read back from the folder when not given); return their paths
    in the order of ``PLOTS``. A plot whose data the build lacks is left out."""
    folder = Path(folder)
    out = Path(out_dir) if out_dir is not None else folder / REPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    data = data if data is not None else ReportData.from_folder(folder, manifest)
    paths: list[Path] = []
    style, rc = _style()
    with style, rc:
        if data.rows:
            paths.append(plot_turns(data, out / "turns_per_dialogue.png"))
            paths.append(plot_tokens(data, out / "tokens_per_message.png"))
        if "stats" in manifest:
            paths.append(plot_drops(manifest, out / "drops_per_reason.png"))
            counters = manifest["stats"].get("counters", {})
            if manifest.get("config", {}).get("truecase") or "truecased_dialogues" in counters:
                paths.append(plot_truecased(data, manifest, out / "truecased_share.png"))
        if data.preference:
            paths.append(plot_scores(data, manifest, out / "scores.png"))
            paths.append(plot_margin(data, manifest, out / "score_margin.png"))
            counts, what = source_counts(data, manifest)
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
