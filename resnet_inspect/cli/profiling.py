"""``resnet-inspect profile``: where the time of the forward pass goes, block by block, on a roofline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from resnet_inspect.analysis.records import Level
from resnet_inspect.bench.plan import METHODS, BenchPlan
from resnet_inspect.cli.app import command, fail
from resnet_inspect.cli.bench import BenchOptions, check_precision, check_sweep_memory
from resnet_inspect.cli.options import Chosen, ModelOptions, NetworkOptions, Outputs, check_png, warn
from resnet_inspect.cli.process import interruption
from resnet_inspect.errors import UsageError
from resnet_inspect.output.export import check_distinct

if TYPE_CHECKING:
    from resnet_inspect.bench.breakdown import ProfileRow, ProfileRun
    from resnet_inspect.bench.hardware import Bandwidth, Roofline

ProfileLevelOpt = Annotated[
    Level,
    typer.Option("--level", "-l", case_sensitive=False, help="Rows: block (default) or stage (its blocks summed)."),
]
MethodOpt = Annotated[
    Optional[str],
    typer.Option("--method", help="How blocks are timed: trace (ops of a profiler trace of the whole pass; a CPU "
                                  "without --xla) or pieces (each block compiled alone). Default: trace where "
                                  "it works, else pieces.", show_default=False),
]
PngOpt = Annotated[
    Optional[Path], typer.Option("--png", help="Write the roofline chart (every row a point) as PNG.")
]


@dataclass(frozen=True)
class Profiled:
    """What a profile measured and derived, ready to show and write (see :func:`measure_profile`)."""

    model_name: str
    heading: str
    config: dict[str, Any]
    environment: tuple[tuple[str, str], ...]
    runs: tuple[ProfileRun, ...]
    rows: tuple[tuple[ProfileRow, ...], ...]  # one tuple per run
    rooflines: tuple[tuple[str, Roofline], ...]  # (precision, its roofline), in the plan's order
    bandwidth: Bandwidth

    @property
    def roofline(self) -> Roofline:
        """The first precision's roofline (a report's profile is its first run)."""
        return self.rooflines[0][1]


def check_level(level: Level) -> None:
    if level is Level.LAYER:
        raise UsageError("--level layer: profile times blocks and stages (a layer alone is not a piece of the "
                         "pass worth timing); give block or stage")


def check_method(method: str | None) -> None:
    if method is not None and method not in METHODS:
        raise UsageError(f"--method {method!r}: give {' or '.join(METHODS)}")


def check_profile(chosen: Chosen, plan: BenchPlan, source: ModelOptions) -> None:
    """Refuse, before TensorFlow loads, what profile cannot do."""
    if plan.all_devices:
        raise UsageError("--devices all: profile times the pass on one device; data-parallel runs are for bench")
    check_precision(chosen, plan, source)
    if chosen.spec is not None:
        check_sweep_memory(chosen.spec, plan)


@command
def profile(
    network: NetworkOptions,
    source: ModelOptions,
    timing: BenchOptions,
    outputs: Outputs,
    level: ProfileLevelOpt = Level.BLOCK,
    png: PngOpt = None,
    method: MethodOpt = None,
) -> None:
    check_level(level)
    check_method(method)
    chosen = source.choose(network)
    plan = timing.plan()
    check_profile(chosen, plan, source)
    if png is not None:
        check_png(png, "--png")
    outputs.check(chosen.inputs())
    written = [(path, option) for path, option in ((outputs.csv, "--csv"), (outputs.json, "--json"), (png, "--png"))
               if path is not None]
    check_distinct(written, chosen.inputs())

    from resnet_inspect.output.charts import roofline_figure, save_png
    from resnet_inspect.output.export import write_csv, write_json
    from resnet_inspect.output.payloads import profile_payload, roofline_dict, versions

    found = measure_profile(chosen, plan, level, outputs.wide, method=method)
    rows = [row for run_rows in found.rows for row in run_rows]
    if outputs.csv is not None:
        from resnet_inspect.bench.breakdown import PROFILE_COLUMNS

        write_csv(outputs.csv, rows, columns=PROFILE_COLUMNS)
    if outputs.json is not None:
        write_json(outputs.json, profile_payload(
            found.model_name, found.config, found.environment, plan, level, found.runs, rows,
            {precision: roofline_dict(roof, found.bandwidth) for precision, roof in found.rooflines}, versions(),
        ))
    if png is not None:
        save_png(roofline_figure(found.model_name, found.rows, found.rooflines), png)


def measure_profile(chosen: Chosen, plan: BenchPlan, level: Level, wide: bool = False, show: bool = True,
                    method: str | None = None) -> Profiled:
    """Build, walk and time the profile of ``plan`` (imports TensorFlow), show it on the console when ``show``;
    blocks timed by ``method`` (None: the best that works there). Ctrl-C prints the complete runs and ends the
    command (exit 130, nothing written)."""
    from resnet_inspect.analysis.budget import Dtype
    from resnet_inspect.analysis.inspection import inspect_model
    from resnet_inspect.analysis.segments import segments
    from resnet_inspect.bench import hardware
    from resnet_inspect.bench import pieces as core
    from resnet_inspect.bench import run as bench_run
    from resnet_inspect.bench.breakdown import profile_rows, trace_note
    from resnet_inspect.output.bench_tables import bench_progress
    from resnet_inspect.output.payloads import versions
    from resnet_inspect.output.profile_tables import method_pair, print_profile, roofline_pairs
    from resnet_inspect.output.render import make_console

    bench_run.configure_threads(plan.threads)  # before TensorFlow runs anything
    target = bench_run.resolve_target(plan.device, plan.all_devices)
    timing = core.block_method(target, plan.xla, method)
    free = bench_run.free_memory(target)
    walked, config, heading = chosen.open(warn)
    report = inspect_model(walked, config)
    blocks = segments(report, Level.BLOCK)  # refuses a model it cannot cut, before anything is timed
    units = blocks if level is Level.BLOCK else segments(report, Level.STAGE)
    memory = bench_run.memory_check(report, plan, target, free)
    cores = min(target.cpu.cores, plan.threads) if plan.threads else target.cpu.cores
    bandwidth = core.bandwidth(target, cores)
    peaks = {p: bench_run.peak(target, p, plan.threads) for p in plan.precisions}
    roofs = {p: hardware.Roofline(peak.flops if peak else None, bandwidth.bytes_per_s) for p, peak in peaks.items()}
    environment = bench_run.environment(target, plan, free, memory) + (method_pair(timing),) + tuple(
        roofline_pairs([(p.value, roofs[p]) for p in plan.precisions], bandwidth))
    shown = tuple((f"{name} version", value) for name, value in versions().items()) + environment
    console = make_console(wide=wide)
    totals = report.totals

    def rows_of(run: ProfileRun) -> tuple[ProfileRow, ...]:
        element = Dtype(run.precision.compute_dtype).bytes
        return tuple(profile_rows(run, blocks, units, roofs[run.precision], element, totals.flops, totals.macs))

    steps = plan.iterations if plan.min_time is None else None
    try:
        with bench_progress(make_console(stderr=True), len(plan.runs()), steps, plan.warmup) as progress:
            runs = core.run_profile(plan, lambda: chosen.open()[0], target, blocks, report.layers,
                                    progress.on_run, progress.on_step, timing)
    except bench_run.SweepInterrupted as stop:
        if show:
            print_profile(console, heading, shown, [rows_of(run) for run in stop.results], level.value,
                          [trace_note(run) for run in stop.results])
        word, code = interruption()
        fail(f"{word}: {len(stop.results)} of {len(plan.runs())} runs complete; nothing was written", code)
    rows = tuple(rows_of(run) for run in runs)
    if show:
        print_profile(console, heading, shown, rows, level.value, [trace_note(run) for run in runs])
    return Profiled(report.model_name, heading, config, environment, tuple(runs), rows,
                    tuple((p.value, roofs[p]) for p in plan.precisions),
                    bandwidth)
