"""Rich rendering of ``compare``: two blocks part by part and side by side, or whole models with their split."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from resnet_inspect.analysis.compare import BlockSide, ModelRow, difference, ratio
from resnet_inspect.analysis.flops import CONVENTION_LINE
from resnet_inspect.analysis.frame import format_shape
from resnet_inspect.analysis.records import flat
from resnet_inspect.output.columns import (
    SPLIT_VIEW,
    UNKNOWN,
    add_columns,
    cells,
    count,
    giga,
    mega,
    signed,
    times,
)
from resnet_inspect.output.render import print_unsupported

NONE_YET = "—"


def block_parts_table(sides: Sequence[BlockSide], size: int) -> Table:
    table = Table(title="Convolutions", header_style="bold")
    for header in ("Block", "Part", "Kernel", "Channels in → out", "Output shape", "Weights", "Biases"):
        table.add_column(header, justify="left" if header in ("Block", "Part") else "right", no_wrap=True)
    table.add_column(f"MACs at {size}x{size}", justify="right")
    for side in sides:
        for conv in side.convs:
            table.add_row(
                conv.block,
                conv.part,
                format_shape(conv.kernel_shape),
                f"{conv.in_channels} → {conv.out_channels}",
                format_shape(conv.output_shape),
                count(conv.weights),
                count(conv.biases),
                UNKNOWN if conv.macs is None else count(conv.macs),
            )
        table.add_row(
            side.setup.kind.value,
            "total",
            "",
            f"{side.in_channels} → {side.out_channels}",
            format_shape(side.output_shape),
            count(side.totals.split.weights),
            count(side.totals.split.biases),
            UNKNOWN if side.totals.macs is None else count(side.totals.macs),
            style="bold",
            end_section=True,
        )
    return table


def block_totals_table(sides: Sequence[BlockSide], size: int) -> Table:
    """Side by side: one column per block, then each block's ratio to the first."""
    base = sides[0]
    table = Table(title="Side by side", header_style="bold")
    table.add_column("", no_wrap=True)
    for side in sides:
        table.add_column(side.setup.kind.value, justify="right", no_wrap=True)
    for side in sides[1:]:
        table.add_column(f"{side.setup.kind.value} / {base.setup.kind.value}", justify="right")
    table.add_row(
        "Input → output",
        *[f"{format_shape(s.input_shape)} → {format_shape(s.output_shape)}" for s in sides],
        *["" for _ in sides[1:]],
    )
    metrics = (
        ("Input channels", lambda s: s.in_channels),
        ("Conv weights", lambda s: s.totals.split.weights),
        ("Conv biases", lambda s: s.totals.split.biases),
        ("BN γ/β (trainable)", lambda s: s.totals.split.bn_trainable),
        ("BN μ/σ² (non-trainable)", lambda s: s.totals.split.bn_non_trainable),
        ("All parameters", lambda s: s.totals.params),
        (f"MACs at {size}x{size}", lambda s: s.totals.macs),
        (f"FLOPs at {size}x{size}", lambda s: s.totals.flops),
    )
    for label, value in metrics:
        table.add_row(
            label,
            *[UNKNOWN if value(s) is None else count(value(s)) for s in sides],
            *[times(ratio(value(s), value(base))) for s in sides[1:]],
            style="bold" if label == "Conv weights" else None,
        )
    return table


def block_story(sides: Sequence[BlockSide]) -> Text:
    """The seeds' point in one line per block: weights against the first block, and channels."""
    base = sides[0]
    text = Text()
    for side in sides[1:]:
        weights, base_weights = side.totals.split.weights, base.totals.split.weights
        text.append(
            f"{side.setup.kind.value} {count(weights)} vs {base.setup.kind.value} "
            f"{count(base_weights)} conv weights: {times(ratio(weights, base_weights))} "
            f"({signed(difference(weights, base_weights))}), "
            f"with {times(ratio(side.in_channels, base.in_channels))} the input channels "
            f"({side.in_channels} vs {base.in_channels})"
        )
    return text


