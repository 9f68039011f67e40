"""Charts as PNG files (matplotlib, Agg). No TensorFlow, no rendering to a screen.

Figures are made with :class:`matplotlib.figure.Figure` directly (no pyplot and
no global backend state) and written atomically through
:mod:`resnet_inspect.output.export`. The PNG metadata carries no software version or
date, and every chart is made and saved under matplotlib's default style plus :data:`PINNED_RC`
(:func:`pinned`), whatever a ``matplotlibrc`` in the working directory or the user's configuration
says: the same data gives the same file.
"""

from __future__ import annotations

import functools
import io
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from resnet_inspect.analysis.records import UnitRow
from resnet_inspect.output.export import write_atomic

DPI = 100
# Block-level figures grow with the number of blocks (ResNet-200 has 68), within these bounds (inches).
MIN_WIDTH, MAX_WIDTH, INCH_PER_BLOCK = 8.0, 20.0, 0.22
STAGE_SHADES = ("#f2f2f2", "#ffffff")
# The project's own settings on top of matplotlib's defaults: text (a device or file name) is never
# read as mathtext, so a '$' in it is shown as it is rather than parsed (or refused) as TeX.
PINNED_RC = {"text.parse_math": False}
# A bench chart names at most this many settings in its legend; the others are counted in its last entry.
LEGEND_ENTRIES = 12
# Above this many distinct batch sizes the axis places its own ticks rather than one per batch size.
MAX_BATCH_TICKS = 24

Chart = TypeVar("Chart", bound=Callable[..., Any])


def pinned(make: Chart) -> Chart:
    """``make`` run under matplotlib's default style plus :data:`PINNED_RC` (every rc setting that reaches
    the file: figures read them when made and when saved), not the user's rcParams."""

    @functools.wraps(make)
    def run(*args: Any, **kwargs: Any) -> Any:
        import matplotlib
        import matplotlib.style

        with matplotlib.style.context("default"), matplotlib.rc_context(PINNED_RC):
            return make(*args, **kwargs)

    return run  # type: ignore[return-value]


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


@pinned
def png_bytes(figure: Any) -> bytes:
    """``figure`` as PNG data; no metadata that changes between runs (software version, date)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def save_png(figure: Any, path: Path) -> None:
    """Write ``figure`` as a PNG at ``path``, atomically."""
    data = png_bytes(figure)
    write_atomic(path, lambda handle: handle.write(data), mode="wb")


def block_label(row: UnitRow) -> str:
    """Short x-axis label of a block: ``block_layer2.bottleneck_block3`` -> ``2.3``; ``stem``/``head`` as is."""
    numbers = re.findall(r"\d+", row.name)
    return ".".join(numbers) if len(numbers) == 2 else row.name


def _mark_stages(axes: Any, rows: Sequence[UnitRow], label: bool) -> None:
    """Shade each block layer (stage) in turn and, on the top axes, name it."""
    start, shade = 0, 0
    for index in range(1, len(rows) + 1):
        if index < len(rows) and rows[index].stage == rows[start].stage:
            continue
        stage = rows[start].stage or ""
        axes.axvspan(start - 0.5, index - 0.5, color=STAGE_SHADES[shade % 2], zorder=0, lw=0)
        shade += 1
        if label:
            axes.text(
                (start + index - 1) / 2,
                1.01,
                stage.replace("block_layer", "layer "),
                transform=axes.get_xaxis_transform(),
                ha="center",
                va="bottom",
                fontsize=8,
            )
        start = index


def _block_axes(rows: Sequence[UnitRow], panels: int, title: str) -> tuple[Any, list[Any]]:
    width = min(MAX_WIDTH, max(MIN_WIDTH, INCH_PER_BLOCK * len(rows)))
    figure = _figure(width, 2.6 * panels + 0.6)
    axes = list(figure.subplots(panels, 1, sharex=True))
    figure.suptitle(title, fontsize=11)
    for i, ax in enumerate(axes):
        _mark_stages(ax, rows, label=i == 0)
        ax.set_xlim(-0.5, len(rows) - 0.5)
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xticks(range(len(rows)), [block_label(r) for r in rows], rotation=90, fontsize=7)
    axes[-1].set_xlabel("block (block layer.block)")
    return figure, axes


def _bars(ax: Any, values: Sequence[float | None], color: str, ylabel: str) -> None:
    """Bars of the known values; an unknown one (None) is marked '?' rather than drawn as 0."""
    for x, value in enumerate(values):
        if value is None:
            ax.text(x, 0, "?", ha="center", va="bottom", color="red")
        else:
            ax.bar(x, value, color=color, width=0.8, zorder=2)
    ax.set_ylabel(ylabel)


@pinned
def block_chart(rows: Sequence[UnitRow], title: str) -> Any:
    """Per-block parameters (millions) and FLOPs (GFLOPs, every float op) as bars, block layers shaded."""
    figure, (params_ax, flops_ax) = _block_axes(rows, 2, title)
    _bars(params_ax, [r.params / 1e6 for r in rows], "#4c72b0", "params (M)")
    _bars(flops_ax, [None if r.flops is None else r.flops / 1e9 for r in rows], "#dd8452", "FLOPs (G)")
    return figure


@pinned
def memory_chart(rows: Sequence[UnitRow], activation_bytes: Sequence[int], setting: str, title: str) -> Any:
    """Per-block activation memory (MiB) as bars, and the receptive field of each block's output."""
    figure, (memory_ax, field_ax) = _block_axes(rows, 2, title)
    _bars(memory_ax, [b / 2**20 for b in activation_bytes], "#55a868", f"activations (MiB, {setting})")
    fields = [(x, r.receptive_field) for x, r in enumerate(rows) if r.receptive_field is not None]
    field_ax.plot([x for x, _ in fields], [f for _, f in fields], marker="o", ms=3, color="#8172b2", zorder=2)
    field_ax.set_ylabel("receptive field (px)")
    return figure


