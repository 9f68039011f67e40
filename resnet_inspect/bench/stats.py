"""Benchmark timing loop and statistics. No TensorFlow here (numpy only).

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

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from resnet_inspect.analysis.measure import Measurement
from resnet_inspect.bench.plan import Precision

# --- the timing loop -------------------------------------------------------------------------


class StepsInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; carries the step times measured before it: ``times`` those of the (first) step,
    ``all_times`` each step's, over the rounds every step completed (:func:`time_interleaved`)."""

    def __init__(self, times: Sequence[float], all_times: Sequence[Sequence[float]] = ()) -> None:
        super().__init__()
        self.times = tuple(times)
        self.all_times = tuple(tuple(t) for t in all_times) or (self.times,)


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
    return time_interleaved([step], warmup, iterations, min_time, clock, on_step)[0]


# How the order of the steps changes from one round to the next (time_interleaved): "reverse" runs them
# backwards every second round; "first-last" moves only the first step to the end every second round (the others
# keep their order: profile's blocks, each fed by the ones before it); "none" keeps the order.
ALTERNATIONS = ("reverse", "first-last", "none")


def time_interleaved(
    steps: Sequence[Callable[[], Any]],
    warmup: int,
    iterations: int | None,
    min_time: float | None = None,
    clock: Clock = time.perf_counter,
    on_step: StepHook | None = None,
    alternate: str = "reverse",
) -> list[list[float]]:
    """:func:`time_steps` for several steps at once, interleaved: each round runs every step once, each timed
    on its own, so that a change in the machine's load hits them alike; every second round (counted from the
    first warm-up round) changes the order as ``alternate`` says (:data:`ALTERNATIONS`), so that no step always
    comes first. Stops after ``iterations`` rounds, or once the first step (the one the run is about) has
    ``min_time`` seconds of timed steps. Returns each step's times in seconds, in the order of ``steps``;
    Ctrl-C raises StepsInterrupted with the rounds every step completed."""
    if (iterations is None) == (min_time is None):
        raise ValueError("time_steps needs exactly one of iterations and min_time")
    if alternate not in ALTERNATIONS:
        raise ValueError(f"alternate must be one of {', '.join(ALTERNATIONS)}, got {alternate!r}")
    times: list[list[float]] = [[] for _ in steps]

    def order(index: int) -> list[int]:
        every = list(range(len(steps)))
        if index % 2 == 0 or alternate == "none":
            return every
        return every[::-1] if alternate == "reverse" else every[1:] + every[:1]

    try:
        for done in range(1, warmup + 1):
            for k in order(done - 1):
                steps[k]()
            if on_step is not None:
                on_step("warmup", done)
        while True:
            for k in order(warmup + len(times[0])):
                start = clock()
                steps[k]()
                times[k].append(clock() - start)
            if on_step is not None:
                on_step("timed", len(times[0]))
            if iterations is not None and len(times[0]) >= iterations:
                break
            if min_time is not None and sum(times[0]) >= min_time:
                break
    except KeyboardInterrupt:
        # a round cut short: only the rounds every step completed
        rounds = min(len(t) for t in times)
        whole = [t[:rounds] for t in times]
        raise StepsInterrupted(whole[0], whole) from None
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
    network: str = ""  # "" the network of the command; "baseline" the network it is set beside (--fold-bn)
    memory: Measurement | None = None  # a training step's measured memory beside its estimate


def round_ms(value: float) -> float:
    return round(value, 4)  # 0.1 us: finer digits are clock noise


def round_rate(value: float) -> float:
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
    network: str = "",
    memory: Measurement | None = None,
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
        mean_ms=round_ms(stats.mean_ms),
        p50_ms=round_ms(stats.p50_ms),
        p90_ms=round_ms(stats.p90_ms),
        p99_ms=round_ms(stats.p99_ms),
        std_ms=round_ms(stats.std_ms) if stats.std_ms is not None else None,
        images_per_s=round_rate(images_per_s),
        gflops_per_s=round_rate(flops_per_s / 1e9) if flops_per_s is not None else None,
        pct_of_peak=round_rate(100.0 * flops_per_s / peak_flops) if flops_per_s is not None and peak_flops else None,
    )
    return BenchResult(
        row=row,
        times_ms=tuple(round_ms(float(t) * 1e3) for t in times_s),
        warmup=warmup,
        replicas=replicas,
        complete=complete,
        network=network,
        memory=memory,
    )
