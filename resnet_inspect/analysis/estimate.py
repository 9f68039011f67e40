"""What a network will need, from its spec alone: parameters, layers, activations. No TensorFlow.

A command refuses a request that cannot fit before it builds anything
(:mod:`resnet_inspect.analysis.budget`), so ``--classes 1000000000`` or
``--blocks 1000,1000,1000,1000`` ends in one line, not in minutes of building and an
out-of-memory kill.

The figures come from the network's own block code: the topology
(:mod:`resnet_inspect.model.topology`) run on the shape-only recorder
(:mod:`resnet_inspect.model.recorder`) in compact mode, which records the stem, the
first block of each block layer, ONE of its repeated blocks and the head: every block
after the first in a block layer has the same layers and shapes, so its parameters and
layers count ``blocks - 1`` times, and it alone gives the activation peak of all of
them. The peak is the liveness sweep of :mod:`resnet_inspect.analysis.liveness` (the
one bench and memory use) over those nodes: only a block's input crosses into the next
block, so their peak is the whole network's. Tests check every figure against Keras
``count_params()``, ``len(model.layers)`` and the sweep over the walked model.
What these figures cost in bytes, and whether that fits, is :mod:`resnet_inspect.analysis.budget`'s
decision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from resnet_inspect.analysis.liveness import Layer, peak_live
from resnet_inspect.model.design import Design
from resnet_inspect.model.recorder import record, record_block
from resnet_inspect.model.spec import BlockKind, DataFormat, ResNetSpec, Version
from resnet_inspect.model.topology import map_shape


@dataclass(frozen=True)
class Estimate:
    """A network's size from its spec: exact parameter and layer counts, activation peak per image."""

    name: str
    params: int
    layers: int
    peak_elements: int  # elements per image alive at once at the liveness peak
    peak_layer: str
    largest_tensor: int  # elements per image of the largest layer output
    largest_layer_params: int = 0  # parameters of the layer with the most (its variables are made one by one)


class Sized(Layer, Protocol):
    """A layer as :mod:`resnet_inspect.analysis.liveness` sees it, with its parameter count."""

    @property
    def params(self) -> int: ...


def estimate(spec: ResNetSpec) -> Estimate:
    """Parameters, layers and activation peak of ``spec``'s network, without building it."""
    recorder = record(spec, compact=True)
    found = estimate_layers(spec.name, recorder.nodes, recorder.params, recorder.layers)
    assert found is not None  # every shape is known
    return found


def estimate_layers(name: str, layers: Sequence[Sized], params: int, count: int | None = None) -> Estimate | None:
    """The same figures for a walked model's layers (``count``: layers in the model, default all of
    ``layers``); None when a shape is unknown (dynamic)."""
    peak = peak_live(layers)
    if peak is None or any(None in layer.output_shape for layer in layers):
        return None
    return Estimate(
        name=name,
        params=params,
        layers=len(layers) if count is None else count,
        peak_elements=peak.elements,
        peak_layer=peak.at_layer,
        largest_tensor=max(math.prod(layer.output_shape) for layer in layers),  # type: ignore[arg-type]
        largest_layer_params=max(layer.params for layer in layers),
    )


def estimate_block(
    kind: BlockKind,
    filters: int,
    in_channels: int,
    size: int,
    first: bool,
    version: Version,
    use_bias: bool = True,
    data_format: DataFormat = DataFormat.CHANNELS_LAST,
    design: Design | None = None,
) -> Estimate:
    """One block on its own, as ``compare`` builds it: at stride 1, projected when ``first`` (and the version does)."""
    shape = map_shape(data_format, size, size, in_channels)
    recorder = record_block(BlockKind(kind), filters, shape, first, Version(version), use_bias, data_format, design)
    found = estimate_layers(f"a {BlockKind(kind).value} block of {filters} filters", recorder.nodes,
                            recorder.params, recorder.layers)
    assert found is not None  # every shape is known
    return found
