"""Benchmark plan, timing loop and statistics. No TensorFlow here (numpy only).

The timing loop takes the step to time and the clock as arguments, so the
statistics can be checked with an injected clock. Conventions:

* Every step's time is kept; the mean, the percentiles (numpy's linear
  interpolation between order statistics) and the sample standard deviation
  (n - 1 degrees of freedom; unknown for a single step) are taken over the
  timed steps only, never the warm-up.
* Throughput is ``batch / mean step time``: the images of all timed steps over
  their total time.
* GFLOP/s use the walk's FLOPs (every floating-point op, a multiply-add counts
  2) times the batch, over the mean step time.
"""

from __future__ import annotations

import enum
import math
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from resnet_inspect.errors import InspectError, UsageError
from resnet_inspect.units import human_bytes

DEFAULT_BATCH_SIZES: tuple[int, ...] = (1, 32)
DEFAULT_WARMUP = 3
DEFAULT_ITERATIONS = 20
# Bounds on one run: every step's time is kept and exported, and an hour of steps is a long benchmark.
MAX_STEPS = 1_000_000
MAX_MIN_TIME_S = 3600

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


class Precision(str, enum.Enum):
    """Keras mixed-precision policies: variables stay float32, the compute dtype changes."""

    FLOAT32 = "float32"
    MIXED_FLOAT16 = "mixed_float16"
    MIXED_BFLOAT16 = "mixed_bfloat16"

    @property
    def compute_dtype(self) -> str:
        return {"float32": "float32", "mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}[self.value]

    @property
    def compute_bytes(self) -> int:
        return 4 if self is Precision.FLOAT32 else 2


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
        raise UsageError(f"--device must be auto, cpu, gpu or gpu:N, got {text!r}")
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

    def runs(self) -> list[tuple[Precision, int]]:
        return [(p, b) for p in self.precisions for b in self.batch_sizes]


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
) -> BenchPlan:
    """Validate the bench options (no TensorFlow): every problem is a usage error."""
    sizes = tuple(batch_sizes) if batch_sizes else DEFAULT_BATCH_SIZES
    for size in sizes:
        if size <= 0:
            raise UsageError(f"--batch-size must be a positive integer, got {size}")
    sizes = tuple(dict.fromkeys(sizes))  # a repeated size is one run
    try:
        chosen = tuple(dict.fromkeys(Precision(p) for p in (precisions or (Precision.FLOAT32,))))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    request = parse_device(device)
    if all_devices and request.index is not None:
        raise UsageError(f"--devices all uses every {request.kind.value.upper()}; give --device gpu, not {request}")
    if warmup < 0:
        raise UsageError(f"--warmup must be 0 or more, got {warmup}")
    if iterations is not None and min_time is not None:
        raise UsageError("give either --iterations or --min-time, not both")
    if iterations is not None and iterations <= 0:
        raise UsageError(f"--iterations must be a positive integer, got {iterations}")
    for option, steps in (("--warmup", warmup), ("--iterations", iterations)):
        if steps is not None and steps > MAX_STEPS:
            raise UsageError(f"{option} {steps}: at most {MAX_STEPS:,} steps per run (every step time is kept)")
    if min_time is not None and not (min_time > 0 and math.isfinite(min_time)):
        raise UsageError(f"--min-time must be a positive number of seconds, got {min_time}")
    if min_time is not None and min_time > MAX_MIN_TIME_S:
        raise UsageError(f"--min-time {min_time:g}: at most {MAX_MIN_TIME_S:,} seconds per run")
    if threads is not None and threads <= 0:
        raise UsageError(f"--threads must be a positive integer, got {threads}")
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if threads is not None and threads > usable:
        # More threads than CPUs only time-slices them, and TensorFlow makes every one: --threads 100000
        # takes minutes and gigabytes before the first step.
        raise UsageError(f"--threads {threads}: this process can use {usable} logical CPU(s); give at most {usable}")
    return BenchPlan(
        batch_sizes=sizes,
        precisions=chosen,
        device=request,
        all_devices=all_devices,
        xla=xla,
        warmup=warmup,
        iterations=DEFAULT_ITERATIONS if iterations is None and min_time is None else iterations,
        min_time=min_time,
        threads=threads,
    )