@pinned
def models_chart(points: Sequence[tuple[str, int, int | None]], title: str) -> Any:
    """Parameters (millions) against MACs (billions), one labelled point per model.

    A model whose MACs are unknown is listed in the title instead of being drawn at 0.
    """
    figure = _figure(7.0, 5.0)
    ax = figure.subplots()
    known = [(label, params, macs) for label, params, macs in points if macs is not None]
    unknown = [label for label, _, macs in points if macs is None]
    ax.plot([m / 1e9 for _, _, m in known], [p / 1e6 for _, p, _ in known], "o-", color="#4c72b0", alpha=0.8)
    for label, params, macs in known:
        ax.annotate(label, (macs / 1e9, params / 1e6), textcoords="offset points", xytext=(6, -3), fontsize=9)
    ax.set_xlabel("MACs (G, multiply-accumulates of conv/dense)")
    ax.set_ylabel("params (M)")
    ax.grid(alpha=0.3)
    ax.set_title(title + (f"\nMACs unknown: {', '.join(unknown)}" if unknown else ""), fontsize=11)
    return figure


@pinned
def bench_chart(series: Sequence[tuple[str, Sequence[Any]]], title: str) -> Any:
    """Latency (mean with p50-p99 band) and throughput against batch size, one line per setting.

    ``series`` is ``[(label, rows)]`` where each row has ``batch_size``, ``mean_ms``, ``p50_ms``,
    ``p99_ms`` and ``images_per_s`` (the bench CSV's columns), sorted by batch size. The settings that
    share a colour of the cycle are drawn as one line (broken between settings) and one band, each
    distinct shape once, so the time grows with the number of rows, not with the number of settings
    times anything; the legend names the first :data:`LEGEND_ENTRIES` settings and counts the others.
    """
    from matplotlib.lines import Line2D

    figure = _figure(11.0, 4.5)
    latency_ax, throughput_ax = figure.subplots(1, 2)
    palette = [entry["color"] for entry in _cycle()]
    for shade, color in enumerate(palette[: len(series)]):
        # (batch, mean, p50, p99, images/s) per point; settings drawn alike in one colour are one shape
        shapes = list(dict.fromkeys(
            tuple((float(r.batch_size), r.mean_ms, r.p50_ms, r.p99_ms, r.images_per_s) for r in rows)
            for _, rows in series[shade :: len(palette)]
        ))
        band = _bands(shapes, color)
        if band is not None:
            # add_artist, then the limits from the vertices at once: add_patch walks every segment in Python
            latency_ax.add_artist(band)
            latency_ax.update_datalim(band.get_path().vertices)
        latency_ax.plot(*_broken(shapes, 1), "o-", color=color)
        throughput_ax.plot(*_broken(shapes, 4), "o-", color=color)
    _batch_axes((latency_ax, throughput_ax), sorted({r.batch_size for _, rows in series for r in rows}))
    latency_ax.set_ylabel("latency per batch (ms): mean, band p50-p99")
    throughput_ax.set_ylabel("throughput (images/s)")
    handles = [
        Line2D([], [], color=palette[i % len(palette)], marker="o", label=label)
        for i, (label, _) in enumerate(series[:LEGEND_ENTRIES])
    ]
    if len(series) > LEGEND_ENTRIES:
        handles.append(Line2D([], [], linestyle="", label=f"... and {len(series) - LEGEND_ENTRIES:,} more settings"))
    throughput_ax.legend(handles=handles, fontsize=8, loc="best")
    figure.suptitle(title, fontsize=11)
    return figure


