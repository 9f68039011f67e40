"""Immutable records: what the graph walk produces and what every output reads.

Plain data only (no TensorFlow, no rendering), JSON-serialisable through
:func:`dataclasses.asdict`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

Shape = tuple[int, ...]


class Level(str, enum.Enum):
    """Aggregation levels of a report."""

    STAGE = "stage"
    BLOCK = "block"
    LAYER = "layer"


@dataclass(frozen=True)
class LayerRecord:
    """One built layer, in graph order.

    The parameter split always adds up: ``weights + biases + bn_trainable +
    bn_non_trainable + other == params == trainable + non_trainable``.
    ``macs``/``flops`` are None when the layer is unsupported (unknown, not 0).
    """

    name: str
    stage: str | None
    block: str | None
    layer_type: str
    inputs: tuple[str, ...]
    input_shapes: tuple[Shape, ...]
    output_shape: Shape
    config: tuple[tuple[str, Any], ...]
    weights: int
    biases: int
    bn_trainable: int
    bn_non_trainable: int
    other: int
    params: int
    trainable: int
    non_trainable: int
    macs: int | None
    flops: int | None


@dataclass(frozen=True)
class Unsupported:
    """A layer whose cost is unknown, and why."""

    name: str
    layer_type: str
    reason: str


@dataclass(frozen=True)
class UnitRow:
    """One row of a report at any level: a layer, a block or a stage."""

    name: str
    type: str
    stage: str | None
    output_shape: Shape
    layers: int
    weights: int
    biases: int
    bn_trainable: int
    bn_non_trainable: int
    other: int
    params: int
    trainable: int
    non_trainable: int
    macs: int | None
    flops: int | None
    # Receptive field and jump of the unit's output, in input pixels (resnet_inspect.analysis.receptive):
    # through skip connections, the largest over paths; None when a layer on the way is unknown.
    receptive_field: int | None = None
    jump: int | None = None


@dataclass(frozen=True)
class Totals:
    """Whole-model totals. ``macs``/``flops`` are None if any layer is unsupported;
    ``macs_counted``/``flops_counted`` are then the sums over the supported layers."""

    layers: int
    params: int
    trainable: int
    non_trainable: int
    weights: int
    biases: int
    bn_trainable: int
    bn_non_trainable: int
    other: int
    macs: int | None
    flops: int | None
    macs_counted: int
    flops_counted: int
    unsupported: int
