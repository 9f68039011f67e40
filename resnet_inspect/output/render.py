"""Rich rendering of reports. The only module that formats for the terminal."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from resnet_inspect.analysis.compare import BlockSide, ModelRow, difference, ratio
from resnet_inspect.analysis.crosscheck import ConvCheck, Verification
from resnet_inspect.analysis.measure import Measurement
from resnet_inspect.analysis.memory import Dtype, MemoryRow, MemoryTotals
from resnet_inspect.analysis.paper import PaperRow
from resnet_inspect.analysis.records import Level, Totals, UnitRow
from resnet_inspect.analysis.report import Report
from resnet_inspect.output.export import format_shape

CONVENTION_LINE = (
    "MACs = multiply-accumulates of conv/dense layers (the ResNet paper's \"FLOPs\"); "
    "FLOPs = every floating-point operation, a multiply-add counts 2. Batch of 1."
)
UNKNOWN = "?"


def make_console(stderr: bool = False) -> Console:
    """A console that does not wrap wide tables when output is piped or captured."""
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console = Console(stderr=stderr, width=160)
    return console


def count(value: int) -> str:
    return f"{value:,}"


def known(value: int | None) -> str:
    return UNKNOWN if value is None else str(value)


def giga(value: int | None) -> str:
    return UNKNOWN if value is None else f"{value / 1e9:.2f} G"


def mega(value: int | None) -> str:
    return UNKNOWN if value is None else f"{value / 1e6:,.1f}"


def summary_table(rows: Sequence[UnitRow], level: Level, title: str | None = None) -> Table:
    table = Table(title=title, header_style="bold")
    table.add_column(level.value.capitalize(), no_wrap=True)
    table.add_column("Type", no_wrap=True)
    table.add_column("Output shape", justify="right", no_wrap=True)
    table.add_column("Params", justify="right")
    table.add_column("Weights", justify="right")
    table.add_column("Biases", justify="right")
    table.add_column("BN γ/β", justify="right")
    table.add_column("BN μ/σ²", justify="right")
    table.add_column("MACs (M)", justify="right")
    table.add_column("FLOPs (M)", justify="right")
    table.add_column("RF", justify="right")  # receptive field, input pixels (resnet_inspect.analysis.receptive)
    table.add_column("Jump", justify="right")
    for row in rows:
        table.add_row(
            row.name,
            row.type,
            format_shape(row.output_shape),
            count(row.params),
            count(row.weights),
            count(row.biases),
            count(row.bn_trainable),
            count(row.bn_non_trainable),
            mega(row.macs),
            mega(row.flops),
            known(row.receptive_field),
            known(row.jump),
        )
    return table


def totals_text(totals: Totals) -> Text:
    text = Text()
    text.append("Total params: ", style="bold")
    text.append(f"{count(totals.params)}  (trainable {count(totals.trainable)}, "
                f"non-trainable {count(totals.non_trainable)})\n")
    text.append("Split: ", style="bold")
    text.append(
        f"weights {count(totals.weights)}, biases {count(totals.biases)}, BN γ/β {count(totals.bn_trainable)}, "
        f"BN μ/σ² {count(totals.bn_non_trainable)}"
        + (f", other {count(totals.other)}" if totals.other else "")
        + "\n"
    )
    text.append("MACs: ", style="bold")
    text.append(giga(totals.macs))
    text.append("   FLOPs: ", style="bold")
    text.append(giga(totals.flops))
    text.append(f"   layers: {totals.layers}")
    if totals.unsupported:
        text.append(
            f"\nFLOPs unknown: {totals.unsupported} unsupported layer(s); the supported ones count "
            f"{giga(totals.macs_counted)} MACs, {giga(totals.flops_counted)} FLOPs",
            style="yellow",
        )
    return text


def print_report(console: Console, report: Report, level: Level, heading: str) -> None:
    console.print(Text(heading, style="bold"))
    console.print(Text(CONVENTION_LINE, style="dim"))
    console.print(summary_table(report.rows(level), level))
    console.print(totals_text(report.totals))
    for item in report.unsupported:
        console.print(Text(f"unsupported: {item.name} ({item.layer_type}): {item.reason}", style="yellow"))


# --- compare ---------------------------------------------------------------------------------------

NONE_YET = "—"


def times(value: float | None) -> str:
    return UNKNOWN if value is None else f"{value:.3f}×"


def signed(value: int | None, scale: float = 1.0) -> str:
    """'+4,096' (a count) or '-0.46' (in units of ``scale``): a difference with its sign."""
    if value is None:
        return UNKNOWN
    if scale == 1.0:
        return f"{value:+,}"
    return f"{value / scale:+,.2f}"


def make_progress(console: Console) -> Progress:
    """A progress bar drawn only on a terminal (never into a pipe or a file) and cleared when done."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


