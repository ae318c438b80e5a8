"""The truecasing step: repairs messages whose capitalization is broken (see ``truecaser``).

Every message of a batch is screened column-wise with polars (``truecaser.candidates``, a
superset of what the truecaser treats as broken, most of them broken); only those go through
the Python truecaser. System turns are left as written: they are instructions from whoever
deploys the model, not text it learns to write, and their wording (lower case included:
"answer in lower case") may be deliberate.
The step returns the repaired ``messages``, a ``_truecased`` column (per row, the JSON list of
the messages it changed, before and after, for ``truecased.jsonl``) and its counters: the
messages screened in (``truecasing_screened_messages``) and those it changed, their letters and
dialogues.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from ..core.messages import SYSTEM, flatten
from ..core.step import Outcome, Step
from .truecaser import candidates as screen
from .truecaser import truecase

CHANGES = "_truecased"


class Truecase(Step):
    name = "truecase"

    def __call__(self, batch: pl.DataFrame) -> Outcome:
        flat = flatten(batch["messages"])
        candidates = np.flatnonzero((screen(flat.content) & (flat.role != SYSTEM)).to_numpy())
        changed, texts, letters = [], [], 0
        for i, text in zip(candidates.tolist(), flat.content.gather(candidates).to_list()):
            repair = truecase(text)
            if repair.letters_changed:
                changed.append(i)
                texts.append(repair.text)
                letters += repair.letters_changed
        screened = {"truecasing_screened_messages": len(candidates)}
        if not changed:
            return Outcome(counters=screened)
        content = flat.content.scatter(changed, pl.Series(texts, dtype=pl.String))
        by_row: dict[int, list[dict[str, object]]] = {}
        for i, after in zip(changed, texts):
            by_row.setdefault(int(flat.row[i]), []).append(
                {"index": int(flat.turn[i]), "role": flat.role[i], "before": flat.content[i],
                 "after": after})
        records = [None] * batch.height
        for row, items in by_row.items():
            records[row] = json.dumps(items, ensure_ascii=False)
        return Outcome(columns={"messages": flat.rebuild({"content": content}),
                                CHANGES: pl.Series(records, dtype=pl.String)},
                       counters={**screened, "truecased_letters": letters,
                                 "truecased_messages": len(changed),
                                 "truecased_dialogues": len(by_row)})
