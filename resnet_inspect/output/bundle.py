"""The report bundle: CSV and JSON tables, a Markdown report and its charts, in one folder. No TensorFlow.

Everything is computed and rendered in memory first, then each file is
written atomically (:mod:`resnet_inspect.output.export`), so a failure while making
the report leaves no file half-written. The data files carry no timestamps and
no paths: the same command gives byte-identical text files.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resnet_inspect.analysis.flops import CONVENTION
from resnet_inspect.analysis.measure import Measurement
from resnet_inspect.analysis.memory import Dtype, MemoryRow, MemoryTotals, memory_rows, memory_totals
from resnet_inspect.analysis.records import Level, UnitRow
from resnet_inspect.analysis.report import Report
from resnet_inspect.bench.results import series
from resnet_inspect.bench.stats import BenchRow
from resnet_inspect.model.spec import ResNetSpec
from resnet_inspect.output import charts
from resnet_inspect.output.export import COLUMNS, format_shape, rows_frame, write_files_atomic
from resnet_inspect.output.payloads import report_payload, row_dict, versions
from resnet_inspect.output.render import count, giga, known, mega, mib

MEMORY_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(MemoryRow) if f.name != "name")
REPORT_COLUMNS: tuple[str, ...] = COLUMNS + MEMORY_COLUMNS
CSV_FILES = {Level.STAGE: "stages.csv", Level.BLOCK: "blocks.csv", Level.LAYER: "layers.csv"}
BLOCKS_PNG, MEMORY_PNG, LATENCY_PNG = "blocks.png", "memory.png", "latency.png"
MARKDOWN, JSON = "report.md", "report.json"
# Every file a bundle may hold (the latency chart only with bench results).
FILES = (*CSV_FILES.values(), BLOCKS_PNG, MEMORY_PNG, LATENCY_PNG, JSON, MARKDOWN)


@dataclass(frozen=True)
class Bundle:
    """What a report shows, computed once; rendered to files by :func:`render_files`."""

    heading: str
    report: Report
    units: dict[Level, tuple[UnitRow, ...]]
    memory: dict[Level, tuple[MemoryRow, ...]]
    totals: MemoryTotals
    bench: tuple[BenchRow, ...] = ()
    bench_name: str | None = None
    measured: Measurement | None = None

    @property
    def setting(self) -> str:
        return f"{self.totals.dtype}, batch {self.totals.batch_size}"


def make_bundle(
    report: Report,
    heading: str,
    batch_size: int = 1,
    dtype: Dtype | str = Dtype.FLOAT32,
    bench: Sequence[BenchRow] = (),
    bench_name: str | None = None,
    measured: Measurement | None = None,
) -> Bundle:
    levels = (Level.STAGE, Level.BLOCK, Level.LAYER)
    return Bundle(
        heading=heading,
        report=report,
        units={level: report.rows(level) for level in levels},
        memory={level: memory_rows(report, level, batch_size, dtype) for level in levels},
        totals=memory_totals(report, batch_size, dtype),
        bench=tuple(bench),
        bench_name=bench_name,
        measured=measured,
    )


def merged_rows(bundle: Bundle, level: Level) -> list[dict[str, Any]]:
    """The level's rows: the summary columns, then the memory columns (same order as the CSV)."""
    rows = []
    for unit, memory in zip(bundle.units[level], bundle.memory[level], strict=True):
        data = row_dict(unit)
        data.update((key, getattr(memory, key)) for key in MEMORY_COLUMNS)
        rows.append(data)
    return rows


def with_measurement(bundle: Bundle, spec: ResNetSpec, measure: bool) -> Bundle:
    """The bundle with the measured peak of a forward pass beside its estimate when ``measure``
    (TensorFlow runs in a child process)."""
    if not measure:
        return bundle
    from resnet_inspect.analysis.measure import measure_peak

    totals = bundle.totals
    measured = measure_peak(spec, totals.batch_size, totals.dtype, totals.inference_peak_bytes)
    return dataclasses.replace(bundle, measured=measured)


def memory_payload(bundle: Bundle, level: Level) -> dict[str, Any]:
    """The summary JSON of ``level`` with the memory columns in its rows, the memory totals and any measurement."""
    document = report_payload(bundle.report, level)
    document["memory"] = dataclasses.asdict(bundle.totals)
    if bundle.measured is not None:
        measured = bundle.measured
        document["measured"] = {**dataclasses.asdict(measured), "difference_bytes": measured.difference_bytes}
    document["columns"] = list(REPORT_COLUMNS)
    document["rows"] = merged_rows(bundle, level)
    return document


