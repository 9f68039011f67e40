"""Rich rendering of bench results: the table, the environment block and the progress bar."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table
from rich.text import Text

from resnet_inspect.analysis.records import flat
from resnet_inspect.bench.plan import Mode, Precision
from resnet_inspect.output.columns import BENCH_VIEW
from resnet_inspect.output.fit import Sheet, print_sheet
from resnet_inspect.output.render import make_progress
from resnet_inspect.units import human_bytes

if TYPE_CHECKING:  # numpy, which the bench statistics import, only where a bench runs
    from resnet_inspect.bench.stats import BenchResult

# What a bench row means, beside the FLOP convention (resnet_inspect.analysis.flops.CONVENTION) in ``bench --json``;
# and in one line over the console table.
BENCH_CONVENTION = {
    "step": "one forward pass of batch_size images in inference mode, the result brought to the host",
    "statistics": "over timed steps only; percentiles by linear interpolation; std with n-1",
    "images_per_s": "batch_size / mean step time",
    "gflops_per_s": "flops_per_image x batch_size / mean step time / 1e9",
    "pct_of_peak": "gflops_per_s / the device's peak (environment); empty when the peak is unknown",
}
BENCH_CONVENTION_LINE = (
    "Step = one forward pass of a batch in inference mode, result brought to the host; statistics over timed "
    "steps only. images/s = batch / mean step; GFLOP/s = the walk's FLOPs per image (a multiply-add counts 2) "
    "x batch / mean step; % of peak against the peak below."
)
# bench --mode train: what a step is instead (the JSON's "step"), and the line over the table.
TRAIN_STEP = ("one training step of batch_size images: forward in training mode, sparse categorical cross-entropy "
              "on random labels, gradients, an SGD (momentum 0.9) update, the loss brought to the host")
TRAIN_CONVENTION_LINE = (
    "Step = one training step (forward in training mode, cross-entropy on random labels, backward, SGD momentum "
    "update), loss brought to the host; statistics over timed steps only. images/s = batch / mean step; GFLOP/s "
    "and % of peak blank: the walk counts the forward pass's FLOPs only."
)
# bench --fold-bn: the network as built, timed in the same run.
BASELINE_TITLE = "the network as built (BNs not folded), its steps interleaved with those above"


def bench_sheet(results: Sequence[BenchResult], title: str | None = None) -> Sheet:
    rows = tuple(
        flat(result.row) | {"steps": f"{len(result.times_ms)}" + ("" if result.complete else " (interrupted)")}
        for result in results
    )
    return Sheet(BENCH_VIEW, rows, title=title, key=3, box=box.SIMPLE_HEAD, caption="step times in ms")


def memory_line(result: BenchResult) -> str:
    """A training step's measured memory beside its estimate, or why the figure is not a measurement."""
    found = result.memory
    assert found is not None
    where = f"batch {result.row.batch_size} {result.row.precision}"
    estimate = f"estimate {human_bytes(found.estimate_bytes)} (activations kept for the backward pass + gradients)"
    if found.note is not None:
        return f"training memory, {where}: {estimate}; measured rise {found.note}"
    return (f"training memory, {where}: measured {human_bytes(found.peak_bytes)} ({found.method}), {estimate}: "
            f"{found.ratio:.2f}x")


def speedups(results: Sequence[BenchResult]) -> list[str]:
    """folded / as built images/s per setting, from the runs timed side by side (--fold-bn)."""
    built = {(r.row.batch_size, r.row.precision): r.row.images_per_s for r in results if r.network}
    return [f"batch {r.row.batch_size} {r.row.precision}: {r.row.images_per_s / built[key]:.3f}x"
            for r in results if not r.network and (key := (r.row.batch_size, r.row.precision)) in built]


def environment_table(pairs: Sequence[tuple[str, str]]) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for key, value in pairs:
        grid.add_row(key, value)
    return grid


def print_bench(
    console: Console,
    heading: str,
    environment: Sequence[tuple[str, str]],
    results: Sequence[BenchResult],
    mode: Mode = Mode.INFERENCE,
) -> None:
    """The heading, the conventions, the environment and the table; with --fold-bn the network as built in a
    second table and the folded/built ratios; in train mode each run's measured memory."""
    console.print(Text(heading, style="bold"))
    console.print(Text(TRAIN_CONVENTION_LINE if mode is Mode.TRAIN else BENCH_CONVENTION_LINE, style="dim"))
    console.print(environment_table(environment))
    main = [r for r in results if not r.network]
    if main:
        print_sheet(console, bench_sheet(main))
    else:
        console.print(Text("no step was timed", style="yellow"))
    for result in main:
        if result.memory is not None:
            console.print(Text(memory_line(result)))
    baseline = [r for r in results if r.network]
    if baseline:
        print_sheet(console, bench_sheet(baseline, BASELINE_TITLE))
        ratios = speedups(results)
        if ratios:
            console.print(Text("images/s folded / as built: " + ", ".join(ratios)))


class BenchProgress:
    """The hooks of :func:`resnet_inspect.bench.run.run_sweep`, drawing one bar per run."""

    def __init__(self, progress: Progress, runs: int, steps: int | None, warmup: int) -> None:
        self.progress, self.runs, self.steps, self.warmup = progress, runs, steps, warmup
        self.task: TaskID | None = None
        self.label = ""

    def on_run(self, index: int, precision: Precision, batch: int) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.label = f"run {index + 1}/{self.runs}: batch {batch}, {precision.value}"
        total = self.warmup + self.steps if self.steps is not None else None
        self.task = self.progress.add_task(f"{self.label} (warm-up)", total=total)

    def on_step(self, phase: str, done: int) -> None:
        if self.task is None:
            return
        completed = done if phase == "warmup" else self.warmup + done
        description = f"{self.label} ({'warm-up' if phase == 'warmup' else 'timed'})"
        self.progress.update(self.task, completed=completed, description=description)


@contextlib.contextmanager
def bench_progress(console: Console, runs: int, steps: int | None, warmup: int) -> Iterator[BenchProgress]:
    """A progress bar per run (steps, or elapsed time with --min-time); drawn only on a terminal."""
    with make_progress(console) as progress:
        yield BenchProgress(progress, runs, steps, warmup)