Shape = tuple[tuple[float, ...], ...]


def _broken(shapes: Sequence[Shape], value: int) -> tuple[list[float], list[float]]:
    """The shapes' points as one line: x the batch sizes, y the ``value``-th field, a NaN between two shapes."""
    xs: list[float] = []
    ys: list[float] = []
    for points in shapes:
        if xs:
            xs.append(math.nan)
            ys.append(math.nan)
        xs.extend(point[0] for point in points)
        ys.extend(point[value] for point in points)
    return xs, ys


def _bands(shapes: Sequence[Shape], color: str) -> Any:
    """The p50-p99 band of each shape of more than one point, as one patch of closed outlines (None if none)."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as Outline

    vertices: list[tuple[float, float]] = []
    codes: list[int] = []
    for points in shapes:
        if len(points) < 2:
            continue  # one batch size: no band to fill
        outline = [(p[0], p[2]) for p in points] + [(p[0], p[3]) for p in reversed(points)]
        vertices += [*outline, outline[0]]
        codes += [Outline.MOVETO] + [Outline.LINETO] * (len(outline) - 1) + [Outline.CLOSEPOLY]
    return PathPatch(Outline(vertices, codes), facecolor=color, alpha=0.15, lw=0) if vertices else None


def _cycle() -> list[dict[str, Any]]:
    import matplotlib

    return list(matplotlib.rcParams["axes.prop_cycle"])


def _batch_axes(axes: Sequence[Any], all_batches: Sequence[int]) -> None:
    """Batch size on a log2 axis, a tick at each batch size when they are few."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("batch size")
        ax.grid(alpha=0.3, which="both")
        # plain numbers: matplotlib's own log labels are mathtext, which PINNED_RC turns off
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:.0f}" if x < 1e15 else f"{x:.3g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        if len(all_batches) <= MAX_BATCH_TICKS:
            ax.set_xticks(all_batches, [str(b) for b in all_batches])


# Markers of the runs (batch sizes, precisions) of a roofline chart, in turn.
RUN_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


@pinned
def roofline_chart(
    runs: Sequence[tuple[str, Sequence[tuple[str, str, float, float]]]],
    peaks: Sequence[tuple[str, float | None]],
    bytes_per_s: float | None,
    title: str,
) -> Any:
    """Achieved GFLOP/s against arithmetic intensity (FLOPs/byte), log-log, under the roofline.

    ``runs`` is ``[(label, points)]``, each point ``(label, stage, intensity, GFLOP/s)``: one marker per run,
    one colour per stage (matplotlib's cycle). ``peaks``: ``(label, FLOP/s)`` per precision; the roofs are
    min(peak, intensity x bandwidth), one per distinct peak (labelled by its precisions when there are several),
    each with its ridge; a roof that is unknown is not drawn, and the title says so."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, NullFormatter

    figure = _figure(9.0, 6.0)
    ax = figure.subplots()
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis in (ax.xaxis, ax.yaxis):
        # plain numbers: matplotlib's own log labels are mathtext, which PINNED_RC turns off
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())
    palette = [entry["color"] for entry in _cycle()]
    stages = list(dict.fromkeys(stage for _, points in runs for _, stage, _, _ in points))
    colours = {stage: palette[i % len(palette)] for i, stage in enumerate(stages)}
    xs = [x for _, points in runs for _, _, x, _ in points]
    for k, (_, points) in enumerate(runs):
        marker = RUN_MARKERS[k % len(RUN_MARKERS)]
        for label, stage, x, y in points:
            ax.plot([x], [y], marker=marker, color=colours[stage], ms=6, zorder=3, linestyle="")
            ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=6, zorder=4)
    known: dict[float, list[str]] = {}
    for label, peak in peaks:
        if peak is not None:
            known.setdefault(peak, []).append(label)
    missing = []
    if xs:
        ridges = [peak / bytes_per_s for peak in known] if bytes_per_s else []
        low = min([*xs, *ridges]) / 2
        high = max([*xs, *ridges]) * 2
        grid = [low * (high / low) ** (i / 200) for i in range(201)]
        if bytes_per_s:
            ax.text(low, low * bytes_per_s / 1e9, f" memory {bytes_per_s / 1e9:,.1f} GB/s", fontsize=8,
                    va="bottom", rotation=0)
            for peak in known or [None]:
                roof = [x * bytes_per_s / 1e9 for x in grid]
                if peak is not None:
                    roof = [min(r, peak / 1e9) for r in roof]
                ax.plot(grid, roof, color="black", lw=1.5, zorder=2)
        else:
            missing.append("memory bandwidth")
        for k, (peak, labels) in enumerate(known.items()):
            if not bytes_per_s:
                ax.axhline(peak / 1e9, color="black", lw=1.5, zorder=2)
            named = f"{', '.join(labels)} " if len(known) > 1 else ""
            ax.text(high, peak / 1e9, f"peak {named}{peak / 1e9:,.1f} GFLOP/s ", fontsize=8, ha="right",
                    va="bottom")
            if bytes_per_s:
                ridge = peak / bytes_per_s
                ax.axvline(ridge, color="grey", lw=0.8, ls="--", zorder=1)
                ax.text(ridge, 0.02 + 0.04 * k, f" ridge {named}{ridge:,.1f} FLOPs/byte", fontsize=8, color="grey",
                        transform=ax.get_xaxis_transform())  # one above the other
        if not known:
            missing.append("peak")
        ax.set_xlim(low, high)
    ax.set_xlabel("arithmetic intensity (FLOPs / byte: weights + tensors in + out)")
    ax.set_ylabel("achieved GFLOP/s (FLOPs x batch / median time)")
    ax.grid(alpha=0.3, which="both")
    handles = [Line2D([], [], color=colours[s], marker="o", linestyle="", label=s) for s in stages]
    handles += [Line2D([], [], color="black", marker=RUN_MARKERS[k % len(RUN_MARKERS)], linestyle="", label=label)
                for k, (label, _) in enumerate(runs)]
    ax.legend(handles=handles, fontsize=7, loc="lower right")
    ax.set_title(title + (f"\n{' and '.join(missing)} unknown: not drawn" if missing else ""), fontsize=11)
    return figure


def roofline_figure(model_name: str, runs: Sequence[Sequence[Any]], rooflines: Sequence[tuple[str, Any]]) -> Any:
    """The roofline chart of a profile (:class:`resnet_inspect.bench.breakdown.ProfileRow` per unit, one sequence
    per run): every unit a point; the overhead and the whole pass are not units. ``rooflines``: (precision,
    :class:`resnet_inspect.bench.hardware.Roofline`) pairs, one roof per peak; the memory roof is the same
    measured bandwidth for all."""
    from resnet_inspect.bench.breakdown import OVERHEAD

    pairs = list(rooflines)
    series = []
    device = ""
    for rows in runs:
        first = rows[0]
        device = first.device
        points = [(block_label(row), row.stage or row.name, row.arithmetic_intensity, row.gflops_per_s)
                  for row in rows
                  if row.type not in (OVERHEAD, "whole") and row.arithmetic_intensity and row.gflops_per_s]
        series.append((f"batch {first.batch_size}, {first.precision}", points))
    return roofline_chart(series, [(label, roof.peak_flops) for label, roof in pairs], pairs[0][1].bytes_per_s,
                          f"{model_name}: roofline on {device}")
