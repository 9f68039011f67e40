"""The project's own exceptions. The CLI turns each into one ``Error: ...`` line."""

from __future__ import annotations

from collections.abc import Callable


class InspectError(Exception):
    """A runtime failure (exit code 1): a file that cannot be written, a model that fails to build."""

    exit_code = 1


class UsageError(InspectError):
    """Bad input from the user (exit code 2): an unknown depth, a malformed option, a bad path."""

    exit_code = 2


class FieldError(UsageError):
    """A bad value of one named field (``classes must be a positive integer, got 0``).

    The library names the field as the Python API spells it; the command line names its option
    instead (``--classes ...``), through :class:`resnet_inspect.cli.groups.NamingCommand`.

    A problem that speaks of other fields too lists them in ``related`` and writes each as ``{field}`` in
    its text (``FieldError("min_time", "cannot be given with {iterations}", related=("iterations",))``).
    """

    def __init__(self, field: str, problem: str, related: tuple[str, ...] = ()) -> None:
        self.field = field
        self.problem = problem
        self.related = related
        super().__init__(self.naming(str))

    def naming(self, name_of: Callable[[str], str]) -> str:
        """The message with every field called as ``name_of`` calls it (an option such as ``--classes``)."""
        problem = self.problem
        for other in self.related:
            problem = problem.replace("{" + other + "}", name_of(other))
        return f"{name_of(self.field)} {problem}"
