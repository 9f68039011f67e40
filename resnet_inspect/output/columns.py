"""The columns of the report tables, declared once: field, header, unit, format and how each one gives way.

A row is a flat mapping (:func:`resnet_inspect.analysis.records.flat` spells the
parameter split out as ``weights``, ``biases``, ...). The CSV and JSON exports
carry every field of the row, in the record's order; each view below picks the
columns that a console table or a Markdown table shows, in its order. A new
metric is a field of the record plus one :class:`Column` here; every table that
lists it then shows it the same way.

A terminal table that is wider than the terminal gives way in three steps (:mod:`resnet_inspect.output.fit`):
the numbers switch to compact units (``short``, or the ``scale``'s three significant digits), then the columns
with a ``drop`` priority go, highest first, then the table is folded into parts that repeat its key columns.
Every table the console prints is declared here: the unit tables (summary, memory), ``compare``'s, ``bench``'s,
``paper``'s and the ``--verify`` cross-check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from resnet_inspect.analysis.frame import format_shape
from resnet_inspect.analysis.memory import MemoryRow
from resnet_inspect.analysis.records import UnitRow, flat_fields
from resnet_inspect.units import MEBIBYTES, SI_GIGA, SI_MEGA, UNKNOWN, Scale, compact


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


def kept(digits: int, unknown: str = UNKNOWN) -> Callable[[float | None], str]:
    """:func:`decimals`, except that a nonzero value too small for ``digits`` keeps two significant digits
    (``0.0098``, never ``0.0``)."""
    plain = decimals(digits, unknown)

    def fmt(value: float | None) -> str:
        if value is not None and 0 < abs(value) < 0.5 * 10**-digits:
            return f"{value:.2g}"
        return plain(value)

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


def short_count(value: int | None) -> str:
    return compact(value)


def short_signed(value: int | None) -> str:
    return compact(value, signed=True)


@dataclass(frozen=True)
class Column:
    """One column: the row's ``field``, shown as ``header (unit)`` with ``fmt``.

    ``text`` columns (names, types, shapes) are never wrapped; ``left`` columns are
    left-aligned, every other one right-aligned (``center``: centred).
    In a terminal, a ``scale`` column takes the unit its values need (``fmt`` keeps ``unit``, for Markdown);
    ``short`` is the compact form of a cell when the table must shrink (a ``scale`` column has one
    already), and ``drop`` > 0 lets the column go when compact units are not enough, highest first.
    """

    field: str
    header: str
    unit: str = ""
    fmt: Callable[[Any], str] = str
    text: bool = False
    left: bool = False
    short: Callable[[Any], str] | None = None
    scale: Scale | None = None
    drop: int = 0
    center: bool = False
    signed: bool = False  # a difference: a scaled or compact cell with its sign

    @property
    def title(self) -> str:
        return f"{self.header} ({self.unit})" if self.unit else self.header

    @property
    def md_title(self) -> str:
        """Markdown headers are in lower case, acronyms kept: 'Params' -> 'params', 'MACs (M)' as is."""
        title = self.title
        return title[0].lower() + title[1:] if title[1:2].islower() else title

    def shown(self, values: Sequence[Any], compact_cells: bool) -> tuple[str, Callable[[Any], str]]:
        """The terminal's title and format of this column for ``values``: the scale's unit for them, or
        (``compact_cells``) a unit in each cell."""
        if compact_cells and (self.short is not None or self.scale is not None):
            return self.header, self.short or self.scale.compact(self.signed)  # type: ignore[union-attr]
        if self.scale is not None:
            index = self.scale.pick(values)
            unit = self.scale.names[index]
            return (f"{self.header} ({unit})" if unit else self.header), self.scale.fixed(index, self.signed)
        return self.title, self.fmt

    @property
    def compacts(self) -> bool:
        return self.short is not None or self.scale is not None


def _table(*columns: Column) -> dict[str, Column]:
    return {column.field: column for column in columns}


# A layer, block or stage (UnitRow) and its memory (MemoryRow), in the order of the CSV export.
UNIT = _table(
    Column("name", "Name", text=True, left=True),
    Column("type", "Type", text=True, left=True, drop=1),
    Column("stage", "Stage", fmt=known, text=True, left=True),
    Column("output_shape", "Output shape", fmt=format_shape, text=True),
    Column("layers", "Layers", fmt=count, short=short_count),
    # the split is in the totals below the table, exactly: the first columns to go after RF and jump,
    # the running statistics first, the weights last
    Column("weights", "Weights", fmt=count, short=short_count, drop=2),
    Column("biases", "Biases", fmt=count, short=short_count, drop=3),
    Column("bn_trainable", "norm γ/β", fmt=count, short=short_count, drop=4),
    Column("bn_non_trainable", "norm μ/σ²", fmt=count, short=short_count, drop=5),
    Column("other", "Other", fmt=count, short=short_count, drop=2),
    Column("params", "Params", fmt=count, short=short_count),
    Column("trainable", "Trainable", fmt=count, short=short_count),
    Column("non_trainable", "Non-trainable", fmt=count, short=short_count),
    Column("macs", "MACs", "M", fmt=mega, scale=SI_MEGA),
    Column("flops", "FLOPs", "M", fmt=mega, scale=SI_MEGA),
    # receptive field and jump, in input pixels (resnet_inspect.analysis.receptive)
    Column("receptive_field", "RF", fmt=known, drop=6),
    Column("jump", "Jump", fmt=known, drop=6),
    Column("activation_bytes", "Activations", "MiB", fmt=mib, scale=MEBIBYTES),
    Column("param_bytes", "Params", "MiB", fmt=mib, scale=MEBIBYTES, drop=2),
    Column("bytes_moved", "Moved", "MiB", fmt=mib, scale=MEBIBYTES, drop=2),
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
    Column("xla", "XLA", fmt=on_off, text=True, left=True, drop=1),
    Column("steps", "Steps", text=True, drop=3),
    Column("mean_ms", "Mean", fmt=decimals(2)),
    Column("p50_ms", "p50", fmt=decimals(2), drop=2),
    Column("p90_ms", "p90", fmt=decimals(2)),
    Column("p99_ms", "p99", fmt=decimals(2), drop=2),
    Column("std_ms", "Std", fmt=decimals(2), drop=3),
    Column("images_per_s", "Images/s", fmt=decimals(2, "")),
    Column("gflops_per_s", "GFLOP/s", fmt=decimals(1, ""), drop=1),
    Column("pct_of_peak", "% of peak", fmt=decimals(1, ""), drop=1),
)
BENCH_VIEW = pick(BENCH, *BENCH)
# The report's latency table: no steps or std, the unit in the step-time headers, every rate to one decimal.
LATENCY_VIEW = (
    *pick(BENCH, "batch_size", "device", "precision", "xla"),
    *(replace(BENCH[f], header=f"{BENCH[f].header} ms") for f in ("mean_ms", "p50_ms", "p90_ms", "p99_ms")),
    *(replace(BENCH[f], fmt=decimals(1)) for f in ("images_per_s", "gflops_per_s", "pct_of_peak")),
)


# profile's rows (resnet_inspect.bench.breakdown.ProfileRow): step times in ms, rates and shares empty when unknown.
PROFILE = _table(
    Column("name", "Name", text=True, left=True),
    Column("type", "Type", text=True, left=True, drop=2),
    Column("p50_ms", "p50 ms", fmt=kept(2)),
    Column("p90_ms", "p90 ms", fmt=kept(2, ""), drop=1),
    Column("share_pct", "Share %", fmt=kept(1, "")),
    Column("macs", "MACs", "M", fmt=mega, scale=SI_MEGA, drop=3),
    Column("flops", "FLOPs", "M", fmt=mega, scale=SI_MEGA),
    Column("gflops_per_s", "GFLOP/s", fmt=kept(1, "")),
    Column("pct_of_peak", "% of peak", fmt=kept(1, ""), drop=2),
    Column("bytes_moved", "Bytes", "MiB", fmt=lambda v: "" if v is None else mib(v), scale=MEBIBYTES, drop=1),
    Column("arithmetic_intensity", "FLOPs/byte", fmt=kept(1, "")),
    Column("bound", "Bound", fmt=lambda v: v or "", text=True),
)
PROFILE_VIEW = pick(PROFILE, *PROFILE)


# compare's models (resnet_inspect.output.compare_tables.model_cells): differences and ratios against the first.
def _ratio(field: str) -> Column:
    return Column(f"{field}_ratio", "×", fmt=times)


MODEL_VIEW = (
    Column("name", "Model", text=True, left=True),
    Column("block_type", "Block", text=True, left=True, drop=2),
    Column("blocks", "Blocks", text=True, left=True, drop=2),
    Column("features_shape", "Features", fmt=format_shape, text=True, drop=1),
    Column("output_shape", "Output", fmt=format_shape, text=True, drop=1),
    Column("params", "Params", fmt=count, short=short_count),
    Column("params_diff", "Δ params", fmt=signed, short=short_signed, drop=3),
    _ratio("params"),
    Column("macs", "MACs", "G", fmt=giga, scale=SI_GIGA),
    Column("macs_diff", "Δ MACs", "G", scale=SI_GIGA, signed=True, drop=3),
    _ratio("macs"),
    Column("flops", "FLOPs", "G", fmt=giga, scale=SI_GIGA),
    Column("flops_diff", "Δ FLOPs", "G", scale=SI_GIGA, signed=True, drop=3),
    _ratio("flops"),
)
MODEL_NAME = Column("name", "Model", text=True, left=True)
# compare's activation memory (one float32 image) and the receptive field of the features map
MODEL_MEMORY_VIEW = (
    MODEL_NAME,
    replace(UNIT["activation_bytes"], field="inference_peak_bytes", header="Inference peak"),
    replace(UNIT["activation_bytes"], header="All outputs", drop=1),
    replace(UNIT["activation_bytes"], field="training_activation_bytes", header="Training"),
    replace(UNIT["receptive_field"], drop=0),
    replace(UNIT["jump"], drop=0),
)
# compare's per-stage tables: one column per stage, the stage's name as header.
STAGE_PARAMS = Column("", "", fmt=count, short=short_count)
STAGE_MACS = Column("", "", fmt=mega, scale=SI_MEGA)

# compare's blocks, conv by conv (resnet_inspect.output.compare_tables.block_parts_table).
BLOCK_PARTS_VIEW = (
    Column("block", "Block", text=True, left=True),
    Column("part", "Part", text=True, left=True),
    Column("kernel", "Kernel", text=True, drop=1),
    Column("channels", "Channels in → out", text=True),
    Column("output_shape", "Output shape", text=True, drop=2),
    Column("weights", "Weights", fmt=count, short=short_count),
    Column("biases", "Biases", fmt=count, short=short_count),
    Column("macs", "MACs", fmt=lambda v: UNKNOWN if v is None else count(v), short=short_count),
)

# The paper's Table 1 (resnet_inspect.output.render.paper_table): exact parameter counts, so no compact form.
PAPER_VIEW = (
    Column("name", "Network", text=True, left=True),
    Column("macs", "Our MACs", fmt=lambda v: f"{v / 1e9:.3f} G", text=True),
    Column("paper_macs", "Paper", fmt=lambda v: f"{v / 1e9:.1f} G", text=True),
    Column("difference", "Difference", fmt=lambda v: f"{v * 100:+.2f}%", text=True),
    Column("within_tolerance", "Within 2%", fmt=lambda v: "yes" if v else "NO", text=True, center=True),
    Column("trainable", "Our trainable params", fmt=count, text=True),
    Column("published_params", "Published", fmt=count, text=True),
    Column("params_equal", "Equal", fmt=lambda v: "yes" if v else "NO", text=True, center=True),
)

# summary --verify: our FLOPs beside TensorFlow's, exact (the point is the difference); the op kinds go first.
VERIFY_VIEW = (
    Column("layer_type", "Layer type", text=True, left=True),
    Column("layers", "Layers", text=True),
    Column("ours", "Ours", fmt=lambda v: UNKNOWN if v is None else count(v), text=True),
    Column("tf", "TensorFlow", fmt=count, text=True),
    Column("tf_ops", "TF op kinds", text=True, left=True, drop=1),
    Column("difference", "TF - ours", text=True),
)


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