@contextlib.contextmanager
def build_progress(console: Console, total: int) -> Iterator[Callable[[int, str], None]]:
    """A progress bar while models are built."""
    with make_progress(console) as progress:
        task = progress.add_task("building", total=total)

        def step(done: int, label: str) -> None:
            progress.update(task, completed=done, description=f"building {label}" if label else "built")

        yield step


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
            count(side.totals.weights),
            count(side.totals.biases),
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
        ("Conv weights", lambda s: s.totals.weights),
        ("Conv biases", lambda s: s.totals.biases),
        ("BN γ/β (trainable)", lambda s: s.totals.bn_trainable),
        ("BN μ/σ² (non-trainable)", lambda s: s.totals.bn_non_trainable),
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
        change = difference(side.totals.weights, base.totals.weights)
        text.append(
            f"{side.setup.kind.value} {count(side.totals.weights)} vs {base.setup.kind.value} "
            f"{count(base.totals.weights)} conv weights: {times(ratio(side.totals.weights, base.totals.weights))} "
            f"({signed(change)}), with {times(ratio(side.in_channels, base.in_channels))} the input channels "
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
        for item in side.report.unsupported:
            console.print(Text(f"unsupported: {item.name} ({item.layer_type}): {item.reason}", style="yellow"))


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
    fields = ("weights", "biases", "bn_trainable", "bn_non_trainable", "other", "trainable", "non_trainable", "layers")
    headers = ("Weights", "Biases", "BN γ/β", "BN μ/σ²", "Other", "Trainable", "Non-trainable", "Layers")
    for header in headers:
        table.add_column(header, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(model_label(row, rows), *[count(getattr(row.totals, field)) for field in fields])
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


# --- TensorFlow's profiler beside our counts (summary --verify) ---------------------------------


def conv_check_text(conv: ConvCheck) -> Text:
    """One sentence on the convolution check: exact, or which layers differ."""
    if conv.layers == 0:
        return Text("No conv layers: nothing to compare conv by conv.")
    if conv.exact:
        return Text(
            f"Convolutions agree exactly: TF's conv ops count {count(conv.tf)} FLOPs = 2 x our "
            f"{count(conv.ours // 2)} conv MACs, checked layer by layer over {conv.layers} conv layers.",
            style="green",
        )
    shown = ", ".join(conv.mismatched[:3]) + (" ..." if len(conv.mismatched) > 3 else "")
    return Text(
        f"Convolutions DIFFER: TF counts {count(conv.tf)} FLOPs where 2 x our MACs is {count(conv.ours)}; "
        f"{len(conv.mismatched)} of {conv.layers} conv layers differ ({shown}).",
        style="bold red",
    )


def verification_table(verification: Verification) -> Table:
    table = Table(title="FLOPs: ours beside TensorFlow's profiler, per layer type", header_style="bold")
    table.add_column("Layer type", no_wrap=True)
    table.add_column("Layers", justify="right")
    table.add_column("Ours", justify="right")
    table.add_column("TensorFlow", justify="right")
    table.add_column("TF op kinds")
    table.add_column("TF - ours", justify="right")
    for row in verification.rows:
        ops = ", ".join(f"{op} {count(flops)}" for op, flops in row.tf_ops)
        table.add_row(
            row.layer_type,
            str(row.layers),
            UNKNOWN if row.ours is None else count(row.ours),
            count(row.tf),
            ops,
            "agree" if row.difference == 0 else signed(row.difference),
        )
    ours = verification.ours_total
    table.add_row(
        "Total",
        "",
        UNKNOWN if ours is None else count(ours),
        count(verification.tf_total),
        "",
        signed(None if ours is None else verification.tf_total - ours),
        style="bold",
    )
    return table


def print_verification(console: Console, verification: Verification) -> None:
    console.print(Text(f"TensorFlow cross-check: {verification.method}", style="dim"))
    console.print(verification_table(verification))
    for row in verification.rows:
        if row.note:  # why the two counts differ: a convention, stated once per layer type
            console.print(Text(f"{row.layer_type} ({signed(row.difference)}): {row.note}"))
    console.print(conv_check_text(verification.conv))


# --- the paper's Table 1 (paper) -------------------------------------------------------------------


def paper_table(rows: Sequence[PaperRow]) -> Table:
    table = Table(title="Table 1 of the paper beside our v1 networks (224x224, no conv bias)", header_style="bold")
    table.add_column("Network", no_wrap=True)
    table.add_column("Our MACs", justify="right")
    table.add_column("Paper", justify="right")
    table.add_column("Difference", justify="right")
    table.add_column("Within 2%", justify="center")
    table.add_column("Our trainable params", justify="right")
    table.add_column("Published", justify="right")
    table.add_column("Equal", justify="center")
    for row in rows:
        table.add_row(
            row.name,
            f"{row.macs / 1e9:.3f} G",
            f"{row.paper_macs / 1e9:.1f} G",
            f"{row.difference * 100:+.2f}%",
            "yes" if row.within_tolerance else "NO",
            count(row.trainable),
            count(row.published_params),
            "yes" if row.params_equal else "NO",
        )
    return table


def print_paper(console: Console, rows: Sequence[PaperRow], citation: str, params_source: str) -> None:
    console.print(Text(CONVENTION_LINE, style="dim"))
    console.print(paper_table(rows))
    console.print(Text(f"Paper: {citation}", style="dim"))
    console.print(Text(f"Published parameter counts: {params_source}", style="dim"))


# --- memory ----------------------------------------------------------------------------------------


def mib(value: int) -> str:
    return f"{value / 2**20:,.1f}"


def memory_table(units: Sequence[UnitRow], memory: Sequence[MemoryRow], level: Level) -> Table:
    table = Table(header_style="bold")
    table.add_column(level.value.capitalize(), no_wrap=True)
    table.add_column("Type", no_wrap=True)
    table.add_column("Output shape", justify="right", no_wrap=True)
    for header in ("Activations (MiB)", "Params (MiB)", "Moved (MiB)", "FLOPs/image (M)", "FLOPs/byte", "RF", "Jump"):
        table.add_column(header, justify="right")
    for unit, row in zip(units, memory, strict=True):
        table.add_row(
            unit.name,
            unit.type,
            format_shape(unit.output_shape),
            mib(row.activation_bytes),
            mib(row.param_bytes),
            mib(row.bytes_moved),
            mega(unit.flops),
            UNKNOWN if row.arithmetic_intensity is None else f"{row.arithmetic_intensity:.1f}",
            known(unit.receptive_field),
            known(unit.jump),
        )
    return table


def memory_totals_text(totals: MemoryTotals, params: int, measured: Measurement | None) -> Text:
    text = Text()
    text.append("Parameters: ", style="bold")
    text.append(f"{mib(totals.param_bytes)} MiB ({count(params)} x {Dtype(totals.dtype).bytes} bytes)\n")
    text.append("Activations, every layer output: ", style="bold")
    text.append(f"{mib(totals.activation_bytes)} MiB\n")
    text.append("Inference peak (estimate): ", style="bold")
    text.append(
        f"{mib(totals.inference_peak_bytes)} MiB while {totals.peak_layer} runs, "
        f"{len(totals.peak_tensors)} tensors alive: {', '.join(totals.peak_tensors)}\n"
    )
    text.append("Training activation memory: ", style="bold")
    text.append(f"{mib(totals.training_activation_bytes)} MiB in {totals.saved_tensors} tensors saved for backward")
    if measured is not None:
        text.append("\nMeasured peak: ", style="bold")
        ratio_text = "" if measured.ratio is None else f", {measured.ratio:.2f}x"
        text.append(
            f"{mib(measured.peak_bytes)} MiB on {measured.device} (median of "
            f"{', '.join(mib(p) for p in measured.passes)}); estimate {mib(measured.estimate_bytes)} MiB, "
            f"difference {measured.difference_bytes / 2**20:+,.1f} MiB{ratio_text}\n"
        )
        text.append(f"  {measured.method}", style="dim")
    return text


def print_memory(
    console: Console,
    heading: str,
    units: Sequence[UnitRow],
    memory: Sequence[MemoryRow],
    totals: MemoryTotals,
    params: int,
    measured: Measurement | None,
    level: Level,
) -> None:
    console.print(Text(heading, style="bold"))
    console.print(
        Text(
            f"Memory at {totals.dtype}, batch {totals.batch_size}; FLOPs/byte = FLOPs / bytes each layer reads and "
            "writes (inputs, output, parameters; no fusion). RF = receptive field and Jump = effective stride, in "
            "input pixels, the largest over paths through skip connections.",
            style="dim",
        )
    )
    console.print(memory_table(units, memory, level))
    console.print(memory_totals_text(totals, params, measured))
