"""What a benchmark run will do: precisions, devices, batch sizes, steps. No numpy, no TensorFlow."""

from __future__ import annotations

import enum
import math
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from resnet_inspect.analysis import budget
from resnet_inspect.analysis.estimate import Estimate
from resnet_inspect.errors import FieldError
from resnet_inspect.model.spec import check_positive

DEFAULT_BATCH_SIZES: tuple[int, ...] = (1, 32)

# How profile times the blocks: the ops of a profiler trace of the whole pass (bench.tracing), or compiled
# pieces of the pass (bench.pieces).
TRACE, PIECES = "trace", "pieces"
METHODS = (TRACE, PIECES)


DEFAULT_WARMUP = 3


DEFAULT_ITERATIONS = 20


# Bounds on one run: every step's time is kept and exported, and an hour of steps is a long benchmark.
MAX_STEPS = 1_000_000


MAX_MIN_TIME_S = 3600


class Precision(str, enum.Enum):
    """Keras mixed-precision policies: variables stay float32, the compute dtype changes (bytes per
    element: :func:`resnet_inspect.analysis.budget.policy_bytes`)."""

    FLOAT32 = "float32"
    MIXED_FLOAT16 = "mixed_float16"
    MIXED_BFLOAT16 = "mixed_bfloat16"

    @property
    def compute_dtype(self) -> str:
        return {"float32": "float32", "mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}[self.value]


class Mode(str, enum.Enum):
    """What a step is: a forward pass in inference mode, or a training step (forward, backward, SGD update)."""

    INFERENCE = "inference"
    TRAIN = "train"


class DeviceKind(str, enum.Enum):
    AUTO = "auto"
    CPU = "cpu"
    GPU = "gpu"


@dataclass(frozen=True)
class DeviceRequest:
    """What ``--device`` asked for: a kind and, for ``gpu:N``, an index."""

    kind: DeviceKind
    index: int | None = None

    def __str__(self) -> str:
        return self.kind.value if self.index is None else f"{self.kind.value}:{self.index}"


def parse_device(text: str) -> DeviceRequest:
    """``auto``, ``cpu``, ``gpu`` or ``gpu:N`` (case-insensitive)."""
    match = re.fullmatch(r"\s*(auto|cpu|gpu)(?::(\d+))?\s*", text, flags=re.IGNORECASE)
    if not match or (match.group(2) is not None and match.group(1).lower() != "gpu"):
        raise FieldError("device", f"must be auto, cpu, gpu or gpu:N, got {text!r}")
    index = int(match.group(2)) if match.group(2) is not None else None
    return DeviceRequest(DeviceKind(match.group(1).lower()), index)


@dataclass(frozen=True)
class BenchPlan:
    """A validated sweep: one run per (precision, batch size), in that order."""

    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    precisions: tuple[Precision, ...] = (Precision.FLOAT32,)
    device: DeviceRequest = field(default_factory=lambda: DeviceRequest(DeviceKind.AUTO))
    all_devices: bool = False
    xla: bool = False
    warmup: int = DEFAULT_WARMUP
    iterations: int | None = DEFAULT_ITERATIONS
    min_time: float | None = None
    threads: int | None = None
    mode: Mode = Mode.INFERENCE

    def runs(self) -> list[tuple[Precision, int]]:
        return [(p, b) for p in self.precisions for b in self.batch_sizes]

    def check_memory(
        self,
        found: Estimate,
        limit: budget.Limit,
        converts: Callable[[Precision], bool],
        replicas: int = 1,
    ) -> list[budget.BatchCost]:
        """The cost of one image and of the weights for each precision of the sweep (``converts(p)``: the
        device computes ``p`` through float32 copies); refuses, naming the first batch size that does not
        fit ``limit``. The one memory decision of bench, made from the spec's estimate before building and
        from the walked model's (:func:`resnet_inspect.analysis.estimate.estimate_layers`) after: the same
        figures for a built network, so the largest batch said to fit is one the next run accepts."""
        costs = [budget.batch_cost(p.value, p.compute_dtype, found, replicas, converts(p)) for p in self.precisions]
        budget.check_batches(costs, self.batch_sizes, limit)
        return costs


def make_plan(
    batch_sizes: Sequence[int] | None = None,
    precisions: Sequence[Precision | str] | None = None,
    device: str = "auto",
    all_devices: bool = False,
    xla: bool = False,
    warmup: int = DEFAULT_WARMUP,
    iterations: int | None = None,
    min_time: float | None = None,
    threads: int | None = None,
    mode: Mode | str = Mode.INFERENCE,
) -> BenchPlan:
    """Validate the bench options (no TensorFlow): every problem is a :class:`FieldError` naming its field."""
    sizes = tuple(batch_sizes) if batch_sizes else DEFAULT_BATCH_SIZES
    for size in sizes:
        check_positive("batch_size", size)
    sizes = tuple(dict.fromkeys(sizes))  # a repeated size is one run
    try:
        chosen = tuple(dict.fromkeys(Precision(p) for p in (precisions or (Precision.FLOAT32,))))
    except ValueError:
        names = ", ".join(p.value for p in Precision)
        raise FieldError("precision", f"must be among {names}, got {', '.join(map(str, precisions or ()))}") from None
    request = parse_device(device)
    if all_devices and request.index is not None:
        every = f"all uses every {request.kind.value.upper()}; give {{device}} gpu, not {request}"
        raise FieldError("devices", every, related=("device",))
    if warmup < 0:
        raise FieldError("warmup", f"must be 0 or more, got {warmup}")
    if iterations is not None and min_time is not None:
        raise FieldError("iterations", "and {min_time} cannot both be given: give one", related=("min_time",))
    if iterations is not None:
        check_positive("iterations", iterations)
    for field_name, steps in (("warmup", warmup), ("iterations", iterations)):
        if steps is not None and steps > MAX_STEPS:
            raise FieldError(field_name, f"{steps}: at most {MAX_STEPS:,} steps per run (every step time is kept)")
    if min_time is not None and not (min_time > 0 and math.isfinite(min_time)):
        raise FieldError("min_time", f"must be a positive number of seconds, got {min_time}")
    if min_time is not None and min_time > MAX_MIN_TIME_S:
        raise FieldError("min_time", f"{min_time:g}: at most {MAX_MIN_TIME_S:,} seconds per run")
    if threads is not None:
        check_positive("threads", threads)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if threads is not None and threads > usable:
        # More threads than CPUs only time-slices them, and TensorFlow makes every one: --threads 100000
        # takes minutes and gigabytes before the first step.
        raise FieldError("threads", f"{threads}: this process can use {usable} logical CPU(s); give at most {usable}")
    steps = DEFAULT_ITERATIONS if iterations is None and min_time is None else iterations
    try:
        mode = Mode(mode)
    except ValueError:
        raise FieldError("mode", f"must be inference or train, got {mode}") from None
    return BenchPlan(sizes, chosen, request, all_devices, xla, warmup, steps, min_time, threads, mode)


# The column order of the bench CSV and of the JSON rows (agreed with the plotting command).
BENCH_COLUMNS: tuple[str, ...] = (
    "batch_size",
    "device",
    "precision",
    "xla",
    "mean_ms",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "std_ms",
    "images_per_s",
    "gflops_per_s",
    "pct_of_peak",
)