def print_block_comparison(console: Console, sides: Sequence[BlockSide], heading: str) -> None:
    size = sides[0].setup.size
    console.print(Text(heading, style="bold"))
    console.print(Text(CONVENTION_LINE, style="dim"))
    console.print(block_parts_table(sides, size))
    console.print(block_totals_table(sides, size))
    console.print(block_story(sides))
    for side in sides:
        print_unsupported(console, side.report.unsupported)


def model_label(row: ModelRow, rows: Sequence[ModelRow]) -> str:
    """The name as asked; with its version appended when the models differ in version and the name has none."""
    if len({r.version for r in rows}) == 1 or row.name.endswith(f"-{row.version}"):
        return row.name
    return f"{row.name}-{row.version}"


def models_table(rows: Sequence[ModelRow]) -> Table:
    base = rows[0]
    table = Table(title=f"Models (Δ and × against {model_label(base, rows)})", header_style="bold")
    for header in ("Model", "Block", "Blocks", "Features", "Output"):
        table.add_column(header, no_wrap=True, justify="right" if header in ("Features", "Output") else "left")
    for header in ("Params", "Δ params", "×", "MACs (G)", "Δ MACs", "×", "FLOPs (G)", "Δ FLOPs", "×"):
        table.add_column(header, justify="right", no_wrap=True)
    for row in rows:
        first = row is base
        table.add_row(
            model_label(row, rows),
            row.block_type,
            "-".join(str(n) for n in row.blocks),
            format_shape(row.features_shape),
            format_shape(row.output_shape),
            count(row.totals.params),
            NONE_YET if first else signed(row.diff["params"]),
            NONE_YET if first else times(row.ratio["params"]),
            giga(row.totals.macs).removesuffix(" G"),
            NONE_YET if first else signed(row.diff["macs"], 1e9),
            NONE_YET if first else times(row.ratio["macs"]),
            giga(row.totals.flops).removesuffix(" G"),
            NONE_YET if first else signed(row.diff["flops"], 1e9),
            NONE_YET if first else times(row.ratio["flops"]),
        )
    return table


def model_split_table(rows: Sequence[ModelRow]) -> Table:
    table = Table(title="Parameter split", header_style="bold")
    table.add_column("Model", no_wrap=True)
    add_columns(table, SPLIT_VIEW, no_wrap=True)
    for row in rows:
        table.add_row(model_label(row, rows), *cells(SPLIT_VIEW, flat(row.totals)))
    return table


def model_stage_table(rows: Sequence[ModelRow], stages: Sequence[str], field: str, title: str) -> Table:
    """One row per model, one column per stage: the stage's ``field`` (params as a count, MACs in millions)."""
    table = Table(title=title, header_style="bold")
    table.add_column("Model", no_wrap=True)
    for stage in stages:
        table.add_column(stage, justify="right", no_wrap=True)
    for row in rows:
        by_name = {unit.name: unit for unit in row.stages}
        cells = []
        for stage in stages:
            value = getattr(by_name[stage], field) if stage in by_name else None
            if stage not in by_name:
                cells.append(NONE_YET)
            else:
                cells.append(count(value) if field == "params" else mega(value))
        table.add_row(model_label(row, rows), *cells)
    return table


def print_model_comparison(
    console: Console, rows: Sequence[ModelRow], heading: str, stages: Sequence[str] = ()
) -> None:
    console.print(Text(heading, style="bold"))
    console.print(Text(CONVENTION_LINE, style="dim"))
    console.print(models_table(rows))
    console.print(model_split_table(rows))
    if stages:
        console.print(model_stage_table(rows, stages, "params", "Parameters per stage"))
        console.print(model_stage_table(rows, stages, "macs", "MACs per stage (M)"))
    for row in rows:
        if row.totals.unsupported:
            message = f"{row.name}: {row.totals.unsupported} unsupported layer(s), its MACs/FLOPs are unknown"
            console.print(Text(message, style="yellow"))
