"""Rich rendering of ``compare``: two blocks part by part and side by side, or whole models with their split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from rich.console import Console
from rich.text import Text

from resnet_inspect.analysis.compare import BlockSide, ModelRow, difference, ratio
from resnet_inspect.analysis.flops import CONVENTION_LINE
from resnet_inspect.analysis.frame import format_shape
from resnet_inspect.analysis.records import flat
from resnet_inspect.output.columns import (
    BLOCK_PARTS_VIEW,
    MODEL_MEMORY_VIEW,
    MODEL_NAME,
    MODEL_VIEW,
    SPLIT_VIEW,
    STAGE_MACS,
    STAGE_PARAMS,
    Column,
    count,
    short_count,
    signed,
    times,
)
from resnet_inspect.output.fit import Sheet, print_sheet
from resnet_inspect.output.render import bounded, print_unsupported

NONE_YET = "—"


def block_parts_sheet(sides: Sequence[BlockSide], size: int) -> Sheet:
    rows, styles, sections = [], [], []
    for side in sides:
        for conv in side.convs:
            rows.append({
                "block": conv.block, "part": conv.part, "kernel": format_shape(conv.kernel_shape),
                "channels": f"{conv.in_channels} → {conv.out_channels}",
                "output_shape": format_shape(conv.output_shape), "weights": conv.weights,
                "biases": conv.biases, "macs": conv.macs,
            })  # fmt: skip
            styles.append(None)
            sections.append(False)
        rows.append({
            "block": side.setup.kind.value, "part": "total", "kernel": "",
            "channels": f"{side.in_channels} → {side.out_channels}", "output_shape": format_shape(side.output_shape),
            "weights": side.totals.split.weights, "biases": side.totals.split.biases, "macs": side.totals.macs,
        })  # fmt: skip
        styles.append("bold")
        sections.append(True)
    return Sheet(
        BLOCK_PARTS_VIEW, tuple(rows), title="Convolutions", key=2, headers={"macs": f"MACs at {size}x{size}"},
        styles=tuple(styles), sections=tuple(sections),
    )  # fmt: skip


def block_totals_sheet(sides: Sequence[BlockSide], size: int) -> Sheet:
    """Side by side: one column per block, then each block's ratio to the first."""
    base = sides[0]
    names = [s.setup.kind.value for s in sides]
    columns = (
        Column("label", "", text=True, left=True),
        *(Column(f"side{i}", name, fmt=count, short=short_count) for i, name in enumerate(names)),
        *(Column(f"ratio{i}", f"{name} / {names[0]}", fmt=times) for i, name in enumerate(names[1:], 1)),
    )
    rows: list[dict[str, object]] = [{
        "label": "Input → output",
        **{f"side{i}": f"{format_shape(s.input_shape)} → {format_shape(s.output_shape)}" for i, s in enumerate(sides)},
        **{f"ratio{i}": "" for i in range(1, len(sides))},
    }]  # fmt: skip
    metrics = (
        ("Input channels", lambda s: s.in_channels),
        ("Conv weights", lambda s: s.totals.split.weights),
        ("Conv biases", lambda s: s.totals.split.biases),
        ("norm γ/β (trainable)", lambda s: s.totals.split.bn_trainable),
        ("norm μ/σ² (non-trainable)", lambda s: s.totals.split.bn_non_trainable),
        ("All parameters", lambda s: s.totals.params),
        (f"MACs at {size}x{size}", lambda s: s.totals.macs),
        (f"FLOPs at {size}x{size}", lambda s: s.totals.flops),
    )
    for label, value in metrics:
        rows.append({
            "label": label,
            **{f"side{i}": value(s) for i, s in enumerate(sides)},
            **{f"ratio{i}": ratio(value(s), value(base)) for i, s in enumerate(sides[1:], 1)},
        })  # fmt: skip
    styles = tuple("bold" if row["label"] == "Conv weights" else None for row in rows)
    return Sheet(columns, tuple(rows), title="Side by side", styles=styles)


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
    print_sheet(console, block_parts_sheet(sides, size))
    print_sheet(console, block_totals_sheet(sides, size))
    console.print(block_story(sides))
    for side in sides:
        print_unsupported(console, side.report.unsupported)


