"""The layer operations the topology (:mod:`resnet_inspect.model.topology`) calls, and the shape helpers
both of its backends share: :class:`resnet_inspect.model.builder.KerasOps` makes Keras layers,
:class:`resnet_inspect.model.recorder.Recorder` records names, shapes and parameters. No TensorFlow here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from resnet_inspect.model.spec import DataFormat

T = TypeVar("T")  # a tensor handle: a KerasTensor, or a recorded node


class Ops(Protocol[T]):
    """The layer operations the topology calls; ``name`` is the layer's name, byte for byte."""

    def input(self, shape: tuple[int, ...], name: str) -> T: ...

    def zero_pad(self, x: T, before: int, after: int, name: str) -> T: ...

    def conv2d(
        self, x: T, filters: int, kernel_size: int, strides: int, padding: str, use_bias: bool, name: str,
        groups: int = 1,
    ) -> T: ...

    def batch_norm(self, x: T, name: str) -> T: ...

    def relu(self, x: T, name: str) -> T: ...

    def add(self, a: T, b: T, name: str) -> T: ...

    def max_pool(self, x: T, pool_size: int, strides: int, padding: str, name: str) -> T: ...

    def avg_pool(self, x: T, pool_size: tuple[int, int], strides: int, name: str, padding: str = "valid") -> T: ...

    def global_avg_pool(self, x: T, name: str) -> T:
        """The mean of each channel, kept as a 1x1 map."""
        ...

    def sigmoid(self, x: T, name: str) -> T: ...

    def multiply(self, a: T, b: T, name: str) -> T:
        """Elementwise, ``b`` (a 1x1 map) broadcast over ``a``'s map."""
        ...

    def zeros(self, x: T, name: str) -> T:
        """A map of zeros shaped as ``x`` (x scaled by 0: no parameters)."""
        ...

    def concat(self, xs: list[T], name: str) -> T:
        """Along the channels."""
        ...

    def flatten(self, x: T, name: str) -> T: ...

    def dense(self, x: T, units: int, name: str) -> T: ...

    def channels(self, x: T) -> int: ...

    def spatial(self, x: T) -> tuple[int, int]: ...

    def repeat(self, x: T, count: int, block: Callable[[T, int], T]) -> T:
        """``block(x, i)`` for i = 1..count, each on the previous output (a recorder may run it once)."""
        ...


def map_shape(data_format: DataFormat | str, h: int, w: int, channels: int) -> tuple[int, int, int]:
    """A feature map's shape without the batch axis, in ``data_format``'s order."""
    if DataFormat(data_format) is DataFormat.CHANNELS_FIRST:
        return (channels, h, w)
    return (h, w, channels)


def channel_index(data_format: DataFormat | str) -> int:
    """Where the channels sit in a shape without the batch axis."""
    return 0 if DataFormat(data_format) is DataFormat.CHANNELS_FIRST else -1
