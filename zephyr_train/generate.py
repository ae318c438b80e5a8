"""Benchmark answers: ``python -m zephyr_train.generate --benchmark mt_bench|alpaca_eval
--model PATH_OR_HUB_ID [--questions FILE] [--key value ...]``.

Writes FastChat's MT-Bench ``model_answer/{model_id}.jsonl`` or AlpacaEval's
``{model_id}/model_outputs.json`` under ``--output_dir``; a partial file is resumed.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from zephyr_data.io.benchmarks import load_alpaca_eval, load_mt_bench
from zephyr_train.backends import make_backend
from zephyr_train.benchmarks import (
    AlpacaEvalOutputFile,
    MTBenchAnswerFile,
    answer_id,
    mt_bench_temperature,
)
from zephyr_train.configs import RecipeError, parse_dataclasses

logger = logging.getLogger("zephyr_train.generate")
BENCHMARKS = ("mt_bench", "alpaca_eval")


@dataclass
class GenerateArguments:
    benchmark: str = field(default=None, metadata={"help": "mt_bench or alpaca_eval."})
    model: str = field(default=None, metadata={"help": "Checkpoint directory or Hub id."})
    model_id: str | None = field(
        default=None, metadata={"help": "Name in the answer files (default: the model's "
                                "directory name)."})
    revision: str = field(default="main", metadata={"help": "Hub revision of the model."})
    questions: str | None = field(
        default=None, metadata={"help": "Local question file (MT-Bench question.jsonl or "
                                "AlpacaEval .json/.jsonl); default: download from the Hub."})
    output_dir: str = field(default="outputs/eval", metadata={"help": "Where answers go."})
    output_file: str | None = field(
        default=None, metadata={"help": "Exact output path (overrides the FastChat/AlpacaEval "
                                "layout under output_dir)."})
    backend: str = field(default="auto", metadata={"help": "auto, vllm or transformers."})
    batch_size: int = field(default=8, metadata={"help": "Questions per generate call."})
    max_new_tokens: int | None = field(
        default=None, metadata={"help": "Default: 1024 (MT-Bench, as FastChat), 2048 "
                                "(AlpacaEval)."})
    temperature: float = field(
        default=0.7, metadata={"help": "AlpacaEval sampling temperature (0: greedy). MT-Bench "
                               "always uses FastChat's per-category temperatures."})
    limit: int | None = field(
        default=None, metadata={"help": "Only the first N questions of the set."})
    max_items: int | None = field(
        default=None, metadata={"help": "Stop after N newly answered questions (chunked runs); "
                                "run again to continue."})
    dtype: str = field(default="auto", metadata={"help": "auto, bfloat16, float16 or float32."})
    seed: int = field(default=42, metadata={"help": "Sampling seed."})

    def __post_init__(self):
        if self.benchmark not in BENCHMARKS:
            raise RecipeError(f"benchmark={self.benchmark!r} is not one of {BENCHMARKS}; pass "
                              "--benchmark mt_bench or --benchmark alpaca_eval.")
        if not self.model:
            raise RecipeError("No model given: pass --model with a checkpoint directory or a "
                              "Hub id.")
        if self.model_id is None:
            self.model_id = Path(self.model.rstrip("/")).name
        if self.max_new_tokens is None:
            self.max_new_tokens = 1024 if self.benchmark == "mt_bench" else 2048
        for name in ("batch_size", "max_new_tokens"):
            if getattr(self, name) < 1:
                raise RecipeError(f"{name}={getattr(self, name)} must be at least 1.")

    @property
    def output_path(self) -> Path:
        if self.output_file:
            return Path(self.output_file)
        if self.benchmark == "mt_bench":  # FastChat: data/mt_bench/model_answer/{model_id}.jsonl
            return Path(self.output_dir) / "mt_bench" / "model_answer" / f"{self.model_id}.jsonl"
        return Path(self.output_dir) / "alpaca_eval" / self.model_id / "model_outputs.json"


def _batches(items, size):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def generate_mt_bench(args: GenerateArguments, backend) -> Path:
    """Both turns of every question; turn 2 sees the model's own turn-1 answer."""
    questions = load_mt_bench(args.questions)[:args.limit]
    out = MTBenchAnswerFile(args.output_path)
    done = out.load()
    todo = [q for q in questions if q.question_id not in done][:args.max_items]
    logger.info("MT-Bench: %d questions, %d already answered in %s, %d to do.",
                len(questions), len(done), out.path, len(todo))
    # One temperature per generate call: group by it, keeping question order within a group.
    todo.sort(key=lambda q: mt_bench_temperature(q.category))
    with tqdm(total=len(todo), desc="MT-Bench", unit="question") as bar:
        for temperature in sorted({mt_bench_temperature(q.category) for q in todo}):
            group = [q for q in todo if mt_bench_temperature(q.category) == temperature]
            for batch in _batches(group, args.batch_size):
                conversations = [[] for _ in batch]
                answers = [[] for _ in batch]
                for turn in range(max(len(q.turns) for q in batch)):
                    live = [i for i, q in enumerate(batch) if turn < len(q.turns)]
                    for i in live:
                        conversations[i].append({"role": "user", "content": batch[i].turns[turn]})
                    prompts = [backend.render(conversations[i]) for i in live]
                    outputs = backend.generate(prompts, temperature=temperature,
                                               max_new_tokens=args.max_new_tokens)
                    for i, text in zip(live, outputs, strict=True):
                        conversations[i].append({"role": "assistant", "content": text})
                        answers[i].append(text)
                for q, turns in zip(batch, answers, strict=True):
                    out.append({"question_id": q.question_id, "answer_id": answer_id(),
                                "model_id": args.model_id,
                                "choices": [{"index": 0, "turns": turns}],
                                "tstamp": time.time()})
                bar.update(len(batch))
    records = out.finalize()
    logger.info("MT-Bench: %d answers in %s", len(records), out.path)
    return out.path


