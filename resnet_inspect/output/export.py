"""CSV and JSON export (the table from :mod:`resnet_inspect.analysis.frame`), written atomically. No TensorFlow here.

Every file is written to a temporary name beside its destination and renamed
into place, so a reader never sees a half-written report and an existing one
is replaced only once the new one is complete. The data files carry no
timestamps: the same command gives byte-identical files.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from resnet_inspect.analysis.frame import rows_frame
from resnet_inspect.analysis.records import flat
from resnet_inspect.errors import InspectError, UsageError

# Temporary files are named .<name>.<random>.tmp beside their destination.
TEMP_SUFFIX = ".tmp"
# Test hook (see _pause_before_rename): seconds to wait between writing a report and renaming it into place.
WRITE_DELAY_ENV = "RESNET_INSPECT_WRITE_DELAY"

def check_output_path(path: Path, option: str) -> None:
    """Fail before any work if ``path`` cannot receive a file (nothing is created here).

    A folder, or a path below a file, is a usage error (exit 2); a location the
    process may not write to is a runtime error (exit 1).
    """
    if str(path).strip() == "":
        raise UsageError(f"{option} needs a file path")
    if str(path) == "-":
        raise UsageError(f"{option} '-': reports are written to files, not to standard output; give a file path")
    with _path_errors(path, option):
        _check_not_a_stream(path, option)
        target = destination(path, option)
        _check_writable(target, target.parent, option, shown=path)


# What /dev/stdout, /dev/fd/N and /proc/self/fd/N resolve to: a descriptor of a process, not a file.
_DESCRIPTOR = re.compile(r"/proc/(\d+|self|thread-self)(/task/\d+)?/fd|/dev/fd")


def _check_not_a_stream(path: Path, option: str) -> None:
    """Refuse a path that is an open descriptor (``/dev/stdout``, ``/dev/fd/3``, ``/proc/self/fd/1``) or the
    file this process's standard output or error goes to, before any work.

    A report is renamed into place (:func:`atomic_open`): renamed over the file a shell redirected stdout
    to, the console output would go on into the replaced, nameless file; a pipe or a terminal has no file
    to rename over. The table goes to standard output; a report is a file.
    """
    named = f"{option} {str(path)!r}"
    current = os.path.abspath(path)
    for _ in range(40):  # link by link: realpath would also resolve /proc's descriptor links, hiding them
        if _is_descriptor(current) or not os.path.islink(current):
            break
        current = os.path.abspath(os.path.join(os.path.dirname(current), os.readlink(current)))
    if _is_descriptor(current):
        raise UsageError(f"{named} is an open file descriptor of this process (standard output, standard "
                         "error, a pipe), not a file; reports are written to files: give a file path")
    try:
        found = os.stat(path)
    except OSError:
        return  # a new file: no stream writes to it
    if not stat.S_ISREG(found.st_mode):
        return  # a device or a pipe is refused by destination()
    for fd, stream in ((1, "output"), (2, "error")):
        try:
            own = os.fstat(fd)
        except OSError:  # a closed stream
            continue
        if (own.st_dev, own.st_ino) == (found.st_dev, found.st_ino):
            raise UsageError(f"{named} is the file this process's standard {stream} goes to; give another file path")


def _is_descriptor(path: str) -> bool:
    """Whether ``path`` names an entry of a process's descriptor table (``/proc/<pid>/fd/N``, ``/dev/fd/N``)."""
    return _DESCRIPTOR.fullmatch(os.path.realpath(os.path.dirname(path))) is not None


@contextlib.contextmanager
def _path_errors(path: Path, option: str) -> Iterator[None]:
    """A path the system refuses to look at (a name too long, a loop of links) is a usage error."""
    try:
        yield
    except OSError as exc:
        raise UsageError(f"{option} {str(path)!r}: {exc.strerror or exc}") from None


def check_distinct(outputs: Sequence[tuple[Path, str]], inputs: Sequence[tuple[Path, str]] = ()) -> None:
    """A usage error when two outputs are one file, or an output would overwrite an input (e.g. the --model)."""
    read = {os.path.realpath(path): option for path, option in inputs}
    written: dict[str, str] = {}
    for path, option in outputs:
        key = os.path.realpath(path)
        if key in read:
            raise UsageError(f"{option} {str(path)!r} would overwrite the {read[key]} file; give another path")
        if key in written:
            raise UsageError(f"{written[key]} and {option} name the same file {str(path)!r}; give different files")
        written[key] = option


def check_output_dir(path: Path, option: str) -> None:
    """Fail before any work if the folder ``path`` cannot receive files (nothing is created here)."""
    if str(path).strip() == "":
        raise UsageError(f"{option} needs a folder path")
    with _path_errors(path, option):
        if path.exists() and not path.is_dir():
            raise UsageError(f"{option} {str(path)!r} is a file; give a folder")
        _check_writable(path, path, option)


