"""The Markdown table: Zephyr-7B-beta's published numbers beside one column per model."""

from __future__ import annotations

from zephyr_train.evaluation.judges import JudgeScore
from zephyr_train.evaluation.results import ModelResults
from zephyr_train.evaluation.suite import JUDGED_ROWS, PAPER_NAME, PAPER_SCORES, SuiteTask


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_table(tasks: tuple[SuiteTask, ...], columns: list[ModelResults],
                 mt_bench: dict[str, JudgeScore] | None = None,
                 alpaca_eval: dict[str, JudgeScore] | None = None) -> str:
    """Rows: the suite's tasks (percent), MT-Bench and AlpacaEval (empty without the judges'
    files). Notes under the table say how the numbers were made."""
    judged = {"mt_bench": mt_bench or {}, "alpaca_eval": alpaca_eval or {}}
    header = ["Benchmark", PAPER_NAME, *(_escape(c.model_id) for c in columns)]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for task in tasks:
        cells = []
        for column in columns:
            entry = column.summary["tasks"].get(task.name)
            text = _cell(column.percent(task.name))
            if entry is not None and entry["shots"] != task.shots:
                text += f" ({entry['shots']}-shot)"
            cells.append(text)
        lines.append(f"| {task.row} | {_cell(PAPER_SCORES[task.name])} | " + " | ".join(cells)
                     + " |")
    for key, label in JUDGED_ROWS:
        cells = [_cell(s.value) if (s := judged[key].get(c.model_id)) else "" for c in columns]
        lines.append(f"| {label} | {_cell(PAPER_SCORES[key])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + "\n".join(_notes(columns, judged)) + "\n"


def _notes(columns: list[ModelResults], judged: dict[str, dict[str, JudgeScore]]) -> list[str]:
    versions = sorted({c.summary.get("lm_eval_version", "?") for c in columns}) or ["-"]
    notes = [f"Leaderboard tasks: lm-evaluation-harness {', '.join(versions)}, chat template off "
             "(as the Open LLM Leaderboard v1 ran them), scores in percent. MT-Bench: mean GPT-4 "
             "score of both turns (FastChat). AlpacaEval: GPT-4 win rate against "
             "text-davinci-003 (alpaca_eval); the paper's 90.60 is AlpacaEval 1."]
    for c in columns:
        s = c.summary
        ident = (f"commit {s['model_sha'][:12]}" if s.get("model_sha") else
                 f"files sha256 {s['model_files_sha256'][:12]}" if s.get("model_files_sha256")
                 else f"revision {s.get('revision', '?')}")
        line = f"- {c.model_id}: {s.get('model', '?')} ({ident})"
        if s.get("limit"):
            line += (f"; only the first {s['limit']} examples of each task (--limit): a quick "
                     "look, not comparable with the published numbers")
        notes.append(line + ".")
    for key, label in JUDGED_ROWS:
        if judged[key]:
            absent = [c.model_id for c in columns if c.model_id not in judged[key]]
            if absent:
                named = sorted(judged[key])
                shown = ", ".join(named[:8]) + (f" and {len(named) - 8} more" if len(named) > 8
                                                else "")
                notes.append(f"- {label.split(' (')[0]}: no scores for {', '.join(absent)} in the "
                             f"files given (they score {shown}).")
    return notes
