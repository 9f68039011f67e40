"""FLOP handlers of the layers beyond convolutions: normalizations, attention, recurrent layers,
embeddings and resampling. No TensorFlow here.

Each handler states its formula in its docstring, for one call on a batch of one. ``T`` and ``S``
are the query and key/value lengths (the product of the axes between batch and features), ``d``
feature sizes, ``u`` recurrent units. MACs are the multiply-accumulates of the layer's matrix
products; every other operation is in FLOPs only (a multiply-add is 2 FLOPs).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from resnet_inspect.analysis.cost_base import (
    Cost,
    Handler,
    LayerInfo,
    Shape,
    Uncountable,
    activation_flops,
    elements,
    free,
    known,
)


def _axes(config: Mapping[str, Any], rank: int) -> tuple[int, ...]:
    """The normalized axes of the config (counted with the batch axis) as axes of the batch-less shape."""
    axis = config.get("axis", -1)
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    return tuple(a - 1 if a > 0 else rank + a for a in (int(a) for a in axes))


def _affine(config: Mapping[str, Any]) -> int:
    """Per element: 1 for the γ multiply (``scale``), 1 for the β add (``center``)."""
    return int(config.get("scale", True)) + int(config.get("center", True))


def layer_norm(info: LayerInfo) -> Cost:
    """LayerNormalization over ``axis``: per element 5 (add into the mean, subtract the mean, square, add
    into the variance, multiply by 1/σ) + 1 for γ + 1 for β; per normalized group 4 (mean and variance
    divides, + ε, rsqrt). With ``rms_scaling`` no mean: 3 per element (square, sum, multiply) + γ, and
    3 per group."""
    out = elements(info.output_shape)
    group = math.prod(info.output_shape[a] for a in _axes(info.config, len(info.output_shape)))
    if info.config.get("rms_scaling"):
        return Cost(0, out * (3 + int(info.config.get("scale", True))) + 3 * (out // group))
    return Cost(0, out * (5 + _affine(info.config)) + 4 * (out // group))


def group_norm(info: LayerInfo) -> Cost:
    """GroupNormalization: as layer_norm within each of ``groups`` groups of channels: 5 + γ + β per
    element and 4 per group."""
    return Cost(0, elements(info.output_shape) * (5 + _affine(info.config)) + 4 * int(info.config["groups"]))


def unit_norm(info: LayerInfo) -> Cost:
    """UnitNormalization: x / ||x|| over ``axis``: per element 3 (square, add into the sum, multiply by the
    inverse norm); per vector 1 (rsqrt)."""
    out = elements(info.output_shape)
    group = math.prod(info.output_shape[a] for a in _axes(info.config, len(info.output_shape)))
    return Cost(0, 3 * out + out // group)


def _length(shape: Shape) -> int:
    """Positions of a (..., features) tensor: the product of every axis but the last."""
    return elements(shape[:-1])


def multi_head_attention(info: LayerInfo) -> Cost:
    """MultiHeadAttention with h heads, key_dim k, value_dim v, query (T, d_q), value (S, d_v), key (S, d_k):

    macs = T d_q h k + S d_k h k + S d_v h v   (the Q, K, V projections)
         + h T S k + h T S v                   (QKᵀ and the attention-weighted values AV)
         + T h v d_out                         (the output projection; d_out = output_shape or d_q)
    flops = 2 macs + biases (T h k + S h k + S h v + T d_out) + T h k (scaling Q by 1/sqrt(k))
          + 3 h T S (softmax). Attention over all axes between batch and features (Keras' default).
    """
    config = info.config
    shapes = info.named_shapes
    query = shapes.get("query", info.input_shapes[0])
    value = shapes.get("value", info.input_shapes[min(1, len(info.input_shapes) - 1)])
    key = shapes.get("key", value)
    if config.get("use_gate") or config.get("sliding_window") is not None:
        raise Uncountable("MultiHeadAttention with use_gate or sliding_window has no formula here")
    axes = config.get("attention_axes")
    if axes is not None and [int(a) for a in axes] != list(range(1, len(query))):
        raise Uncountable(f"attention over axes {axes} has no formula here")
    h, k = int(config["num_heads"]), int(config["key_dim"])
    v = int(config.get("value_dim") or k)
    t, s = _length(query), _length(value)
    d_q, d_k = known(query[-1], "query features"), known(key[-1], "key features")
    d_v = known(value[-1], "value features")
    d_out = elements(info.output_shape[len(query) - 1 :])
    macs = t * d_q * h * k + s * d_k * h * k + s * d_v * h * v + h * t * s * (k + v) + t * h * v * d_out
    bias = (t * h * k + s * h * k + s * h * v + t * d_out) if config.get("use_bias", True) else 0
    return Cost(macs, 2 * macs + bias + t * h * k + 3 * h * t * s)


def _query_value(info: LayerInfo) -> tuple[int, int, int, int]:
    """(T, S, d, d_v) of an Attention layer called on [query, value] or [query, value, key]."""
    query, value = info.input_shapes[0], info.input_shapes[1]
    key = info.input_shapes[2] if len(info.input_shapes) > 2 else value
    return _length(query), _length(value), known(key[-1], "key features"), known(value[-1], "value features")


def dot_attention(info: LayerInfo) -> Cost:
    """Attention (Luong): score_mode 'dot': macs = T S d (QKᵀ) + T S d_v (AV); flops = 2 macs + T S if
    ``use_scale`` + 3 T S (softmax). score_mode 'concat': scores = w Σ tanh(scale (q + k)), 3 + use_scale
    FLOPs per (t, s, feature) and 1 per score; macs = T S d_v (AV)."""
    t, s, d, d_v = _query_value(info)
    scale = int(bool(info.config.get("use_scale")))
    softmax = 3 * t * s
    if info.config.get("score_mode", "dot") == "dot":
        macs = t * s * (d + d_v)
        return Cost(macs, 2 * macs + scale * t * s + softmax)
    macs = t * s * d_v
    return Cost(macs, 2 * macs + t * s * d * (3 + scale) + t * s + softmax)


def additive_attention(info: LayerInfo) -> Cost:
    """AdditiveAttention (Bahdanau): scores = Σ scale · tanh(q + k): per (t, s, feature) 3 + use_scale FLOPs
    (add, tanh, add into the sum, the scale multiply); softmax 3 T S; macs = T S d_v (AV), flops + 2 macs."""
    t, s, d, d_v = _query_value(info)
    scale = int(bool(info.config.get("use_scale", True)))
    macs = t * s * d_v
    return Cost(macs, 2 * macs + t * s * d * (3 + scale) + 3 * t * s)


# Recurrent cells: gates g, and the FLOPs per unit and step besides the matrix products, biases and
# activations: LSTM c = f c + i g, h = o tanh(c) and the x W + h U adds (4 + 4); GRU x + h adds for z, r
# and the candidate, r ⊙ (h U), h = z h + (1 - z) ĥ (8); SimpleRNN the x W + h U add (1).
_CELLS: dict[str, tuple[int, int]] = {"LSTM": (4, 8), "GRU": (3, 8), "SimpleRNN": (1, 1)}
# Activations per unit and step: (recurrent_activation count, activation count).
_CELL_ACTIVATIONS: dict[str, tuple[int, int]] = {"LSTM": (3, 2), "GRU": (2, 1), "SimpleRNN": (0, 1)}


def recurrent(info: LayerInfo) -> Cost:
    """LSTM / GRU / SimpleRNN over T steps, input features d, u units, g gates (4 / 3 / 1):

    macs  = T g u (d + u)   (the input and recurrent matrix products of every step)
    flops = 2 macs + T u (bias adds (g, or 2g for GRU's reset_after) + the cell's element-wise
            arithmetic (LSTM 8, GRU 8, SimpleRNN 1) + its activations: LSTM 3 recurrent + 2 output,
            GRU 2 + 1, SimpleRNN 1, at the FLOPs of each activation)
    """
    kind = info.layer_type
    (shape,) = info.input_shapes[:1]
    steps, d = known(shape[0], "the number of time steps"), known(shape[-1], "input features")
    u = int(info.config["units"])
    gates, arithmetic = _CELLS[kind]
    recurrent_count, output_count = _CELL_ACTIVATIONS[kind]
    macs = steps * gates * u * (d + u)
    bias = gates * (2 if kind == "GRU" and info.config.get("reset_after", True) else 1)
    per_unit = (bias if info.config.get("use_bias", True) else 0) + arithmetic
    activations = activation_flops(info.config.get("recurrent_activation"), recurrent_count) + activation_flops(
        info.config.get("activation"), output_count
    )
    return Cost(macs, 2 * macs + steps * u * (per_unit + activations))


def resample(info: LayerInfo) -> Cost:
    """UpSampling / Resizing: 'nearest' copies (0 FLOPs); 'bilinear' is 7 FLOPs per output element
    (4 neighbours times their weights, 3 adds). Other interpolations have no formula here."""
    mode = info.config.get("interpolation", "nearest")
    if mode == "nearest":
        return Cost(0, 0)
    if mode == "bilinear":
        return Cost(0, 7 * elements(info.output_shape))
    raise Uncountable(f"interpolation {mode!r} has no FLOP formula")


def _scale(count: int) -> Handler:
    def handler(info: LayerInfo) -> Cost:
        return Cost(0, count * elements(info.output_shape))

    return handler


layer_scale: Callable[[LayerInfo], Cost] = _scale(1)
layer_scale.__doc__ = "LayerScale (ConvNeXt): x · γ, 1 FLOP per element."
custom_scale: Callable[[LayerInfo], Cost] = _scale(2)
custom_scale.__doc__ = "CustomScaleLayer (InceptionResNetV2): x + y · scale, 2 FLOPs per element."


# Layer class name -> handler.
HANDLERS: dict[str, Handler] = {
    "LayerNormalization": layer_norm,
    "RMSNormalization": layer_norm,
    "GroupNormalization": group_norm,
    "UnitNormalization": unit_norm,
    "MultiHeadAttention": multi_head_attention,
    "Attention": dot_attention,
    "AdditiveAttention": additive_attention,
    "LSTM": recurrent,
    "GRU": recurrent,
    "SimpleRNN": recurrent,
    "Embedding": free,  # a table lookup: one row read per token, no arithmetic
    "UpSampling1D": resample,
    "UpSampling2D": resample,
    "UpSampling3D": resample,
    "Resizing": resample,
    "LayerScale": layer_scale,
    "CustomScaleLayer": custom_scale,
}
