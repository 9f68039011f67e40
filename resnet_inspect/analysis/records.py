"""Immutable records: what the graph walk produces and what every output reads.

Plain data only (no TensorFlow, no rendering), JSON-serialisable through
:func:`flat`, which spells the embedded parameter split out as the export columns.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ParamSplit:
    """Parameters by role, for a layer or a sum of layers.

    ``weights`` are kernels and embeddings, ``biases`` bias vectors; ``bn_trainable``
    are a normalization layer's learned scale and offset (γ/β of a batch, layer or
    group norm: "norm γ/β"), ``bn_non_trainable`` its running statistics (a batch
    norm's μ/σ²: "norm μ/σ²"; the field names stay those of the export columns);
    ``other`` is every variable with no known role, so the split always adds up
    to the layer's parameters.
    """

    weights: int = 0
    biases: int = 0
    bn_trainable: int = 0
    bn_non_trainable: int = 0
    other: int = 0

    @property
    def total(self) -> int:
        return sum(dataclasses.astuple(self))

    def __add__(self, more: ParamSplit) -> ParamSplit:
        return ParamSplit(*(getattr(self, f.name) + getattr(more, f.name) for f in dataclasses.fields(self)))


SPLIT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ParamSplit))


def flat(record: Any) -> dict[str, Any]:
    """A record as a flat dict: its fields in order, an embedded :class:`ParamSplit` spelled out in
    place as its own fields (``weights``, ``biases``, ...), the column names of every export."""
    data: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if isinstance(value, ParamSplit):
            data.update(dataclasses.asdict(value))
        else:
            data[f.name] = value
    return data


def flat_fields(cls: type) -> tuple[str, ...]:
    """The keys of :func:`flat` for records of dataclass ``cls``, in order."""
    names: list[str] = []
    for f in dataclasses.fields(cls):
        names.extend(SPLIT_FIELDS if f.type in (ParamSplit, "ParamSplit") else (f.name,))
    return tuple(names)


@dataclass(frozen=True)
class LayerRecord:
    """One built layer, in graph order.

    The parameter split always adds up: ``split.total == params == trainable + non_trainable``.
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
    macs: int | None
    flops: int | None
    split: ParamSplit
    params: int
    trainable: int
    non_trainable: int


@dataclass(frozen=True)
class UnitRow:
    """One row of a report at any level: a layer, a block or a stage."""

    name: str
    type: str
    stage: str | None
    output_shape: Shape
    layers: int
    split: ParamSplit
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
    ``macs_counted``/``flops_counted`` are then the sums over the supported layers, a lower bound
    ("≥ X (N layers of types T unknown)")."""

    layers: int
    params: int
    trainable: int
    non_trainable: int
    split: ParamSplit
    macs: int | None
    flops: int | None
    macs_counted: int
    flops_counted: int
    unsupported: int
    # The types of the unsupported layers and ops, sorted: what "≥ X" leaves out.
    unsupported_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unsupported:
    """A layer whose cost is unknown, and why."""

    name: str
    layer_type: str
    reason: str


class Level(str, enum.Enum):
    """Aggregation levels of a report."""

    STAGE = "stage"
    BLOCK = "block"
    LAYER = "layer"
