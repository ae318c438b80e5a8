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
