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
import dataclasses
import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from resnet_inspect._tf import keras, tf
from resnet_inspect.analysis import budget
from resnet_inspect.analysis.estimate import Estimate, estimate_layers
from resnet_inspect.analysis.measure import Measurement, peak_rise, plausibility, rise_method
from resnet_inspect.analysis.memory import memory_totals
from resnet_inspect.analysis.report import Report
from resnet_inspect.bench import hardware
from resnet_inspect.bench.plan import BenchPlan, DeviceKind, DeviceRequest, Mode, Precision
from resnet_inspect.bench.stats import BenchResult, StepHook, StepsInterrupted, make_result, time_interleaved
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
        ("mode", TRAIN_WORDS if plan.mode is Mode.TRAIN else "inference (forward pass, training=False)"),
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
    if plan.mode is Mode.TRAIN:
        found = training_need(found, report)
    costs = plan.check_memory(found, free, lambda p: converts(target, p), target.replicas)
    parts = [f"{c.label}: weights {human_bytes(c.weights_bytes)} + {human_bytes(c.per_image_bytes)} per image"
             for c in costs]
    kept = "the tensors the backward pass keeps, and the " if plan.mode is Mode.TRAIN else ""
    lines = [("memory estimate", "; ".join(parts) + f" ({kept}activation peak at {found.peak_layer})")]
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
        raise UsageError(f"bench needs a fixed input shape; {model.name} takes {tuple(tensor.shape)}: give "
                         "--input-size (a keras:<Application> takes it) or a model saved with a fixed input shape")
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


# --- the training step -------------------------------------------------------------------------

TRAIN_WORDS = ("train (forward, backward and an SGD momentum 0.9 update; sparse categorical cross-entropy "
               "on random labels)")
# Copies of the parameters a training step holds: the weights, their gradients and SGD's momentum.
TRAIN_PARAM_COPIES = 3


def training_need(found: Estimate, report: Report) -> Estimate:
    """What a training step of ``found``'s model holds per image and in parameters, as an :class:`Estimate`
    for the budget: the activations the backward pass keeps (:func:`resnet_inspect.analysis.memory.memory_totals`,
    counted in elements) on top of the forward pass's own peak, and weights, gradients and momentum."""
    saved = memory_totals(report, 1, "float32").training_activation_bytes // 4  # elements per image
    return dataclasses.replace(found, peak_elements=found.peak_elements + saved,
                               params=found.params * TRAIN_PARAM_COPIES)


def make_optimizer(precision: Precision) -> keras.optimizers.Optimizer:
    """SGD with momentum 0.9; under mixed_float16 wrapped in a LossScaleOptimizer (as ``Model.compile`` does)."""
    optimizer = keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)
    if precision is Precision.MIXED_FLOAT16:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def _classes(model: keras.Model) -> int:
    shapes = [tuple(t.shape) for t in model.outputs]
    if len(shapes) != 1 or len(shapes[0]) != 2 or shapes[0][1] is None:
        raise UsageError(f"bench --mode train needs a model with one (batch, classes) output; {model.name} has "
                         f"{', '.join(map(str, shapes))}")
    return int(shapes[0][1])


def _loss(model: keras.Model) -> keras.losses.Loss:
    # keras.applications end in a softmax (probabilities); the built networks give logits.
    probabilities = getattr(model.layers[-1], "activation", None) is keras.activations.softmax
    return keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities, reduction="sum")


def _gradients(model: keras.Model, optimizer: keras.optimizers.Optimizer, global_batch: int) -> Callable[..., object]:
    loss_fn, variables = _loss(model), model.trainable_variables

    def gradients(x: object, y: object) -> object:
        with tf.GradientTape() as tape:
            outputs = model(x, training=True)
            # the loss in float32 whatever the policy; summed and divided by the global batch (the mean on one device)
            loss = loss_fn(y, keras.ops.cast(outputs, "float32")) / global_batch
            scaled = optimizer.scale_loss(loss)
        return loss, tape.gradient(scaled, variables)

    return gradients


def _training(model: keras.Model, optimizer: keras.optimizers.Optimizer, global_batch: int) -> Callable[..., object]:
    gradients, variables = _gradients(model, optimizer, global_batch), model.trainable_variables

    def train(x: object, y: object) -> object:
        loss, grads = gradients(x, y)
        optimizer.apply_gradients(zip(grads, variables, strict=True))
        return loss

    return train


def _train_data(model: keras.Model, batch: int) -> tuple[object, object]:
    shape, dtype = input_spec(model, batch)
    labels = tf.random.uniform((batch,), maxval=_classes(model), dtype=tf.int32, seed=1)
    return tf.random.uniform(shape, dtype=dtype, seed=0), labels


def train_step(model: keras.Model, batch: int, device: str, xla: bool, precision: Precision) -> Callable[[], None]:
    """One synchronised training step of ``batch`` images on ``device``: forward in training mode,
    gradients, SGD update, all in one ``tf.function`` (``jit_compile`` with ``--xla``), traced here."""
    with tf.device(device):
        inputs, labels = _train_data(model, batch)
        optimizer = make_optimizer(precision)
        optimizer.build(model.trainable_variables)  # its variables exist before tracing
        train = tf.function(_training(model, optimizer, batch), jit_compile=xla)
        train.get_concrete_function(inputs, labels)

    def step() -> None:
        _to_host(train(inputs, labels))

    return step


