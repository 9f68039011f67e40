"""What every FLOP handler shares: the layer's plain data, the cost, and per-element helpers. No TensorFlow.

A handler maps a :class:`LayerInfo` (plain data extracted from one call of a layer or op, the batch
axis removed) to a :class:`Cost` for a batch of one, or raises :class:`Uncountable` when its type is
known but this call's cost cannot be determined (an unknown dimension, a mode with no formula).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Shape = tuple[int, ...]


@dataclass(frozen=True)
class LayerInfo:
    """What a handler may look at: plain data extracted from one call (batch axis removed).

    ``named_shapes`` holds the shapes of the tensors given by argument name (``query``, ``value``)
    where the call's signature names them, for the handlers whose inputs play different roles.
    """

    layer_type: str
    config: Mapping[str, Any]
    input_shapes: tuple[Shape, ...]
    output_shape: Shape
    named_shapes: Mapping[str, Shape] = field(default_factory=dict)


@dataclass(frozen=True)
class Cost:
    macs: int
    flops: int


class Uncountable(Exception):
    """A supported layer whose cost cannot be determined (e.g. an unknown spatial size)."""


Handler = Callable[[LayerInfo], Cost]


def elements(shape: Shape) -> int:
    if any(d is None for d in shape):
        raise Uncountable(f"shape {shape} has an unknown dimension")
    return math.prod(shape)


def known(value: Any, what: str) -> int:
    """A dimension that must be known for the formula."""
    if value is None:
        raise Uncountable(f"{what} is unknown")
    return int(value)


def channel_axis(info: LayerInfo) -> int:
    return 0 if info.config.get("data_format") == "channels_first" else -1


def spatial(shape: Shape, info: LayerInfo) -> Shape:
    return shape[1:] if channel_axis(info) == 0 else shape[:-1]


# Element-wise activations: FLOPs per element. Transcendentals (exp, tanh, erf) count 1.
ACTIVATION_FLOPS: dict[str, int] = {
    "linear": 0,
    "relu": 1,  # max(x, 0)
    "relu6": 2,  # min(max(x, 0), 6)
    "sigmoid": 4,  # 1 / (1 + exp(-x)): neg, exp, add, div
    "hard_sigmoid": 3,  # clip(x / 6 + 0.5): div, add, clip
    "tanh": 1,
    "softmax": 3,  # exp, add into the sum, div by the sum
    "log_softmax": 4,  # x - max, exp, sum, log folded: one more than softmax
    "swish": 5,  # x * sigmoid(x)
    "silu": 5,
    "hard_swish": 4,  # x * hard_sigmoid(x)
    "hard_silu": 4,
    "elu": 3,  # x > 0 ? x : exp(x) - 1: compare, exp, sub
    "selu": 4,
    "gelu": 8,  # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), approximated form
    "leaky_relu": 2,  # compare, mul
    "softplus": 3,  # log(1 + exp(x))
    "softsign": 3,  # x / (1 + |x|)
    "exponential": 1,
}


def activation_flops(name: object, count: int) -> int:
    """FLOPs of activation ``name`` (a Keras activation's name, or None for none) over ``count`` elements."""
    if name is None:
        return 0
    if not isinstance(name, str) or name not in ACTIVATION_FLOPS:
        raise Uncountable(f"activation {name!r} has no FLOP formula")
    return ACTIVATION_FLOPS[name] * count


def per_element(count: int) -> Handler:
    """A layer costing ``count`` FLOPs per output element."""

    def handler(info: LayerInfo) -> Cost:
        return Cost(0, count * elements(info.output_shape))

    handler.__doc__ = f"{count} FLOP(s) per output element."
    return handler


def per_input_element(info: LayerInfo) -> Cost:
    """Reductions (sum, mean, max, ...) and the like: one FLOP per input element read."""
    return Cost(0, elements(info.input_shapes[0]))


def free(info: LayerInfo) -> Cost:
    """Data movement only (padding, reshaping, slicing, dropout at inference, the input): no FLOPs."""
    return Cost(0, 0)
