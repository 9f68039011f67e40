"""Forward-pass latency and throughput on a TensorFlow device (imports TensorFlow).

Method, for each (precision, batch size) of a plan:

1. the model is built under the Keras precision policy, on the device (or under
   a ``MirroredStrategy`` scope for ``--devices all``);
2. the input is made on the device(s) beforehand, so no host-to-device copy is
   timed;
3. the model is called in inference mode (``training=False``) inside one
   ``tf.function`` per batch size (``jit_compile`` with ``--xla``), traced
   before the warm-up;
4. warm-up steps run untimed; each timed step returns only once the result is
   on the host (``.numpy()``), so asynchronous devices are synchronised and
   every step's time is the whole step.

Statistics and rates are computed in :mod:`resnet_inspect.bench.stats` (no TensorFlow).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from resnet_inspect._tf import keras, tf
from resnet_inspect.analysis import budget
from resnet_inspect.analysis.estimate import estimate_layers
from resnet_inspect.analysis.report import Report
from resnet_inspect.bench import hardware
from resnet_inspect.bench.plan import BenchPlan, DeviceKind, DeviceRequest, Precision
from resnet_inspect.bench.stats import BenchResult, StepHook, StepsInterrupted, make_result, time_steps
from resnet_inspect.errors import InspectError, UsageError
from resnet_inspect.units import human_bytes

Builder = Callable[[], keras.Model]


@dataclass(frozen=True)
class Target:
    """The device(s) a sweep runs on."""

    kind: str  # "CPU" or "GPU"
    devices: tuple[str, ...]  # TensorFlow device names, e.g. "/device:CPU:0"
    names: tuple[str, ...]  # what each device is: the CPU model or the GPU's name
    cpu: hardware.CpuInfo

    @property
    def replicas(self) -> int:
        return len(self.devices)

    @property
    def label(self) -> str:
        """The ``device`` column: "CPU:0", or "CPU:0+CPU:1" for a data-parallel run."""
        return "+".join(d.replace("/device:", "") for d in self.devices)


# --- set-up ------------------------------------------------------------------------------------


def configure_threads(threads: int | None) -> None:
    """Set TensorFlow's intra-op thread pool; only possible before TensorFlow runs anything."""
    if threads is None:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:
        current = tf.config.threading.get_intra_op_parallelism_threads()
        if current != threads:
            raise InspectError(
                f"--threads {threads}: TensorFlow has already started with "
                f"{current or 'its default number of'} intra-op threads in this process"
            ) from None


def _gpu_name(physical: object) -> str:
    try:
        details = tf.config.experimental.get_device_details(physical)
    except (ValueError, RuntimeError):
        details = {}
    return str(details.get("device_name") or "GPU")


def resolve_target(request: DeviceRequest, all_devices: bool) -> Target:
    """The device(s) for ``--device``/``--devices`` (a usage error when the device is absent).

    GPUs are found from the physical device list, which does not initialise
    them, so their free memory can still be read before TensorFlow reserves it.
    """
    cpu = hardware.read_cpu()
    gpus = tf.config.list_physical_devices("GPU")
    kind = request.kind
    if kind is DeviceKind.AUTO:
        kind = DeviceKind.GPU if gpus else DeviceKind.CPU
    if kind is DeviceKind.GPU:
        if not gpus:
            raise UsageError(f"--device {request}: TensorFlow sees no GPU on this machine; use --device cpu")
        if request.index is not None and request.index >= len(gpus):
            raise UsageError(
                f"--device {request}: TensorFlow sees {len(gpus)} GPU(s), numbered 0 to {len(gpus) - 1}"
            )
        chosen = range(len(gpus)) if all_devices else [request.index or 0]
        return Target(
            "GPU",
            tuple(f"/device:GPU:{i}" for i in chosen),
            tuple(_gpu_name(gpus[i]) for i in chosen),
            cpu,
        )
    if all_devices:
        # Logical CPU devices exist only if the host was split before TensorFlow started.
        names = tuple(d.name for d in tf.config.list_logical_devices("CPU"))
    else:
        names = ("/device:CPU:0",)
    devices = tuple(n.replace("/job:localhost/replica:0/task:0", "") for n in names)
    return Target("CPU", devices, (cpu.model,) * len(devices), cpu)


def free_memory(target: Target) -> budget.Limit:
    """Free bytes for the run: host RAM shared by CPU devices, or the smallest GPU's free memory each."""
    if target.kind == "CPU":
        return budget.host_limit()
    figures = [budget.gpu_free_bytes(int(d.rsplit(":", 1)[1])) for d in target.devices]
    free = None if any(f is None for f in figures) else min(figures)  # type: ignore[type-var]
    return budget.Limit(free, f"{target.label} ({target.names[0]})", per_device=True)


