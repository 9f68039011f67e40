"""Read a bench results CSV (written by ``resnet-inspect bench --csv``) back, validated. No TensorFlow.

The columns are :data:`resnet_inspect.bench.plan.BENCH_COLUMNS`; every problem
with the file is a usage error naming the file, the row and the column.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from resnet_inspect.bench.plan import BENCH_COLUMNS
from resnet_inspect.bench.stats import BenchRow
from resnet_inspect.errors import UsageError
from resnet_inspect.files import input_file
from resnet_inspect.model.spec import shown_value

# Columns that may be blank: a single step has no standard deviation, an unknown peak no percentage.
OPTIONAL = frozenset({"std_ms", "gflops_per_s", "pct_of_peak"})
TRUE, FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})
# A bench CSV holds one short row per run: 16 MiB is hundreds of thousands of runs.
MAX_BYTES = 16 * 2**20
# The largest batch (TensorFlow indexes at most 2**63 - 1 elements) and the largest measured value (a step
# time in ms, images or GFLOP per second, % of peak): far beyond any real run, and small enough that the
# charts' sums and logarithms stay finite.
MAX_BATCH = 2**63 - 1
MAX_VALUE = 1e15
MEASURED = tuple(c for c in BENCH_COLUMNS if c.endswith(("_ms", "_s", "_peak")))


def _number(value: Any, column: str, where: str) -> float | None:
    """A measured value: a finite number from 0 to :data:`MAX_VALUE` (blank only in an OPTIONAL column)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == "":
        if column in OPTIONAL:
            return None
        raise UsageError(f"{where}: {column} is empty")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{where}: {column} must be a number, got {shown_value(str(value))}") from None
    if not math.isfinite(number) or not 0 <= number <= MAX_VALUE:
        raise UsageError(
            f"{where}: {column} must be a number from 0 to {MAX_VALUE:.0e}, got {shown_value(str(value))}"
        )
    return number


def _batch(value: Any, where: str) -> int:
    """A batch size: a whole number from 1 to 2**63 - 1 (TensorFlow indexes no larger tensor), as the
    bench writes it (``32``; ``32.0`` is taken too)."""
    text = str(value).strip()
    try:
        # digits are read exactly (a float would round 2**63 - 1 up); at most 19 of them can fit
        number = int(text) if text.isdigit() and len(text) <= 19 else float(text)
    except ValueError:
        number = math.nan
    if not (isinstance(number, int) or (math.isfinite(number) and number == int(number))) or not (
        1 <= number <= MAX_BATCH
    ):
        raise UsageError(
            f"{where}: batch_size must be a whole number from 1 to 2**63 - 1, got {shown_value(str(value))}"
        )
    return int(number)


def _row(record: dict[str, Any], where: str) -> BenchRow:
    batch = _batch(record["batch_size"], where)
    xla = str(record["xla"]).strip().lower()
    if xla not in TRUE | FALSE:
        raise UsageError(f"{where}: xla must be true or false, got {shown_value(str(record['xla']))}")
    numbers = {c: _number(record[c], c, where) for c in MEASURED}
    return BenchRow(
        batch_size=batch,
        device=str(record["device"]),
        precision=str(record["precision"]),
        xla=xla in TRUE,
        **numbers,  # type: ignore[arg-type]
    )


def read_bench_csv(path: Path, option: str = "--bench") -> tuple[BenchRow, ...]:
    """The rows of a bench CSV, in file order; a missing file, a missing column or a bad value is a UsageError."""
    name = f"{option} {str(path)!r}"
    size = input_file(path, name, "give the CSV file written by resnet-inspect bench --csv")
    if size > MAX_BYTES:
        raise UsageError(f"{name} is {size:,} bytes; a bench CSV is a few KiB (at most {MAX_BYTES:,} read)")
    import pandas as pd
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise UsageError(f"{name} is not a CSV table: {reason}") from None
    except OSError as exc:
        raise UsageError(f"{name} cannot be read: {exc.strerror or exc}") from None
    missing = [c for c in BENCH_COLUMNS if c not in frame.columns]
    if missing:
        raise UsageError(
            f"{name} lacks the column(s) {', '.join(missing)}; a bench CSV (resnet-inspect bench --csv) "
            f"has {', '.join(BENCH_COLUMNS)}"
        )
    if frame.empty:
        raise UsageError(f"{name} has no rows")
    columns = {c: frame[c].tolist() for c in BENCH_COLUMNS}
    rows = _valid_rows(columns)
    if rows is None:  # a bad value: find the first, row by row, and name it
        # data rows start on line 2 of the file, after the header
        rows = tuple(_row({c: columns[c][i] for c in BENCH_COLUMNS}, f"{name} line {i + 2}") for i in range(len(frame)))
    return rows


def _valid_rows(columns: dict[str, list[str]]) -> tuple[BenchRow, ...] | None:
    """The rows, column by column, when every value is good; None at the first doubt (:func:`_row` then
    names it). Accepts nothing that :func:`_row` refuses: whole batch sizes in range, xla true or false,
    measured values in range (blank only where OPTIONAL)."""
    try:
        batches = list(map(int, columns["batch_size"]))
        measured = [
            [None if not text.strip() else float(text) for text in columns[c]] if c in OPTIONAL
            else list(map(float, columns[c]))
            for c in MEASURED
        ]
    except ValueError:
        return None
    flags = [text.strip().lower() for text in columns["xla"]]
    if not all(1 <= b <= MAX_BATCH for b in batches) or not all(f in TRUE or f in FALSE for f in flags):
        return None
    for values in measured:
        if not all(v is None or 0 <= v <= MAX_VALUE for v in values):  # NaN fails the comparison too
            return None
    xla = [f in TRUE for f in flags]
    # BenchRow's fields are the CSV's columns, in order (BENCH_COLUMNS)
    return tuple(itertools.starmap(BenchRow, zip(batches, columns["device"], columns["precision"], xla, *measured,
                                                 strict=True)))


def series(rows: Sequence[BenchRow]) -> list[tuple[str, list[BenchRow]]]:
    """Rows grouped by setting (device, precision, XLA) in order of first appearance, each sorted by batch size."""
    groups: dict[str, list[BenchRow]] = {}
    for row in rows:
        label = f"{row.device} {row.precision}" + (" XLA" if row.xla else "")
        groups.setdefault(label, []).append(row)
    return [(label, sorted(members, key=lambda r: r.batch_size)) for label, members in groups.items()]
