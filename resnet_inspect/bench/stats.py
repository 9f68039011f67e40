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

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from resnet_inspect.bench.plan import Precision
from resnet_inspect.errors import InspectError
from resnet_inspect.units import human_bytes

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