def peak(target: Target, precision: Precision, threads: int | None) -> hardware.Peak | None:
    """Peak FLOP/s of the target for a precision, or None when unknown."""
    if target.kind == "CPU":
        # Logical CPU devices share the same cores: the host's peak, not one per device.
        return hardware.cpu_peak(target.cpu, precision.compute_dtype, threads)
    tf32 = bool(tf.config.experimental.tensor_float_32_execution_enabled())
    peaks = [hardware.gpu_peak(name, precision.compute_dtype, tf32) for name in target.names]
    if any(p is None for p in peaks):
        return None
    if len(peaks) == 1:
        return peaks[0]
    total = sum(p.flops for p in peaks)  # type: ignore[union-attr]
    return hardware.Peak(total, f"{len(peaks)} GPUs: " + " + ".join(p.derivation for p in peaks))  # type: ignore[union-attr]


def environment(
    target: Target, plan: BenchPlan, free: budget.Limit, memory: Sequence[tuple[str, str]] = ()
) -> tuple[tuple[str, str], ...]:
    """The environment block: device, CPU, threads, XLA, precision, peaks and free memory."""
    cpu = target.cpu
    threads = tf.config.threading.get_intra_op_parallelism_threads()
    pairs = [
        ("device", f"{target.label} ({', '.join(dict.fromkeys(target.names))})"),
        ("CPU", f"{cpu.model}; {cpu.cores} core(s), {cpu.logical} logical CPU(s) usable; {cpu.vector_isa}"),
        ("CPU clock", f"{cpu.clock_mhz:,.0f} MHz ({cpu.clock_source})" if cpu.clock_mhz else "unknown"),
        ("intra-op threads", str(threads) if threads else f"TensorFlow default (all {cpu.logical} logical CPUs)"),
        ("XLA", "on (jit_compile=True)" if plan.xla else "off"),
        ("precision", ", ".join(p.value for p in plan.precisions)),
        ("replicas", f"{target.replicas} (MirroredStrategy)" if plan.all_devices else "1"),
    ]
    for precision in plan.precisions:
        found = peak(target, precision, plan.threads)
        pairs.append((f"peak {precision.value}", found.derivation if found else "unknown"))
    pairs.append((budget.FREE_MEMORY, human_bytes(free.free) if free.free is not None else "unknown"))
    pairs.extend(memory)
    return tuple(pairs)


def converts(target: Target, precision: Precision) -> bool:
    """Whether the target computes ``precision`` through float32 copies (a CPU without native units)."""
    return target.kind == "CPU" and not hardware.cpu_native(target.cpu, precision.compute_dtype)


def memory_check(
    report: Report, plan: BenchPlan, target: Target, free: budget.Limit
) -> tuple[tuple[str, str], ...]:
    """Refuse a batch whose estimated memory exceeds the free memory, before anything runs;
    otherwise the estimate, and the largest batch the free memory allows, as environment lines."""
    found = estimate_layers("the model", report.layers, report.totals.params)
    if found is None:
        return (("memory estimate", "unknown (the model has dynamic shapes)"),)
    costs = plan.check_memory(found, free, lambda p: converts(target, p), target.replicas)
    parts = [f"{c.label}: weights {human_bytes(c.weights_bytes)} + {human_bytes(c.per_image_bytes)} per image"
             for c in costs]
    lines = [("memory estimate", "; ".join(parts) + f" (activation peak at {found.peak_layer})")]
    if free.free is not None:
        fits = "; ".join(f"{c.label}: {budget.largest_batch(c, free):,}" for c in costs)
        lines.append((budget.LARGEST_BATCH, fits))
    return tuple(lines)


# --- building and stepping ---------------------------------------------------------------------


