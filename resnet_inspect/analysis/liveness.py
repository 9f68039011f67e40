"""Which layer outputs are alive at once when a walked graph runs in order. No TensorFlow here.

Inference keeps a layer's output until its last consumer has run; the
residual shortcut is what keeps a block's input alive across the block. The
peak of the live set is the activation memory an inference pass needs (before
any buffer reuse the runtime may do, so an upper estimate). Sizes are per image
(the records carry shapes without the batch axis): multiply by batch size and
bytes per element. Any sequence of layers with a name, the names of their inputs and
an output shape will do (:class:`Layer`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class Layer(Protocol):
    """What the sweep reads of a layer: a walked ``LayerRecord`` or a recorded topology node."""

    @property
    def name(self) -> str: ...

    @property
    def inputs(self) -> tuple[str, ...]: ...

    @property
    def output_shape(self) -> tuple[int | None, ...]: ...


@dataclass(frozen=True)
class LivePeak:
    """The largest live set: its size in elements per image, where it happens and what it holds."""

    elements: int
    at_layer: str
    alive: tuple[str, ...]


def _elements(record: Layer) -> int | None:
    if any(d is None for d in record.output_shape):
        return None  # a dynamic dimension: the size is unknown until the model is called
    return math.prod(record.output_shape)


def last_uses(layers: Sequence[Layer]) -> list[int]:
    """For each layer, the index of the last layer that reads its output (itself if none does).

    A layer no one reads is a model output: it stays alive to the end.
    """
    index = {record.name: i for i, record in enumerate(layers)}
    last = list(range(len(layers)))
    consumed = [False] * len(layers)
    for i, record in enumerate(layers):
        for name in record.inputs:
            j = index.get(name)
            if j is not None:
                last[j] = max(last[j], i)
                consumed[j] = True
    end = len(layers) - 1
    return [last[i] if consumed[i] else end for i in range(len(layers))]


def live_elements(layers: Sequence[Layer]) -> list[int] | None:
    """Elements per image alive while each layer runs: its inputs, its output and every tensor
    produced earlier and still awaited by a later layer. None if a shape is dynamic."""
    sizes = [_elements(r) for r in layers]
    if any(s is None for s in sizes):
        return None
    last = last_uses(layers)
    # Sweep: +size when produced at step i, -size after its last use.
    freed_after: dict[int, int] = {}
    for i, size in enumerate(sizes):
        freed_after[last[i]] = freed_after.get(last[i], 0) + size  # type: ignore[operator]
    live, current = [], 0
    for i, size in enumerate(sizes):
        current += size  # type: ignore[operator]
        live.append(current)
        current -= freed_after.get(i, 0)
    return live


def peak_live(layers: Sequence[Layer]) -> LivePeak | None:
    """The largest live set over the graph in order; None if a shape is dynamic or there are no layers."""
    live = live_elements(layers)
    if not live:
        return None
    step = max(range(len(live)), key=live.__getitem__)  # first step reaching the maximum
    last = last_uses(layers)
    alive = tuple(r.name for j, r in enumerate(layers) if j <= step <= last[j])
    return LivePeak(elements=live[step], at_layer=layers[step].name, alive=alive)
