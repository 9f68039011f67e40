"""Memory and arithmetic intensity estimated from a walked report. No TensorFlow here.

Every figure is derived from the layer records (output shapes, parameter
counts, inbound layers) at a chosen dtype and batch size:

* activation bytes of a layer = its output elements x batch x dtype bytes;
  of a block or stage, the sum over its layers (every tensor it produces);
* parameter bytes = parameters x dtype bytes (the BN moving statistics included);
* inference peak = the largest total of tensors alive at once when the layers
  run one after another in graph order: a layer's output is allocated when it
  runs, and a tensor is freed once the last layer that reads it has run (the
  model's outputs are kept). Residual branches keep the block input alive until
  the add (the sweep of :mod:`resnet_inspect.analysis.liveness`). Nothing is computed
  in place, so this is an upper bound for runtimes that reuse an input buffer
  (TensorFlow may, for ReLU);
* training activation memory = the distinct tensors the backward pass needs,
  by what each layer's gradient reads (:data:`SAVED`): a conv or dense layer
  keeps its input, a ReLU its output, a max pool both, an add or a padding
  nothing. Gradients of activations are transient and not included;
* arithmetic intensity = FLOPs / bytes moved, where a layer moves its inputs,
  its output and its parameters once (no fusion); a block's intensity is its
  FLOPs over the sum of its layers' bytes.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from resnet_inspect.analysis import liveness
from resnet_inspect.analysis.budget import Dtype
from resnet_inspect.analysis.receptive import nd
from resnet_inspect.analysis.records import LayerRecord, Level
from resnet_inspect.analysis.report import Report
from resnet_inspect.errors import InspectError
from resnet_inspect.model.spec import check_positive


class Saved(enum.Flag):
    """What a layer's gradient reads from the forward pass (besides its own parameters)."""

    NOTHING = 0
    INPUTS = enum.auto()
    OUTPUT = enum.auto()


# Layer type -> tensors its gradient needs (TensorFlow's registered gradients):
# Conv2DBackpropFilter and MatMul read the input; FusedBatchNormGrad reads x; ReluGrad,
# SigmoidGrad, TanhGrad and SoftmaxGrad read the output; MaxPoolGrad reads input and output;
# AvgPoolGrad, Add, Pad, Reshape need only shapes. A type not listed keeps its inputs and its
# output: an upper bound, never an omission.
SAVED: dict[str, Saved] = {
    **dict.fromkeys((*nd("Conv"), "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose", "Dense"), Saved.INPUTS),
    "BatchNormalization": Saved.INPUTS,
    **dict.fromkeys(("ReLU", "Activation", "Softmax", "LeakyReLU"), Saved.OUTPUT),
    **dict.fromkeys(nd("MaxPooling"), Saved.INPUTS | Saved.OUTPUT),
    **dict.fromkeys(
        (
            *("InputLayer", "Add", "Subtract", "Concatenate", "Flatten", "Reshape", "Permute", "Identity"),
            *nd("AveragePooling", "GlobalAveragePooling", "ZeroPadding", "Cropping"),
            # Keras ops: AddV2/Sub, reshaping and slicing need only shapes
            *("ops.Add", "ops.Subtract", "ops.Reshape", "ops.Transpose", "ops.ExpandDims", "ops.Squeeze"),
            *("ops.GetItem", "ops.Concatenate"),
        ),
        Saved.NOTHING,
    ),
    # Matrix products read both operands (BatchMatMulV2's gradient); a layer or group norm reads x
    # (its statistics are recomputed from it); an embedding reads the ids; softmax its output.
    **dict.fromkeys(
        ("ops.Matmul", "ops.Einsum", "ops.Multiply", "LayerNormalization", "GroupNormalization", "Embedding"),
        Saved.INPUTS,
    ),
    **dict.fromkeys(("ops.Softmax", "ops.Relu", "ops.Sigmoid", "ops.Tanh"), Saved.OUTPUT),
}


def _check(report: Report, batch_size: int) -> None:
    check_positive("batch_size", batch_size)
    for record in report.layers:
        if any(d is None for d in (*record.output_shape, *(d for s in record.input_shapes for d in s))):
            raise InspectError(f"{record.name} has a dynamic shape: the memory of {report.model_name} is unknown")


@dataclass(frozen=True)
class MemoryRow:
    """Memory and intensity of one layer, block or stage at a dtype and batch size."""

    name: str
    activation_bytes: int
    param_bytes: int
    bytes_moved: int
    arithmetic_intensity: float | None  # FLOPs per byte moved (3 decimals); None when the FLOPs are unknown


