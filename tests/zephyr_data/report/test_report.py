"""The quality report (plots, card section) and the helpers the notebooks call, on real builds
of the bundled samples."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import polars as pl
import pytest

from tests.support.builds import sample_build
from zephyr_data import report
from zephyr_data.core.stats import Stats
from zephyr_data.io.writer import data_fingerprint
from zephyr_data.report import build_files, plots
from zephyr_data.report.stats import ReportData, whitespace_tokens
from zephyr_data.runner.chain import run_steps
from zephyr_data.steps.binarize import CountSource

UC_PLOTS = ["turns_per_dialogue.png", "tokens_per_message.png", "drops_per_reason.png",
            "truecased_share.png"]
UF_PLOTS = ["turns_per_dialogue.png", "tokens_per_message.png", "drops_per_reason.png",
            "scores.png", "score_margin.png"]


def _load(tmp_path_factory, name: str) -> tuple[Path, dict, Path]:
    out, dump = sample_build(tmp_path_factory, name)
    return out, json.loads((out / "manifest.json").read_text(encoding="utf-8")), dump


@pytest.fixture(scope="module")
def uc(tmp_path_factory):
    return _load(tmp_path_factory, "ultrachat")


@pytest.fixture(scope="module")
def uf(tmp_path_factory):
    return _load(tmp_path_factory, "ultrafeedback")


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_ultrachat_report_plots_card_and_fingerprint(uc, tmp_path):
    folder, manifest, _ = uc
    folder = Path(shutil.copytree(folder, tmp_path / "build"))
    paths = plots.write_report(folder, manifest)
    assert [p.name for p in paths] == UC_PLOTS
    for path in paths:
        assert path.parent == folder / "report"
        assert png_size(path) == (800, 450)
        data = path.read_bytes()
        assert len(data) > 10_000
        assert b"Software" not in data and b"matplotlib" not in data  # no version, no date
    markdown = plots.report_markdown(paths)
    for path in paths:
        assert f"](report/{path.name})" in markdown
    assert data_fingerprint(folder)[0] == manifest["fingerprint"]  # report/ is not data


def test_plots_are_byte_identical_when_redrawn(uc, tmp_path):
    folder, manifest, _ = uc
    first = plots.write_report(folder, manifest, out_dir=tmp_path / "a")
    second = plots.write_report(folder, manifest, out_dir=tmp_path / "b")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_mirrored_splits_are_counted_once(uc, uf):
    assert build_files.primary_splits(uc[0], uc[1]) == ["train_sft", "test_sft"]
    assert build_files.primary_splits(uf[0], uf[1]) == ["train_prefs", "test_prefs"]
    table, _ = build_files.read_rows(uc[0], uc[1])
    assert table.num_rows == uc[1]["stats"]["kept"]


def test_ultrafeedback_report_with_source_counters(uf, tmp_path):
    folder, manifest, _ = uf
    stats_in = manifest["stats"]
    sources = {k: v for k, v in stats_in["counters"].items() if k.startswith("source:")}
    # The pipeline counts the rows that passed every rule, before deduplication.
    assert sum(sources.values()) == stats_in["kept"] + stats_in["dropped"].get("duplicate", 0)
    paths = plots.write_report(folder, manifest, tmp_path / "b")
    assert [p.name for p in paths] == [*UF_PLOTS, "rows_per_source.png"]
    without = {**manifest, "stats": {**stats_in, "counters": {
        k: v for k, v in stats_in["counters"].items() if not k.startswith("source:")}}}
    assert [p.name for p in plots.write_report(folder, without, tmp_path / "a")] == UF_PLOTS
    stats = Stats()
    run_steps(pl.DataFrame({"source": ["sharegpt"] * 3 + ["evol_instruct", None]},
                           schema={"source": pl.String}), [CountSource()], stats, None)
    assert dict(stats.counters) == {"source:sharegpt": 3, "source:evol_instruct": 1,
                                    "source:unknown": 1}
    with_sources = {**without, "stats": {**without["stats"], "counters": {
        **without["stats"]["counters"], **stats.counters}}}
    data = ReportData.from_folder(folder, manifest)
    data.sources = None  # as for a build that has no source column
    assert plots.source_counts(data, with_sources) == (
        {"sharegpt": 3, "evol_instruct": 1, "unknown": 1},
        "rows that passed every rule, before deduplication")


def test_whitespace_tokens_match_str_split(responses):

    texts = [*responses[:1500], "", "   ", " a  b\n\tc "]
    assert whitespace_tokens(pl.Series(texts)).tolist() == [len(t.split()) for t in texts]


def test_truecased_jsonl_feeds_the_plot_and_the_pages(uc, tmp_path):
    """The ``truecased.jsonl`` format asked of the lead: prompt_id, index, before, after."""
    folder, manifest, _ = uc
    table, _ = build_files.read_rows(folder, manifest)
    row = table.slice(0, 1).to_pylist()[0]
    after = row["messages"][0]["content"]
    record = {"prompt_id": row["prompt_id"], "index": 0, "before": after.lower(), "after": after}
    (tmp_path / "data").symlink_to(folder / "data")
    (tmp_path / build_files.TRUECASED_FILE).write_text(json.dumps(record) + "\n", encoding="utf-8")
    build = report.Build(tmp_path, manifest)
    assert report.truecasing_source(build) == tmp_path / build_files.TRUECASED_FILE
    assert report.truecasing_changes(tmp_path / build_files.TRUECASED_FILE) == [
        {**record, "role": "user"}]
    assert "<mark" in report.truecasing_html(build)
    paths = plots.write_report(tmp_path, manifest, tmp_path / "plots")
    assert paths[-1].name == "truecased_share.png"


def test_truecasing_changes_of_a_sample_build(uc, tmp_path):
    folder, manifest, _ = uc
    build = report.Build(folder, manifest)
    source = report.truecasing_source(build)
    assert source == folder / build_files.TRUECASED_FILE
    changes = report.truecasing_changes(source, 0, 100)
    assert len(changes) == manifest["stats"]["counters"]["truecased_messages"]
    table, _ = build_files.read_rows(folder, manifest)
    assert {c["prompt_id"] for c in changes} <= set(table["prompt_id"].to_pylist())
    for c in changes:
        assert c["before"] != c["after"] and c["before"].lower() == c["after"].lower()
    assert report.truecasing_changes(source, 1, 3) == changes[3:6]
    bare = tmp_path / "bare"  # e.g. a dataset not built here
    shutil.copytree(folder, bare, ignore=shutil.ignore_patterns(build_files.TRUECASED_FILE))
    assert report.truecasing_source(report.Build(bare, manifest)) is None
    assert "no truecasing changes" in report.truecasing_html(report.Build(bare, manifest))


def test_page_through_dropped_rows(uc):
    _, manifest, dump = uc
    counts = report.dropped_counts(dump)
    assert counts == dict(sorted(manifest["stats"]["dropped"].items(),
                                 key=lambda kv: (-kv[1], kv[0])))
    reason = "as_an_ai"
    n = counts[reason]
    assert n >= 4
    pages = [report.page_dropped(dump, reason, page, 3) for page in range(n // 3 + 2)]
    assert [len(p) for p in pages] == [3] * (n // 3) + [n % 3, 0]
    refs = [e["ref"] for p in pages for e in p]
    assert len(set(refs)) == counts[reason] and all(e["reason"] == reason for p in pages for e in p)
    page = report.format_dropped(pages[0])
    assert page.count("<b>as_an_ai</b>") == 3 and "assistant" in page
    assert report.page_dropped(dump.with_name("missing.jsonl"), None) == []
    assert "No dump" in report.dropped_markdown(dump.with_name("missing.jsonl"))


def test_dropped_rows_are_shown_escaped_with_decoded_details(tmp_path):
    dump = tmp_path / "d.jsonl"
    detail = {"benchmark": "mt_bench", "item_id": "81/turn-1", "matched_text": "a <b> c"}
    dump.write_text(json.dumps({"reason": "contaminated_mt_bench", "detail": json.dumps(detail),
                                "ref": "f:1", "row": {"messages": ["<script>x</script>", "ok"]}})
                    + "\n", encoding="utf-8")
    (entry,) = report.page_dropped(dump, "contaminated_mt_bench")
    assert entry["detail"] == detail
    page = report.format_dropped([entry])
    assert "&lt;script&gt;" in page and "<script>" not in page and "81/turn-1" in page


def test_open_build_and_summary(uc, tmp_path):
    folder, manifest, _ = uc
    build = report.open_build(folder)
    assert build.manifest == manifest
    text = report.summary_markdown(manifest)
    train = manifest["splits"]["train_sft"]["num_examples"]
    as_an_ai = manifest["stats"]["dropped"]["as_an_ai"]
    assert f"| train_sft | {train} |" in text and f"| dropped: `as_an_ai` | {as_an_ai} |" in text
    with pytest.raises(FileNotFoundError, match="not a Hub dataset id"):
        report.open_build(tmp_path / "nothing")
    assert report.ensure_report(build)[0] == folder / "report" / "turns_per_dialogue.png"
    bare = tmp_path / "bare"  # a build without report/ gets one drawn elsewhere
    shutil.copytree(folder, bare, ignore=shutil.ignore_patterns("report"))
    drawn = report.ensure_report(report.open_build(bare))
    assert drawn[0].name == "turns_per_dialogue.png" and not (bare / "report").exists()
