"""Rich rendering of ``profile``: the heading, the environment with the roofline, one table per run."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from resnet_inspect.analysis.flops import CONVENTION_LINE
from resnet_inspect.analysis.records import flat
from resnet_inspect.bench.breakdown import OVERHEAD, WHOLE, ProfileRow, overhead_note
from resnet_inspect.bench.hardware import Bandwidth, Roofline
from resnet_inspect.bench.plan import PIECES, TRACE
from resnet_inspect.output.bench_tables import environment_table
from resnet_inspect.output.columns import PROFILE_VIEW
from resnet_inspect.output.fit import Sheet, print_sheet

# What a profile row means, beside the FLOP convention, in ``profile --json``; in one line over the tables.
PROFILE_CONVENTION = {
    "method": "the whole forward pass compiled as bench compiles it, timed untraced; each block timed either from "
    "a profiler trace of that same pass (its ops' time, instants shared among ops running at once) or as a "
    "compiled piece of the pass fed by the pieces before it (environment: block timing); rounds interleave the "
    "two; statistics over the timed rounds",
    "p50_ms": "median time of the unit per round (a stage: the sum of its blocks' times in the round)",
    "share_pct": "100 x the unit's median / the whole pass's median",
    "overhead": "the whole pass's median - the sum of the units' medians (a trace: no block's op running; pieces: "
    "negative when the pieces take longer)",
    "gflops_per_s": "flops (per image, the walk's) x batch_size / p50 / 1e9",
    "bytes_moved": "(weights + elements of the tensors the unit reads + of those it writes) x bytes per element "
    "of the compute dtype",
    "arithmetic_intensity": "flops x batch_size / bytes_moved",
    "bound": "memory when the intensity is below the ridge point (peak FLOP/s / memory bandwidth), else compute",
}
PROFILE_CONVENTION_LINE = (
    "Each block timed within the whole pass (block timing, below), interleaved with it; p50/p90 over rounds; "
    "share = p50 / the whole pass's p50; GFLOP/s = FLOPs x batch / p50; FLOPs/byte = FLOPs x batch / (weights "
    "+ tensors in + out, at the compute dtype); bound: FLOPs/byte against the ridge point."
)


BANDWIDTH_LINE, RIDGE_LINE = "memory bandwidth", "ridge point"
# Environment lines that hold a measurement (in the JSON's "roofline" instead).
MEASURED_LINES = frozenset({BANDWIDTH_LINE, RIDGE_LINE})


METHOD_LINE = "block timing"
METHOD_TEXT = {
    TRACE: "TensorFlow's profiler trace of the whole compiled pass: each op's time goes to the block whose "
             "layer's name scope holds it (overhead: no block's op running)",
    PIECES: "each block compiled as its piece of the pass, fed what the blocks before it wrote (overhead: the "
              "whole pass minus the pieces)",
}


def method_pair(method: str) -> tuple[str, str]:
    """The environment line that says how the blocks were timed (``profile --method``)."""
    return METHOD_LINE, f"{method}: {METHOD_TEXT[method]}"


def roofline_pairs(rooflines: Sequence[tuple[str, Roofline]], bandwidth: Bandwidth | None) -> list[tuple[str, str]]:
    """The environment lines of the memory roof and the ridge point: one ridge per precision (``rooflines``:
    (precision, its roofline)) when their peaks differ, named by the precision."""
    pairs = [(BANDWIDTH_LINE, bandwidth.derivation if bandwidth is not None else "unknown")]
    distinct = {roofline.peak_flops for _, roofline in rooflines}
    for precision, roofline in rooflines if len(distinct) > 1 else rooflines[:1]:
        ridge = roofline.ridge
        pairs.append((ridge_line(precision) if len(distinct) > 1 else RIDGE_LINE,
                      f"{ridge:,.1f} FLOPs/byte (peak / bandwidth)" if ridge is not None else
                      "unknown (peak or bandwidth unknown): no bound"))
    return pairs


def ridge_line(precision: str) -> str:
    return f"{RIDGE_LINE} {precision}"


def profile_sheet(rows: Sequence[ProfileRow], level: str) -> Sheet:
    first = rows[0]
    shown = []
    for row in rows:
        data = flat(row)
        if row.type == OVERHEAD:  # not unknown: nothing to count
            data = {key: "" if value is None else value for key, value in data.items()}
        shown.append(data)
    title = f"batch {first.batch_size}, {first.precision}, {first.device}, XLA {'on' if first.xla else 'off'}"
    return Sheet(
        PROFILE_VIEW,
        tuple(shown),
        title=title,
        headers={"name": level.capitalize()},
        styles=tuple("bold" if row.name == WHOLE and row.type == "whole" else None for row in rows),
        sections=tuple(row.type == OVERHEAD or (i + 1 < len(rows) and rows[i + 1].type == OVERHEAD)
                       for i, row in enumerate(rows)),
        caption=f"{first.steps} timed rounds; medians and percentiles in ms; FLOPs per image",
    )


def print_profile(
    console: Console,
    heading: str,
    environment: Sequence[tuple[str, str]],
    runs: Sequence[Sequence[ProfileRow]],
    level: str,
    notes: Sequence[str | None] = (),
) -> None:
    """The heading, the environment and each run's table with its notes (``notes``: one more line per run, or
    None)."""
    console.print(Text(heading, style="bold"))
    console.print(Text(CONVENTION_LINE, style="dim"))
    console.print(Text(PROFILE_CONVENTION_LINE, style="dim"))
    console.print(environment_table(environment))
    for k, rows in enumerate(runs):
        print_sheet(console, profile_sheet(rows, level))
        console.print(Text(overhead_note(rows)))
        if k < len(notes) and notes[k] is not None:
            console.print(Text(str(notes[k])))
        above = [r.name for r in rows if r.pct_of_peak is not None and r.pct_of_peak > 100]
        if above:
            console.print(Text(f"above the nominal peak: {', '.join(above)} (the peak takes the nominal clock; "
                               "a core that boosts above it computes more): treat those rates with care",
                               style="yellow"))
    if not runs:
        console.print(Text("no round was timed", style="yellow"))
