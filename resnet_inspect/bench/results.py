"""Read a bench results CSV (written by ``resnet-inspect bench --csv``) back, validated. No TensorFlow.

The columns are :data:`resnet_inspect.bench.plan.BENCH_COLUMNS`; every problem
with the file is a usage error naming the file, the row and the column.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from resnet_inspect.bench.plan import BENCH_COLUMNS
from resnet_inspect.bench.stats import BenchRow
from resnet_inspect.errors import UsageError
from resnet_inspect.files import input_file

# Columns that may be blank: a single step has no standard deviation, an unknown peak no percentage.
OPTIONAL = frozenset({"std_ms", "gflops_per_s", "pct_of_peak"})
TRUE, FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})
# A bench CSV holds one short row per run: 16 MiB is hundreds of thousands of runs.
MAX_BYTES = 16 * 2**20


def _number(value: Any, column: str, where: str) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == "":
        if column in OPTIONAL:
            return None
        raise UsageError(f"{where}: {column} is empty")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{where}: {column} must be a number, got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise UsageError(f"{where}: {column} must be a finite number >= 0, got {value!r}")
    return number


def _row(record: dict[str, Any], where: str) -> BenchRow:
    batch = _number(record["batch_size"], "batch_size", where)
    if batch is None or batch != int(batch) or batch < 1:
        raise UsageError(f"{where}: batch_size must be a positive integer, got {record['batch_size']!r}")
    xla = str(record["xla"]).strip().lower()
    if xla not in TRUE | FALSE:
        raise UsageError(f"{where}: xla must be true or false, got {record['xla']!r}")
    numbers = {c: _number(record[c], c, where) for c in BENCH_COLUMNS if c.endswith(("_ms", "_s", "_peak"))}
    return BenchRow(
        batch_size=int(batch),
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
    # data rows start on line 2 of the file, after the header
    return tuple(_row(record, f"{name} line {i + 2}") for i, record in enumerate(frame.to_dict("records")))


def series(rows: Sequence[BenchRow]) -> list[tuple[str, list[BenchRow]]]:
    """Rows grouped by setting (device, precision, XLA) in order of first appearance, each sorted by batch size."""
    groups: dict[str, list[BenchRow]] = {}
    for row in rows:
        label = f"{row.device} {row.precision}" + (" XLA" if row.xla else "")
        groups.setdefault(label, []).append(row)
    return [(label, sorted(members, key=lambda r: r.batch_size)) for label, members in groups.items()]
