"""Build the network as a Keras 3 functional model: the topology's operations as real Keras layers.

The structure (the seeds' ``custom_padding``, ``custom_conv2d``, ``pre_activation``,
``regular_block``, ``bottleneck_block``, ``block_layer``, ``model_layers``) lives in
:mod:`resnet_inspect.model.topology`, written once; :class:`KerasOps` here makes one
Keras layer per operation. The shape-only twin of this module is
:mod:`resnet_inspect.model.recorder`, which is what the estimate reads.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

from resnet_inspect._tf import keras
from resnet_inspect.model.recorder import record
from resnet_inspect.model.spec import BlockKind, DataFormat, ResNetSpec, make_spec
from resnet_inspect.model.topology import input_shape as input_shape  # public here, as before
from resnet_inspect.model.topology import network

layers = keras.layers
Tensor = Any  # a KerasTensor


class KerasOps:
    """The layer operations of :class:`~resnet_inspect.model.topology.Ops`, as Keras layers."""

    def __init__(self, data_format: DataFormat | str = DataFormat.CHANNELS_LAST) -> None:
        self.data_format = DataFormat(data_format).value
        self.channel_axis = 1 if self.data_format == DataFormat.CHANNELS_FIRST.value else -1

    def input(self, shape: tuple[int, ...], name: str) -> Tensor:
        return keras.Input(shape=shape, name=name)

    def zero_pad(self, x: Tensor, before: int, after: int, name: str) -> Tensor:
        return layers.ZeroPadding2D(((before, after), (before, after)), data_format=self.data_format, name=name)(x)

    def conv2d(
        self, x: Tensor, filters: int, kernel_size: int, strides: int, padding: str, use_bias: bool, name: str,
        groups: int = 1,
    ) -> Tensor:
        return layers.Conv2D(
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            data_format=self.data_format,
            groups=groups,
            use_bias=use_bias,
            name=name,
        )(x)

    def batch_norm(self, x: Tensor, name: str) -> Tensor:
        return layers.BatchNormalization(axis=self.channel_axis, name=name)(x)

    def relu(self, x: Tensor, name: str) -> Tensor:
        return layers.ReLU(name=name)(x)

    def add(self, a: Tensor, b: Tensor, name: str) -> Tensor:
        return layers.Add(name=name)([a, b])

    def max_pool(self, x: Tensor, pool_size: int, strides: int, padding: str, name: str) -> Tensor:
        return layers.MaxPooling2D(pool_size, strides, padding=padding, data_format=self.data_format, name=name)(x)

    def avg_pool(
        self, x: Tensor, pool_size: tuple[int, int], strides: int, name: str, padding: str = "valid"
    ) -> Tensor:
        return layers.AveragePooling2D(
            pool_size=tuple(pool_size), strides=strides, padding=padding, data_format=self.data_format, name=name
        )(x)

    def global_avg_pool(self, x: Tensor, name: str) -> Tensor:
        return layers.GlobalAveragePooling2D(data_format=self.data_format, keepdims=True, name=name)(x)

    def sigmoid(self, x: Tensor, name: str) -> Tensor:
        return layers.Activation("sigmoid", name=name)(x)

    def multiply(self, a: Tensor, b: Tensor, name: str) -> Tensor:
        return layers.Multiply(name=name)([a, b])

    def zeros(self, x: Tensor, name: str) -> Tensor:
        return layers.Rescaling(0.0, name=name)(x)

    def concat(self, xs: list[Tensor], name: str) -> Tensor:
        return layers.Concatenate(axis=self.channel_axis, name=name)(xs)

    def flatten(self, x: Tensor, name: str) -> Tensor:
        return layers.Flatten(data_format=self.data_format, name=name)(x)

    def dense(self, x: Tensor, units: int, name: str) -> Tensor:
        return layers.Dense(units, name=name)(x)

    def channels(self, x: Tensor) -> int:
        return x.shape[self.channel_axis]

    def spatial(self, x: Tensor) -> tuple[int, int]:
        return tuple(x.shape[2:4] if self.channel_axis == 1 else x.shape[1:3])

    def repeat(self, x: Tensor, count: int, block: Callable[[Tensor, int], Tensor]) -> Tensor:
        for i in range(1, count + 1):
            x = block(x, i)
        return x


@contextlib.contextmanager
def recursion_room(frames: int) -> Iterator[None]:
    """Python's recursion limit raised by ``frames`` for the duration of the block.

    keras.Model maps a functional graph recursively, one Python frame per layer on the
    longest path, so a network deeper than the limit (1000: --blocks 150 regular blocks)
    would fail with RecursionError. Those frames call Python from Python, which CPython
    3.11+ runs without growing the C stack.
    """
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(previous + frames)
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def build_from_spec(spec: ResNetSpec, initialize: bool = True) -> keras.Model:
    """Build the functional model for a validated spec (random weights, nothing downloaded).

    ``initialize=False`` is the inspection build: the same layers, graph, variables (names, shapes,
    dtypes) and configurations (the initializers included), but no initial values are drawn. Most of
    a build is drawing them, and a walk reads shapes, never values. Such a model is for walking only:
    reading a variable's value gives a fresh draw of its initializer each time (Keras' deferred
    variables); anything that runs the model (``bench``, ``--measure``, ``--verify``) builds with values.
    """
    with recursion_room(record(spec).layers):  # one frame per layer, counted without building
        if initialize:
            return _build(spec)
        return _deferred_build(spec)


def _build(spec: ResNetSpec) -> keras.Model:
    inputs, outputs = network(KerasOps(spec.data_format), spec)
    return keras.Model(inputs, outputs, name=spec.name)


def _deferred_build(spec: ResNetSpec) -> keras.Model:
    """The model of ``spec`` with its variables left uninitialized.

    A variable created inside ``keras.StatelessScope`` keeps its initializer for later instead of
    drawing values; ``initialize_variables=False`` keeps them uninitialized when the scope closes.
    Keras also lists such variables globally, so that the next scope to close at the top level draws
    them all: this model's are taken off that list, or the next build in the process (the next model
    of a ``compare``) would pay for drawing them. Keras has no public call for that list.
    """
    with keras.StatelessScope(initialize_variables=False):
        model = _build(spec)
    _forget_deferred(model.weights)
    return model


def _forget_deferred(variables: list[Any]) -> None:
    try:
        from keras.src.backend.common import global_state
    except ImportError:  # another Keras layout: the variables are drawn by the next scope that closes
        return
    pending = global_state.get_global_attribute("uninitialized_variables")
    if pending:
        mine = {id(v) for v in variables}
        global_state.set_global_attribute("uninitialized_variables", [v for v in pending if id(v) not in mine])


def build_resnet(
    depth: int | None = 50,
    *,
    blocks: tuple[int, ...] | None = None,
    block_type: BlockKind | str | None = None,
    input_size: int | tuple[int, int] = 224,
    classes: int = 1000,
    width: int = 64,
    use_bias: bool = True,
    data_format: DataFormat | str = "channels_last",
    version: str = "v2",
) -> keras.Model:
    """Build a ResNet: a published depth (18/34/50/101/152/200) or a custom layout.

    >>> model = build_resnet(50)                       # the seeds' ResNet-50 v2
    >>> model = build_resnet(50, version="v1", use_bias=False)  # the paper's ResNet-50
    >>> model = build_resnet(blocks=(1, 1, 1, 1), block_type="regular", input_size=32)
    """
    spec = make_spec(
        depth,
        blocks=blocks,
        block_kind=block_type,
        input_size=input_size,
        classes=classes,
        width=width,
        use_bias=use_bias,
        data_format=data_format,
        version=version,
    )
    return build_from_spec(spec)
