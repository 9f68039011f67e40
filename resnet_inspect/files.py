"""The one check of a file the tool is asked to read (``--model``, ``--bench``): it exists, it is a regular
file (not a folder, a device or a pipe, which would be read for ever), and its size."""

from __future__ import annotations

from pathlib import Path

from resnet_inspect.errors import UsageError


def input_file(path: Path, name: str, hint: str, folder_hint: str = "") -> int:
    """The size in bytes of the regular file ``path``; otherwise a UsageError that calls it ``name`` and
    ends with ``hint`` (what to give instead). ``folder_hint`` is added when it is a folder."""
    try:
        exists, folder, regular = path.exists(), path.is_dir(), path.is_file()
        size = path.stat().st_size if regular else 0
    except OSError as exc:  # a name too long, a loop of symbolic links, a file gone since
        raise UsageError(f"{name}: {exc.strerror or exc}") from None
    if not exists:
        raise UsageError(f"{name}: no such file; {hint}")
    if folder:
        raise UsageError(f"{name} is a folder; {hint}{folder_hint}")
    if not regular:
        raise UsageError(f"{name} is not a regular file (a device, pipe or socket); {hint}")
    return size
