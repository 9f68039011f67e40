"""CSV and JSON export (pandas for the table), written atomically. No TensorFlow here.

Every file is written to a temporary name beside its destination and renamed
into place, so a reader never sees a half-written report and an existing one
is replaced only once the new one is complete. The data files carry no
timestamps: the same command gives byte-identical files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from resnet_inspect import __version__
from resnet_inspect.errors import InspectError, UsageError
from resnet_inspect.records import Level, Report, UnitRow

# Fixed column order of every table export.
COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(UnitRow))

CONVENTION = {
    "macs": "multiply-accumulates of Conv and Dense layers (what the ResNet paper calls FLOPs)",
    "flops": "every floating-point operation of one inference pass: a multiply-add is 2; bias add, "
    "BN scale and shift, ReLU, residual add and pooling are each counted",
    "batch": 1,
}


def format_shape(shape: Sequence[int]) -> str:
    return "x".join(str(d) for d in shape)


def check_output_path(path: Path, option: str) -> None:
    """Fail before any work if ``path`` cannot receive a file (nothing is created here).

    A folder, or a path below a file, is a usage error (exit 2); a location the
    process may not write to is a runtime error (exit 1).
    """
    if str(path).strip() == "":
        raise UsageError(f"{option} needs a file path")
    if path.is_dir():
        raise UsageError(f"{option} {str(path)!r} is a folder; give a file path")
    _check_writable(path, path.parent, option)


def check_output_dir(path: Path, option: str) -> None:
    """Fail before any work if the folder ``path`` cannot receive files (nothing is created here)."""
    if str(path).strip() == "":
        raise UsageError(f"{option} needs a folder path")
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {str(path)!r} is a file; give a folder")
    _check_writable(path, path, option)


def _check_writable(path: Path, folder: Path, option: str) -> None:
    """``folder`` (``path``'s folder) or its nearest existing ancestor must be a folder this process can write in."""
    ancestor = folder
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"{option} {str(path)!r}: {str(ancestor)!r} is not a folder")
    try:
        probe = tempfile.TemporaryFile(dir=ancestor)
    except OSError as exc:
        raise InspectError(f"cannot write {option} {str(path)!r}: {exc.strerror or exc}") from None
    probe.close()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; rename it to ``path`` only if the block succeeds."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        # mkstemp makes the file 0600; a report is an ordinary file, so give it the mode open() would.
        os.fchmod(fd, 0o666 & ~_umask())
    except OSError as exc:
        raise InspectError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, mode, newline="" if "b" not in mode else None) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise InspectError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
        raise


def write_atomic(path: Path, write: Callable[[IO[Any]], None], mode: str = "w") -> None:
    with atomic_open(path, mode) as handle:
        write(handle)


def rows_frame(rows: Sequence[Any], columns: Sequence[str] | None = None) -> Any:
    """A pandas DataFrame of rows (dataclasses or mappings); shapes as '56x56x256', unknown counts as empty cells."""
    import pandas as pd

    records = [dict(r) if isinstance(r, Mapping) else dataclasses.asdict(r) for r in rows]
    names = list(columns or records[0].keys())
    data: dict[str, Any] = {}
    for column in names:
        values = [record.get(column) for record in records]
        if column.endswith("shape"):
            data[column] = [format_shape(v) for v in values]
        elif all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in values):
            # Built from the Python ints: letting pandas infer would turn a column of ints with one
            # unknown (None) into floats, and 231211008 into 231211008.0.
            data[column] = pd.array(values, dtype="Int64")
        else:
            data[column] = values
    return pd.DataFrame(data, columns=names)


def write_csv(path: Path, rows: Sequence[Any], columns: Sequence[str] | None = None) -> None:
    frame = rows_frame(rows, columns)
    write_atomic(path, lambda f: frame.to_csv(f, index=False, lineterminator="\n"))


def write_json(path: Path, payload: dict[str, Any]) -> None:
    text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    write_atomic(path, lambda f: f.write(text))


def versions() -> dict[str, str]:
    """Tool, TensorFlow, Keras and Python versions (TensorFlow must already be loaded)."""
    import keras
    import tensorflow as tf

    return {
        "resnet_inspect": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
    }


def row_dict(row: UnitRow) -> dict[str, Any]:
    data = dataclasses.asdict(row)
    data["output_shape"] = list(row.output_shape)
    return data


def report_payload(report: Report, level: Level) -> dict[str, Any]:
    """The JSON document of ``summary --json``: plain data, fixed key order, no timestamps."""
    return {
        "model": report.model_name,
        "level": level.value,
        "config": dict(report.config),
        "convention": CONVENTION,
        "versions": versions(),
        "totals": dataclasses.asdict(report.totals),
        "unsupported": [dataclasses.asdict(u) for u in report.unsupported],
        "columns": list(COLUMNS),
        "rows": [row_dict(r) for r in report.rows(level)],
    }
