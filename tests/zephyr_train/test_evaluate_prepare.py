"""``--prepare-data DIR`` downloads what lm-eval's tasks load, from the Hub ids and configs their
YAML names, into the ``--data-dir`` layout: through the real ``datasets``/``huggingface_hub``
clients against the stand-in Hub on 127.0.0.1 (issue 16)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import datasets
import pytest

from tests.support.hub_server import TOKEN, HubServer, client_env
from tests.support.lm_eval_tasks import arc_rows, hellaswag_rows, truthfulqa_rows
from tests.support.paths import REPO
from zephyr_train.evaluation.lm_tasks import resolve, task_manager, write_task_overrides
from zephyr_train.evaluation.suite import suite_tasks
from zephyr_train.evaluation.task_data import check_data_dir, prepare_data

TASKS = ["arc_challenge", "hellaswag", "truthfulqa_mc2"]
# The Hub layout of each dataset: config folder, split files, configs in the card.
HUB = {
    "allenai/ai2_arc": ("ARC-Challenge", {"train": arc_rows(26, 100), "validation": arc_rows(3, 50),
                                          "test": arc_rows(4)}),
    "Rowan/hellaswag": (None, {"train": hellaswag_rows(12, 100), "validation": hellaswag_rows(3),
                               "test": hellaswag_rows(2, 200)}),
    "truthfulqa/truthful_qa": ("multiple_choice", {"validation": truthfulqa_rows(3)}),
}
SCRIPT = r"""
import os, sys
from huggingface_hub import HfApi
api = HfApi()
for repo in sys.argv[3:]:
    api.create_repo(repo, repo_type="dataset")
    api.upload_folder(repo_id=repo, folder_path=os.path.join(sys.argv[1], repo),
                      repo_type="dataset")
from zephyr_train.evaluate import main
sys.exit(main(["--prepare-data", sys.argv[2], "--tasks", "arc_challenge,hellaswag,truthfulqa_mc2"]))
"""


def _hub_folder(root: Path, repo: str, config: str | None, splits: dict[str, list[dict]]) -> None:
    folder = root / repo
    card = ["---", "configs:", f"- config_name: {config or 'default'}", "  data_files:"]
    for split, rows in splits.items():
        rel = f"{config or 'data'}/{split}-00000-of-00001.parquet"
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        datasets.Dataset.from_list(rows).to_parquet(folder / rel)
        card += [f"  - split: {split}", f"    path: {rel}"]
    (folder / "README.md").write_text("\n".join(card + ["---", f"# {repo}", ""]))


@pytest.fixture(scope="module")
def hub():
    with HubServer(token=TOKEN) as server:
        yield server


def test_prepare_data_writes_what_the_tasks_read(hub, tmp_path):
    for repo, (config, splits) in HUB.items():
        _hub_folder(tmp_path / "hub", repo, config, splits)
    out = tmp_path / "openllm-data"
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "hub"), str(out), *HUB],
                            cwd=REPO, env=client_env(hub, tmp_path / "home"), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == str(out)
    resolved = resolve(suite_tasks("openllm-v1", TASKS))
    files = check_data_dir(out, resolved)  # the layout --data-dir expects, complete
    assert files["arc_challenge"].files["test"] == \
        str(out / "allenai/ai2_arc/ARC-Challenge/test.parquet")
    assert sorted(p.name for p in (out / "Rowan/hellaswag/default").iterdir()) == \
        ["train.parquet", "validation.parquet"]  # only the splits lm-eval's config names
    manifest = json.loads((out / "manifest.json").read_text())
    assert {(f["dataset"], f["split"], f["rows"]) for f in manifest["files"]} == {
        ("allenai/ai2_arc", "train", 26), ("allenai/ai2_arc", "validation", 3),
        ("allenai/ai2_arc", "test", 4), ("Rowan/hellaswag", "train", 12),
        ("Rowan/hellaswag", "validation", 3), ("truthfulqa/truthful_qa", "validation", 3)}
    # lm-eval's own tasks, pointed at the prepared files, see the Hub's rows.
    manager = task_manager(write_task_overrides(
        resolved, tmp_path / "tasks", {k: (v.builder, v.files) for k, v in files.items()}))
    tasks = manager.load(TASKS)["tasks"]
    assert list(tasks["arc_challenge"].test_docs()) == HUB["allenai/ai2_arc"][1]["test"]
    assert [d["question"] for d in tasks["truthfulqa_mc2"].validation_docs()] == \
        [r["question"] for r in HUB["truthfulqa/truthful_qa"][1]["validation"]]
    query = tasks["hellaswag"].validation_docs()[0]["query"]  # after lm-eval's process_docs
    assert query == "Teaching science: A teacher stands at the board in lesson 0. She"
    # A second run (here offline, in this process) finds every file and downloads nothing.
    served, mtime = len(hub.requests), (out / "Rowan/hellaswag/default/train.parquet").stat()
    assert prepare_data(out, resolved) == out
    assert len(hub.requests) == served
    assert (out / "Rowan/hellaswag/default/train.parquet").stat().st_mtime_ns == mtime.st_mtime_ns
