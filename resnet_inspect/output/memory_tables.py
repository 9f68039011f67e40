"""Rich rendering of ``memory``: bytes and arithmetic intensity per unit, the totals and any measured peak."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from resnet_inspect.analysis.measure import Measurement
from resnet_inspect.analysis.memory import Dtype, MemoryRow, MemoryTotals
from resnet_inspect.analysis.records import Level, UnitRow, flat
from resnet_inspect.output.columns import MEMORY_VIEW, add_columns, cells, count, mib


def memory_table(units: Sequence[UnitRow], memory: Sequence[MemoryRow], level: Level) -> Table:
    table = Table(header_style="bold")
    add_columns(table, MEMORY_VIEW, level.value.capitalize())
    for unit, row in zip(units, memory, strict=True):
        table.add_row(*cells(MEMORY_VIEW, flat(row) | flat(unit)))
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
