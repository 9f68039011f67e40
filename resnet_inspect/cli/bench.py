"""``resnet-inspect bench``: forward-pass latency and throughput on the CPU or GPU at hand."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Annotated, Optional

import typer

from resnet_inspect.analysis import budget
from resnet_inspect.analysis.estimate import estimate
from resnet_inspect.bench import hardware
from resnet_inspect.bench.plan import (
    BENCH_COLUMNS,
    DEFAULT_ITERATIONS,
    DEFAULT_WARMUP,
    BenchPlan,
    DeviceKind,
    Mode,
    Precision,
    make_plan,
)
from resnet_inspect.cli.app import command, fail
from resnet_inspect.cli.groups import OptionGroup
from resnet_inspect.cli.options import Chosen, ModelOptions, NetworkOptions, Outputs, warn
from resnet_inspect.cli.process import interruption
from resnet_inspect.errors import UsageError
from resnet_inspect.model.spec import ResNetSpec


class Devices(str, enum.Enum):
    ONE = "one"
    ALL = "all"


@dataclass(frozen=True)
class BenchOptions(OptionGroup):
    """What to time and how."""

    batch_size: Annotated[
        Optional[list[int]],
        typer.Option("--batch-size", "-b", help="Images per step; repeat for a sweep (default 1 and 32)."),
    ] = None
    device: Annotated[str, typer.Option("--device", help="auto, cpu, gpu or gpu:N.")] = "auto"
    devices: Annotated[
        Devices,
        typer.Option(
            "--devices",
            case_sensitive=False,
            help="all: data-parallel over every device of the kind (tf.distribute.MirroredStrategy).",
        ),
    ] = Devices.ONE
    precision: Annotated[
        Optional[list[Precision]],
        typer.Option("--precision", case_sensitive=False,
                     help="Keras dtype policy; repeat to compare (default float32)."),
    ] = None
    xla: Annotated[
        bool, typer.Option("--xla/--no-xla", help="Compile the forward pass with XLA (jit_compile).")
    ] = False
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed steps before timing.")] = DEFAULT_WARMUP
    iterations: Annotated[
        Optional[int], typer.Option("--iterations", "-n", help=f"Timed steps per run (default {DEFAULT_ITERATIONS}).")
    ] = None
    min_time: Annotated[
        Optional[float], typer.Option("--min-time", help="Instead of --iterations: time steps for at least S seconds.")
    ] = None
    threads: Annotated[Optional[int], typer.Option("--threads", help="TensorFlow intra-op threads.")] = None
    mode: Annotated[
        Mode,
        typer.Option("--mode", case_sensitive=False,
                     help="inference: the forward pass; train: forward, backward and an SGD (momentum 0.9) update."),
    ] = Mode.INFERENCE

    def plan(self) -> BenchPlan:
        return make_plan(self.batch_size, self.precision, self.device, self.devices is Devices.ALL, self.xla,
                         self.warmup, self.iterations, self.min_time, self.threads, self.mode)


def check_sweep_memory(spec: ResNetSpec, plan: BenchPlan) -> None:
    """The memory refusal bench makes once the model is built (:func:`resnet_inspect.bench.run.memory_check`),
    made first from the spec alone (no TensorFlow): same estimate, same message, nothing built.

    One replica is assumed (--devices all needs more), so only what cannot fit is refused here."""
    found = estimate(spec)
    largest = max(plan.batch_sizes)
    budget.check_elements(budget.at_input(spec, largest), found.largest_tensor, largest)
    index = plan.device.index or 0
    limit = budget.gpu_limit(index) if plan.device.kind is not DeviceKind.CPU else None
    if limit is None and plan.device.kind is DeviceKind.GPU:
        return  # free GPU memory unknown before TensorFlow starts: the check after building decides
    limit = limit or budget.host_limit()
    cpu = None if limit.per_device else hardware.read_cpu()
    plan.check_memory(found, limit,
                      lambda p: cpu is not None and not hardware.cpu_native(cpu, p.compute_dtype))


def check_precision(chosen: Chosen, plan: BenchPlan, source: ModelOptions) -> None:
    """A saved model file computes in the dtype it was saved with: only float32 is what it says."""
    if chosen.source is not None and chosen.source.path is not None and plan.precisions != (Precision.FLOAT32,):
        # Each layer of a saved model carries the dtype policy it was saved with; a global policy cannot change it.
        raise UsageError("--precision applies to built networks and keras:<Application> models; "
                         f"{source.model!r} computes in the dtype it was saved with")


@command
def bench(network: NetworkOptions, source: ModelOptions, timing: BenchOptions, outputs: Outputs) -> None:
    chosen = source.choose(network)
    plan = timing.plan()
    check_precision(chosen, plan, source)
    if chosen.fold_bn and plan.mode is Mode.TRAIN:
        raise UsageError("--fold-bn is the deployed network, for inference; --mode train trains the network with its "
                         "BatchNormalization layers: give one or the other")
    if chosen.spec is not None:
        check_sweep_memory(chosen.spec, plan)
    outputs.check(chosen.inputs())
    run_bench(chosen, plan, outputs)


def run_bench(chosen: Chosen, plan: BenchPlan, outputs: Outputs) -> None:
    """Time the sweep and show it, then write the outputs (imports TensorFlow)."""
    from resnet_inspect.analysis.inspection import inspect_model
    from resnet_inspect.bench import run as core
    from resnet_inspect.output.bench_tables import bench_progress, print_bench
    from resnet_inspect.output.export import write_csv, write_json
    from resnet_inspect.output.payloads import bench_payload, versions
    from resnet_inspect.output.render import make_console

    core.configure_threads(plan.threads)  # before TensorFlow runs anything
    target = core.resolve_target(plan.device, plan.all_devices)
    free = core.free_memory(target)  # before TensorFlow reserves GPU memory
    walked, config, heading = chosen.open(warn)
    report = inspect_model(walked, config)
    flops_per_image = report.totals.flops  # None with an unsupported layer: GFLOP/s then unknown
    memory = core.memory_check(report, plan, target, free)  # refuses before anything runs

    environment = core.environment(target, plan, free, memory)
    shown = [(f"{name} version", value) for name, value in versions().items()] + list(environment)
    console = make_console(wide=outputs.wide)
    steps = plan.iterations if plan.min_time is None else None
    # --fold-bn: the network as built is timed too, its steps interleaved with the folded one's (see the README).
    baseline = None
    if chosen.fold_bn:
        unfolded = inspect_model(*chosen.unfolded().open(initialize=False)[:2])  # walked only: no values drawn
        baseline = (lambda: chosen.unfolded().open()[0]), unfolded.totals.flops
    runs = len(plan.runs())
    try:
        with bench_progress(make_console(stderr=True), runs, steps, plan.warmup) as progress:
            # Built again for each precision, under its dtype policy and on the device (or the strategy's scope).
            results = core.run_sweep(plan, lambda: chosen.open()[0], target, flops_per_image, progress.on_run,
                                     progress.on_step, report=report, baseline=baseline)
    except core.SweepInterrupted as stop:
        print_bench(console, heading, shown, stop.results, plan.mode)
        complete = sum(r.complete for r in stop.results if not r.network)  # --fold-bn's baseline is not a run
        word, code = interruption()  # Ctrl-C, or SIGTERM (which unwinds the same way)
        fail(f"{word}: {complete} of {runs} runs complete; nothing was written", code)
    print_bench(console, heading, shown, results, plan.mode)
    main = [r for r in results if not r.network]
    if outputs.csv is not None:
        write_csv(outputs.csv, [r.row for r in main], columns=BENCH_COLUMNS)
    if outputs.json is not None:
        write_json(
            outputs.json,
            bench_payload(report.model_name, config, environment, plan, flops_per_image, results, versions()),
        )
