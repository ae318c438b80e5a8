"""The dataset card (``README.md``): its YAML header as the Hub and ``datasets`` read it, its
tables and its load snippet, from a small manifest written here (no build); then the header of
the sample builds against their files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from datasets.info import DatasetInfosDict
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData

from zephyr_data.core.config import parse_config
from zephyr_data.pipelines.ultrachat import UltraChatPipeline
from zephyr_data.pipelines.ultrafeedback import UltraFeedbackPipeline
from zephyr_data.publish.card import load_snippet, render_card, render_command, size_category

SPLITS = {"train_sft": {"num_bytes": 2_000_000, "num_examples": 1_200},
          "test_sft": {"num_bytes": 100_000, "num_examples": 34}}
STATS = {"rows_in": 1_300, "kept": 1_234, "dropped_total": 66,
         "dropped": {"persona_answer": 6, "duplicate": 60},
         "counters": {"truecased_messages": 1_005, "truecased_dialogues": 400}}


def pipeline(*argv: str, cls: type = UltraChatPipeline):
    argv = ("--output-dir", "unused", "--decontaminate", "off", *argv)  # offline
    return cls(parse_config(cls.config_class, list(argv), "prog", ""))


def manifest(config: dict, splits: dict = SPLITS, stats: dict = STATS) -> dict:
    return {"pipeline": "ultrachat", "splits": splits, "stats": stats, "config": config,
            "fingerprint": "ab" * 32,
            "command": ["python -m pipelines.build_ultrachat", "--push-to-hub", "org/uc",
                        "--commit-message", "two words"],
            "input": {"hub_id": "stingning/ultrachat", "revision": "0123abc",
                      "description": "unused", "fingerprint": "cd" * 32},
            "versions": {"zephyr-data": "0.1.0", "datasets": "5.2.0"}}


@pytest.fixture(scope="module")
def card() -> tuple[UltraChatPipeline, dict, str]:
    """A card of an UltraChat build configured to push to zephyr-org/uc, branch v1."""
    uc = pipeline("--push-to-hub", "zephyr-org/uc", "--push-revision", "v1")
    data = manifest({"push_to_hub": "zephyr-org/uc", "push_revision": "v1", "seed": 42})
    return uc, data, render_card(uc, data)


def test_header_has_exactly_what_the_hub_reads(card):
    uc, _, text = card
    header = yaml.safe_load(text.split("---\n")[1])  # the Hub parses the YAML between "---"
    assert header == {
        "language": ["en"], "license": "mit", "size_categories": ["1K<n<10K"],
        "task_categories": ["text-generation"],
        "pretty_name": "UltraChat, filtered and truecased (ultrachat_200k style)",
        "tags": ["zephyr", "alignment", "synthetic", "ultrachat", "sft"],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": "train_sft", "path": "data/train_sft-*"},
                                    {"split": "test_sft", "path": "data/test_sft-*"}]}],
        "dataset_info": {
            "features": [{"name": "prompt", "dtype": "string"},
                         {"name": "prompt_id", "dtype": "string"},
                         {"name": "messages", "list": [{"name": "content", "dtype": "string"},
                                                       {"name": "role", "dtype": "string"}]}],
            "splits": [{"name": "train_sft", "num_bytes": 2_000_000, "num_examples": 1_200},
                       {"name": "test_sft", "num_bytes": 100_000, "num_examples": 34}],
            "dataset_size": 2_100_000}}
    # and datasets' own readers of a card header agree: the features are the pipeline's
    data = DatasetCard(text).data
    assert isinstance(data, DatasetCardData)
    (info,) = DatasetInfosDict.from_dataset_card_data(data).values()
    assert info.features == uc.features()
    assert {name: s.num_examples for name, s in info.splits.items()} == {
        "train_sft": 1_200, "test_sft": 34}
    assert info.dataset_size == 2_100_000
    assert MetadataConfigs.from_dataset_card_data(data) == {"default": {"data_files": [
        {"split": "train_sft", "path": "data/train_sft-*"},
        {"split": "test_sft", "path": "data/test_sft-*"}]}}


def test_tables_give_every_count(card):
    _, _, text = card
    assert "| split | rows |\n|---|---:|\n| train_sft | 1,200 |\n| test_sft | 34 |\n" in text
    assert ("| dropped because | rows |\n|---|---:|\n| `duplicate` | 60 |\n"
            "| `persona_answer` | 6 |\n") in text  # sorted by reason
    assert ("| counter | value |\n|---|---:|\n| truecased dialogues | 400 |\n"
            "| truecased messages | 1,005 |\n") in text
    assert "- Rows in: 1,300; kept: 1,234; dropped: 66." in text
    assert "- Messages truecased: 1,005 (in 400 dialogues)." in text
    assert "- Input: stingning/ultrachat at revision `0123abc`; input fingerprint" in text
    assert f"- Output fingerprint (sha256 over the data files' sha256): `{'ab' * 32}`." in text
    assert ("- Command: `python -m pipelines.build_ultrachat --push-to-hub org/uc "
            "--commit-message 'two words'`") in text
    assert "- Package versions: zephyr-data 0.1.0, datasets 5.2.0." in text
    assert json.dumps({"push_revision": "v1", "push_to_hub": "zephyr-org/uc", "seed": 42},
                      indent=2, sort_keys=True) in text
    empty = render_card(pipeline(), manifest({}, stats={**STATS, "dropped": {},
                                                        "counters": {}}))
    assert "| (none) | 0 |" in empty and "Messages truecased" not in empty


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_load_snippet_names_the_pushed_repo_and_branch(card):
    _, data, text = card
    snippet = load_snippet(data)
    assert snippet in text
    (code,) = code_blocks(snippet)
    assert code.splitlines() == [
        "from datasets import load_dataset", "",
        'ds = load_dataset("zephyr-org/uc", split="train_sft", revision="v1")', "",
        "# or, checked against the SFT schema (roles, alternation, non-empty content):",
        "from zephyr_data import load_dataset_split", "",
        'ds = load_dataset_split("zephyr-org/uc", "train_sft", task="sft", revision="v1")']
    compile(code, "snippet", "exec")  # valid Python as shown
    assert "`published.json` (never uploaded)" in snippet


def test_load_snippet_of_an_unpushed_preference_build():
    splits = {"train_prefs": SPLITS["train_sft"], "test_prefs": SPLITS["test_sft"]}
    (code,) = code_blocks(load_snippet(manifest({}, splits)))
    assert 'load_dataset("PATH_OR_ORG/NAME", split="train_prefs")' in code
    assert 'load_dataset_split("PATH_OR_ORG/NAME", "train_prefs", task="dpo")' in code
    assert "DPO schema" in code and "revision" not in code


@pytest.mark.parametrize("n, label", [(0, "n<1K"), (999, "n<1K"), (1_000, "1K<n<10K"),
                                      (207_865, "100K<n<1M"), (1_000_000, "1M<n<10M"),
                                      (10**8, "10M<n<100M")])
def test_size_category_boundaries(n, label):
    assert size_category(n) == label


def test_render_command_keeps_the_program_whole_and_quotes_the_rest():
    assert render_command(["python -m pipelines.build_ultrachat", "--input", "my data.jsonl"]) \
        == "python -m pipelines.build_ultrachat --input 'my data.jsonl'"
    assert render_command(["/usr/bin/my tool", "-x"]) == "'/usr/bin/my tool' -x"
    assert render_command([]) == ""


@pytest.mark.parametrize("name", ["ultrachat", "ultrafeedback"])
def test_sample_builds_header_matches_their_files(name, request):
    """Each split's ``data_files`` pattern matches exactly that split's shards, and the
    header's features and counts are the build's."""
    out, _ = request.getfixturevalue(f"{name}_sample")
    built_by = pipeline(cls=UltraChatPipeline if name == "ultrachat" else UltraFeedbackPipeline)
    built = json.loads((Path(out) / "manifest.json").read_text())
    data = DatasetCard.load(Path(out) / "README.md").data
    (info,) = DatasetInfosDict.from_dataset_card_data(data).values()
    assert info.features == built_by.features()
    assert {n: (s.num_examples, s.num_bytes) for n, s in info.splits.items()} == {
        n: (s["num_examples"], s["num_bytes"]) for n, s in built["splits"].items()}
    (config,) = MetadataConfigs.from_dataset_card_data(data).values()
    for entry in config["data_files"]:
        matched = sorted(p.relative_to(out).as_posix() for p in Path(out).glob(entry["path"]))
        assert matched == sorted(f for f in built["files"]
                                 if f.startswith(f"data/{entry['split']}-")), entry
    assert sorted(e["split"] for e in config["data_files"]) == sorted(built["splits"])
