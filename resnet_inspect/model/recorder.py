"""The topology run without TensorFlow: each layer operation records a node (name, type, shapes, parameters).

:mod:`resnet_inspect.model.topology` calls the same operations on a :class:`Recorder`
as on the Keras builder, so the nodes carry the built layers' names (byte for byte),
Keras' layer type names, output shapes (without the batch axis, in the data format)
and parameter counts. Nothing is built and no TensorFlow is imported, which is what
lets a command refuse a request that cannot fit before building anything.

Two modes:

* expanded: one node per layer, as Keras builds them;
* compact: the first block of each block layer and ONE of its repeated blocks, whose
  nodes stand for ``blocks - 1`` layers each (:attr:`Node.times`). Every block after
  the first in a block layer has the same layers and shapes, so totals come out
  exact for ``--blocks 10**20`` as quickly as for ``--blocks 1``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from resnet_inspect.model.design import Design
from resnet_inspect.model.spec import BlockKind, DataFormat, ResNetSpec, Version
from resnet_inspect.model.topology import channel_index, map_shape, network, one_block

Shape = tuple[int, ...]
# BatchNormalization keeps gamma, beta, moving mean and moving variance: 4 numbers per channel.
BN_PARAMS_PER_CHANNEL = 4


@dataclass(frozen=True)
class Node:
    """One recorded layer. ``times``: how many built layers it stands for (more than 1 only in compact mode)."""

    name: str
    layer_type: str  # the Keras layer class name
    inputs: tuple[str, ...]
    output_shape: Shape
    params: int
    times: int = 1


def _side(size: int, kernel: int, stride: int, padding: str) -> int:
    """Output side of a conv or pool: 'same' is ceil(n / s), 'valid' (n - k) // s + 1 (Keras' rules)."""
    return -(-size // stride) if padding == "same" else (size - kernel) // stride + 1


class Recorder:
    """The layer operations of :class:`~resnet_inspect.model.topology.Ops`, as records."""

    def __init__(self, data_format: DataFormat | str = DataFormat.CHANNELS_LAST, compact: bool = False) -> None:
        self.data_format = DataFormat(data_format)
        self.channel_index = channel_index(self.data_format)
        self.compact = compact
        self.nodes: list[Node] = []
        self._times = 1

    @property
    def layers(self) -> int:
        """Layers of the built model."""
        return sum(node.times for node in self.nodes)

    @property
    def params(self) -> int:
        """Parameters of the built model (Keras ``count_params()``)."""
        return sum(node.params * node.times for node in self.nodes)

    def _node(self, name: str, layer_type: str, inputs: tuple[Node, ...], shape: Shape, params: int = 0) -> Node:
        node = Node(name, layer_type, tuple(x.name for x in inputs), shape, params, self._times)
        self.nodes.append(node)
        return node

    def _map(self, h: int, w: int, c: int) -> Shape:
        return map_shape(self.data_format, h, w, c)

    def _hw(self, x: Node, kernel: int, stride: int, padding: str) -> tuple[int, int]:
        h, w = self.spatial(x)
        return _side(h, kernel, stride, padding), _side(w, kernel, stride, padding)

    # --- the operations ----------------------------------------------------------------------

    def input(self, shape: tuple[int, ...], name: str) -> Node:
        return self._node(name, "InputLayer", (), tuple(shape))

    def zero_pad(self, x: Node, before: int, after: int, name: str) -> Node:
        h, w = self.spatial(x)
        shape = self._map(h + before + after, w + before + after, self.channels(x))
        return self._node(name, "ZeroPadding2D", (x,), shape)

    def conv2d(
        self, x: Node, filters: int, kernel_size: int, strides: int, padding: str, use_bias: bool, name: str,
        groups: int = 1,
    ) -> Node:
        # k x k x c_in/groups x c_out weights (+ one bias per filter)
        params = kernel_size * kernel_size * self.channels(x) // groups * filters + (filters if use_bias else 0)
        shape = self._map(*self._hw(x, kernel_size, strides, padding), filters)
        return self._node(name, "Conv2D", (x,), shape, params)

    def batch_norm(self, x: Node, name: str) -> Node:
        return self._node(name, "BatchNormalization", (x,), x.output_shape, BN_PARAMS_PER_CHANNEL * self.channels(x))

    def relu(self, x: Node, name: str) -> Node:
        return self._node(name, "ReLU", (x,), x.output_shape)

    def add(self, a: Node, b: Node, name: str) -> Node:
        return self._node(name, "Add", (a, b), a.output_shape)

    def max_pool(self, x: Node, pool_size: int, strides: int, padding: str, name: str) -> Node:
        shape = self._map(*self._hw(x, pool_size, strides, padding), self.channels(x))
        return self._node(name, "MaxPooling2D", (x,), shape)

    def avg_pool(self, x: Node, pool_size: tuple[int, int], strides: int, name: str, padding: str = "valid") -> Node:
        (h, w), (kh, kw) = self.spatial(x), pool_size
        shape = self._map(_side(h, kh, strides, padding), _side(w, kw, strides, padding), self.channels(x))
        return self._node(name, "AveragePooling2D", (x,), shape)

    def global_avg_pool(self, x: Node, name: str) -> Node:
        return self._node(name, "GlobalAveragePooling2D", (x,), self._map(1, 1, self.channels(x)))

    def sigmoid(self, x: Node, name: str) -> Node:
        return self._node(name, "Activation", (x,), x.output_shape)

    def multiply(self, a: Node, b: Node, name: str) -> Node:
        return self._node(name, "Multiply", (a, b), a.output_shape)

    def zeros(self, x: Node, name: str) -> Node:
        return self._node(name, "Rescaling", (x,), x.output_shape)

    def concat(self, xs: list[Node], name: str) -> Node:
        h, w = self.spatial(xs[0])
        return self._node(name, "Concatenate", tuple(xs), self._map(h, w, sum(self.channels(x) for x in xs)))

    def flatten(self, x: Node, name: str) -> Node:
        return self._node(name, "Flatten", (x,), (math.prod(x.output_shape),))

    def dense(self, x: Node, units: int, name: str) -> Node:
        return self._node(name, "Dense", (x,), (units,), x.output_shape[-1] * units + units)  # c x units + bias

    def channels(self, x: Node) -> int:
        return x.output_shape[self.channel_index]

    def spatial(self, x: Node) -> tuple[int, int]:
        h, w = x.output_shape[1:3] if self.channel_index == 0 else x.output_shape[0:2]
        return h, w

    def repeat(self, x: Node, count: int, block: Callable[[Node, int], Node]) -> Node:
        if not self.compact:
            for i in range(1, count + 1):
                x = block(x, i)
            return x
        if count == 0:
            return x
        # Compact: record the first repeat once; each of its nodes stands for ``count`` layers.
        outer, self._times = self._times, self._times * count
        try:
            return block(x, 1)
        finally:
            self._times = outer


def record(spec: ResNetSpec, compact: bool = True) -> Recorder:
    """``spec``'s whole network, recorded (compact: repeated blocks once; expanded: every layer)."""
    recorder = Recorder(spec.data_format, compact)
    network(recorder, spec)
    return recorder


def record_block(
    kind: BlockKind,
    filters: int,
    shape: tuple[int, ...],
    first: bool,
    version: Version,
    use_bias: bool = True,
    data_format: DataFormat = DataFormat.CHANNELS_LAST,
    design: Design | None = None,
) -> Recorder:
    """One block on its own, as ``compare`` builds it (:func:`~resnet_inspect.model.topology.one_block`)."""
    recorder = Recorder(data_format)
    one_block(recorder, kind, filters, shape, first, version, use_bias, design)
    return recorder