def payload(bundle: Bundle) -> dict[str, Any]:
    """``report.json``: the ``memory --json`` document, with one list of rows per level instead of ``rows``."""
    document = memory_payload(bundle, Level.BLOCK)
    del document["level"], document["rows"]
    for level, name in ((Level.STAGE, "stages"), (Level.BLOCK, "blocks"), (Level.LAYER, "layers")):
        document[name] = merged_rows(bundle, level)
    if bundle.bench:
        document["bench"] = {"file": bundle.bench_name, "rows": [dataclasses.asdict(r) for r in bundle.bench]}
    return document


def render_files(bundle: Bundle) -> dict[str, bytes]:
    """Every file of the bundle by name, rendered in memory."""
    files: dict[str, bytes] = {}
    for level, name in CSV_FILES.items():
        frame = rows_frame(merged_rows(bundle, level), REPORT_COLUMNS)
        files[name] = frame.to_csv(index=False, lineterminator="\n").encode()
    blocks = bundle.units[Level.BLOCK]
    name = bundle.report.model_name
    files[BLOCKS_PNG] = charts.png_bytes(charts.block_chart(blocks, f"{name}: parameters and FLOPs per block"))
    files[MEMORY_PNG] = charts.png_bytes(
        charts.memory_chart(
            blocks,
            [m.activation_bytes for m in bundle.memory[Level.BLOCK]],
            bundle.setting,
            f"{name}: activation memory and receptive field per block",
        )
    )
    if bundle.bench:
        files[LATENCY_PNG] = charts.png_bytes(
            charts.bench_chart(series(bundle.bench), f"{bundle.bench_name}: latency and throughput")
        )
    files[JSON] = (json.dumps(payload(bundle), indent=2, ensure_ascii=False) + "\n").encode()
    files[MARKDOWN] = markdown(bundle).encode()
    return files


def write_bundle(bundle: Bundle, out: Path) -> list[Path]:
    """Render everything, then write the files into ``out`` (created if missing) as one: every file's
    data reaches disk before any existing file is replaced (:func:`resnet_inspect.output.export.write_files_atomic`)."""
    return write_files_atomic(out, render_files(bundle))


