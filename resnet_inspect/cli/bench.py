"""``resnet-inspect bench``: forward-pass latency and throughput on the CPU or GPU at hand."""

from __future__ import annotations

import enum
import sys
from typing import Annotated, Optional

import typer

from resnet_inspect.bench.plan import BENCH_COLUMNS, DEFAULT_ITERATIONS, DEFAULT_WARMUP, BenchPlan, Precision, make_plan
from resnet_inspect.cli.app import (
    BiasOpt,
    BlocksOpt,
    BlockTypeOpt,
    ClassesOpt,
    CsvOpt,
    DataFormatOpt,
    DepthOpt,
    InputSizeOpt,
    JsonOpt,
    ModelOpt,
    UnsafeOpt,
    VersionOpt,
    WidthOpt,
    app,
    fail,
    network_or_model,
)
from resnet_inspect.cli.summary import check_outputs, model_input
from resnet_inspect.errors import UsageError
from resnet_inspect.model.spec import DataFormat, ResNetSpec, Version
from resnet_inspect.output.export import write_csv, write_json


class Devices(str, enum.Enum):
    ONE = "one"
    ALL = "all"


BatchSizeOpt = Annotated[
    Optional[list[int]],
    typer.Option("--batch-size", "-b", help="Images per step; repeat for a sweep (default 1 and 32)."),
]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, gpu or gpu:N.")]
DevicesOpt = Annotated[
    Devices,
    typer.Option(
        "--devices",
        case_sensitive=False,
        help="all: data-parallel over every device of the kind (tf.distribute.MirroredStrategy).",
    ),
]
PrecisionOpt = Annotated[
    Optional[list[Precision]],
    typer.Option("--precision", case_sensitive=False, help="Keras dtype policy; repeat to compare (default float32)."),
]
XlaOpt = Annotated[bool, typer.Option("--xla/--no-xla", help="Compile the forward pass with XLA (jit_compile).")]
WarmupOpt = Annotated[int, typer.Option("--warmup", help="Untimed steps before timing.")]
IterationsOpt = Annotated[
    Optional[int], typer.Option("--iterations", "-n", help=f"Timed steps per run (default {DEFAULT_ITERATIONS}).")
]
MinTimeOpt = Annotated[
    Optional[float], typer.Option("--min-time", help="Instead of --iterations: time steps for at least S seconds.")
]
ThreadsOpt = Annotated[Optional[int], typer.Option("--threads", help="TensorFlow intra-op threads.")]


def check_sweep_memory(spec: ResNetSpec, plan: BenchPlan) -> None:
    """The memory refusal bench makes once the model is built (:func:`resnet_inspect.bench.run.memory_check`),
    made first from the spec alone (no TensorFlow): same estimate, same message, nothing built.

    One replica is assumed (--devices all needs more), so only what cannot fit is refused here."""
    from resnet_inspect.analysis.budget import at_input, check_elements
    from resnet_inspect.analysis.estimate import estimate
    from resnet_inspect.bench import hardware
    from resnet_inspect.bench.plan import DeviceKind
    from resnet_inspect.bench.stats import check_memory, memory_estimate

    found = estimate(spec)
    check_elements(at_input(spec, max(plan.batch_sizes)), found.largest_tensor, max(plan.batch_sizes))
    index = plan.device.index or 0
    gpu = hardware.gpu_free_bytes(index) if plan.device.kind is not DeviceKind.CPU else None
    if gpu is not None:
        free, shared, where = gpu, False, f"GPU {index} (nvidia-smi)"
    elif plan.device.kind is DeviceKind.GPU:
        return  # free GPU memory unknown before TensorFlow starts: the check after building decides
    else:
        free, shared, where = hardware.host_free_bytes(), True, "the host"
    cpu = hardware.read_cpu() if shared else None
    estimates = [
        memory_estimate(found.peak_elements, found.params, p, converts=cpu is not None
                        and not hardware.cpu_native(cpu, p.compute_dtype))
        for p in plan.precisions
    ]
    check_memory(estimates, plan.batch_sizes, free, shared, where)


