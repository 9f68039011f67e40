"""The project's own exceptions. The CLI turns each into one ``Error: ...`` line."""

from __future__ import annotations


class InspectError(Exception):
    """A runtime failure (exit code 1): a file that cannot be written, a model that fails to build."""

    exit_code = 1


class UsageError(InspectError):
    """Bad input from the user (exit code 2): an unknown depth, a malformed option, a bad path."""

    exit_code = 2


class FieldError(UsageError):
    """A bad value of one named field (``classes must be a positive integer, got 0``).

    The library names the field as the Python API spells it; the command line names its option
    instead (``--classes ...``), through one table in :mod:`resnet_inspect.cli.options`.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem

    def naming(self, name: str) -> str:
        """The message with the field called ``name`` (an option such as ``--classes``)."""
        return f"{name} {self.problem}"
