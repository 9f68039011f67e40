"""The columns of the report tables, declared once: field, header, unit and format.

A row is a flat mapping (:func:`resnet_inspect.analysis.records.flat` spells the
parameter split out as ``weights``, ``biases``, ...). The CSV and JSON exports
carry every field of the row, in the record's order; each view below picks the
columns that a console table or a Markdown table shows, in its order. A new
metric is a field of the record plus one :class:`Column` here; every table that
lists it then shows it the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from rich.table import Table

from resnet_inspect.analysis.frame import format_shape
from resnet_inspect.analysis.memory import MemoryRow
from resnet_inspect.analysis.records import UnitRow, flat_fields

UNKNOWN = "?"


def count(value: int) -> str:
    return f"{value:,}"


def known(value: int | None) -> str:
    return UNKNOWN if value is None else str(value)


def giga(value: int | None) -> str:
    return UNKNOWN if value is None else f"{value / 1e9:.2f} G"


def mega(value: int | None) -> str:
    return UNKNOWN if value is None else f"{value / 1e6:,.1f}"


def mib(value: int) -> str:
    return f"{value / 2**20:,.1f}"


def one_decimal(value: float | None) -> str:
    return UNKNOWN if value is None else f"{value:.1f}"


def on_off(value: bool) -> str:
    return "on" if value else "off"


def decimals(digits: int, unknown: str = UNKNOWN) -> Callable[[float | None], str]:
    """A format with ``digits`` decimals and thousands separators; ``unknown`` for None."""

    def fmt(value: float | None) -> str:
        return unknown if value is None else f"{value:,.{digits}f}"

    return fmt


def times(value: float | None) -> str:
    return UNKNOWN if value is None else f"{value:.3f}×"


def signed(value: int | None, scale: float = 1.0) -> str:
    """'+4,096' (a count) or '-0.46' (in units of ``scale``): a difference with its sign."""
    if value is None:
        return UNKNOWN
    if scale == 1.0:
        return f"{value:+,}"
    return f"{value / scale:+,.2f}"


@dataclass(frozen=True)
class Column:
    """One column: the row's ``field``, shown as ``header (unit)`` with ``fmt``.

    ``text`` columns (names, types, shapes) are never wrapped; ``left`` columns are
    left-aligned, every other one right-aligned.
    """

    field: str
    header: str
    unit: str = ""
    fmt: Callable[[Any], str] = str
    text: bool = False
    left: bool = False

    @property
    def title(self) -> str:
        return f"{self.header} ({self.unit})" if self.unit else self.header

    @property
    def md_title(self) -> str:
        """Markdown headers are in lower case, acronyms kept: 'Params' -> 'params', 'MACs (M)' as is."""
        title = self.title
        return title[0].lower() + title[1:] if title[1:2].islower() else title


def _table(*columns: Column) -> dict[str, Column]:
    return {column.field: column for column in columns}


# A layer, block or stage (UnitRow) and its memory (MemoryRow), in the order of the CSV export.
UNIT = _table(
    Column("name", "Name", text=True, left=True),
    Column("type", "Type", text=True, left=True),
    Column("stage", "Stage", fmt=known, text=True, left=True),
    Column("output_shape", "Output shape", fmt=format_shape, text=True),
    Column("layers", "Layers", fmt=count),
    Column("weights", "Weights", fmt=count),
    Column("biases", "Biases", fmt=count),
    Column("bn_trainable", "BN γ/β", fmt=count),
    Column("bn_non_trainable", "BN μ/σ²", fmt=count),
    Column("other", "Other", fmt=count),
    Column("params", "Params", fmt=count),
    Column("trainable", "Trainable", fmt=count),
    Column("non_trainable", "Non-trainable", fmt=count),
    Column("macs", "MACs", "M", fmt=mega),
    Column("flops", "FLOPs", "M", fmt=mega),
    # receptive field and jump, in input pixels (resnet_inspect.analysis.receptive)
    Column("receptive_field", "RF", fmt=known),
    Column("jump", "Jump", fmt=known),
    Column("activation_bytes", "Activations", "MiB", fmt=mib),
    Column("param_bytes", "Params", "MiB", fmt=mib),
    Column("bytes_moved", "Moved", "MiB", fmt=mib),
    Column("arithmetic_intensity", "FLOPs/byte", fmt=one_decimal),
)


# The CSV and JSON columns: every field of the row, in the record's order (a unit's memory after the unit).
SUMMARY_COLUMNS: tuple[str, ...] = flat_fields(UnitRow)
REPORT_COLUMNS: tuple[str, ...] = SUMMARY_COLUMNS + tuple(f for f in flat_fields(MemoryRow) if f != "name")


def pick(table: Mapping[str, Column], *fields: str) -> tuple[Column, ...]:
    return tuple(table[field] for field in fields)


# What each table shows, in its order.
SUMMARY_VIEW = pick(
    UNIT, "name", "type", "output_shape", "params", "weights", "biases", "bn_trainable", "bn_non_trainable",
    "macs", "flops", "receptive_field", "jump",
)  # fmt: skip
MEMORY_VIEW = (
    *pick(UNIT, "name", "type", "output_shape", "activation_bytes", "param_bytes", "bytes_moved"),
    replace(UNIT["flops"], header="FLOPs/image"),
    *pick(UNIT, "arithmetic_intensity", "receptive_field", "jump"),
)
MARKDOWN_VIEW = pick(
    UNIT, "name", "type", "output_shape", "params", "macs", "flops", "activation_bytes", "arithmetic_intensity",
    "receptive_field", "jump",
)  # fmt: skip
SPLIT_VIEW = pick(
    UNIT, "weights", "biases", "bn_trainable", "bn_non_trainable", "other", "trainable", "non_trainable", "layers"
)


# One bench run (BenchRow, and "steps" from its result); step times in ms, rates empty when unknown.
BENCH = _table(
    Column("batch_size", "Batch", text=True),
    Column("device", "Device", text=True, left=True),
    Column("precision", "Precision", text=True, left=True),
    Column("xla", "XLA", fmt=on_off, text=True, left=True),
    Column("steps", "Steps", text=True),
    Column("mean_ms", "Mean", fmt=decimals(2)),
    Column("p50_ms", "p50", fmt=decimals(2)),
    Column("p90_ms", "p90", fmt=decimals(2)),
    Column("p99_ms", "p99", fmt=decimals(2)),
    Column("std_ms", "Std", fmt=decimals(2)),
    Column("images_per_s", "Images/s", fmt=decimals(2, "")),
    Column("gflops_per_s", "GFLOP/s", fmt=decimals(1, "")),
    Column("pct_of_peak", "% of peak", fmt=decimals(1, "")),
)
BENCH_VIEW = pick(BENCH, *BENCH)
# The report's latency table: no steps or std, the unit in the step-time headers, every rate to one decimal.
LATENCY_VIEW = (
    *pick(BENCH, "batch_size", "device", "precision", "xla"),
    *(replace(BENCH[f], header=f"{BENCH[f].header} ms") for f in ("mean_ms", "p50_ms", "p90_ms", "p99_ms")),
    *(replace(BENCH[f], fmt=decimals(1)) for f in ("images_per_s", "gflops_per_s", "pct_of_peak")),
)


def add_columns(
    table: Table, columns: Sequence[Column], name_header: str | None = None, no_wrap: bool = False
) -> None:
    """Add ``columns`` to a rich table; ``name_header`` titles the ``name`` column (the level: Stage, Block...),
    and ``no_wrap`` keeps every column on one line (else only the text columns)."""
    for column in columns:
        title = name_header if column.field == "name" and name_header is not None else column.title
        table.add_column(title, justify="left" if column.left else "right", no_wrap=no_wrap or column.text)


def cells(columns: Sequence[Column], row: Mapping[str, Any]) -> list[str]:
    return [column.fmt(row[column.field]) for column in columns]


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """A GitHub Markdown table; the first ``left`` columns left-aligned, the others right-aligned."""
    align = ["---" if i < left else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def md_columns_table(
    columns: Sequence[Column], rows: Sequence[Mapping[str, Any]], name_header: str = "", left: int | None = None
) -> str:
    """``rows`` as a Markdown table of ``columns``, names as code; the first ``left`` columns left-aligned
    (by default the left-aligned text columns)."""
    headers = [name_header if c.field == "name" else c.md_title for c in columns]
    body = [
        [f"`{cell}`" if c.field == "name" else cell for c, cell in zip(columns, cells(columns, row), strict=True)]
        for row in rows
    ]
    return md_table(headers, body, left=sum(c.left for c in columns) if left is None else left)
