"""Errors that stop a pipeline before anything is written.

Every message says what was found, why it is wrong and how to fix it, in the style of TRL.
"""


class ZephyrDataError(Exception):
    """Base class: the CLI prints these without a traceback and exits with status 2."""


class ConfigError(ZephyrDataError):
    """A bad option, YAML key or value."""


class InputError(ZephyrDataError):
    """A bad input file or row. ``where`` names the file and line (or row index)."""

    def __init__(self, where: str, field: str | None, problem: str, hint: str | None = None):
        self.where, self.field, self.problem, self.hint = where, field, problem, hint
        field_part = f" field {field!r}:" if field else ""
        message = f"{where}:{field_part} {problem}"
        if hint:
            message += f"\n  How to fix: {hint}"
        super().__init__(message)

    def __reduce__(self):  # keep the fields when the error crosses a process boundary
        return (type(self), (self.where, self.field, self.problem, self.hint))


SCHEMA_HINT = ("each row needs the schema of HuggingFaceH4/ultrachat_200k (SFT) or "
         "HuggingFaceH4/ultrafeedback_binarized (DPO); fix or drop the row at its source and "
         "rebuild, or filter it out before training.")


class DatasetLoadError(ZephyrDataError, ValueError):
    """The dataset or split could not be loaded, or does not have the expected columns."""


class SchemaError(DatasetLoadError):
    """A row breaks the chat schema; ``row`` and ``field`` say where (the first such row)."""

    def __init__(self, where: str, row: int, field: str, problem: str,
                 prompt_id: str | None = None, hint: str | None = SCHEMA_HINT):
        self.where, self.row, self.field, self.problem = where, row, field, problem
        self.prompt_id, self.hint = prompt_id, hint
        pid = f" (prompt_id {prompt_id[:16]}...)" if prompt_id else ""
        message = f"{where}, row {row}{pid}, field {field!r}: {problem}"
        if hint:
            message += f"\n  How to fix: {hint}"
        super().__init__(message)

    def __reduce__(self):  # keep the fields across processes
        return (type(self), (self.where, self.row, self.field, self.problem, self.prompt_id,
                             self.hint))