def _check_writable(path: Path, folder: Path, option: str, shown: Path | None = None) -> None:
    """``folder`` (``path``'s folder) or its nearest existing ancestor must be a folder this process can write in.

    ``path`` is where the file lands (a symbolic link's target); ``shown`` the path as the user gave it."""
    named = str(shown if shown is not None else path)
    ancestor = folder
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"{option} {named!r}: {str(ancestor)!r} is not a folder")
    # The names still to be created must fit the file system, or the write would fail after the work
    # (pathlib's exists() says False for a name too long rather than raising).
    limit = os.pathconf(ancestor, "PC_NAME_MAX") if hasattr(os, "pathconf") else 255
    for part in Path(os.path.abspath(path)).relative_to(os.path.abspath(ancestor)).parts:
        if len(os.fsencode(part)) > limit:
            raise UsageError(f"{option} {named!r}: the name {part[:20]!r}... is longer than {limit} bytes")
    try:
        probe = tempfile.TemporaryFile(dir=ancestor)
    except OSError as exc:
        raise InspectError(f"cannot write {option} {named!r}: {exc.strerror or exc}") from None
    probe.close()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def destination(path: Path, option: str | None = None) -> Path:
    """Where a report written to ``path`` lands, refusing what a rename would destroy.

    A symbolic link is written through (its target is replaced, the link kept). A folder, a
    device, a pipe or a socket is refused: renaming a file over ``/dev/null`` would replace the
    device itself for every process on the machine.
    """
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    named = f"{option} {str(path)!r}" if option else repr(str(path))
    if target.is_dir():
        raise UsageError(f"{named} is a folder; give a file path")
    if target.exists() and not target.is_file():
        raise UsageError(f"{named} is not a regular file (a device, pipe or socket); give a file path")
    return target


def _temporary(path: Path) -> tuple[int, Path]:
    """A new temporary file beside ``path``, named ``.<name>.<random>.tmp``: (descriptor, path)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # the name is cut so that the temporary's name stays within the 255 bytes a file name may have
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:200]}.", suffix=TEMP_SUFFIX)
        # mkstemp makes the file 0600; a report is an ordinary file, so give it the mode open() would.
        os.fchmod(fd, 0o666 & ~_umask())
    except OSError as exc:
        raise InspectError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    return fd, Path(tmp_name)


def _pause_before_rename() -> None:
    """Test hook: with RESNET_INSPECT_WRITE_DELAY=<seconds>, wait once the new data is on disk in its
    temporary file and before it replaces anything, so a test can kill the process at that point."""
    delay = os.environ.get(WRITE_DELAY_ENV)
    if delay:
        time.sleep(float(delay))


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; rename it to ``path`` only if the block succeeds."""
    path = destination(path)
    fd, tmp = _temporary(path)
    try:
        with os.fdopen(fd, mode, newline="" if "b" not in mode else None) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _pause_before_rename()
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise InspectError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
        raise


def write_files_atomic(folder: Path, files: Mapping[str, bytes]) -> list[Path]:
    """Write several files into ``folder`` as one: every temporary first, then the renames.

    A failure, or a kill, while the data is written leaves the folder as it was (the
    temporaries of a killed process stay, named ``.<name>.<random>.tmp``); only the renames,
    which take microseconds, can be cut between. Returns the paths written, in order.
    """
    targets = [(folder / name, destination(folder / name), data) for name, data in files.items()]
    temporaries: list[Path] = []
    current = folder
    try:
        for _, current, data in targets:
            fd, tmp = _temporary(current)
            temporaries.append(tmp)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        _pause_before_rename()
        for tmp, (_, current, _) in zip(temporaries, targets, strict=True):
            os.replace(tmp, current)
    except BaseException as exc:
        for tmp in temporaries:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise InspectError(f"cannot write {str(current)!r}: {exc.strerror or exc}") from None
        raise
    return [path for path, _, _ in targets]


def write_atomic(path: Path, write: Callable[[IO[Any]], None], mode: str = "w") -> None:
    with atomic_open(path, mode) as handle:
        write(handle)


# A cell a spreadsheet would run as a formula (OWASP "CSV injection"): it starts with one of these.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
INT64_MAX = 2**63 - 1


def csv_cell(value: Any) -> Any:
    """``value`` as a CSV cell: text that would start a formula gets a leading ``'`` (numbers, negative
    ones included, stay numbers); an integer beyond 64 bits is written whole, as text (pandas' integer
    columns stop at 2**63 - 1)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    if isinstance(value, int) and not isinstance(value, bool) and not -INT64_MAX - 1 <= value <= INT64_MAX:
        return str(value)
    return value


def csv_text(rows: Sequence[Any], columns: Sequence[str] | None = None) -> str:
    """The rows (dataclasses or mappings) as CSV text, every cell through :func:`csv_cell`: the one
    CSV writer of the package."""
    records = [{key: csv_cell(value) for key, value in (r if isinstance(r, Mapping) else flat(r)).items()}
               for r in rows]
    # The csv module quotes a field that holds a character of the line terminator ("\n") but not a lone
    # carriage return, which readers take for the end of the row: then every text cell is quoted.
    carriage = any(isinstance(value, str) and "\r" in value for record in records for value in record.values())
    quoting = csv.QUOTE_NONNUMERIC if carriage else csv.QUOTE_MINIMAL
    return rows_frame(records, columns).to_csv(index=False, lineterminator="\n", quoting=quoting)


def write_csv(path: Path, rows: Sequence[Any], columns: Sequence[str] | None = None) -> None:
    text = csv_text(rows, columns)
    write_atomic(path, lambda f: f.write(text))


def write_json(path: Path, payload: dict[str, Any]) -> None:
    text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, lambda f: f.write(text))
