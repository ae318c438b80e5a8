"""Curate chat and preference data the Zephyr-7B way.

Layers, each importing only the ones above it in this list:

- ``core``: the step contract, stats, ids and seeds, the chat schema, config, errors;
- ``io``: readers, writer, the output folder, loading published datasets, benchmark prompts;
- ``steps``: the rules, truecasing, decontamination, binarization, the global stages;
- ``pipelines``: UltraChat and UltraFeedback, with their card prose;
- ``report`` and ``publish``: the plots, the notebooks' helpers, the card, the Hub push;
- ``runner``: the map and reduce stages, workers, the build and its command line.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "load_dataset_split", "validate_dataset", "validate_table"]


def __getattr__(name: str) -> Any:  # loaded on use, so that `import zephyr_data` stays light
    if name == "load_dataset_split":
        from .io.loading import load_dataset_split

        return load_dataset_split
    if name in ("validate_dataset", "validate_table"):
        from .core import schema

        return getattr(schema, name)
    raise AttributeError(f"module 'zephyr_data' has no attribute {name!r}")
