"""The data that travels to the GPU machine beside the wheels, made here where the build stack
(polars, truecase, nltk) and mistral-common are installed:

    BUNDLE/data/ultrachat/        the UltraChat sample build (README.md, manifest.json, data/)
    BUNDLE/data/ultrafeedback/    the UltraFeedback sample build
    BUNDLE/tokenizer/             Mistral-7B-v0.1's tokenizer (mistral-common's tokenizer.model.v1,
                                  saved by transformers with the Zephyr template: tokenizers only)
    BUNDLE/mt_bench_question.jsonl  the first MT-Bench question of each category (FastChat)
    BUNDLE/manifest.json          sizes and sha256 of every file, and the versions used

The GPU machine then needs only parquet, tokenizers and the wheels.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from zephyr_data.core.ids import sha256_file

TOKENIZER_SOURCE = "mistral-common:tokenizer.model.v1"
QUESTIONS_FILE = "mt_bench_question.jsonl"
SPLITS = {"ultrachat": "train_sft", "ultrafeedback": "train_prefs"}


@dataclass(frozen=True)
class Bundle:
    """Paths inside a bundle folder."""

    root: Path

    @property
    def ultrachat(self) -> Path:
        return self.root / "data" / "ultrachat"

    @property
    def ultrafeedback(self) -> Path:
        return self.root / "data" / "ultrafeedback"

    @property
    def tokenizer(self) -> Path:
        return self.root / "tokenizer"

    @property
    def questions(self) -> Path:
        return self.root / QUESTIONS_FILE

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    def missing(self) -> list[str]:
        """What the check needs and the folder lacks, as 'path (what)'."""
        wanted = {
            self.ultrachat / "data": f"UltraChat sample build, split {SPLITS['ultrachat']}",
            self.ultrafeedback / "data": f"UltraFeedback sample build, split "
                                         f"{SPLITS['ultrafeedback']}",
            self.tokenizer / "tokenizer.json": "Mistral tokenizer",
            self.questions: "MT-Bench questions",
        }
        out = []
        for path, what in wanted.items():
            if path.name == "data":
                split = SPLITS[path.parent.name]
                if not sorted(path.glob(f"{split}-*.parquet")):
                    out.append(f"{path}/{split}-*.parquet ({what})")
            elif not path.is_file():
                out.append(f"{path} ({what})")
        return out

    def require(self) -> None:
        missing = self.missing()
        if missing:
            raise FileNotFoundError(
                f"The bundle {self.root} lacks {'; '.join(missing)}. Make it where the project is "
                "installed with `python -m zephyr_train.gpu_check.pack --dir "
                f"{self.root}` and copy it beside the repository (or pass --bundle DIR).")


def _copy_build(source: Path, target: Path) -> None:
    """The Hub-layout part of a pipeline build: README.md (dataset card), manifest.json (so the
    loader can check the data files against it) and data/."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy2(source / "README.md", target / "README.md")
    shutil.copy2(source / "manifest.json", target / "manifest.json")
    shutil.copytree(source / "data", target / "data")


def _build_sample(name: str, target: Path) -> None:
    from pipelines import build_ultrachat, build_ultrafeedback

    build = build_ultrachat if name == "ultrachat" else build_ultrafeedback
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / name
        status = build.main(["--sample", "--output-dir", str(out), "--no-progress"])
        if status != 0:
            raise RuntimeError(f"The {name} sample build failed (exit status {status}); run "
                               f"python -m pipelines.build_{name} --sample to see why.")
        _copy_build(out, target)


def first_of_each_category(source: Path) -> list[dict]:
    """FastChat question records: the first question of each MT-Bench category, in file order."""
    from zephyr_data.io.benchmarks import load_mt_bench

    load_mt_bench(source)  # checks the format
    picked: dict[str, dict] = {}
    for line in source.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            picked.setdefault(record["category"], record)
    return list(picked.values())


def save_tokenizer(target: Path, source: str = TOKENIZER_SOURCE) -> None:
    from zephyr_train.modeling import tokenizer_from

    if target.exists():
        shutil.rmtree(target)
    tokenizer_from(source).save_pretrained(target)


def file_table(root: Path, skip: tuple[str, ...] = ()) -> dict[str, dict]:
    """Every file under ``root`` (but ``skip`` folders): relative path -> size and sha256."""
    table = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel == "manifest.json" or rel.split("/")[0] in skip:
            continue
        table[rel] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    return table


def build_bundle(root: Path, *, questions_source: Path, ultrachat: Path | None = None,
                 ultrafeedback: Path | None = None) -> Bundle:
    """Write the data part of the bundle under ``root`` (wheels are ``wheels.py``'s job).

    ``ultrachat``/``ultrafeedback``: existing sample builds to copy; by default the pipelines
    build them here from the samples bundled with zephyr_data.
    """
    from importlib.metadata import version

    bundle = Bundle(Path(root))
    bundle.root.mkdir(parents=True, exist_ok=True)
    if not questions_source.is_file():
        raise FileNotFoundError(
            f"MT-Bench questions not found at {questions_source}. Pass --questions with FastChat's "
            "question.jsonl (../shared/data/benchmarks/mt_bench_question.jsonl beside the "
            "checkout).")
    for name, given in (("ultrachat", ultrachat), ("ultrafeedback", ultrafeedback)):
        target = getattr(bundle, name)
        if given is None:
            _build_sample(name, target)
        else:
            _copy_build(Path(given), target)
    save_tokenizer(bundle.tokenizer)
    questions = first_of_each_category(questions_source)
    bundle.questions.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n"
                                        for q in questions), encoding="utf-8")
    bundle.require()
    manifest = {
        "made_with": {name: version(name) for name in ("transformers", "tokenizers",
                                                        "mistral-common", "datasets")},
        "tokenizer_source": TOKENIZER_SOURCE,
        "questions_source": str(questions_source),
        "files": file_table(bundle.root, skip=("wheels",)),
    }
    bundle.manifest.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return bundle
