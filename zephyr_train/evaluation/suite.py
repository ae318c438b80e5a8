"""The Open LLM Leaderboard (v1) tasks the Zephyr paper reports, and the paper's own numbers.

Each task is lm-evaluation-harness's own definition (prompt, preprocessing, metric); the suite
only fixes the number of shots and which of the task's metrics is the score, as the
leaderboard did. ``lm_eval_dirs`` says where under ``lm_eval/tasks/`` the task's YAML files
live, so that only those folders are indexed (the whole tree takes seconds); a task that moved
is still found by indexing everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from zephyr_train.configs import RecipeError


@dataclass(frozen=True)
class SuiteTask:
    name: str            # lm-eval task or group name
    label: str           # row label in the table
    shots: int
    metric: str          # lm-eval metric key (without the ",none" filter suffix)
    metric_label: str    # how the table names it
    lm_eval_dirs: tuple[str, ...]

    @property
    def row(self) -> str:
        return f"{self.label} ({self.shots}-shot, {self.metric_label})"


SUITES: dict[str, tuple[SuiteTask, ...]] = {
    "openllm-v1": (
        SuiteTask("arc_challenge", "ARC", 25, "acc_norm", "acc_norm", ("arc",)),
        SuiteTask("hellaswag", "HellaSwag", 10, "acc_norm", "acc_norm", ("hellaswag",)),
        SuiteTask("mmlu", "MMLU", 5, "acc", "acc", ("mmlu/default",)),
        # truthfulqa_mc2's "acc" is the mc2 score: the normalised probability of the true answers.
        SuiteTask("truthfulqa_mc2", "TruthfulQA", 0, "acc", "mc2", ("truthfulqa",)),
    ),
}

# Zephyr-7B-beta as published (Tunstall et al., 2023; the Open LLM Leaderboard v1 and the
# model card): leaderboard tasks in percent, MT-Bench on FastChat's 1-10 scale with GPT-4 as the
# judge, AlpacaEval as the GPT-4 win rate against text-davinci-003 (AlpacaEval 1).
PAPER_NAME = "Zephyr-7B-beta (paper)"
PAPER_SCORES = {"arc_challenge": 62.03, "hellaswag": 84.36, "mmlu": 61.07,
                "truthfulqa_mc2": 57.45, "mt_bench": 7.34, "alpaca_eval": 90.60}
JUDGED_ROWS = (("mt_bench", "MT-Bench (GPT-4 judge, 1-10)"),
               ("alpaca_eval", "AlpacaEval (GPT-4 win rate, %)"))


def suite_tasks(suite: str, tasks: list[str] | None = None) -> tuple[SuiteTask, ...]:
    """The suite's tasks, or the subset named in ``tasks`` (in the suite's order)."""
    if suite not in SUITES:
        raise RecipeError(f"--suite {suite!r} is not a known suite; choose one of "
                          f"{', '.join(SUITES)}.")
    every = SUITES[suite]
    if not tasks:
        return every
    names = [n.strip() for item in tasks for n in item.split(",") if n.strip()]
    known = {t.name for t in every}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise RecipeError(f"--tasks {', '.join(unknown)}: not in the {suite} suite, whose tasks "
                          f"are {', '.join(t.name for t in every)}.")
    return tuple(t for t in every if t.name in names)


def describe(tasks: tuple[SuiteTask, ...]) -> str:
    """One line per task: name, shots, metric."""
    width = max(len(t.name) for t in tasks)
    return "\n".join(f"{t.name:<{width}}  {t.shots:>2}-shot  {t.metric_label}" for t in tasks)