def model_label(row: ModelRow, rows: Sequence[ModelRow]) -> str:
    """The name as asked; with its version appended when the models differ in version and the name has none
    (a ``--model`` has no version: its name stands alone)."""
    if row.entry.spec is None or len({r.version for r in rows}) == 1 or row.name.endswith(f"-{row.version}"):
        return row.name
    return f"{row.name}-{row.version}"


def models_sheet(rows: Sequence[ModelRow]) -> Sheet:
    base = rows[0]
    cells = []
    for row in rows:
        first = row is base
        cells.append({
            "name": model_label(row, rows), "block_type": row.block_type,
            "blocks": "-".join(str(n) for n in row.blocks), "features_shape": row.features_shape,
            "output_shape": row.output_shape, "params": row.totals.params, "macs": row.totals.macs,
            "flops": row.totals.flops,
            **{f"{m}_diff": NONE_YET if first else row.diff[m] for m in ("params", "macs", "flops")},
            **{f"{m}_ratio": NONE_YET if first else row.ratio[m] for m in ("params", "macs", "flops")},
        })  # fmt: skip
    return Sheet(MODEL_VIEW, tuple(cells), title=f"Models (Δ and × against {model_label(base, rows)})")


def model_split_sheet(rows: Sequence[ModelRow]) -> Sheet:
    cells = tuple({"name": model_label(row, rows)} | flat(row.totals) for row in rows)
    return Sheet((MODEL_NAME, *SPLIT_VIEW), cells, title="Parameter split")


def model_memory_sheet(rows: Sequence[ModelRow]) -> Sheet:
    cells = tuple({"name": model_label(row, rows)} | row.memory_fields() for row in rows)
    return Sheet(
        MODEL_MEMORY_VIEW, cells,
        title="Activation memory (one float32 image) and receptive field of the features map (input pixels)",
    )


def model_stage_sheet(rows: Sequence[ModelRow], stages: Sequence[str], field: str, title: str) -> Sheet:
    """One row per model, one column per stage: the stage's ``field`` (params as a count, MACs in one unit
    for the whole table, the one its values need)."""
    cells = []
    for row in rows:
        by_name = {unit.name: unit for unit in row.stages}
        values = {stage: getattr(by_name[stage], field) if stage in by_name else NONE_YET for stage in stages}
        cells.append({"name": model_label(row, rows)} | {f"stage:{s}": v for s, v in values.items()})
    template = STAGE_PARAMS
    if field == "macs":
        scale = STAGE_MACS.scale
        assert scale is not None
        index = scale.pick(v for row in cells for v in row.values() if not isinstance(v, str))
        template = replace(STAGE_MACS, scale=None, fmt=scale.fixed(index), short=scale.compact())
        title = f"{title} ({scale.names[index]})" if scale.names[index] else title
    columns = (MODEL_NAME, *(replace(template, field=f"stage:{s}", header=s) for s in stages))
    return Sheet(columns, tuple(cells), title=title)


def print_model_comparison(
    console: Console, rows: Sequence[ModelRow], heading: str, stages: Sequence[str] = ()
) -> None:
    console.print(Text(heading, style="bold"))
    console.print(Text(CONVENTION_LINE, style="dim"))
    print_sheet(console, models_sheet(rows))
    print_sheet(console, model_split_sheet(rows))
    print_sheet(console, model_memory_sheet(rows))
    if stages:
        print_sheet(console, model_stage_sheet(rows, stages, "params", "Parameters per stage"))
        print_sheet(console, model_stage_sheet(rows, stages, "macs", "MACs per stage"))
    for row in rows:
        if row.totals.unsupported:
            totals = row.totals
            message = (
                f"{row.name}: MACs {bounded(totals.macs, totals.macs_counted, totals)}, "
                f"FLOPs {bounded(totals.flops, totals.flops_counted, totals)}"
            )
            console.print(Text(message, style="yellow"))