# --- the timing loop -------------------------------------------------------------------------


class StepsInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; carries the step times measured before it."""

    def __init__(self, times: Sequence[float]) -> None:
        super().__init__()
        self.times = tuple(times)


Clock = Callable[[], float]
# on_step(phase, done): phase is "warmup" or "timed", done the steps of that phase so far.
StepHook = Callable[[str, int], None]


def time_steps(
    step: Callable[[], Any],
    warmup: int,
    iterations: int | None,
    min_time: float | None = None,
    clock: Clock = time.perf_counter,
    on_step: StepHook | None = None,
) -> list[float]:
    """Run ``warmup`` untimed steps, then time each step until ``iterations`` steps or ``min_time``
    seconds of timed steps (at least one step). ``step`` must return only once its result is on
    the host, so each time covers the whole step. Returns the step times in seconds."""
    if (iterations is None) == (min_time is None):
        raise ValueError("time_steps needs exactly one of iterations and min_time")
    times: list[float] = []
    try:
        for done in range(1, warmup + 1):
            step()
            if on_step is not None:
                on_step("warmup", done)
        elapsed = 0.0
        while True:
            start = clock()
            step()
            seconds = clock() - start
            times.append(seconds)
            elapsed += seconds
            if on_step is not None:
                on_step("timed", len(times))
            if iterations is not None and len(times) >= iterations:
                break
            if min_time is not None and elapsed >= min_time:
                break
    except KeyboardInterrupt:
        raise StepsInterrupted(times) from None
    return times


# --- statistics ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepStats:
    """Statistics of the timed steps, in milliseconds."""

    steps: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    std_ms: float | None


def summarize(times_s: Sequence[float]) -> StepStats:
    if len(times_s) == 0:
        raise ValueError("no timed steps to summarize")
    ms = np.asarray(times_s, dtype=np.float64) * 1e3
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])  # linear interpolation between order statistics
    return StepStats(
        steps=len(ms),
        mean_ms=float(ms.mean()),
        p50_ms=float(p50),
        p90_ms=float(p90),
        p99_ms=float(p99),
        std_ms=float(ms.std(ddof=1)) if len(ms) > 1 else None,
    )


@dataclass(frozen=True)
class BenchRow:
    """One run: the bench CSV row (columns :data:`BENCH_COLUMNS`). None is an unknown value."""

    batch_size: int
    device: str
    precision: str
    xla: bool
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    std_ms: float | None
    images_per_s: float
    gflops_per_s: float | None
    pct_of_peak: float | None


@dataclass(frozen=True)
class BenchResult:
    """A row and what it was measured from: every step's time, the warm-up, the replicas."""

    row: BenchRow
    times_ms: tuple[float, ...]
    warmup: int
    replicas: int
    complete: bool = True


def _ms(value: float) -> float:
    return round(value, 4)  # 0.1 us: finer digits are clock noise


def _rate(value: float) -> float:
    return float(f"{value:.6g}")  # 6 significant digits: enough for any rate, small or large


def make_result(
    times_s: Sequence[float],
    batch_size: int,
    device: str,
    precision: Precision,
    xla: bool,
    flops_per_image: int | None,
    peak_flops: float | None,
    warmup: int,
    replicas: int = 1,
    complete: bool = True,
) -> BenchResult:
    """Statistics and rates of one run. ``peak_flops`` is FLOP/s (None when unknown)."""
    stats = summarize(times_s)
    mean_s = stats.mean_ms / 1e3
    images_per_s = batch_size / mean_s
    # FLOP/s = FLOPs per image x images per step / seconds per step.
    flops_per_s = flops_per_image * batch_size / mean_s if flops_per_image is not None else None
    row = BenchRow(
        batch_size=batch_size,
        device=device,
        precision=precision.value,
        xla=xla,
        mean_ms=_ms(stats.mean_ms),
        p50_ms=_ms(stats.p50_ms),
        p90_ms=_ms(stats.p90_ms),
        p99_ms=_ms(stats.p99_ms),
        std_ms=_ms(stats.std_ms) if stats.std_ms is not None else None,
        images_per_s=_rate(images_per_s),
        gflops_per_s=_rate(flops_per_s / 1e9) if flops_per_s is not None else None,
        pct_of_peak=_rate(100.0 * flops_per_s / peak_flops) if flops_per_s is not None and peak_flops else None,
    )
    return BenchResult(
        row=row,
        times_ms=tuple(_ms(float(t) * 1e3) for t in times_s),
        warmup=warmup,
        replicas=replicas,
        complete=complete,
    )


