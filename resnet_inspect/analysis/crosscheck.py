"""Our FLOPs beside TensorFlow's own count of the frozen inference graph. No TensorFlow here.

:mod:`resnet_inspect.analysis.tfprofile` traces the model and runs ``tf.compat.v1.profiler`` (float
operations); it hands over every op of the graph as a :class:`TfOp`. This module gives each op to
the Keras layer that made it (from its name scope), sums both counts per layer type and explains
where the two conventions differ. The explanations are text; every number is computed.

TensorFlow's profiler counts a multiply-add as 2, like our ``flops``, so convolutions must agree
exactly: each conv layer's Conv2D op against 2 x its MACs.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from resnet_inspect.analysis.records import LayerRecord
from resnet_inspect.analysis.report import Report

METHOD = "tf.compat.v1.profiler float_operation on the traced inference graph (training=False, batch 1)"
OUTSIDE = "(outside any layer)"
# The Keras ops of a functional graph (ops.Matmul, ops.Add, ...) run without a name scope of their own:
# TF's ops outside every layer are theirs, compared with them as one row.
KERAS_OPS = "Keras ops (ops.*)"
UNEXPLAINED = "unexplained"
# Op types of a function call: a layer run through one (a grouped conv, XLA-compiled on the CPU) hides
# its ops from the profiler.
CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})

# Keras layer types that are convolutions, and the TF ops that carry their multiply-adds.
CONV_LAYERS = frozenset({"Conv1D", "Conv2D", "Conv3D"})
CONV_OPS = frozenset({"Conv2D", "Conv3D"})  # Conv1D runs as a Conv2D over an expanded axis

# TF op kinds of activations for which TF's profiler registers no FLOP count.
UNCOUNTED_ACTIVATIONS = ("Sigmoid", "Tanh", "Erf", "Erfc", "Exp", "Relu6", "Elu", "Selu", "Softplus")

# Why the counts differ, by TF op kind (shown only on a row whose counts differ).
OP_NOTES: dict[str, str] = {
    "Relu": "TF's profiler registers no FLOP count for Relu (0 there); ours counts max(x, 0) as 1 per element",
    **dict.fromkeys(
        UNCOUNTED_ACTIVATIONS,
        f"TF's profiler registers no FLOP count for {', '.join(UNCOUNTED_ACTIVATIONS[:-1])} or "
        f"{UNCOUNTED_ACTIVATIONS[-1]} (0 there) and counts the multiplies, adds and negations around them as "
        "written (GELU, swish); ours counts each activation by its formula (ACTIVATION_FLOPS)",
    ),
    **dict.fromkeys(
        CALL_OPS,
        "the layer runs as a compiled function call (grouped convolutions go through XLA on the CPU): "
        "TF's profiler sees no FLOPs inside it",
    ),
    "MaxPool": "TF counts all k taps of a k-tap window per output; ours counts the k - 1 comparisons",
    "Softmax": "TF counts 5 per element for Softmax; ours 3 (exp, add into the sum, divide)",
}
# ... and by Keras layer type.
LAYER_NOTES: dict[str, str] = {
    "BatchNormalization": (
        "TF computes the per-channel constants at run time (variance + eps, rsqrt counted 2, x gamma, "
        "mean x inv, beta - mean x inv: 6 per channel); ours counts the folded y = a*x + b, 2 per element"
    ),
    "LayerNormalization": (
        "TF counts 9 per element: the two means 1 each, SquaredDifference 2, and Keras forms the scale "
        "inv * gamma and the offset beta - mean * inv at full size before x * scale + offset (5); ours counts 7 "
        "(sum, subtract, square, sum, * 1/sigma, gamma, beta); both count 4 per normalized row (TF: + eps, "
        "rsqrt counted 2, negate the mean; ours: the two divides, + eps, rsqrt)"
    ),
    "Normalization": (
        "TF also counts max(sqrt(variance), eps), which Keras computes at run time, 1 per channel; ours takes "
        "the mean and 1/sigma as constants: (x - mean) / sigma, 2 per element"
    ),
}

_SUFFIX = re.compile(r"_\d+$")


@dataclass(frozen=True)
class TfOp:
    """One op of the frozen graph and TensorFlow's FLOP count for it (0 when TF registers none)."""

    name: str
    op_type: str
    flops: int


@dataclass(frozen=True)
class CheckRow:
    """One Keras layer type: our FLOPs, TensorFlow's, and TF's split by op kind."""

    layer_type: str
    layers: int
    ours: int | None
    tf: int
    tf_ops: tuple[tuple[str, int], ...]
    difference: int | None
    note: str


@dataclass(frozen=True)
class ConvCheck:
    """Every conv layer: TF's convolution op FLOPs against 2 x our MACs (a multiply-add is 2).

    ``hidden`` are the conv layers that run as a function call whose FLOPs TF's profiler cannot see
    (grouped convolutions, XLA-compiled on the CPU): left out of the comparison, and named.
    """

    layers: int
    ours: int
    tf: int
    mismatched: tuple[str, ...]
    hidden: tuple[str, ...] = ()

    @property
    def exact(self) -> bool:
        return not self.mismatched and self.ours == self.tf


@dataclass(frozen=True)
class Verification:
    model_name: str
    method: str
    rows: tuple[CheckRow, ...]
    conv: ConvCheck
    ours_total: int | None
    tf_total: int