@contextlib.contextmanager
def policy(precision: Precision) -> Iterator[None]:
    """Keras's global dtype policy for the duration of a build, restored afterwards."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision.value)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def build_on(build: Builder, precision: Precision, target: Target, strategy: object | None) -> keras.Model:
    """Build the model under ``precision``, its variables on the target (mirrored with a strategy)."""
    scope = strategy.scope() if strategy is not None else tf.device(target.devices[0])  # type: ignore[attr-defined]
    with policy(precision), scope:
        model = build()
    # A loaded model keeps the dtype policy saved with each layer: a run would not be what it says.
    computed = {layer.compute_dtype for layer in model.layers if layer.weights}
    if computed and precision.compute_dtype not in computed:
        raise UsageError(
            f"--precision {precision.value}: {model.name} computes in {', '.join(sorted(computed))} "
            "whatever the policy (its layers carry their own dtype)"
        )
    return model


def input_spec(model: keras.Model, batch: int) -> tuple[tuple[int, ...], str]:
    if len(model.inputs) != 1:
        raise UsageError(f"bench needs a model with one input; {model.name} has {len(model.inputs)}")
    tensor = model.inputs[0]
    shape = tuple(tensor.shape[1:])
    if any(d is None for d in shape):
        raise UsageError(f"bench needs a fixed input shape; {model.name} takes {tuple(tensor.shape)}")
    return (batch, *shape), str(tensor.dtype)


def _to_host(outputs: object) -> None:
    for tensor in tf.nest.flatten(outputs):
        tensor.numpy()


def inference(model: keras.Model) -> Callable[[object], object]:
    # A named function, not a lambda: autograph reads the source of what it converts, and a lambda's
    # source line cannot always be matched (it then warns on stderr).
    def inference(x: object) -> object:
        return model(x, training=False)

    return inference


def single_step(model: keras.Model, batch: int, device: str, xla: bool) -> Callable[[], None]:
    """One synchronised forward step of ``batch`` images on ``device``, traced before it is returned."""
    shape, dtype = input_spec(model, batch)
    with tf.device(device):
        inputs = tf.random.uniform(shape, dtype=dtype, seed=0)  # made on the device, outside the timing
        forward = tf.function(inference(model), jit_compile=xla)
        # Tracing here fixes every op's device (it is recorded in the graph) and keeps tracing out of the timing.
        forward.get_concrete_function(inputs)

    def step() -> None:
        _to_host(forward(inputs))

    return step


def mirrored_step(model: keras.Model, batch: int, strategy: object, xla: bool) -> Callable[[], None]:
    """One synchronised data-parallel step: ``batch`` images split evenly over the replicas."""
    replicas = strategy.num_replicas_in_sync  # type: ignore[attr-defined]
    if batch % replicas:
        raise UsageError(f"--batch-size {batch} does not split evenly over {replicas} devices")
    shape, dtype = input_spec(model, batch // replicas)
    workers = strategy.extended.worker_devices  # type: ignore[attr-defined]

    def make_inputs(context: object) -> object:
        with tf.device(workers[context.replica_id_in_sync_group]):  # type: ignore[attr-defined]
            return tf.random.uniform(shape, dtype=dtype, seed=0)

    inputs = strategy.experimental_distribute_values_from_function(make_inputs)  # type: ignore[attr-defined]

    def replica_forward(x: object) -> object:
        # One function per replica: a compiled (XLA) cluster cannot read another replica's variables.
        return tf.function(inference(model), jit_compile=xla)(x)

    def distributed_forward(d: object) -> object:
        return strategy.run(replica_forward, args=(d,))  # type: ignore[attr-defined]

    forward = tf.function(distributed_forward)
    forward.get_concrete_function(inputs)

    def step() -> None:
        outputs = forward(inputs)
        for value in tf.nest.flatten(outputs):
            _to_host(strategy.experimental_local_results(value))  # type: ignore[attr-defined]

    return step


def out_of_memory(
    exc: tf.errors.ResourceExhaustedError, target: Target, batch: int, precision: Precision
) -> InspectError:
    """TensorFlow's out-of-memory error as one line."""
    first = str(exc.message).strip().splitlines()[0] if exc.message else "resource exhausted"
    return InspectError(
        f"out of memory on {target.label} at batch {batch} ({precision.value}): {first}; try a smaller --batch-size"
    )


# --- the sweep ---------------------------------------------------------------------------------


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep: the complete runs, and the interrupted one if it timed a step."""

    def __init__(self, results: Sequence[BenchResult]) -> None:
        super().__init__()
        self.results = tuple(results)


RunHook = Callable[[int, Precision, int], None]  # on_run(index, precision, batch size)


def run_sweep(
    plan: BenchPlan,
    build: Builder,
    target: Target,
    flops_per_image: int | None,
    on_run: RunHook | None = None,
    on_step: StepHook | None = None,
) -> list[BenchResult]:
    """Time every (precision, batch size) of ``plan`` on ``target``; see the module docstring.

    Ctrl-C raises :class:`SweepInterrupted` with what was measured; TensorFlow's
    out-of-memory error becomes an :class:`InspectError`.
    """
    strategy = tf.distribute.MirroredStrategy(list(target.devices)) if plan.all_devices else None
    results: list[BenchResult] = []
    for precision in plan.precisions:
        model = build_on(build, precision, target, strategy)
        run_peak = peak(target, precision, plan.threads)
        finish = functools.partial(
            make_result,
            device=target.label,
            precision=precision,
            xla=plan.xla,
            flops_per_image=flops_per_image,
            peak_flops=run_peak.flops if run_peak else None,
            warmup=plan.warmup,
            replicas=target.replicas,
        )
        for batch in plan.batch_sizes:
            if on_run is not None:
                on_run(len(results), precision, batch)
            try:
                if strategy is not None:
                    step = mirrored_step(model, batch, strategy, plan.xla)
                else:
                    step = single_step(model, batch, target.devices[0], plan.xla)
                times = time_steps(step, plan.warmup, plan.iterations, plan.min_time, on_step=on_step)
            except StepsInterrupted as stop:
                partial = [finish(stop.times, batch_size=batch, complete=False)] if stop.times else []
                raise SweepInterrupted(results + partial) from None
            except KeyboardInterrupt:
                raise SweepInterrupted(results) from None
            except tf.errors.ResourceExhaustedError as exc:
                raise out_of_memory(exc, target, batch, precision) from None
            results.append(finish(times, batch_size=batch))
    return results
