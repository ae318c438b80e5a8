"""What ``python -m zephyr_train.evaluate`` does: its arguments, and each mode (evaluate a
model, --dry-run, --prepare-data, the table of --compare files alone)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from zephyr_train.configs import RecipeError
from zephyr_train.evaluation.harness import batch_size_arg
from zephyr_train.evaluation.judges import alpaca_eval_scores, mt_bench_scores
from zephyr_train.evaluation.suite import SUITES, suite_tasks

logger = logging.getLogger("zephyr_train.evaluate")


@dataclass
class EvaluateArguments:
    """The command line of ``python -m zephyr_train.evaluate`` (``--key value``, or a YAML file
    with ``--config``)."""

    model: str | None = field(default=None, metadata={"help": "Checkpoint directory or Hub id."})
    model_id: str | None = field(
        default=None, metadata={"help": "The model's column in the table, its results file name "
                                "and its name in the judges' files (default: the directory name, "
                                "as zephyr_train.generate)."})
    revision: str = field(default="main", metadata={"help": "Hub revision of the model."})
    suite: str = field(default="openllm-v1", metadata={"help": f"One of {', '.join(SUITES)}."})
    tasks: list[str] | None = field(default=None, metadata={"help": "Only these suite tasks."})
    batch_size: str = field(default="8", metadata={"help": "Per forward pass, or 'auto'."})
    limit: int | None = field(
        default=None, metadata={"help": "Only the first N examples of each task (a quick look; "
                                "the table marks such numbers as not comparable)."})
    data_dir: str | None = field(
        default=None, metadata={"help": "Run offline from local task data in the layout "
                                "--prepare-data writes."})
    prepare_data: str | None = field(
        default=None, metadata={"help": "Download the suite's datasets from the Hub into this "
                                "folder (the --data-dir layout), then exit."})
    dry_run: bool = field(default=False, metadata={"help": "Print the tasks, shots and metrics "
                                                   "and check the inputs; load no model."})
    output_dir: str = field(default="outputs/eval/leaderboard",
                            metadata={"help": "Where {model_id}.json and {model_id}.md go."})
    compare: list[str] | None = field(
        default=None, metadata={"help": "Results files of other models: one column each."})
    mt_bench: list[str] | None = field(
        default=None, metadata={"help": "FastChat's model_judgment/gpt-4_single.jsonl."})
    alpaca_eval: list[str] | None = field(
        default=None, metadata={"help": "alpaca_eval's leaderboard.csv or annotations.json."})
    log_samples: bool = field(
        default=False, metadata={"help": "Also write lm-eval's per-example log (prompts, "
                                 "log-likelihoods) to {model_id}.samples.jsonl."})
    dtype: str = field(default="auto", metadata={"help": "auto, bfloat16, float16 or float32."})
    device: str | None = field(default=None, metadata={"help": "Default: cuda when available."})

    def __post_init__(self):
        self.selected = suite_tasks(self.suite, self.tasks)  # checks --suite and --tasks
        self.batch = batch_size_arg(self.batch_size)
        if self.limit is not None and self.limit < 1:
            raise RecipeError(f"--limit {self.limit} must be at least 1 (or left out).")
        if self.dtype not in ("auto", "bfloat16", "float16", "float32"):
            raise RecipeError(f"--dtype {self.dtype!r} is not auto, bfloat16, float16 or float32.")
        if not (self.model or self.compare or self.prepare_data or self.dry_run):
            raise RecipeError("Nothing to do: pass --model (evaluate it), --compare FILES (print "
                              "their table), --prepare-data DIR or --dry-run.")
        if self.model and self.model_id is None:
            self.model_id = Path(self.model.rstrip("/")).name
        if self.model_id is not None and ("/" in self.model_id or not self.model_id.strip()):
            raise RecipeError(f"--model-id {self.model_id!r} names a file; use a name without "
                              "'/', as FastChat's and alpaca_eval's model names.")

    @property
    def results_path(self) -> Path:
        return Path(self.output_dir) / f"{self.model_id}.json"


def describe(args: EvaluateArguments, resolved) -> str:
    from zephyr_train.evaluation.lm_tasks import lm_eval_version

    lines = [f"{args.suite}: {len(resolved)} tasks, lm-evaluation-harness {lm_eval_version()}, "
             "chat template off",
             f"{'task':<16}{'shots':>5}  {'metric':<10}{'lm-eval':<22}data"]
    for item in resolved:
        task, leaves = item.task, item.leaves
        metric = task.metric_label + ("" if task.metric == task.metric_label
                                      else f" ({task.metric})")
        kind = "task" if item.kind == "task" else f"group of {len(leaves)} tasks"
        sources = sorted({leaf.dataset_path for leaf in leaves})
        configs = sorted({leaf.dataset_name or "default" for leaf in leaves})
        config = configs[0] if len(configs) == 1 else f"{len(configs)} configs"
        splits = ", ".join(dict.fromkeys(s for leaf in leaves for s in leaf.splits))
        lines.append(f"{task.name:<16}{task.shots:>5}  {metric:<10}{kind:<22}"
                     f"{', '.join(sources)} ({config}): {splits}")
    lines.append(f"data: {args.data_dir + ' (every file present)' if args.data_dir else 'the Hub'}")
    if args.model:
        lines.append(f"model: {args.model} (not loaded); results: {args.results_path}")
    return "\n".join(lines)


def run(args: EvaluateArguments) -> int:
    """The command's exit status. Every input is read and checked before a model is loaded."""
    from zephyr_train.evaluation.harness import model_args, require_lm_eval, run_lm_eval
    from zephyr_train.evaluation.results import ModelResults, load_results, summarize
    from zephyr_train.evaluation.table import render_table

    compare = [load_results(p) for p in args.compare or []]
    if args.model:  # a rerun replaces the model's own earlier results file
        compare = [c for c in compare if c.path.resolve() != args.results_path.resolve()]
    judged = (mt_bench_scores(args.mt_bench or []), alpaca_eval_scores(args.alpaca_eval or []))
    if not (args.model or args.prepare_data or args.dry_run):
        print(render_table(SUITES[args.suite], compare, *judged), end="")
        return 0

    require_lm_eval()
    from zephyr_train.evaluation.lm_tasks import resolve
    from zephyr_train.evaluation.task_data import check_data_dir, prepare_data

    resolved = resolve(args.selected)
    if args.prepare_data:
        print(prepare_data(args.prepare_data, resolved))
        return 0
    data_files = check_data_dir(args.data_dir, resolved) if args.data_dir else None
    loaded = model_args(args.model, args.revision, args.dtype) if args.model else None
    if loaded:
        from zephyr_train.modeling import check_model_source

        check_model_source(loaded["pretrained"], what="--model" if "peft" not in loaded else
                           f"base_model_name_or_path of the adapter {args.model}")
    if args.dry_run:
        print(describe(args, resolved))
        return 0

    lm_results = run_lm_eval(resolved, model_args=loaded, batch_size=args.batch,
                             limit=args.limit, device=args.device, data_files=data_files,
                             log_samples=args.log_samples)
    if lm_results is None:  # not the main process of a distributed launch
        return 0
    summary = summarize(resolved, lm_results, suite=args.suite, model=args.model,
                        model_id=args.model_id, revision=args.revision, limit=args.limit,
                        batch_size=args.batch, dtype=args.dtype, data_dir=args.data_dir,
                        base_model=loaded["pretrained"] if "peft" in loaded else None)
    write_outputs(args, summary, lm_results,
                  render_table(SUITES[args.suite],
                               [*compare, ModelResults(args.model_id, summary, args.results_path)],
                               *judged))
    return 0


def write_outputs(args: EvaluateArguments, summary: dict, lm_results: dict, table: str) -> None:
    """``{model_id}.json``, ``{model_id}.md`` (the table, also printed) and, with
    --log-samples, ``{model_id}.samples.jsonl``."""
    from zephyr_train.evaluation.results import write_results, write_samples

    path = write_results(args.results_path, summary, lm_results)
    if args.log_samples:
        write_samples(path.with_suffix(".samples.jsonl"), lm_results)
    path.with_suffix(".md").write_text(table, encoding="utf-8")
    print(table, end="")
    logger.info("Wrote %s and %s", path, path.with_suffix(".md"))