def _layer_scope(op_name: str, model_name: str, nested: frozenset[str] = frozenset()) -> str | None:
    """The name scope right below the model's own scope (``resnet50_1/<layer scope>/op``); inside a
    nested model (a scope among ``nested``, its suffix dropped) the path to the layer's scope,
    ``base/<layer scope>``, as the walk names the layers of nested models."""
    parts = op_name.split("/")
    if len(parts) >= 3 and _SUFFIX.sub("", parts[0]) in (model_name, _SUFFIX.sub("", model_name)):
        if len(parts) >= 4 and _SUFFIX.sub("", parts[1]) in nested:
            return f"{_SUFFIX.sub('', parts[1])}/{parts[2]}"
        return parts[1]
    return None


def attribute(ops: Iterable[TfOp], layer_names: Sequence[str], model_name: str) -> dict[str, str | None]:
    """Op name -> the layer whose call made it (None for ops outside every layer).

    TensorFlow makes scope names unique by appending ``_N``, so scope ``dense_1`` may be layer
    ``dense`` (renamed) or layer ``dense_1``. Each layer is called once and owns one scope: a scope
    with a single possible layer takes it, which settles the others, until nothing changes.
    """
    ops = list(ops)
    layers = set(layer_names)
    nested = frozenset(name.split("/", 1)[0] for name in layers if "/" in name)
    scopes = sorted({s for op in ops if (s := _layer_scope(op.name, model_name, nested)) is not None})
    candidates = {s: {c for c in (s, _SUFFIX.sub("", s)) if c in layers} for s in scopes}
    owner: dict[str, str | None] = {}
    taken: set[str] = set()
    changed = True
    while changed:
        changed = False
        for scope in scopes:
            free = candidates[scope] - taken
            if scope not in owner and len(free) == 1:
                owner[scope] = free.pop()
                taken.add(owner[scope])  # type: ignore[arg-type]
                changed = True
    for scope in scopes:
        if scope not in owner:  # still ambiguous (or a layer with two scopes): the exact name wins
            options = candidates[scope]
            owner[scope] = scope if scope in options else min(options, default=None)
    return {op.name: owner.get(s) if (s := _layer_scope(op.name, model_name, nested)) else None for op in ops}


def _note(layer_type: str, op_types: Iterable[str]) -> str:
    """Why the counts differ, or 'unexplained' when no known convention of this layer type or its ops applies."""
    notes = [LAYER_NOTES[layer_type]] if layer_type in LAYER_NOTES else []
    notes += list(dict.fromkeys(OP_NOTES[t] for t in sorted(set(op_types)) if t in OP_NOTES))
    return "; ".join(notes) or UNEXPLAINED


def cross_check(report: Report, ops: Sequence[TfOp]) -> Verification:
    """Compare the report with TensorFlow's per-op counts, per layer type and conv by conv."""
    owner = attribute(ops, [r.name for r in report.layers], report.model_name)
    by_layer: dict[str | None, list[TfOp]] = {}
    for op in ops:
        by_layer.setdefault(owner[op.name], []).append(op)
    by_type: dict[str, list[LayerRecord]] = {}
    for record in report.layers:
        kind = KERAS_OPS if record.layer_type.startswith("ops.") else record.layer_type
        by_type.setdefault(kind, []).append(record)

    rows: list[CheckRow] = []
    groups: list[tuple[str, list[LayerRecord], list[TfOp]]] = [
        (kind, records, [op for r in records for op in by_layer.get(r.name, [])]) for kind, records in by_type.items()
    ]
    outside = by_layer.get(None, [])
    if KERAS_OPS in by_type:  # the Keras ops' TF ops have no scope of their own: every op outside a layer
        groups = [(k, r, outside if k == KERAS_OPS else o) for k, r, o in groups]
    else:
        groups.append((OUTSIDE, [], outside))
    for kind, records, type_ops in groups:
        ours = None if any(r.flops is None for r in records) else sum(r.flops for r in records)  # type: ignore[misc]
        counted: Counter[str] = Counter()
        for op in type_ops:
            if op.flops or op.op_type in OP_NOTES:
                counted[op.op_type] += op.flops
        tf_flops = sum(counted.values())
        if not ours and not tf_flops and not counted:
            continue  # nothing to compare (input, padding, reshaping)
        difference = None if ours is None else tf_flops - ours
        rows.append(
            CheckRow(
                layer_type=kind,
                layers=len(records),
                ours=ours,
                tf=tf_flops,
                tf_ops=tuple(sorted(counted.items(), key=lambda item: (-item[1], item[0]))),
                difference=difference,
                note="" if difference == 0 else _note(kind, counted),
            )
        )

    convs = [r for r in report.layers if r.layer_type in CONV_LAYERS and r.macs is not None]
    hidden = tuple(r.name for r in convs if {op.op_type for op in by_layer.get(r.name, [])} & CALL_OPS)
    conv_records = [r for r in convs if r.name not in hidden]
    conv_tf = {r.name: sum(op.flops for op in by_layer.get(r.name, []) if op.op_type in CONV_OPS) for r in conv_records}
    conv = ConvCheck(
        layers=len(conv_records),
        ours=sum(2 * r.macs for r in conv_records),  # type: ignore[operator]
        tf=sum(conv_tf.values()),
        mismatched=tuple(r.name for r in conv_records if conv_tf[r.name] != 2 * r.macs),  # type: ignore[operator]
        hidden=hidden,
    )
    return Verification(
        model_name=report.model_name,
        method=METHOD,
        rows=tuple(rows),
        conv=conv,
        ours_total=report.totals.flops,
        tf_total=sum(op.flops for op in ops),
    )


def verification_payload(verification: Verification) -> dict[str, object]:
    """Plain data for the JSON export (fixed key order)."""
    data = dataclasses.asdict(verification)
    data["conv"]["exact"] = verification.conv.exact
    data["rows"] = [{**row, "tf_ops": dict(row["tf_ops"])} for row in data["rows"]]
    return data