# --- Markdown ------------------------------------------------------------------------------------


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> str:
    """A GitHub Markdown table; the first ``left`` columns left-aligned, the others right-aligned."""
    align = ["---" if i < left else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def unit_table(bundle: Bundle, level: Level) -> str:
    headers = (
        level.value,
        "type",
        "output shape",
        "params",
        "MACs (M)",
        "FLOPs (M)",
        "activations (MiB)",
        "FLOPs/byte",
        "RF",
        "jump",
    )
    rows = [
        (
            f"`{u.name}`",
            u.type,
            format_shape(u.output_shape),
            count(u.params),
            mega(u.macs),
            mega(u.flops),
            mib(m.activation_bytes),
            "?" if m.arithmetic_intensity is None else f"{m.arithmetic_intensity:.1f}",
            known(u.receptive_field),
            known(u.jump),
        )
        for u, m in zip(bundle.units[level], bundle.memory[level], strict=True)
    ]
    return md_table(headers, rows, left=2)


def _memory_section(bundle: Bundle) -> list[str]:
    t = bundle.totals
    params = bundle.report.totals.params
    alive = ", ".join(f"`{name}`" for name in t.peak_tensors)
    lines = [
        "## Memory",
        "",
        f"Estimated from the layers' output shapes at **{t.dtype}** ({Dtype(t.dtype).bytes} bytes per element), "
        f"**batch {t.batch_size}**:",
        "",
        f"- Parameters: **{mib(t.param_bytes)} MiB** ({count(params)} x {Dtype(t.dtype).bytes} bytes).",
        f"- Activations, every layer output: {mib(t.activation_bytes)} MiB.",
        f"- Inference peak: **{mib(t.inference_peak_bytes)} MiB**, the largest set of tensors alive at once when the "
        f"layers run in graph order (residual branches kept alive until their add), reached while `{t.peak_layer}` "
        f"runs with {len(t.peak_tensors)} tensors alive: {alive}.",
        f"- Training activation memory: **{mib(t.training_activation_bytes)} MiB** in {t.saved_tensors} tensors "
        "saved for the backward pass (a conv or dense layer keeps its input, BN its input, ReLU its output, max pool "
        "both; adds, padding and flatten nothing).",
    ]
    m = bundle.measured
    if m is not None:
        ratio = "" if m.ratio is None else f", {m.ratio:.2f}x the estimate"
        lines.append(
            f"- Measured on {m.device}: **{mib(m.peak_bytes)} MiB** ({m.method}; median of "
            f"{len(m.passes)} passes: {', '.join(mib(p) for p in m.passes)} MiB), against the estimated "
            f"{mib(m.estimate_bytes)} MiB: difference {m.difference_bytes / 2**20:+,.1f} MiB{ratio}."
        )
    lines += [
        "",
        "Arithmetic intensity (FLOPs/byte in the tables) = FLOPs / bytes moved, where each layer reads its inputs "
        "and parameters and writes its output once (no fusion).",
    ]
    return lines


def _receptive_section(bundle: Bundle) -> list[str]:
    stages = [u for u in bundle.units[Level.STAGE] if u.receptive_field is not None]
    body = [u for u in stages if u.name.startswith("block_layer")]
    lines = [
        "## Receptive field",
        "",
        "The receptive field (RF) of a unit is the side, in input pixels, of the input region its output sees; the "
        "jump is the distance in input pixels between two neighbouring outputs (the effective stride). Through a "
        "residual add the field is the largest over the incoming paths; it is not clipped to the input size.",
        "",
    ]
    if body:
        last = body[-1]
        lines.append(
            f"The last block layer's outputs each see {last.receptive_field}x{last.receptive_field} "
            f"pixels of the input, {last.jump} pixels apart."
        )
        lines.append("")
    lines.append(
        md_table(
            ("stage", "RF", "jump"),
            [(f"`{u.name}`", known(u.receptive_field), known(u.jump)) for u in bundle.units[Level.STAGE]],
        )
    )
    return lines


def _latency_section(bundle: Bundle) -> list[str]:
    def number(value: float | None, digits: int) -> str:
        return "?" if value is None else f"{value:,.{digits}f}"

    rows = [
        (
            str(r.batch_size),
            r.device,
            r.precision,
            "on" if r.xla else "off",
            number(r.mean_ms, 2),
            number(r.p50_ms, 2),
            number(r.p90_ms, 2),
            number(r.p99_ms, 2),
            number(r.images_per_s, 1),
            number(r.gflops_per_s, 1),
            number(r.pct_of_peak, 1),
        )
        for r in bundle.bench
    ]
    headers = (
        "batch",
        "device",
        "precision",
        "XLA",
        "mean ms",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "images/s",
        "GFLOP/s",
        "% of peak",
    )
    return [
        "## Latency",
        "",
        f"From `{bundle.bench_name}` (written by `resnet-inspect bench --csv`): forward-pass time per batch.",
        "",
        md_table(headers, rows, left=4),
        "",
        f"![Latency and throughput against batch size]({LATENCY_PNG})",
    ]


def markdown(bundle: Bundle) -> str:
    report, totals = bundle.report, bundle.report.totals
    config = dict(report.config)
    lines = [
        f"# {report.model_name}",
        "",
        bundle.heading,
        "",
        "Made by `resnet-inspect report`; every number is derived from the built Keras model. Tables: "
        + ", ".join(f"[{name}]({name})" for name in (*CSV_FILES.values(), JSON))
        + ".",
        "",
        "## Configuration",
        "",
        md_table(
            ("setting", "value"),
            [(key, f"`{json.dumps(value)}`") for key, value in config.items()]
            + [("memory dtype", f"`{bundle.totals.dtype}`"), ("memory batch size", str(bundle.totals.batch_size))],
            left=2,
        ),
        "",
        "## FLOP convention",
        "",
        f"- **MACs**: {CONVENTION['macs']}.",
        f"- **FLOPs**: {CONVENTION['flops']}.",
        f"- Counts are for a batch of {CONVENTION['batch']}; memory and bytes moved for the batch size above.",
        "",
        "## Totals",
        "",
        md_table(
            ("", ""),
            [
                (
                    "params",
                    f"{count(totals.params)} (trainable {count(totals.trainable)}, non-trainable "
                    f"{count(totals.non_trainable)})",
                ),
                ("weights, biases", f"{count(totals.weights)}, {count(totals.biases)}"),
                ("BN γ/β, BN μ/σ²", f"{count(totals.bn_trainable)}, {count(totals.bn_non_trainable)}"),
                ("MACs", giga(totals.macs)),
                ("FLOPs", giga(totals.flops)),
                ("layers", str(totals.layers)),
                ("unsupported layers", ", ".join(u.name for u in report.unsupported) or "none"),
            ],
            left=2,
        ),
        "",
        "## Stages",
        "",
        unit_table(bundle, Level.STAGE),
        "",
        "## Blocks",
        "",
        unit_table(bundle, Level.BLOCK),
        "",
        *_memory_section(bundle),
        "",
        *_receptive_section(bundle),
        "",
        "## Charts",
        "",
        f"![Parameters and FLOPs per block]({BLOCKS_PNG})",
        "",
        f"![Activation memory and receptive field per block]({MEMORY_PNG})",
    ]
    if bundle.bench:
        lines += ["", *_latency_section(bundle)]
    lines += ["", "## Versions", "", ", ".join(f"{k} {v}" for k, v in versions().items())]
    return "\n".join(lines) + "\n"
