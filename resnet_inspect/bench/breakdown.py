"""Where the time of a forward pass goes: the rows of ``profile``, from measured times. No TensorFlow (numpy).

A run (:class:`ProfileRun`) holds, round by round, the time of the whole compiled forward pass and of each
block's share of it: on a CPU without ``--xla`` the time its ops ran in a profiler trace of the whole pass
(:mod:`resnet_inspect.bench.tracing`, :func:`attribute`), else the time of its compiled piece of the pass
(:mod:`resnet_inspect.bench.pieces`). Each row is one block or stage:

* ``p50_ms``, ``p90_ms``, ``mean_ms``: over the timed rounds (a stage's time in a round is the sum of its
  blocks' times in that round), statistics as :func:`resnet_inspect.bench.stats.summarize`;
* ``share_pct`` = 100 x the unit's median / the whole pass's median;
* ``gflops_per_s`` = the walk's FLOPs per image (a multiply-add counts 2) x batch / the median, / 1e9;
  ``pct_of_peak`` against the device's peak;
* ``bytes_moved`` = (weights + the tensors the unit reads + those it writes) x the compute dtype's element
  size (:meth:`resnet_inspect.analysis.segments.Segment.bytes_moved`); ``arithmetic_intensity`` = FLOPs x
  batch / bytes_moved; ``bound`` = ``memory`` below the roofline's ridge point (peak / bandwidth), else
  ``compute``.

Two more rows close the table: ``overhead`` = the whole pass's median - the sum of the units' medians, and
``forward pass``, the whole pass itself. With a trace, the overhead is the part of the pass in which no
block's op ran (the executor between ops, the call, the copy of the logits to the host, ops outside every
layer's scope); with pieces, what running the pass in one piece saves or costs against running it block by
block (dispatch, fusion across blocks; negative when the pieces take longer). The units and the overhead add
up to the whole pass exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from resnet_inspect.analysis.segments import Segment
from resnet_inspect.bench.hardware import Roofline
from resnet_inspect.bench.plan import PIECES, Precision
from resnet_inspect.bench.stats import round_ms, round_rate, summarize

OVERHEAD, WHOLE = "overhead", "forward pass"
# Beyond this share of the whole pass, the overhead row is called out under the table.
OVERHEAD_TOLERANCE_PCT = 10.0


@dataclass(frozen=True)
class ProfileRun:
    """What one (precision, batch size) measured: seconds per timed round, of the whole pass and of each block."""

    batch_size: int
    device: str
    precision: Precision
    xla: bool
    whole_s: tuple[float, ...]
    block_s: tuple[tuple[float, ...], ...]  # one tuple per block (segment), in graph order
    warmup: int
    complete: bool = True
    method: str = PIECES
    traced_s: tuple[float, ...] = ()  # a trace: each timed round's traced pass, as long as the trace shows it


class OpEvent(NamedTuple):
    """One op's run in a profiler trace: start and end in picoseconds, the op's name (a path of scopes), its type."""

    start_ps: int
    end_ps: int
    name: str
    kind: str = ""


def attribute(
    events: Iterable[OpEvent], window: tuple[int, int], owner: Callable[[str], int | None], count: int
) -> list[float]:
    """Seconds of ``window`` (picoseconds) spent in each of ``count`` blocks: the op events clipped to the window,
    each given to the block ``owner`` names (None: to none); where ops run at once (several threads), each
    instant is shared among them equally; where no op runs between two ops of one block (the executor starting
    the block's next op), the gap is that block's. What is left (before the first op, after the last, between
    two blocks) is nobody's: the blocks' seconds never add up to more than the window."""
    low, high = window
    marks: list[tuple[int, int, int]] = []  # (time, +1 start / -1 end, block; -1 for an op of no block)
    for event in events:
        block = owner(event.name)
        start, end = max(event.start_ps, low), min(event.end_ps, high)
        if end <= start:
            continue
        if block is not None and not 0 <= block < count:
            raise ValueError(f"owner gave block {block} of {count}")
        marks += [(start, 1, -1 if block is None else block), (end, -1, -1 if block is None else block)]
    marks.sort()  # at one instant the ends (-1) come before the starts
    seconds = [0.0] * count
    running: dict[int, int] = {}  # block -> ops of it running now
    total, last = 0, low  # total: ops of some block running now
    ended = None  # the block whose op ended last, while no op at all has run since
    for time, change, block in marks:
        if total and time > last:
            share = (time - last) / 1e12 / total
            for active, ops in running.items():
                seconds[active] += share * ops
        elif not total and change > 0 and block == ended:
            seconds[block] += (time - last) / 1e12  # the gap between two of its ops
        last = time
        if block < 0:  # an op of no block: shares nothing, but a gap it falls in is nobody's
            ended = None
            continue
        total += change
        running[block] = running.get(block, 0) + change
        if not running[block]:
            del running[block]
        ended = block if not total else None
    return seconds


@dataclass(frozen=True)
class ProfileRow:
    """One row of ``profile`` (the CSV columns, :data:`PROFILE_COLUMNS`). None is an unknown or empty value;
    ``macs``/``flops`` are per image (the walk's), ``bytes_moved`` per batch."""

    name: str
    type: str
    stage: str | None
    batch_size: int
    device: str
    precision: str
    xla: bool
    steps: int
    p50_ms: float
    p90_ms: float | None
    mean_ms: float | None
    share_pct: float
    macs: int | None
    flops: int | None
    gflops_per_s: float | None
    pct_of_peak: float | None
    bytes_moved: int | None
    arithmetic_intensity: float | None
    bound: str | None


PROFILE_COLUMNS: tuple[str, ...] = tuple(ProfileRow.__dataclass_fields__)


def _rates(
    flops: int | None, batch: int, p50_ms: float, moved: int | None, roofline: Roofline
) -> tuple[float | None, float | None, float | None, str | None]:
    """(GFLOP/s, % of peak, FLOPs/byte, bound) of a unit that did ``flops`` per image in ``p50_ms``."""
    if flops is None:
        return None, None, None, None
    # FLOP/s = FLOPs per image x images per step / seconds per step.
    rate = flops * batch / (p50_ms / 1e3) if p50_ms > 0 else None
    intensity = flops * batch / moved if moved else None
    pct = 100.0 * rate / roofline.peak_flops if rate is not None and roofline.peak_flops else None
    return (
        round_rate(rate / 1e9) if rate is not None else None,
        round_rate(pct) if pct is not None else None,
        round_rate(intensity) if intensity is not None else None,
        roofline.bound(intensity),
    )


def profile_rows(
    run: ProfileRun,
    blocks: Sequence[Segment],
    units: Sequence[Segment],
    roofline: Roofline,
    element_bytes: int,
    whole_flops: int | None,
    whole_macs: int | None,
) -> list[ProfileRow]:
    """The rows of ``units`` (the blocks themselves, or the stages they make up), the overhead and the whole pass.

    ``blocks`` are the segments that were timed (``run.block_s``, same order); a stage's round time is the sum
    of its blocks'."""
    if len(blocks) != len(run.block_s):
        raise ValueError("one time series per block segment is needed")
    batch = run.batch_size
    common = {"batch_size": batch, "device": run.device, "precision": run.precision.value, "xla": run.xla,
              "steps": len(run.whole_s)}
    whole = summarize(run.whole_s)
    whole_p50 = round_ms(whole.p50_ms)
    rows = []
    for unit in units:
        members = [k for k, block in enumerate(blocks) if block.name == unit.name or block.row.stage == unit.name]
        per_round = [sum(run.block_s[k][i] for k in members) for i in range(len(run.whole_s))]
        stats = summarize(per_round)
        p50 = round_ms(stats.p50_ms)
        moved = unit.bytes_moved(batch, element_bytes)
        gflops, pct, intensity, bound = _rates(unit.row.flops, batch, p50, moved, roofline)
        rows.append(ProfileRow(
            name=unit.name, type=unit.row.type, stage=unit.row.stage, **common, p50_ms=p50,
            p90_ms=round_ms(stats.p90_ms), mean_ms=round_ms(stats.mean_ms),
            share_pct=round_rate(100.0 * p50 / whole_p50),
            macs=unit.row.macs, flops=unit.row.flops, gflops_per_s=gflops, pct_of_peak=pct, bytes_moved=moved,
            arithmetic_intensity=intensity, bound=bound,
        ))
    overhead = round_ms(whole_p50 - sum(r.p50_ms for r in rows))
    rows.append(ProfileRow(
        name=OVERHEAD, type=OVERHEAD, stage=None, **common, p50_ms=overhead, p90_ms=None, mean_ms=None,
        share_pct=round_rate(100.0 * overhead / whole_p50), macs=None, flops=None, gflops_per_s=None,
        pct_of_peak=None, bytes_moved=None, arithmetic_intensity=None, bound=None,
    ))
    # The whole pass moves every weight, the model's input and its output.
    moved = (sum(block.row.params for block in blocks) + (blocks[0].read_elements + blocks[-1].write_elements)
             * batch) * element_bytes
    gflops, pct, intensity, bound = _rates(whole_flops, batch, whole_p50, moved, roofline)
    rows.append(ProfileRow(
        name=WHOLE, type="whole", stage=None, **common, p50_ms=whole_p50, p90_ms=round_ms(whole.p90_ms),
        mean_ms=round_ms(whole.mean_ms), share_pct=100.0, macs=whole_macs, flops=whole_flops, gflops_per_s=gflops,
        pct_of_peak=pct, bytes_moved=moved, arithmetic_intensity=intensity, bound=bound,
    ))
    return rows


def overhead_note(rows: Sequence[ProfileRow]) -> str:
    """One line: the units' sum against the whole pass, and whether the overhead passes the tolerance."""
    whole = next(r for r in rows if r.name == WHOLE and r.type == "whole")
    overhead = next(r for r in rows if r.type == OVERHEAD)
    total = whole.p50_ms - overhead.p50_ms
    ratio = total / whole.p50_ms if whole.p50_ms else float("nan")
    text = (f"batch {whole.batch_size}, {whole.precision}: the units sum to {total:,.2f} ms, {ratio:.3f}x the "
            f"whole pass's {whole.p50_ms:,.2f} ms (medians); overhead {overhead.p50_ms:+,.2f} ms")
    if abs(overhead.share_pct) > OVERHEAD_TOLERANCE_PCT:
        text += f", more than {OVERHEAD_TOLERANCE_PCT:g} % of the pass: the per-unit times are not the pass's"
    return text


def trace_note(run: ProfileRun) -> str | None:
    """One line for a traced run: how long the traced passes took against the untraced whole pass (what the
    trace costs, which the blocks' times carry, within the machine's noise); None for pieces."""
    if not run.traced_s:
        return None
    traced, whole = summarize(run.traced_s).p50_ms, summarize(run.whole_s).p50_ms
    cost = 100.0 * (traced / whole - 1.0) if whole else float("nan")
    text = (f"batch {run.batch_size}, {run.precision.value}: the traced passes took {traced:,.2f} ms (median) "
            f"against the untraced pass's {whole:,.2f} ms ({cost:+.1f} %); the block times are the traced passes'")
    if abs(cost) > OVERHEAD_TOLERANCE_PCT:
        text += f": more than {OVERHEAD_TOLERANCE_PCT:g} % apart, read them as shares of the pass"
    return text