def generate_alpaca_eval(args: GenerateArguments, backend) -> Path:
    items = load_alpaca_eval(args.questions)[:args.limit]
    out = AlpacaEvalOutputFile(args.output_path)
    records = out.load(items, args.model_id)
    todo = items[len(records):]
    if args.max_items is not None:
        todo = todo[:args.max_items]
    logger.info("AlpacaEval: %d instructions, %d already answered in %s, %d to do.",
                len(items), len(records), out.path, len(todo))
    with tqdm(total=len(todo), desc="AlpacaEval", unit="instruction") as bar:
        for batch in _batches(todo, args.batch_size):
            prompts = [backend.render([{"role": "user", "content": it.instruction}])
                       for it in batch]
            outputs = backend.generate(prompts, temperature=args.temperature,
                                       max_new_tokens=args.max_new_tokens)
            records += [{"instruction": it.instruction, "output": text,
                         "generator": args.model_id, "dataset": it.dataset}
                        for it, text in zip(batch, outputs, strict=True)]
            out.save(records)
            bar.update(len(batch))
    out.save(records)
    logger.info("AlpacaEval: %d outputs in %s", len(records), out.path)
    return out.path


def run(args: GenerateArguments, backend=None) -> Path:
    # Question files are read (and checked) before the model is loaded.
    (load_mt_bench if args.benchmark == "mt_bench" else load_alpaca_eval)(args.questions)
    if backend is None:
        backend = make_backend(args.backend, args.model, revision=args.revision,
                               dtype=args.dtype, seed=args.seed)
    fn = generate_mt_bench if args.benchmark == "mt_bench" else generate_alpaca_eval
    return fn(args, backend)


def main(argv: Sequence[str] | None = None) -> Path:
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        level=logging.INFO)
    (args,) = parse_dataclasses((GenerateArguments,), argv)
    path = run(args)
    print(path)
    return path


if __name__ == "__main__":
    main(sys.argv[1:])
