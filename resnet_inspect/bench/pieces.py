"""Per-block latency of the forward pass, measured (imports TensorFlow): :func:`run_profile` times it by a
profiler trace of the whole pass (:mod:`resnet_inspect.bench.tracing`) on a CPU without ``--xla``, else (or with
``--method pieces``) in compiled pieces, as follows.

Method (pieces): the forward pass is cut where blocks meet (:mod:`resnet_inspect.analysis.segments`) and each block
becomes a Keras model of the network's own layers (``keras.Model`` from the tensors entering the block to
those leaving it: the same layers, the same weights), compiled as ``bench`` compiles the whole pass (one
``tf.function``, ``jit_compile`` with ``--xla``), on the same device and policy. A round runs the whole
compiled pass once, as ``bench`` times it, then the blocks one after another, each fed what the blocks
before it produced in that round: the real pass, run in pieces, each piece timed alone (on a GPU each piece
ends with a device synchronisation); every second round runs the whole pass after the pieces instead, so
neither always follows the other. Rounds interleave the whole pass and its pieces, so both meet the same
machine; the medians and 90th percentiles are over the timed rounds (:mod:`resnet_inspect.bench.breakdown`).

Why pieces at all: TensorFlow's trace names the ops of a graph run op by op, but with ``--xla`` (fused
clusters) or on a GPU (asynchronous kernels, several streams) its events no longer map to layers. Pieces work
alike for every precision, ``--xla``, the CPU and the GPU; what they cannot show (fusion across a block
boundary, work of one block overlapping the next's, the dispatch of one call instead of many) is the
difference from the whole pass, shown as the ``overhead`` row: on this project's CPUs at batch 1, some 15 to
30 % of the pass more than the pass itself, which is why a CPU's blocks are read from a trace instead.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from resnet_inspect._tf import keras, tf, tf_logs_wanted
from resnet_inspect.analysis.records import LayerRecord
from resnet_inspect.analysis.segments import Segment
from resnet_inspect.bench import hardware, tracing
from resnet_inspect.bench.breakdown import ProfileRun
from resnet_inspect.bench.plan import PIECES, TRACE, BenchPlan, Precision
from resnet_inspect.bench.run import (
    Builder,
    RunHook,
    SweepInterrupted,
    Target,
    build_on,
    input_spec,
    out_of_memory,
    single_step,
)
from resnet_inspect.bench.stats import Clock, StepHook, StepsInterrupted, time_interleaved
from resnet_inspect.bench.tracing import nodes_by_record
from resnet_inspect.errors import UsageError

# The clock of the timed rounds (tests put a fake one here to make every figure known in advance).
CLOCK: Clock = time.perf_counter
# A GPU triad array: 2**27 float32 elements (512 MiB), far beyond any GPU's cache.
GPU_TRIAD_ELEMENTS = 2**27


@contextlib.contextmanager
def _quiet_retracing() -> Iterator[None]:
    """TensorFlow warns when many functions of one Python function are traced ("triggered tf.function
    retracing"): one per piece is what profile means to do, so the warning is held back while they trace."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    if not tf_logs_wanted():
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _sync(gpu: bool) -> Callable[[], None]:
    """What ends a piece: on a GPU, waiting for every device (kernels run asynchronously); a CPU's call
    returns once its work is done."""
    if gpu:
        return tf.test.experimental.sync_devices
    return lambda: None


def _piece_call(piece: keras.Model) -> Callable[..., object]:
    # A named function (autograph reads its source); the tensors entering the piece as positional arguments.
    def piece_call(*tensors: object) -> object:
        return piece(list(tensors) if len(tensors) > 1 else tensors[0], training=False)

    return piece_call


def block_steps(
    model: keras.Model,
    found: Sequence[Segment],
    layers: Sequence[LayerRecord],
    batch: int,
    device: str,
    xla: bool,
    gpu: bool,
    inputs: object | None = None,
) -> list[Callable[[], list[object]]]:
    """One step per block: the block's compiled piece of the pass, fed by the pieces before it (the first by
    the model's input, random as ``bench``'s), traced and run once in order before they are returned. A step
    returns the tensors its piece wrote. ``layers``: the walked model's records (the segments' names).
    ``inputs``: the model's input instead of a random one."""
    nodes = nodes_by_record(model, layers)
    shape, dtype = input_spec(model, batch)
    with tf.device(device):
        first = tf.random.uniform(shape, dtype=dtype, seed=0) if inputs is None else inputs
    kept = {id(t) for t in model.inputs}
    values: dict[int, object] = {id(model.inputs[0]): first}
    pieces = []
    for segment in found:
        members = [nodes[name] for name in segment.layers]
        inside = {id(t) for node in members for t in node.output_tensors}
        entering = list({id(t): t for node in members for t in node.input_tensors if id(t) not in inside}.values())
        leaving = [t for name in segment.writes for t in nodes[name].output_tensors]
        piece = keras.Model(entering if len(entering) > 1 else entering[0], leaving, name=f"piece_{len(pieces)}")
        with tf.device(device):
            forward = tf.function(_piece_call(piece), jit_compile=xla)
        pieces.append((forward, [id(t) for t in entering], [id(t) for t in leaving]))
    # A tensor is dropped once the last piece that reads it has run (the model's input stays for every round).
    last_read = {key: k for k, (_, reads, _) in enumerate(pieces) for key in reads}
    drops = [[key for key, k in last_read.items() if k == index and key not in kept] for index in range(len(pieces))]
    sync = _sync(gpu)
    # Each piece is called through its concrete function (traced on the first pass): a call costs less
    # dispatch than the tf.function's own (its arguments are not matched against its traces again).
    concrete: dict[int, Callable[..., object]] = {}

    def make_step(index: int) -> Callable[[], list[object]]:
        forward, reads, writes = pieces[index]

        def step() -> list[object]:
            arguments = [values[key] for key in reads]
            if index not in concrete:
                concrete[index] = forward.get_concrete_function(*arguments)
            outputs = tf.nest.flatten(concrete[index](*arguments))
            sync()
            values.update(zip(writes, outputs, strict=True))
            for key in drops[index]:
                values.pop(key, None)
            return outputs

        return step

    steps = [make_step(index) for index in range(len(pieces))]
    with tf.device(device), _quiet_retracing():
        for step in steps:  # traces each piece (never timed) and checks the chain holds together
            step()
    return steps


def block_method(target: Target, xla: bool, asked: str | None = None) -> str:
    """How profile times the blocks: ``asked`` (``--method``), else a trace where its ops map to layers (a CPU
    without XLA), else pieces. A trace where they do not is a usage error."""
    traceable = target.kind == "CPU" and not xla
    if asked == TRACE and not traceable:
        raise UsageError(f"--method trace reads the ops of a CPU pass without XLA; on {target.label}"
                         f"{' with --xla' if xla else ''} give --method pieces (or leave --method out)")
    if asked is not None:
        return asked
    return TRACE if traceable else PIECES


def run_profile(
    plan: BenchPlan,
    build: Builder,
    target: Target,
    found: Sequence[Segment],
    layers: Sequence[LayerRecord],
    on_run: RunHook | None = None,
    on_step: StepHook | None = None,
    method: str = PIECES,
) -> list[ProfileRun]:
    """Time the whole pass and its blocks for every (precision, batch size) of ``plan`` by ``method``
    (:func:`block_method`); ``layers`` are the walked model's records. Ctrl-C raises SweepInterrupted with the
    complete runs; an out-of-memory error an InspectError."""
    if plan.all_devices:
        raise UsageError("profile times the pass on one device; --devices all (data-parallel) is for bench")
    results: list[ProfileRun] = []
    device = target.devices[0]
    for precision in plan.precisions:
        model = build_on(build, precision, target, None)
        for batch in plan.batch_sizes:
            if on_run is not None:
                on_run(len(results), precision, batch)
            try:
                if method == TRACE:
                    # Rounds of the whole pass untraced and traced (in turn first), the blocks read from the
                    # traced runs of the timed rounds (the warm-up's come first) once every round has run.
                    whole, traced = tracing.block_steps(model, found, layers, batch, device)
                    try:
                        whole()  # run once untimed: no cold start in the first round
                        times = time_interleaved([whole, traced.step], plan.warmup, plan.iterations, plan.min_time,
                                                 CLOCK, on_step, alternate="reverse")
                        rounds = traced.read(plan.warmup, len(times[0]))
                    finally:
                        traced.close()
                    traced_s = tuple(seconds for seconds, _ in rounds)
                    times = [times[0], *(list(block) for block in zip(*(b for _, b in rounds), strict=True))]
                else:
                    traced_s = ()
                    whole = single_step(model, batch, device, plan.xla)
                    whole()  # run once untimed, as every piece is by block_steps: no cold start against warm pieces
                    pieces = block_steps(model, found, layers, batch, device, plan.xla, target.kind == "GPU")
                    times = time_interleaved([whole, *pieces], plan.warmup, plan.iterations, plan.min_time, CLOCK,
                                             on_step, alternate="first-last")
            except (StepsInterrupted, KeyboardInterrupt):
                raise SweepInterrupted(results) from None
            except tf.errors.ResourceExhaustedError as exc:
                raise out_of_memory(exc, target, batch, precision) from None
            results.append(_run(batch, target, precision, plan, times, method, traced_s))
    return results


def _run(batch: int, target: Target, precision: Precision, plan: BenchPlan, times: list[list[float]],
         method: str, traced_s: tuple[float, ...]) -> ProfileRun:
    return ProfileRun(batch, target.label, precision, plan.xla, tuple(times[0]),
                      tuple(tuple(t) for t in times[1:]), plan.warmup, method=method, traced_s=traced_s)


def _triad(b: object, c: object) -> object:
    # A named function, not a lambda (autograph reads its source).
    return b + hardware.TRIAD_SCALAR * c  # type: ignore[operator]


def bandwidth(target: Target, cores: int) -> hardware.Bandwidth:
    """The memory roof of the target: the host's triad in numpy (:func:`resnet_inspect.bench.hardware.host_bandwidth`)
    for a CPU; for a GPU the same triad in float32 on the device, compiled by XLA into one kernel (3 arrays x
    4 bytes x n per run, median of the runs)."""
    if target.kind == "CPU":
        return hardware.host_bandwidth(cores)
    n, runs = GPU_TRIAD_ELEMENTS, hardware.TRIAD_RUNS
    with tf.device(target.devices[0]):
        b = tf.fill((n,), 1.0)
        c = tf.fill((n,), 2.0)
        triad = tf.function(_triad, jit_compile=True)
        triad(b, c)
        tf.test.experimental.sync_devices()
        seconds = []
        for _ in range(runs):
            start = time.perf_counter()
            triad(b, c)
            tf.test.experimental.sync_devices()
            seconds.append(time.perf_counter() - start)
    median = float(np.median(seconds))  # as the host's triad takes it
    rate = 3 * 4 * n / median
    return hardware.Bandwidth(rate, f"triad a = b + {hardware.TRIAD_SCALAR:g}*c on {target.label}, float32, XLA "
                                    f"(one kernel), 3 arrays of {n:,} elements; median of {runs} runs "
                                    f"{median * 1e3:,.2f} ms; 3 x 4 x n bytes = {rate / 1e9:,.1f} GB/s")
