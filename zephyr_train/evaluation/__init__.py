"""Evaluation with lm-evaluation-harness: the Open LLM Leaderboard suite, offline task data,
results files and the comparison table. ``python -m zephyr_train.evaluate`` is the command.

Layers, each importing only those above it: ``suite`` (tasks, shots, metrics, the paper's
numbers) -> ``lm_tasks`` (lm-eval's task definitions, resolved and overridden) -> ``task_data``
(the offline layout and its download) -> ``harness`` (running lm-eval) -> ``results`` and
``judges`` (files in and out) -> ``table`` -> ``runner`` (the command's arguments and modes).
"""
