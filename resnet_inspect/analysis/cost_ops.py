"""FLOP handlers of the Keras ops that a functional graph records as nodes of their own. No TensorFlow.

``keras.ops.matmul(a, b)``, ``x + y``, ``x * 0.5`` or ``keras.ops.softmax(x)`` applied to symbolic
tensors become ``Operation`` nodes of the graph (``keras.src.ops.*``) that are not in ``model.layers``.
The walk gives them the type ``ops.<Class>`` (``ops.Matmul``, ``ops.Add``), so that they never mix
with the layers of the same name (the ``Add`` layer), and this table counts them:

* matrix products (``ops.Matmul``, ``ops.Einsum``): one MAC per multiply-add, FLOPs = 2 MACs;
* element-wise arithmetic, comparisons and math functions: 1 FLOP per output element (a
  transcendental counts 1, as in :data:`resnet_inspect.analysis.cost_base.ACTIVATION_FLOPS`); a
  constant operand (``x * 0.5``) is broadcast, so the count is still per output element;
* activations: the FLOPs of the same-named activation per element;
* reductions (sum, mean, max, ...): 1 FLOP per input element read; variance and standard deviation 3;
* data movement (reshape, transpose, slicing, concatenation, casts, padding): 0 FLOPs, by rule;
  they move or relabel elements and do no arithmetic.

An op not listed here is unsupported: named in every output, its cost unknown, never 0.
"""

from __future__ import annotations

import math
import re

from resnet_inspect.analysis.cost_base import (
    ACTIVATION_FLOPS,
    Cost,
    Handler,
    LayerInfo,
    Uncountable,
    elements,
    free,
    known,
    per_element,
    per_input_element,
)


def matmul(info: LayerInfo) -> Cost:
    """a @ b: each output element is a dot product over a's last axis: macs = out_elements x K, flops 2 macs."""
    a = info.input_shapes[0]
    if not a:
        raise Uncountable("a matrix product of a vector per sample has no formula here")
    macs = elements(info.output_shape) * known(a[-1], "the contracted axis")
    return Cost(macs, 2 * macs)


_SUBSCRIPT = re.compile(r"^[a-zA-Z,]+->[a-zA-Z]*$")


def einsum(info: LayerInfo) -> Cost:
    """einsum of two operands: one MAC per combination of all distinct indices, macs = prod(sizes of every
    index), flops 2 macs. One operand: a sum over the dropped indices, 1 FLOP per input element.
    The batch axis counts 1 (a batch of one)."""
    subscripts = str(info.config.get("subscripts", "")).replace(" ", "")
    if not _SUBSCRIPT.match(subscripts):
        raise Uncountable(f"einsum {subscripts!r} has no formula here (ellipsis or unreadable)")
    operands = subscripts.split("->")[0].split(",")
    if len(operands) != len(info.input_shapes) or len(operands) > 2:
        raise Uncountable(f"einsum {subscripts!r} on {len(info.input_shapes)} symbolic tensor(s)")
    sizes: dict[str, int] = {}
    for letters, shape in zip(operands, info.input_shapes, strict=True):
        full = (1, *shape)  # the batch axis, removed from the shapes, counts 1
        if len(letters) != len(full):
            raise Uncountable(f"einsum {subscripts!r}: operand rank differs from its subscripts")
        for letter, size in zip(letters, full, strict=True):
            sizes[letter] = max(sizes.get(letter, 1), known(size, f"einsum index {letter!r}"))
    if len(operands) == 1:
        return Cost(0, elements(info.input_shapes[0]))
    macs = math.prod(sizes.values())
    return Cost(macs, 2 * macs)


def gelu(info: LayerInfo) -> Cost:
    """GELU: the tanh approximation (Keras' default) costs ACTIVATION_FLOPS['gelu'] per element; the exact
    form 0.5 x (1 + erf(x / sqrt(2))) 5 (divide, erf, add, two multiplies)."""
    per = ACTIVATION_FLOPS["gelu"] if info.config.get("approximate", True) else 5
    return Cost(0, per * elements(info.output_shape))


def _three_per_input(info: LayerInfo) -> Cost:
    """Variance / standard deviation: subtract the mean, square, add into the sum: 3 per input element."""
    return Cost(0, 3 * elements(info.input_shapes[0]))


_ONE_PER_ELEMENT = (
    *("Add", "Subtract", "Multiply", "Divide", "TrueDivide", "FloorDivide", "Mod", "Power", "DivideNoNan"),
    *("Maximum", "Minimum", "Where", "Equal", "NotEqual", "Greater", "GreaterEqual", "Less", "LessEqual"),
    *("Negative", "Abs", "Absolute", "Square", "Sqrt", "Rsqrt", "Reciprocal", "Exp", "Log", "Log1p", "Expm1"),
    *("Sign", "Floor", "Ceil", "Round", "Sin", "Cos", "Tanh", "Erf", "LogicalAnd", "LogicalOr", "LogicalNot"),
)
_ACTIVATIONS = {
    "Relu": "relu", "Relu6": "relu6", "Sigmoid": "sigmoid", "HardSigmoid": "hard_sigmoid", "Silu": "silu",
    "HardSilu": "hard_silu", "Elu": "elu", "Selu": "selu", "LeakyRelu": "leaky_relu", "Softplus": "softplus",
    "Softsign": "softsign", "Softmax": "softmax", "LogSoftmax": "log_softmax",
}  # fmt: skip
_REDUCTIONS = ("Sum", "Mean", "Max", "Min", "Amax", "Amin", "Prod", "Argmax", "Argmin", "Any", "All")
_MOVES = (
    *("Reshape", "Transpose", "ExpandDims", "Squeeze", "GetItem", "Slice", "Concatenate", "Stack", "Split"),
    *("Unstack", "Cast", "Take", "TakeAlongAxis", "Tile", "Repeat", "BroadcastTo", "Moveaxis", "Swapaxes"),
    *("Flip", "Roll", "Pad", "Ravel", "ZerosLike", "OnesLike", "StopGradient", "Copy", "ConvertToTensor"),
)

# ``ops.<Class>`` -> handler.
HANDLERS: dict[str, Handler] = {
    "ops.Matmul": matmul,
    "ops.Einsum": einsum,
    "ops.Gelu": gelu,
    "ops.Clip": per_element(2),  # min and max
    **{f"ops.{name}": per_element(1) for name in _ONE_PER_ELEMENT},
    **{f"ops.{name}": per_element(ACTIVATION_FLOPS[act]) for name, act in _ACTIVATIONS.items()},
    **{f"ops.{name}": per_input_element for name in _REDUCTIONS},
    "ops.Var": _three_per_input,
    "ops.Std": _three_per_input,
    **{f"ops.{name}": free for name in _MOVES},
}
