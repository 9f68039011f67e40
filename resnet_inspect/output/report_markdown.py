"""The Markdown report of a bundle (``report.md``): configuration, convention, totals, tables, memory, charts."""

from __future__ import annotations

import json

from resnet_inspect.analysis.flops import CONVENTION
from resnet_inspect.analysis.memory import Dtype
from resnet_inspect.analysis.records import Level, flat
from resnet_inspect.output.bundle import BLOCKS_PNG, CSV_FILES, JSON, LATENCY_PNG, MEMORY_PNG, Bundle, merged_rows
from resnet_inspect.output.columns import (
    LATENCY_VIEW,
    MARKDOWN_VIEW,
    count,
    giga,
    known,
    md_columns_table,
    md_table,
    mib,
)
from resnet_inspect.output.payloads import versions


def unit_table(bundle: Bundle, level: Level) -> str:
    return md_columns_table(MARKDOWN_VIEW, merged_rows(bundle, level), level.value)


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
    return [
        "## Latency",
        "",
        f"From `{bundle.bench_name}` (written by `resnet-inspect bench --csv`): forward-pass time per batch.",
        "",
        md_columns_table(LATENCY_VIEW, [flat(r) for r in bundle.bench], left=4),
        "",
        f"![Latency and throughput against batch size]({LATENCY_PNG})",
    ]


def _head_sections(bundle: Bundle) -> list[str]:
    """Title, what made the report, its configuration and the FLOP convention."""
    config = dict(bundle.report.config)
    return [
        f"# {bundle.report.model_name}",
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
    ]


def _totals_section(bundle: Bundle) -> list[str]:
    totals = bundle.report.totals
    split = totals.split
    rows = [
        (
            "params",
            f"{count(totals.params)} (trainable {count(totals.trainable)}, "
            f"non-trainable {count(totals.non_trainable)})",
        ),
        ("weights, biases", f"{count(split.weights)}, {count(split.biases)}"),
        ("BN γ/β, BN μ/σ²", f"{count(split.bn_trainable)}, {count(split.bn_non_trainable)}"),
        ("MACs", giga(totals.macs)),
        ("FLOPs", giga(totals.flops)),
        ("layers", str(totals.layers)),
        ("unsupported layers", ", ".join(u.name for u in bundle.report.unsupported) or "none"),
    ]
    return ["## Totals", "", md_table(("", ""), rows, left=2)]


def markdown(bundle: Bundle) -> str:
    lines = [
        *_head_sections(bundle),
        "",
        *_totals_section(bundle),
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