@dataclass(frozen=True)
class MemoryTotals:
    """Whole-model memory at a dtype and batch size."""

    dtype: str
    batch_size: int
    param_bytes: int
    activation_bytes: int
    inference_peak_bytes: int
    peak_layer: str  # the layer running when the peak is reached
    peak_tensors: tuple[str, ...]  # the layers whose outputs are alive then
    training_activation_bytes: int
    saved_tensors: int  # how many tensors the backward pass keeps


def _tensor_bytes(record: LayerRecord, batch_size: int, dtype: Dtype) -> int:
    # output elements (batch axis excluded in the record) x batch x bytes per element
    return math.prod(record.output_shape) * batch_size * dtype.bytes


def _moved(record: LayerRecord, batch_size: int, dtype: Dtype) -> int:
    """Bytes a layer reads and writes: inputs + output (x batch) + its parameters once per batch."""
    if not record.inputs:  # the input layer hands over data it was given: it moves nothing
        return 0
    elements = sum(math.prod(s) for s in record.input_shapes) + math.prod(record.output_shape)
    return (elements * batch_size + record.params) * dtype.bytes


def _row(name: str, members: Sequence[LayerRecord], batch_size: int, dtype: Dtype) -> MemoryRow:
    moved = sum(_moved(r, batch_size, dtype) for r in members)
    flops = None if any(r.flops is None for r in members) else sum(r.flops for r in members)  # type: ignore[misc]
    return MemoryRow(
        name=name,
        activation_bytes=sum(_tensor_bytes(r, batch_size, dtype) for r in members),
        param_bytes=sum(r.params for r in members) * dtype.bytes,
        bytes_moved=moved,
        # the records count FLOPs for one image: x batch for the whole batch
        arithmetic_intensity=None if flops is None or moved == 0 else round(flops * batch_size / moved, 3),
    )


def memory_rows(
    report: Report, level: Level | str, batch_size: int = 1, dtype: Dtype | str = Dtype.FLOAT32
) -> tuple[MemoryRow, ...]:
    """One row per unit of ``level``, in the same order as ``report.rows(level)``."""
    _check(report, batch_size)
    dtype, level = Dtype(dtype), Level(level)
    units = report.rows(level)  # names and order, and the level's availability check
    if level is Level.LAYER:
        return tuple(_row(r.name, [r], batch_size, dtype) for r in report.layers)
    key = "block" if level is Level.BLOCK else "stage"
    members: dict[str, list[LayerRecord]] = {}
    for record in report.layers:
        members.setdefault(getattr(record, key), []).append(record)
    return tuple(_row(u.name, members[u.name], batch_size, dtype) for u in units)


def inference_peak(
    report: Report, batch_size: int = 1, dtype: Dtype | str = Dtype.FLOAT32
) -> tuple[int, str, tuple[str, ...]]:
    """(peak bytes, layer running at the peak, tensors alive then), running the layers in graph order."""
    peak = liveness.peak_live(report.layers)
    if peak is None:
        raise InspectError(f"{report.model_name} has a dynamic shape: its activation memory is unknown")
    # the live set is counted in elements per image: x batch x bytes per element
    return peak.elements * batch_size * Dtype(dtype).bytes, peak.at_layer, peak.alive


def saved_for_backward(report: Report) -> tuple[str, ...]:
    """Names of the layers whose outputs the backward pass keeps, in graph order."""
    saved: set[str] = set()
    for record in report.layers:
        what = SAVED.get(record.layer_type, Saved.INPUTS | Saved.OUTPUT)
        if Saved.INPUTS in what:
            saved.update(record.inputs)
        if Saved.OUTPUT in what:
            saved.add(record.name)
    return tuple(r.name for r in report.layers if r.name in saved)


def memory_totals(report: Report, batch_size: int = 1, dtype: Dtype | str = Dtype.FLOAT32) -> MemoryTotals:
    _check(report, batch_size)
    dtype = Dtype(dtype)
    peak, peak_layer, peak_set = inference_peak(report, batch_size, dtype)
    saved = saved_for_backward(report)
    by_name = {r.name: r for r in report.layers}
    return MemoryTotals(
        dtype=dtype.value,
        batch_size=batch_size,
        param_bytes=sum(r.params for r in report.layers) * dtype.bytes,
        activation_bytes=_sum_bytes(report.layers, batch_size, dtype),
        inference_peak_bytes=peak,
        peak_layer=peak_layer,
        peak_tensors=peak_set,
        training_activation_bytes=_sum_bytes((by_name[n] for n in saved), batch_size, dtype),
        saved_tensors=len(saved),
    )


def _sum_bytes(records: Iterable[LayerRecord], batch_size: int, dtype: Dtype) -> int:
    return sum(_tensor_bytes(r, batch_size, dtype) for r in records)
