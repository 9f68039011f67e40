"""The project's own exceptions. The CLI turns each into one ``Error: ...`` line."""

from __future__ import annotations


class InspectError(Exception):
    """A runtime failure (exit code 1): a file that cannot be written, a model that fails to build."""

    exit_code = 1


class UsageError(InspectError):
    """Bad input from the user (exit code 2): an unknown depth, a malformed option, a bad path."""

    exit_code = 2
