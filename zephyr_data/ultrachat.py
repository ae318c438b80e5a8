"""UltraChat (``stingning/ultrachat``) to the schema of ``HuggingFaceH4/ultrachat_200k``.

Raw rows are ``{"id": ..., "data": [user, assistant, user, ...]}``. Dialogues with structural
defects or persona answers are dropped by named rules; messages with broken capitalization are
truecased; the rest become ``{"prompt", "prompt_id", "messages": [{"content", "role"}]}``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import polars as pl

from .config import ConfigError, PipelineConfig, load_yaml, option
from .decontamination import Decontaminate, card_text, load_index, ultrachat_user_turns
from .engine import Pipeline, SplitPlan, prompt_id, seeded_u64
from .errors import InputError
from .schemas import ultrachat_features
from .steps import Drop, Filter, Stats, Step
from .truecasing import CANDIDATE_POLARS, truecase

FILTERS_FILE = "ultrachat_filters.yaml"


def default_filters() -> dict[str, Any]:
    return load_yaml(str(resources.files("zephyr_data") / "configs" / FILTERS_FILE))


@dataclass
class UltraChatConfig(PipelineConfig):
    truecase: bool = option(True, "Restore broken capitalization (about 5%% of UltraChat).")
    target_size: int | None = option(None, "Keep this many dialogues (train and test together), "
                                     "sampled with the seed; the paper kept about 200k. "
                                     "Default: keep all.")
    filters_file: str | None = option(None, "YAML file with the filter rules and their phrases "
                                      f"(default: the package's configs/{FILTERS_FILE}).")
    filters: list[str] | None = option(None, "Rules to run, in order (comma-separated); "
                                       "default: all rules of the filters file.")

    def validate(self) -> None:
        super().validate()
        if self.target_size is not None and self.target_size < 1:
            raise ConfigError(f"target_size={self.target_size}: it must be 1 or more, or unset "
                              "to keep every dialogue.")
        self.filter_rules()  # fail now, not in a worker

    def filter_rules(self) -> tuple[list[str], dict[str, list[str]]]:
        spec = load_yaml(self.filters_file) if self.filters_file else default_filters()
        unknown = sorted(set(spec) - {"filters", "persona_rules"})
        if unknown:
            raise ConfigError(f"filters file: unknown key(s) {unknown}; expected 'filters' and "
                              "'persona_rules'.")
        persona = spec.get("persona_rules") or {}
        names = self.filters if self.filters is not None else spec.get("filters", [])
        known = set(STRUCTURAL) | set(persona)
        bad = [n for n in names if n not in known]
        if bad:
            raise ConfigError(f"filters: unknown rule(s) {bad}. Known rules: {sorted(known)}. "
                              "Add persona rules to the filters file under 'persona_rules'.")
        for name, patterns in persona.items():
            if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
                raise ConfigError(f"persona rule {name!r}: expected a list of regex strings.")
            for p in patterns:
                try:
                    re.compile(p)
                    pl.Series([""], dtype=pl.String).str.contains("(?i)" + p)
                except (re.error, pl.exceptions.PolarsError) as err:
                    raise ConfigError(f"persona rule {name!r}: bad regex {p!r}: {err}. Patterns "
                                      "must work in both Python's re and Rust's regex (no "
                                      "look-around, no back-references).") from None
        return list(names), persona


# ------------------------------------------------------------------ rules


class EmptyDialogue(Filter):
    name = "empty_dialogue"

    def check(self, row: dict[str, Any]) -> str | None:
        return "no turns" if not row["messages"] else None


class NoAssistantTurn(Filter):
    name = "no_assistant_turn"

    def check(self, row: dict[str, Any]) -> str | None:
        return "only a user turn" if len(row["messages"]) < 2 else None


class OddTurnCount(Filter):
    name = "odd_turn_count"

    def check(self, row: dict[str, Any]) -> str | None:
        n = len(row["messages"])
        return f"{n} turns: the last user turn has no answer" if n % 2 else None


class EmptyTurn(Filter):
    name = "empty_turn"

    def check(self, row: dict[str, Any]) -> str | None:
        for i, text in enumerate(row["messages"]):
            if not text.strip():
                return f"turn {i} ({role_of(i)}) is empty or white space"
        return None


STRUCTURAL = {cls.name: cls for cls in (EmptyDialogue, NoAssistantTurn, OddTurnCount, EmptyTurn)}


class PersonaAnswer(Filter):
    """Drops a dialogue when an assistant turn matches one of the rule's patterns.

    A batch is matched column-wise with polars (Rust regex, case-insensitive) over every
    assistant turn at once; ``check`` on one row takes the same path.
    """

    def __init__(self, name: str, patterns: list[str]):
        self.name = name
        self.source = "|".join(f"(?:{p})" for p in patterns)
        self.pattern = re.compile(self.source, re.IGNORECASE)

    def check(self, row: dict[str, Any]) -> str | None:
        result = self.apply_batch([row], Stats())[0]
        return result.detail if isinstance(result, Drop) else None

    def apply_batch(self, rows: list[dict[str, Any]], stats: Stats) -> list[dict[str, Any] | Drop]:
        owners, turns = assistant_turns(rows)
        hits = pl.Series(turns, dtype=pl.String).str.contains("(?i)" + self.source)
        results: list[dict[str, Any] | Drop] = list(rows)
        for position in hits.arg_true().to_list():
            row_index, turn = owners[position]
            if isinstance(results[row_index], Drop):
                continue
            text = rows[row_index]["messages"][turn]
            m = self.pattern.search(text)
            matched = m.group() if m else text[:60]
            results[row_index] = Drop(self.name, f"turn {turn}: {matched!r}")
        return results


def assistant_turns(rows: list[dict[str, Any]]) -> tuple[list[tuple[int, int]], list[str]]:
    """Every assistant turn of a batch, with (row index, turn index) for each."""
    owners, turns = [], []
    for r, row in enumerate(rows):
        messages = row["messages"]
        for t in range(1, len(messages), 2):
            owners.append((r, t))
            turns.append(messages[t])
    return owners, turns


class Truecase(Step):
    """Repairs messages with broken capitalization and counts what it changed.

    Candidates are found column-wise with polars (``CANDIDATE_POLARS``, a superset of what the
    truecaser treats as broken); only those go through the Python truecaser.
    """

    name = "truecase"

    def apply(self, row: dict[str, Any], stats: Stats) -> dict[str, Any]:
        return self.apply_batch([row], stats)[0]

    def apply_batch(self, rows: list[dict[str, Any]], stats: Stats) -> list[dict[str, Any]]:
        owners = [(r, t) for r, row in enumerate(rows) for t in range(len(row["messages"]))]
        texts = pl.Series([rows[r]["messages"][t] for r, t in owners], dtype=pl.String)
        repaired: dict[int, dict[int, str]] = {}
        for position in texts.str.contains(CANDIDATE_POLARS).arg_true().to_list():
            r, t = owners[position]
            repair = truecase(rows[r]["messages"][t])
            if repair.letters_changed:
                repaired.setdefault(r, {})[t] = repair.text
                stats.counters["truecased_letters"] += repair.letters_changed
        out = list(rows)
        for r, changes in repaired.items():
            stats.counters["truecased_messages"] += len(changes)
            stats.counters["truecased_dialogues"] += 1
            messages = [changes.get(t, text) for t, text in enumerate(rows[r]["messages"])]
            out[r] = {**rows[r], "messages": messages, "original": rows[r]["messages"]}
        return out


def truecasing_changes(row: dict[str, Any]) -> str:
    """The messages the Truecase step changed, as JSON for ``truecased.jsonl``; "" if none."""
    original = row.get("original")
    if original is None:
        return ""
    return json.dumps([{"index": i, "role": role_of(i), "before": before, "after": after}
                       for i, (before, after) in enumerate(zip(original, row["messages"]))
                       if before != after], ensure_ascii=False)


def dialogue_key(turns: list[str]) -> str:
    """sha256 of the turns, length-prefixed so that no two dialogues share a key."""
    return hashlib.sha256("".join(f"{len(t)}:{t}" for t in turns).encode()).hexdigest()


def role_of(index: int) -> str:
    return "user" if index % 2 == 0 else "assistant"


# ------------------------------------------------------------------ pipeline


class UltraChatPipeline(Pipeline):
    name = "ultrachat"
    default_hub_id = "stingning/ultrachat"
    sample_file = "ultrachat_sample.jsonl"
    side_file = "truecased.jsonl"  # every truecased message of the output, before and after
    config_class = UltraChatConfig
    pretty_name = "UltraChat, filtered and truecased (ultrachat_200k style)"
    license = "mit"
    task_categories = ["text-generation"]
    tags = ["ultrachat", "sft"]
    card_intro = ("Multi-turn dialogues from UltraChat, filtered and truecased as in the "
                  "Zephyr-7B recipe (Tunstall et al., 2023), in the schema of "
                  "`HuggingFaceH4/ultrachat_200k`: `prompt` (the first user turn), `prompt_id` "
                  "(`sha256(prompt.encode('utf-8')).hexdigest()`) and `messages` "
                  "(`[{content, role}]`, alternating user and assistant).")
    config: UltraChatConfig

    def features(self) -> Any:
        return ultrachat_features()

    def parse(self, ref: str, raw: Any) -> dict[str, Any] | Drop:
        if not isinstance(raw, dict):
            raise InputError(ref, None, f"expected a JSON object, found {type(raw).__name__}.",
                             'each row must look like {"id": ..., "data": [user, assistant, '
                             "...]}.")
        if "data" not in raw:
            raise InputError(ref, "data", f"missing; the row has keys {sorted(raw)}.",
                             'each row needs "data": the list of turns, user first.')
        data = raw["data"]
        if not isinstance(data, list):
            raise InputError(ref, "data", f"expected a list of strings, found "
                             f"{type(data).__name__}.")
        for i, turn in enumerate(data):
            if not isinstance(turn, str):
                raise InputError(ref, f"data[{i}]", f"expected a string, found "
                                 f"{type(turn).__name__}: {str(turn)[:60]!r}.")
        return {"id": str(raw.get("id", ref)), "ref": ref, "messages": data}

    def steps(self) -> list[Step]:
        names, persona = self.config.filter_rules()
        steps: list[Step] = [STRUCTURAL[n]() if n in STRUCTURAL else PersonaAnswer(n, persona[n])
                             for n in names]
        index = load_index(self.config.decontaminate)
        if index is not None:  # first, so contamination is reported before any other reason
            steps.insert(0, Decontaminate(index, ultrachat_user_turns))
        if self.config.truecase:
            steps.append(Truecase())
        return steps

    def to_record(self, row: dict[str, Any]) -> dict[str, Any]:
        messages = [{"content": text, "role": role_of(i)}
                    for i, text in enumerate(row["messages"])]
        key = dialogue_key(row["messages"])
        pid = prompt_id(row["messages"][0])
        return {"prompt": row["messages"][0], "prompt_id": pid, "messages": messages,
                "_dedup_key": key, "_order_key": key, "_ref": row["ref"],
                "_select": seeded_u64(self.config.seed, key, "select"),
                "_split": int(pid[:16], 16), "_extra": truecasing_changes(row)}

    def split_plan(self) -> SplitPlan:
        return SplitPlan(train="train_sft", test="test_sft",
                         mirrors={"train_gen": "train_sft", "test_gen": "test_sft"},
                         test_share=self.config.test_share, target_size=self.config.target_size)

    def card_splits(self) -> str:
        share = self.config.test_share
        return (f"A dialogue goes to a test split when the first 64 bits of its `prompt_id` fall "
                f"in the lowest {share:.0%} of their range, so the same prompt always lands on "
                "the same side and no prompt is in both train and test. `train_sft`/`test_sft` "
                "are for supervised fine-tuning on whole dialogues. `train_gen`/`test_gen` hold "
                "the same rows: they are for generation (sampling answers to `prompt`, e.g. for "
                "rejection sampling or on-policy preference data).")

    def card_method(self) -> str:
        names, persona = self.config.filter_rules()
        rules = "\n".join(
            f"  - `{n}`" + (": an assistant turn matches one of these patterns (case-insensitive):"
                            + "".join(f"\n    - `{p}`" for p in persona[n]) if n in persona else "")
            for n in names)
        target = (f"{self.config.target_size:,} dialogues were sampled with seed "
                  f"{self.config.seed} (`over_target_size` counts the rest)"
                  if self.config.target_size else "every kept dialogue is in the output")
        return f"""### Method

- Filters, in order; a dialogue is dropped by the first rule it matches:
{rules}
  - `duplicate`: exact duplicate dialogues (all turns equal); one copy is kept.
{card_text(self.config.decontaminate)}
- Truecasing ({'on' if self.config.truecase else 'off'}): messages with broken capitalization
  (sentences that start in lower case, a lone lower-case "i") are repaired with the `truecase`
  model; only the case of letters changes, and code, URLs and e-mail addresses are untouched.
  Every repaired message of the output is in `truecased.jsonl`, before and after.
- Sampling: {target}.
- Rows are sorted by `prompt_id`, so the output does not depend on input order or workers."""
