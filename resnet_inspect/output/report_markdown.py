"""The Markdown report of a bundle (``report.md``): configuration, convention, totals, tables, memory, charts."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from resnet_inspect.analysis.flops import CONVENTION
from resnet_inspect.analysis.memory import Dtype
from resnet_inspect.analysis.records import Level, flat
from resnet_inspect.bench.breakdown import overhead_note
from resnet_inspect.output.bundle import (
    BLOCKS_PNG,
    CSV_FILES,
    JSON,
    LATENCY_PNG,
    MEMORY_PNG,
    ROOFLINE_PNG,
    Bundle,
    Profile,
    merged_rows,
)
from resnet_inspect.output.columns import (
    LATENCY_VIEW,
    MARKDOWN_VIEW,
    PROFILE_VIEW,
    Column,
    count,
    giga,
    known,
    md_columns_table,
    md_table,
    mib,
)
from resnet_inspect.output.memory_tables import measured_text
from resnet_inspect.output.payloads import versions
from resnet_inspect.output.profile_tables import PROFILE_CONVENTION_LINE

# Within a line, what starts Markdown or HTML syntax: a link or image needs '[', a code span '`', emphasis
# '*' or a word-bound '_', HTML '<' or '&', GitHub's math '$'. Pipes are escaped by md_table.
_INLINE = re.compile(r"[\\`*\[\]<>&$~#]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# At the start of a line, what makes a list item or a heading underline.
_LINE_START = re.compile(r"^(?:([-+=])|(\d+)([.)]))")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(text: str) -> str:
    """Control characters as their escapes (a newline as a backslash and ``n``): the text stays on its line."""
    return _CONTROL.sub(lambda m: _ESCAPES.get(m[0], f"\\x{ord(m[0]):02x}"), text)


def md_text(text: str) -> str:
    """Text that may come from an input file (a model's or a layer's name, a bench CSV's device and
    precision, its file name) as literal Markdown: on one line, nothing in it read as syntax."""
    escaped = _INLINE.sub(lambda m: "\\" + m[0], _visible(text))
    return _LINE_START.sub(lambda m: "\\" + m[1] if m[1] else f"{m[2]}\\{m[3]}", escaped)


def md_code_body(text: str) -> str:
    """What goes between the single backticks of a code span so that it shows ``text`` literally: the text
    itself, or (when it holds backticks) a longer fence with the text inside."""
    text = _visible(text)
    if "`" not in text:
        return text
    fence = "`" * max(len(run) for run in re.findall(r"`+", text))
    return f"{fence} {text} {fence}"


def md_code(text: str) -> str:
    """``text`` as a code span that shows it literally."""
    return f"`{md_code_body(text)}`"


def unit_table(bundle: Bundle, level: Level) -> str:
    # md_columns_table puts each name in a code span: a name from a --model file stays inside it
    rows = [row | {"name": md_code_body(row["name"])} for row in merged_rows(bundle, level)]
    return md_columns_table(MARKDOWN_VIEW, rows, level.value)


def _memory_section(bundle: Bundle) -> list[str]:
    t = bundle.totals
    params = bundle.report.totals.params
    alive = ", ".join(md_code(name) for name in t.peak_tensors)
    lines = [
        "## Memory",
        "",
        f"Estimated from the layers' output shapes at **{t.dtype}** ({Dtype(t.dtype).bytes} bytes per element), "
        f"**batch {t.batch_size}**:",
        "",
        f"- Parameters: **{mib(t.param_bytes)} MiB** ({count(params)} x {Dtype(t.dtype).bytes} bytes).",
        f"- Activations, every layer output: {mib(t.activation_bytes)} MiB.",
        f"- Inference peak: **{mib(t.inference_peak_bytes)} MiB**, the largest set of tensors alive at once when the "
        "layers run in graph order (residual branches kept alive until their add), reached while "
        f"{md_code(t.peak_layer)} "
        f"runs with {len(t.peak_tensors)} tensors alive: {alive}.",
        f"- Training activation memory: **{mib(t.training_activation_bytes)} MiB** in {t.saved_tensors} tensors "
        "saved for the backward pass (a conv or dense layer keeps its input, BN its input, ReLU its output, max pool "
        "both; adds, padding and flatten nothing).",
    ]
    m = bundle.measured
    if m is not None:
        lines.append(f"- Measured peak: {measured_text(m)} ({m.method}).")
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
            [(md_code(u.name), known(u.receptive_field), known(u.jump)) for u in bundle.units[Level.STAGE]],
        )
    )
    return lines


def _bench_row(row: Any) -> dict[str, Any]:
    """A bench row for the Markdown table: its text from the file escaped."""
    data = flat(row)
    return data | {key: md_text(data[key]) for key in ("device", "precision")}


def _latency_section(bundle: Bundle) -> list[str]:
    return [
        "## Latency",
        "",
        f"From {md_text(bundle.bench_name or '')} (written by `resnet-inspect bench --csv`): forward-pass time "
        "per batch.",
        "",
        md_columns_table(LATENCY_VIEW, [_bench_row(r) for r in bundle.bench], left=4),
        "",
        f"![Latency and throughput against batch size]({LATENCY_PNG})",
    ]


def _text_as_is(column: Column) -> Column:
    """``column`` whose text cells are shown as they are (the overhead row's empty cells)."""
    shown = column.fmt
    return dataclasses.replace(column, fmt=lambda value: value if isinstance(value, str) else shown(value))


def _profile_section(found: Profile) -> list[str]:
    rows = [flat(r) | {"name": md_code_body(r.name)} for r in found.rows]
    rows = [{k: ("" if v is None and r["type"] == "overhead" else v) for k, v in r.items()} for r in rows]
    setting = found.rows[0]
    return [
        "## Profile",
        "",
        f"Measured by `resnet-inspect report --profile` on {md_text(setting.device)}: batch {setting.batch_size}, "
        f"{setting.precision}, {setting.steps} timed rounds. {PROFILE_CONVENTION_LINE}",
        "",
        md_table(("", ""), [(md_text(k), md_text(v)) for k, v in found.environment], left=2),
        "",
        md_columns_table([_text_as_is(c) for c in PROFILE_VIEW], rows, "block"),
        "",
        md_text(overhead_note(found.rows)) + ".",
        *([md_text(found.note) + "."] if found.note is not None else []),
        "",
        f"![Roofline: achieved GFLOP/s against FLOPs/byte, per block]({ROOFLINE_PNG})",
    ]


def _head_sections(bundle: Bundle) -> list[str]:
    """Title, what made the report, its configuration and the FLOP convention."""
    config = dict(bundle.report.config)
    return [
        f"# {md_text(bundle.report.model_name)}",
        "",
        md_text(bundle.heading),
        "",
        "Made by `resnet-inspect report`; every number is derived from the built Keras model. Tables: "
        + ", ".join(f"[{name}]({name})" for name in (*CSV_FILES.values(), JSON))
        + ".",
        "",
        "## Configuration",
        "",
        md_table(
            ("setting", "value"),
            [(md_text(key), md_code(json.dumps(value))) for key, value in config.items()]
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
        ("norm γ/β, norm μ/σ²", f"{count(split.bn_trainable)}, {count(split.bn_non_trainable)}"),
        ("MACs", giga(totals.macs)),
        ("FLOPs", giga(totals.flops)),
        ("layers", str(totals.layers)),
        ("unsupported layers", ", ".join(md_text(u.name) for u in bundle.report.unsupported) or "none"),
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
    if bundle.profile is not None:
        lines += ["", *_profile_section(bundle.profile)]
    lines += ["", "## Versions", "", ", ".join(f"{k} {v}" for k, v in versions().items())]
    return "\n".join(lines) + "\n"
