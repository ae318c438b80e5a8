"""The rated-completions shapes ``build_ultrafeedback`` reads, and how a raw row of each becomes
the working columns of the binarize steps (``source``, ``prompt``, ``completions``: a list of
``{response, ratings, overall}``): the one place that knows them.

- ``ultrafeedback``: raw ``openbmb/UltraFeedback``: ``instruction``, ``source`` and up to four
  ``completions``, each rated by GPT-4 on four aspects (``annotations.<aspect>.Rating``, "1".."5"
  or "N/A") and given an ``overall_score`` (1..10). Ratings are checked strictly: anything but
  "1".."5", "N/A" or a JSON integer 1..5 is an error naming the field.
- ``rated``: any other set of rated completions: a prompt (``--prompt-field``, default
  ``prompt``), a list of completions (``--completions-field``, default ``completions``), each with
  a response (``--response-field``, default ``response``) and a score (``--score-field``, default
  ``score``): a number, or an object of aspect ratings (numbers, or ``{"Rating": number}``) that
  are averaged, "N/A" and null left out. An optional ``--source-field`` (default ``source``)
  names where the prompt came from. Scores go to ``ratings``, so the same steps score (the
  mean), binarize (the best is chosen, a seeded random other rejected) and drop.

A missing or null response is an empty one and a missing or null score means unrated: both are
counted and the completion removed, as for UltraFeedback. ``auto`` takes the shape from the keys
of the input's first row (:func:`detect`); a row of the other shape is an error naming file,
line and the keys it has.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ...core.errors import InputError

AUTO = "auto"
FORMATS = ("ultrafeedback", "rated")
ASPECTS = ("helpfulness", "honesty", "instruction_following", "truthfulness")
NOT_RATED = "N/A"
_RATINGS = {**{str(i): float(i) for i in range(1, 6)}, NOT_RATED: None}
ROW_HINT = ('each row must look like {"source": ..., "instruction": "...", "completions": '
            '[{"response": "...", "annotations": {...}, "overall_score": ...}, ...]}, as in '
            "openbmb/UltraFeedback; or rerun with --on-bad-row drop to count such rows as "
            "dropped.")


# ------------------------------------------------------------------ raw UltraFeedback


def parse_rating(value: Any, ref: str, field: str) -> float | None:
    """Exactly "1".."5" (as UltraFeedback writes them) or a JSON integer 1..5 (some re-exports);
    None for "N/A" or null. Anything else (" 4", "5.0", 4.5, "1e0", true) is an error."""
    if type(value) is str and value in _RATINGS:  # the common case: "1".."5", "N/A"
        return _RATINGS[value]
    if type(value) is int and 1 <= value <= 5 or value is None:  # type(): not bool
        return None if value is None else float(value)
    raise InputError(ref, field, f'expected a rating "1".."5" or "N/A", found {value!r} (JSON '
                     "integers 1..5 are accepted too; fractions and other spellings are not).",
                     "fix the rating, or rerun with --on-bad-row drop to count the row as "
                     "dropped.")


def parse_overall(value: Any, ref: str, field: str) -> float | None:
    """``overall_score``: a finite number, or None when it is missing or "N/A"."""
    if value is None or value == NOT_RATED:
        return None
    number = _number(value)
    if number is None:
        raise InputError(ref, field, f"expected a number or \"N/A\", found {value!r}.",
                         "fix the score, or rerun with --on-bad-row drop to count the row as "
                         "dropped.")
    return number


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def _aspect_ratings(annotations: Any, ref: str, where: str) -> list[float | None]:
    if annotations is None:
        return [None] * len(ASPECTS)
    if not isinstance(annotations, dict):
        raise InputError(ref, f"{where}.annotations", f"expected an object with the aspects "
                         f"{list(ASPECTS)}, found {type(annotations).__name__}.", ROW_HINT)
    ratings = []
    for aspect in ASPECTS:
        entry = annotations.get(aspect)
        if entry is not None and not isinstance(entry, dict):
            raise InputError(ref, f"{where}.annotations.{aspect}", "expected an object with a "
                             f"'Rating', found {type(entry).__name__}: {str(entry)[:60]!r}.",
                             ROW_HINT)
        value = entry.get("Rating") if entry else None
        ratings.append(parse_rating(value, ref, f"{where}.annotations.{aspect}.Rating"))
    return ratings


def parse_completion(raw: Any, ref: str, index: int, score: str) -> dict[str, Any]:
    """One completion in working form: ``response``, and ``ratings`` or ``overall``."""
    where = f"completions[{index}]"
    if not isinstance(raw, dict):
        raise InputError(ref, where, f"expected an object, found {type(raw).__name__}: "
                         f"{str(raw)[:60]!r}.", ROW_HINT)
    response = raw.get("response")
    if response is None:
        response = ""  # a null response is an empty one: counted and removed, not an error
    if not isinstance(response, str):
        raise InputError(ref, f"{where}.response", f"expected a string, found "
                         f"{type(response).__name__}: {str(response)[:60]!r}.", ROW_HINT)
    if score == "mean":
        return {"response": response, "overall": None,
                "ratings": _aspect_ratings(raw.get("annotations"), ref, where)}
    return {"response": response, "ratings": None,
            "overall": parse_overall(raw.get("overall_score"), ref, f"{where}.overall_score")}


def parse_row(ref: str, raw: Any, score: str, shape: RatedShape | None = None) -> dict[str, Any]:
    """Check a raw UltraFeedback row and turn it into the working form of the steps (``shape``:
    the rated shape's fields, to recognize its rows in an error)."""
    if not isinstance(raw, dict):
        raise InputError(ref, None, f"expected a JSON object, found {type(raw).__name__}.",
                         ROW_HINT)
    for key, kind in (("instruction", str), ("source", str), ("completions", list)):
        if key not in raw:
            raise missing(ref, raw, key, "ultrafeedback", shape or RatedShape())
        if not isinstance(raw[key], kind):
            raise InputError(ref, key, f"expected a {'list' if kind is list else 'string'}, "
                             f"found {type(raw[key]).__name__}: {str(raw[key])[:60]!r}.",
                             ROW_HINT)
    completions = [parse_completion(c, ref, i, score) for i, c in enumerate(raw["completions"])]
    return {"source": raw["source"], "prompt": raw["instruction"], "completions": completions}


# ------------------------------------------------------------------ generic rated completions


@dataclass(frozen=True)
class RatedShape:
    """The field names of the ``rated`` shape."""

    prompt_field: str = "prompt"
    completions_field: str = "completions"
    response_field: str = "response"
    score_field: str = "score"
    source_field: str = "source"

    @property
    def hint(self) -> str:
        return (f'each row must look like {{"{self.prompt_field}": "...", '
                f'"{self.completions_field}": [{{"{self.response_field}": "...", '
                f'"{self.score_field}": 4.5}}, ...]}} (a score is a number, or an object of '
                "aspect ratings); name other fields with --prompt-field, --completions-field, "
                "--response-field and --score-field.")

    def parse(self, ref: str, raw: Any) -> dict[str, Any]:
        """A rated row in the working form of the steps; an :class:`InputError` names the
        field."""
        if not isinstance(raw, dict):
            raise InputError(ref, None, f"expected a JSON object, found {type(raw).__name__}.",
                             self.hint)
        for key, kind in ((self.prompt_field, str), (self.completions_field, list)):
            if key not in raw:
                raise missing(ref, raw, key, "rated", self)
            if not isinstance(raw[key], kind):
                raise InputError(ref, key, f"expected a {'list' if kind is list else 'string'}, "
                                 f"found {type(raw[key]).__name__}: {str(raw[key])[:60]!r}.",
                                 self.hint)
        source = raw.get(self.source_field)
        if source is not None and not isinstance(source, str):
            raise InputError(ref, self.source_field, f"expected a string, found "
                             f"{type(source).__name__}: {str(source)[:60]!r}.", self.hint)
        completions = []
        for i, item in enumerate(raw[self.completions_field]):
            where = f"{self.completions_field}[{i}]"
            if not isinstance(item, dict):
                raise InputError(ref, where, f"expected an object, found {type(item).__name__}: "
                                 f"{str(item)[:60]!r}.", self.hint)
            response = item.get(self.response_field)
            if response is not None and not isinstance(response, str):
                raise InputError(ref, f"{where}.{self.response_field}", "expected a string, "
                                 f"found {type(response).__name__}: {str(response)[:60]!r}.",
                                 self.hint)
            completions.append({"response": response or "", "overall": None,
                                "ratings": parse_score(item.get(self.score_field), ref,
                                                       f"{where}.{self.score_field}")})
        return {"source": source or "", "prompt": raw[self.prompt_field],
                "completions": completions}


def parse_score(value: Any, ref: str, field: str) -> list[float | None]:
    """A completion's ratings: ``[number]``, the numbers of an object of aspect ratings
    (``{"helpfulness": 4, "honesty": {"Rating": 5}}``), or ``[None]`` when it has none."""
    if value is None or value == NOT_RATED:
        return [None]
    number = _finite(value)
    if number is not None:
        return [number]
    if not isinstance(value, dict):
        raise InputError(ref, field, f"expected a number, an object of aspect ratings or "
                         f"null/\"N/A\", found {type(value).__name__}: {str(value)[:60]!r}.",
                         "fix the score, or rerun with --on-bad-row drop to count the row as "
                         "dropped.")
    ratings: list[float | None] = []
    for aspect, rating in value.items():
        if isinstance(rating, dict):
            rating = rating.get("Rating")
        number = _finite(rating)
        if number is None and rating is not None and rating != NOT_RATED:
            raise InputError(ref, f"{field}.{aspect}", f"expected a number or null/\"N/A\", "
                             f"found {type(rating).__name__}: {str(rating)[:60]!r}.",
                             "fix the rating, or rerun with --on-bad-row drop.")
        ratings.append(number)
    return ratings or [None]


def _finite(value: Any) -> float | None:
    """A JSON number that is finite (not a bool, not a string), as a float."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def detect(raw: Any, shape: RatedShape) -> str | None:
    """``ultrafeedback`` for raw UltraFeedback's keys (``instruction``, ``completions``),
    ``rated`` for the rated shape's, else None."""
    if not isinstance(raw, dict):
        return None
    if "instruction" in raw and "completions" in raw:
        return "ultrafeedback"
    if shape.prompt_field in raw and shape.completions_field in raw:
        return "rated"
    return None


def missing(ref: str, raw: dict, key: str, reading: str, shape: RatedShape) -> InputError:
    """``key`` is missing from a row read as ``reading``: say what the row looks like."""
    other = detect(raw, shape)
    if other is not None and other != reading:
        return InputError(ref, key, f"missing; the row has keys {sorted(raw)}: it looks like "
                          f"the {other!r} shape, but the build reads {reading!r} rows (the shape "
                          "of the input's first row, or --input-format): a file that mixes "
                          "shapes cannot be read in one build.", "split the input by shape, or "
                          "rerun with --on-bad-row drop to count such rows as invalid_row.")
    return InputError(ref, key, f"missing; the row has keys {sorted(raw)}.",
                      ROW_HINT if reading == "ultrafeedback" else shape.hint)


def unknown_shape(ref: str, raw: Any, shape: RatedShape) -> InputError:
    """The error of ``auto`` when the first row shows neither shape."""
    keys = sorted(raw) if isinstance(raw, dict) else f"none (a {type(raw).__name__})"
    return InputError(ref, None, f"cannot tell the input format from the keys of the first row: "
                      f"{keys}; expected 'instruction' and 'completions' (raw UltraFeedback) or "
                      f"'{shape.prompt_field}' and '{shape.completions_field}' (rated).",
                      shape.hint)
