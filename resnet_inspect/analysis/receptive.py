"""Receptive field and effective stride (jump) of every layer, through skip connections. No TensorFlow.

Convention (as in Araujo et al., "Computing Receptive Fields of Convolutional
Neural Networks", Distill 2019): for each spatial axis, a layer with kernel ``k``,
stride ``s`` and dilation ``d`` seen from an input of receptive field ``r`` and
jump ``j`` (the distance in input pixels between two neighbouring positions) gives

    k_eff = d * (k - 1) + 1
    r_out = r + (k_eff - 1) * j
    j_out = j * s

Padding moves where a window starts but not its size, so it changes neither.
Where paths meet (residual add, concatenate) the receptive field is the
largest over the incoming paths: torch-scan follows one path only and gets the
skip connections wrong. The field is not clipped to the input: a ResNet-50
unit whose field is 483 pixels wide sees a 224x224 image entirely, with zeros
around it.

Layers that look at the whole map (global pooling, Flatten) act as a window the
size of their input map with stride 1. A layer type this module does not know
has an unknown field (None), and so has every layer after it: never a guess.
The field does not apply to inputs without a spatial axis (feature vectors, token
ids), nor to anything computed from them: unknown there too, never a crash.
Element-wise Keras ops (``ops.Add``, ``ops.Multiply``, ...) keep the field of
their inputs; reshaping ops have no formula (unknown).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resnet_inspect.analysis.records import LayerRecord


@dataclass(frozen=True)
class Field:
    """Receptive field and jump per spatial axis, in input pixels."""

    size: tuple[int, ...]
    jump: tuple[int, ...]

    @property
    def receptive_field(self) -> int:
        """One number for a table: the field's largest side (the side of the square for square kernels)."""
        return max(self.size)

    @property
    def max_jump(self) -> int:
        return max(self.jump)


# A handler maps (the record, the fields of its inputs) to the field of its output.
Handler = Callable[[LayerRecord, Sequence[Field]], Field]


def _axes(value: Any, n: int) -> tuple[int, ...]:
    """A per-axis config value: Keras stores tuples, an int stands for every axis."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{value!r} does not have {n} spatial axes")
        return tuple(int(v) for v in value)
    return (int(value),) * n


def window(kernel_key: str, stride_key: str) -> Handler:
    """Conv and pooling: ``r + (d (k - 1) + 1 - 1) j`` and ``j s`` per axis."""

    def handler(record: LayerRecord, fields: Sequence[Field]) -> Field:
        (field,) = fields
        config = dict(record.config)
        n = len(field.size)
        kernel = _axes(config[kernel_key], n)
        # Keras pooling layers take strides=None to mean "the pool size".
        strides = _axes(config.get(stride_key) or config[kernel_key], n)
        dilation = _axes(config.get("dilation_rate", 1), n)
        size = tuple(r + d * (k - 1) * j for r, k, d, j in zip(field.size, kernel, dilation, field.jump, strict=True))
        jump = tuple(j * s for j, s in zip(field.jump, strides, strict=True))
        return Field(size, jump)

    handler.__doc__ = f"Window of config[{kernel_key!r}], stride config[{stride_key!r}]."
    return handler


def pointwise(record: LayerRecord, fields: Sequence[Field]) -> Field:
    """Element-wise, per-position and merge layers: the largest field over the inputs, jump unchanged."""
    size = tuple(max(axis) for axis in zip(*(f.size for f in fields), strict=True))
    jump = tuple(max(axis) for axis in zip(*(f.jump for f in fields), strict=True))
    return Field(size, jump)


def whole_map(record: LayerRecord, fields: Sequence[Field]) -> Field:
    """Global pooling and Flatten: a window the size of the input map, so ``r + (extent - 1) j``."""
    (field,) = fields
    (shape,) = record.input_shapes
    config = dict(record.config)
    spatial = shape[1:] if config.get("data_format") == "channels_first" else shape[:-1]
    if len(spatial) != len(field.size):  # already a vector (e.g. Flatten after Flatten): nothing to cover
        return field
    size = tuple(r + (extent - 1) * j for r, extent, j in zip(field.size, spatial, field.jump, strict=True))
    return Field(size, field.jump)


CONV = window("kernel_size", "strides")
POOL = window("pool_size", "strides")


def nd(*stems: str) -> tuple[str, ...]:
    """Keras class names of the 1D, 2D and 3D variants: ``nd("Conv")`` -> Conv1D, Conv2D, Conv3D."""
    return tuple(f"{stem}{n}D" for stem in stems for n in (1, 2, 3))


# Keras ops that act element by element (a constant operand broadcast).
ELEMENTWISE_OPS = (
    *("Add", "Subtract", "Multiply", "Divide", "TrueDivide", "Maximum", "Minimum", "Negative", "Square", "Sqrt"),
    *("Relu", "Relu6", "Sigmoid", "HardSigmoid", "Silu", "HardSilu", "Gelu", "Tanh", "Exp", "Clip", "Cast"),
)

# Layer class name -> handler. InputLayer starts the walk (field 1, jump 1).
HANDLERS: dict[str, Handler] = {
    **dict.fromkeys((*nd("Conv"), "DepthwiseConv2D", "SeparableConv2D"), CONV),
    **dict.fromkeys(nd("MaxPooling", "AveragePooling"), POOL),
    **dict.fromkeys((*nd("GlobalAveragePooling", "GlobalMaxPooling"), "Flatten"), whole_map),
    **dict.fromkeys(
        (
            *("BatchNormalization", "LayerNormalization", "Rescaling", "Normalization"),
            *("ReLU", "Activation", "Softmax", "LeakyReLU"),
            "Dense",  # on a map, Dense acts on each position alone
            *("Dropout", "SpatialDropout2D", "GaussianDropout", "Identity"),
            *nd("ZeroPadding", "Cropping"),  # padding moves the window, not its size
            *("Add", "Subtract", "Multiply", "Maximum", "Minimum", "Average", "Concatenate"),
            *("LayerScale", "CustomScaleLayer", "PReLU", "ELU", "GroupNormalization", "UnitNormalization"),
            *(f"ops.{op}" for op in ELEMENTWISE_OPS),
        ),
        pointwise,
    ),
}


def _start(record: LayerRecord) -> Field | None:
    """An input pixel sees itself: field 1 and jump 1 on every spatial axis (all axes but channels).

    An input with no spatial axis (a feature vector, token ids) has no receptive field: unknown.
    """
    n = len(record.output_shape) - 1
    return Field((1,) * n, (1,) * n) if n > 0 else None


def layer_fields(layers: Sequence[LayerRecord]) -> dict[str, Field | None]:
    """The field of every layer's output, in graph order; None where it cannot be known."""
    fields: dict[str, Field | None] = {}
    for record in layers:
        fields[record.name] = _field_of(record, fields)
    return fields


def _field_of(record: LayerRecord, known: Mapping[str, Field | None]) -> Field | None:
    if not record.inputs:
        return _start(record) if record.layer_type == "InputLayer" else None
    inputs = [known.get(name) for name in record.inputs]
    handler = HANDLERS.get(record.layer_type)
    if handler is None or any(f is None or not f.size for f in inputs):
        return None
    try:
        return handler(record, inputs)  # type: ignore[arg-type]
    except (KeyError, ValueError, TypeError):  # a config this formula does not cover: unknown, not a guess
        return None


def scalar(field: Field | None) -> tuple[int | None, int | None]:
    """(receptive_field, jump) as table numbers, or (None, None) when unknown."""
    if field is None:
        return None, None
    return field.receptive_field, field.max_jump