@app.command()
def bench(
    ctx: typer.Context,
    depth: DepthOpt = None,
    blocks: BlocksOpt = None,
    block_type: BlockTypeOpt = None,
    input_size: InputSizeOpt = "224",
    classes: ClassesOpt = 1000,
    width: WidthOpt = 64,
    bias: BiasOpt = True,
    data_format: DataFormatOpt = DataFormat.CHANNELS_LAST,
    version: VersionOpt = Version.V2,
    model: ModelOpt = None,
    unsafe: UnsafeOpt = False,
    batch_size: BatchSizeOpt = None,
    device: DeviceOpt = "auto",
    devices: DevicesOpt = Devices.ONE,
    precision: PrecisionOpt = None,
    xla: XlaOpt = False,
    warmup: WarmupOpt = DEFAULT_WARMUP,
    iterations: IterationsOpt = None,
    min_time: MinTimeOpt = None,
    threads: ThreadsOpt = None,
    csv: CsvOpt = None,
    json: JsonOpt = None,
) -> None:
    """Forward-pass latency and throughput: mean/p50/p90/p99 step time, images/s, GFLOP/s, % of peak."""
    spec, source, load_options = network_or_model(
        ctx, model, unsafe, depth, blocks, block_type, input_size, classes, width, bias, data_format, version
    )
    plan = make_plan(
        batch_size, precision, device, devices is Devices.ALL, xla, warmup, iterations, min_time, threads
    )
    if source is not None and source.path is not None and plan.precisions != (Precision.FLOAT32,):
        # Each layer of a saved model carries the dtype policy it was saved with; a global policy cannot change it.
        raise UsageError("--precision applies to built networks and keras:<Application> models; "
                         f"{model!r} computes in the dtype it was saved with")
    if spec is not None:
        check_sweep_memory(spec, plan)
    check_outputs(csv, json, model_input(source))

    # TensorFlow is imported from here on, once every option is valid.
    from resnet_inspect.analysis.inspection import inspect_model, open_model
    from resnet_inspect.bench import run as core
    from resnet_inspect.output.bench_tables import bench_progress, print_bench
    from resnet_inspect.output.payloads import bench_payload, versions
    from resnet_inspect.output.render import make_console

    core.configure_threads(plan.threads)  # before TensorFlow runs anything
    target = core.resolve_target(plan.device, plan.all_devices)
    free = core.free_memory(target)  # before TensorFlow reserves GPU memory
    walked, config, heading = open_model(
        spec, source, unsafe, load_options, warn=lambda message: sys.stderr.write(message + "\n")
    )
    report = inspect_model(walked, config)

    def build() -> object:
        # Built again for each precision, under its dtype policy and on the device (or the strategy's scope).
        return open_model(spec, source, unsafe, load_options)[0]

    flops_per_image = report.totals.flops  # None with an unsupported layer: GFLOP/s then unknown
    memory = core.memory_check(report, plan, target, free)  # refuses before anything runs

    environment = core.environment(target, plan, free, memory)
    shown = [(f"{name} version", value) for name, value in versions().items()] + list(environment)
    console = make_console()
    steps = plan.iterations if plan.min_time is None else None
    try:
        with bench_progress(make_console(stderr=True), len(plan.runs()), steps, plan.warmup) as progress:
            results = core.run_sweep(plan, build, target, flops_per_image, progress.on_run, progress.on_step)
    except core.SweepInterrupted as stop:
        print_bench(console, heading, shown, stop.results)
        complete = sum(r.complete for r in stop.results)
        fail(f"interrupted: {complete} of {len(plan.runs())} runs complete; nothing was written", 130)
    print_bench(console, heading, shown, results)
    if csv is not None:
        write_csv(csv, [r.row for r in results], columns=BENCH_COLUMNS)
    if json is not None:
        write_json(
            json,
            bench_payload(report.model_name, config, environment, plan, flops_per_image, results, versions()),
        )
