"""Rich rendering of ``memory``: bytes and arithmetic intensity per unit, the totals and any measured peak."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from resnet_inspect.analysis.measure import Measurement
from resnet_inspect.analysis.memory import Dtype, MemoryRow, MemoryTotals
from resnet_inspect.analysis.records import Level, UnitRow, flat
from resnet_inspect.output.columns import MEMORY_VIEW, count, mib
from resnet_inspect.output.fit import Sheet, print_sheet
from resnet_inspect.units import human_bytes


def memory_sheet(units: Sequence[UnitRow], memory: Sequence[MemoryRow], level: Level) -> Sheet:
    rows = tuple(flat(row) | flat(unit) for unit, row in zip(units, memory, strict=True))
    return Sheet(MEMORY_VIEW, rows, headers={"name": level.value.capitalize()})


def memory_totals_text(totals: MemoryTotals, params: int, measured: Measurement | None) -> Text:
    text = Text()
    text.append("Parameters: ", style="bold")
    text.append(f"{human_bytes(totals.param_bytes)} ({count(params)} x {Dtype(totals.dtype).bytes} bytes)\n")
    text.append("Activations, every layer output: ", style="bold")
    text.append(f"{human_bytes(totals.activation_bytes)}\n")
    text.append("Inference peak (estimate): ", style="bold")
    text.append(
        f"{human_bytes(totals.inference_peak_bytes)} while {totals.peak_layer} runs, "
        f"{len(totals.peak_tensors)} tensors alive: {', '.join(totals.peak_tensors)}\n"
    )
    text.append("Training activation memory: ", style="bold")
    text.append(f"{human_bytes(totals.training_activation_bytes)} in {totals.saved_tensors} tensors saved for backward")
    if measured is not None:
        text.append("\nMeasured peak: ", style="bold")
        text.append(measured_text(measured) + "\n")
        text.append(f"  {measured.method}", style="dim")
    return text


def measured_text(measured: Measurement) -> str:
    """The measured peak beside the estimate; an implausible one is said to be, not printed as a fact."""
    first, *warm = measured.passes
    warm_text = f"; a warm run: {mib(warm[0])} MiB" if warm else ""
    if measured.note is not None:
        return (f"not reliable on {measured.device}: the first run of the pass raised the peak by {mib(first)} MiB"
                f"{warm_text}, against an estimate of {mib(measured.estimate_bytes)} MiB; {measured.note}")
    ratio_text = "" if measured.ratio is None else f", {measured.ratio:.2f}x"
    return (f"{mib(measured.peak_bytes)} MiB on {measured.device} (first run of the pass{warm_text}); estimate "
            f"{mib(measured.estimate_bytes)} MiB, difference {measured.difference_bytes / 2**20:+,.1f} MiB{ratio_text}")


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
    print_sheet(console, memory_sheet(units, memory, level))
    console.print(memory_totals_text(totals, params, measured))
