"""The dataset card's YAML header, read back with huggingface_hub's card tools, matches the
manifest; the body has what a reader needs to load and rebuild the dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from huggingface_hub import DatasetCard, DatasetCardData

from zephyr_data.publish.card import render_command

PIPELINES = {
    "ultrachat": ("pipelines.build_ultrachat", "main", "train_sft", "sft"),
    "ultrafeedback": ("pipelines.build_ultrafeedback", "main", "train_prefs", "dpo"),
}


@pytest.fixture(scope="module", params=sorted(PIPELINES))
def built(request, tmp_path_factory) -> tuple[str, Path]:
    """A sample build configured to push to ``zephyr-org/{name}`` on branch ``v1`` (the build
    writes the card; nothing is pushed here)."""
    from zephyr_data.core.config import parse_config
    from zephyr_data.runner.build import build

    name = request.param
    module = pytest.importorskip(PIPELINES[name][0])
    pipeline_class = module.UltraChatPipeline if name == "ultrachat" \
        else module.UltraFeedbackPipeline
    out = tmp_path_factory.mktemp(name) / "out"
    argv = ["--sample", "--output-dir", str(out), "--no-progress",
            "--push-to-hub", f"zephyr-org/{name}", "--push-revision", "v1"]
    config = parse_config(pipeline_class.config_class, argv, "prog", "")
    build(pipeline_class(config), command=[f"python -m {PIPELINES[name][0]}", *argv])
    return name, out


def test_card_header_parses_and_matches_the_manifest(built):
    name, out = built
    manifest = json.loads((out / "manifest.json").read_text())
    card = DatasetCard.load(out / "README.md")
    data = card.data
    assert isinstance(data, DatasetCardData)
    # every split of every config with its row count, as the manifest has them: the default
    # config, and a preference build's trl config
    expected = {"default": ("data", manifest["splits"])}
    expected.update({name: (c["dir"], c["splits"])
                     for name, c in manifest.get("configs", {}).items()})
    assert sorted(expected) == (["default"] if name == "ultrachat" else ["default", "trl"])
    infos = data.dataset_info if isinstance(data.dataset_info, list) \
        else [{"config_name": "default", **data.dataset_info}]
    assert [i["config_name"] for i in infos] == sorted(expected)
    for info in infos:
        folder, written = expected[info["config_name"]]
        assert sorted(s["name"] for s in info["splits"]) == sorted(written)
        for s in info["splits"]:
            assert s["num_examples"] == written[s["name"]]["num_examples"]
            assert s["num_bytes"] == written[s["name"]]["num_bytes"]
    # configs: one data_files pattern per split, matching exactly that split's shards
    assert [c["config_name"] for c in data.configs] == sorted(expected)
    for config in data.configs:
        folder, written = expected[config["config_name"]]
        patterns = {d["split"]: d["path"] for d in config["data_files"]}
        assert set(patterns) == set(written)
        for split, pattern in patterns.items():
            matched = sorted(p.relative_to(out).as_posix() for p in out.glob(pattern))
            assert matched == sorted(f for f in manifest["files"]
                                     if f.startswith(f"{folder}/{split}-"))
            assert matched
    # the rest of the metadata the Hub reads
    assert data.license == "mit" and data.language == ["en"]
    assert data.task_categories == ["text-generation"]
    assert data.size_categories == ["n<1K"]
    assert {"zephyr", "sft" if name == "ultrachat" else "dpo"} <= set(data.tags)
    features = [f["name"] for f in infos[0]["features"]]
    assert features[:3] == ["prompt", "prompt_id",
                            "messages" if name == "ultrachat" else "chosen"]
    if name == "ultrafeedback":  # TRL's explicit-prompt format
        assert [f["name"] for f in infos[1]["features"]][:3] == ["prompt", "chosen", "rejected"]
    # the Hub's own parse (yaml) agrees with the card tools
    header = yaml.safe_load((out / "README.md").read_text().split("---")[1])
    assert header["dataset_info"] == data.dataset_info


def test_card_body_says_how_to_load_and_rebuild(built):
    name, out = built
    _, _, first_split, task = PIPELINES[name]
    manifest = json.loads((out / "manifest.json").read_text())
    text = DatasetCard.load(out / "README.md").text
    repo = f"zephyr-org/{name}"
    assert f'load_dataset("{repo}", split="{first_split}", revision="v1")' in text
    assert f'load_dataset_split("{repo}", "{first_split}", task="{task}", revision="v1")' in text
    assert "`published`" in text  # where the pinned commit is recorded
    command = render_command(manifest["command"])
    assert f"- Command: `{command}`" in text
    assert command.startswith(f"python -m {PIPELINES[name][0]} --sample")
    for split, info in manifest["splits"].items():
        assert f"| {split} | {info['num_examples']:,} |" in text
    for reason, n in manifest["stats"]["dropped"].items():
        assert f"| `{reason}` | {n:,} |" in text
    if name == "ultrachat":
        counters = manifest["stats"]["counters"]
        assert (f"Messages truecased: {counters['truecased_messages']:,} "
                f"(in {counters['truecased_dialogues']:,} dialogues)") in text
    assert manifest["input"]["description"] in text or manifest["input"]["hub_id"] in text
    assert json.dumps(manifest["config"], indent=2, sort_keys=True) in text
    for package, version in manifest["versions"].items():
        assert f"{package} {version}" in text
