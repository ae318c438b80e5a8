"""Push a dataset folder that a pipeline built to the Hub, in one commit, without building again:

    python -m pipelines.push_to_hub outputs/ultrachat my-org/ultrachat_200k [--revision v2]

(what a failed ``--push-to-hub`` tells you to run).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from zephyr_data.core.errors import ZephyrDataError
from zephyr_data.publish.hub import push_folder


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.push_to_hub",
        description="Push a dataset folder built by a zephyr_data pipeline to the Hub, in one "
                    "commit (no rebuild). The token comes from HF_TOKEN or `hf auth login`.")
    parser.add_argument("folder", help="The built folder (with manifest.json and README.md).")
    parser.add_argument("repo_id", help="Hub dataset repo, ORG/NAME (created if needed).")
    parser.add_argument("--revision", default=None, help="Branch to push to (default main).")
    parser.add_argument("--private", action="store_true", help="Create the repo as private.")
    parser.add_argument("--commit-message", default=None, help="Commit message.")
    parser.add_argument("--no-progress", action="store_true", help="Hide progress bars.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for name in ("httpx", "httpx2"):  # one line per HTTP request otherwise
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        result = push_folder(args.folder, args.repo_id, revision=args.revision,
                             private=args.private, commit_message=args.commit_message,
                             progress=not args.no_progress)
    except ZephyrDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(result.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
