"""Raw UltraFeedback rows read columnar: a work unit parsed by pyarrow in one go and turned into
the working batch in polars, exactly as ``rated.parse_row`` turns each row (``--score mean``).

Any row that ``parse_row`` would refuse, or that the columnar reading cannot tell apart from
one it would refuse (a missing or null field, a rating that is a JSON number, a value of another
type), sends the whole unit back to the row by row path, which names the file, line and field or
counts the row (``io/columnar.py``).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from ...io.columnar import json_lines_table
from ...io.readers import WorkUnit
from .rated import _RATINGS, ASPECTS

_RATING = pa.struct([("Rating", pa.string())])
RAW = pa.schema([
    ("source", pa.string()), ("instruction", pa.string()),
    ("completions", pa.list_(pa.struct([
        ("response", pa.string()),
        ("annotations", pa.struct([(aspect, _RATING) for aspect in ASPECTS]))])))])


def read_ultrafeedback_unit(unit: WorkUnit, completion: pl.DataType) -> pl.DataFrame | None:
    """The working batch (``source``, ``prompt``, ``completions`` of ``completion`` structs,
    ``_ref``) of a unit of raw UltraFeedback rows, or None to read it row by row."""
    read = json_lines_table(unit, RAW)
    if read is None:
        return None
    table, refs = read
    if any(table[c].null_count for c in ("source", "instruction", "completions")):
        return None
    completions = table["completions"].combine_chunks()
    flat = pl.from_arrow(pc.list_flatten(completions))
    assert isinstance(flat, pl.Series)
    if flat.null_count():  # a completion that is null: parse_row says "expected an object"
        return None
    fields = flat.struct.unnest()
    ratings = []
    for aspect in ASPECTS:
        values = fields["annotations"].struct.field(aspect).struct.field("Rating")
        if not (values.is_null() | values.is_in(list(_RATINGS))).all():
            return None  # "5.0", " 4": parse_row names it
        ratings.append(values.replace_strict(_RATINGS, default=None, return_dtype=pl.Float64))
    parsed = pl.DataFrame({"response": fields["response"].fill_null(""),
                           **{f"r{i}": r for i, r in enumerate(ratings)}}).select(
        pl.struct(response="response", ratings=pl.concat_list([f"r{i}" for i in
                                                               range(len(ASPECTS))]),
                  overall=pl.lit(None, pl.Float64)).cast(completion)).to_series()
    lengths = pc.list_value_length(completions).to_numpy(zero_copy_only=False)
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]), pa.int32())
    lists = pa.ListArray.from_arrays(offsets, parsed.to_arrow())
    return pl.DataFrame({
        "source": pl.from_arrow(table["source"].combine_chunks()),
        "prompt": pl.from_arrow(table["instruction"].combine_chunks()),
        "completions": pl.from_arrow(lists),
        "_ref": pl.Series(refs, dtype=pl.String)})