def mirrored_train_step(
    model: keras.Model, batch: int, strategy: object, xla: bool, precision: Precision
) -> Callable[[], None]:
    """One synchronised data-parallel training step: each replica computes the gradients of its share of
    the batch (compiled with ``--xla``), Keras's optimizer sums them over the replicas and updates."""
    replicas = strategy.num_replicas_in_sync  # type: ignore[attr-defined]
    if batch % replicas:
        raise UsageError(f"--batch-size {batch} does not split evenly over {replicas} devices")
    workers = strategy.extended.worker_devices  # type: ignore[attr-defined]

    def make_data(context: object) -> object:
        with tf.device(workers[context.replica_id_in_sync_group]):  # type: ignore[attr-defined]
            return _train_data(model, batch // replicas)

    data = strategy.experimental_distribute_values_from_function(make_data)  # type: ignore[attr-defined]
    with strategy.scope():  # type: ignore[attr-defined]
        optimizer = make_optimizer(precision)
        optimizer.build(model.trainable_variables)
    gradients = _gradients(model, optimizer, batch)

    def replica_step(pair: object) -> object:
        # The all-reduce of the update cannot sit in a compiled cluster: only the gradients are compiled.
        loss, grads = tf.function(gradients, jit_compile=xla)(*pair)  # type: ignore[misc]
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    def distributed(d: object) -> object:
        return strategy.run(replica_step, args=(d,))  # type: ignore[attr-defined]

    train = tf.function(distributed)
    train.get_concrete_function(data)

    def step() -> None:
        for value in tf.nest.flatten(train(data)):
            _to_host(strategy.experimental_local_results(value))  # type: ignore[attr-defined]

    return step


def train_memory(step: Callable[[], None], report: Report, batch: int, precision: Precision, device: str
                 ) -> Measurement:
    """The memory the first training step raises the peak by (:func:`resnet_inspect.analysis.measure.peak_rise`;
    the step is one more warm-up step), beside its estimate: the activations the backward pass keeps, at the
    compute dtype, and one gradient per parameter (float32). A figure outside the plausible range of
    :func:`resnet_inspect.analysis.measure.plausibility` carries its note and is not shown as a fact."""
    totals = memory_totals(report, batch, precision.compute_dtype)
    estimate = totals.training_activation_bytes + report.totals.params * 4
    label = device.replace("/device:", "")
    rise = peak_rise(step, label)
    return Measurement(label, rise_method(label, "the first training step"), rise, estimate, (rise,),
                       plausibility(rise, estimate))


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


def _step(model: keras.Model, batch: int, plan: BenchPlan, target: Target, strategy: object | None,
          precision: Precision) -> Callable[[], None]:
    if plan.mode is Mode.TRAIN:
        if strategy is not None:
            return mirrored_train_step(model, batch, strategy, plan.xla, precision)
        return train_step(model, batch, target.devices[0], plan.xla, precision)
    if strategy is not None:
        return mirrored_step(model, batch, strategy, plan.xla)
    return single_step(model, batch, target.devices[0], plan.xla)


def run_sweep(
    plan: BenchPlan,
    build: Builder,
    target: Target,
    flops_per_image: int | None,
    on_run: RunHook | None = None,
    on_step: StepHook | None = None,
    report: Report | None = None,
    baseline: tuple[Builder, int | None] | None = None,
) -> list[BenchResult]:
    """Time every (precision, batch size) of ``plan`` on ``target``; see the module docstring.

    ``baseline``: another network and its FLOPs per image (the model as built, beside its folded form), timed
    at the same settings, its steps interleaved with ``build``'s (:func:`resnet_inspect.bench.stats.time_interleaved`);
    its results have ``network`` "baseline". In
    train mode GFLOP/s are left unknown: the walk counts the forward pass only. ``report``: the walked
    model, whose training estimate a training step's measured memory is set beside (single device only).
    Ctrl-C raises :class:`SweepInterrupted` with what was measured; TensorFlow's out-of-memory error
    becomes an :class:`InspectError`.
    """
    strategy = tf.distribute.MirroredStrategy(list(target.devices)) if plan.all_devices else None
    networks = [("", build, flops_per_image)]
    if baseline is not None:
        networks.append(("baseline", *baseline))  # second: the first step is the one the run is about
    train = plan.mode is Mode.TRAIN
    results: list[BenchResult] = []
    for precision in plan.precisions:
        models = [(network, build_on(builder, precision, target, strategy), None if train else flops)
                  for network, builder, flops in networks]
        run_peak = peak(target, precision, plan.threads)
        finish = functools.partial(
            make_result,
            device=target.label,
            precision=precision,
            xla=plan.xla,
            peak_flops=run_peak.flops if run_peak else None,
            warmup=plan.warmup,
            replicas=target.replicas,
        )
        for batch in plan.batch_sizes:
            if on_run is not None:
                on_run(len(results) // len(models), precision, batch)
            try:
                steps = [_step(model, batch, plan, target, strategy, precision) for _, model, _ in models]
                measured = None
                if train and strategy is None and report is not None:
                    measured = train_memory(steps[0], report, batch, precision, target.devices[0])
                timed = time_interleaved(steps, plan.warmup, plan.iterations, plan.min_time, on_step=on_step)
            except StepsInterrupted as stop:
                partial = [finish(times, batch_size=batch, flops_per_image=flops, complete=False, network=network)
                           for (network, _, flops), times in zip(models, stop.all_times, strict=True) if times]
                raise SweepInterrupted(results + partial) from None
            except KeyboardInterrupt:
                raise SweepInterrupted(results) from None
            except tf.errors.ResourceExhaustedError as exc:
                raise out_of_memory(exc, target, batch, precision) from None
            for (network, _, flops), times in zip(models, timed, strict=True):
                results.append(finish(times, batch_size=batch, flops_per_image=flops, network=network,
                                      memory=None if network else measured))
    return results