# --- memory estimate --------------------------------------------------------------------------

# Environment lines that change from run to run (they follow the free memory): shown, not exported.
LARGEST_BATCH = "largest batch that fits"
RUN_METADATA = frozenset({"free memory", LARGEST_BATCH})

FLOAT32_BYTES = 4


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a forward pass needs: weights per replica plus activations per image.

    Weights: every parameter is a float32 variable; under a mixed policy each
    layer also casts its variables to the compute dtype, so a second copy at
    2 bytes is counted. Activations: the largest set of layer outputs alive at
    once (:mod:`resnet_inspect.analysis.liveness`) at the compute dtype, per image; on a
    device without native float16/bfloat16 units (a CPU without AVX512_FP16/BF16
    or AMX) the kernels convert to float32 inside, so each element also counts a
    4-byte float32 copy (``resnet-inspect memory --measure``: ResNet-18, batch 4,
    bfloat16 on this project's AVX2 CPU peaks at 19.4 MiB, 2.5x the 2-byte figure).
    """

    precision: Precision
    weights_bytes: int
    per_image_bytes: int
    replicas: int = 1

    def total(self, batch: int) -> int:
        """All replicas together (CPU devices share the host's memory)."""
        return self.replicas * self.weights_bytes + batch * self.per_image_bytes

    def per_device(self, batch: int) -> int:
        """One replica: its weights and its share of the batch."""
        return self.weights_bytes + math.ceil(batch / self.replicas) * self.per_image_bytes

    def largest_batch(self, free: int, shared: bool) -> int:
        """Largest batch (a multiple of the replicas) whose estimate fits in ``free`` bytes; 0 if none."""
        if shared:
            images = (free - self.replicas * self.weights_bytes) // self.per_image_bytes
        else:
            images = (free - self.weights_bytes) // self.per_image_bytes * self.replicas
        return max(0, images // self.replicas * self.replicas)


def memory_estimate(
    live_peak_elements: int, params: int, precision: Precision, replicas: int = 1, converts: bool = False
) -> MemoryEstimate:
    """The estimate from a walked model's peak live elements per image and its parameter count.

    ``converts``: the device computes float16/bfloat16 through float32 copies (see :class:`MemoryEstimate`).
    """
    mixed = precision is not Precision.FLOAT32
    cast_copy = precision.compute_bytes if mixed else 0
    element_bytes = precision.compute_bytes + (FLOAT32_BYTES if mixed and converts else 0)
    return MemoryEstimate(
        precision=precision,
        weights_bytes=params * (FLOAT32_BYTES + cast_copy),
        per_image_bytes=live_peak_elements * element_bytes,
        replicas=replicas,
    )


def check_memory(estimates: Sequence[MemoryEstimate], batch_sizes: Sequence[int], free: int,
                 shared: bool, where: str) -> None:
    """Refuse, before anything runs, a batch whose estimate exceeds the free memory.

    ``shared``: the replicas share one memory (host RAM); otherwise ``free`` is per device.
    """
    for estimate in estimates:
        for batch in batch_sizes:
            need = estimate.total(batch) if shared else estimate.per_device(batch)
            if need <= free:
                continue
            fits = estimate.largest_batch(free, shared)
            advice = f"the largest batch that fits is {fits}" if fits else "not even one image fits"
            activations = need - (estimate.replicas if shared else 1) * estimate.weights_bytes
            raise InspectError(
                f"batch {batch} ({estimate.precision.value}) needs an estimated {human_bytes(need)} "
                f"(weights {human_bytes(need - activations)} + activations {human_bytes(activations)}) but {where} "
                f"has {human_bytes(free)} free; {advice}"
            )


# --- export ------------------------------------------------------------------------------------
