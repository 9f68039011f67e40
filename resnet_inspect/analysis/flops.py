"""MACs and FLOPs per layer: a table from layer type to handler. No TensorFlow here.

The counting convention is :data:`CONVENTION` at the end of this module, with its
one-line form :data:`CONVENTION_LINE`; every report and export states it from
there. In short, ``macs`` are what the ResNet paper calls "FLOPs" (3.8 x 10^9 for
ResNet-50) and ``flops`` count every operation, for a batch of one.

A layer type without a handler is *unsupported*: its MACs and FLOPs are unknown
(``None``), never 0, and it is listed in every output.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from resnet_inspect.analysis import cost_ops, cost_seq
from resnet_inspect.analysis.cost_base import (
    ACTIVATION_FLOPS,
    Cost,
    Handler,
    LayerInfo,
    Shape,
    Uncountable,
    free,
    per_element,
)
from resnet_inspect.analysis.cost_base import activation_flops as _activation_flops
from resnet_inspect.analysis.cost_base import channel_axis as _channel_axis
from resnet_inspect.analysis.cost_base import elements as _elements
from resnet_inspect.analysis.cost_base import known as _known
from resnet_inspect.analysis.cost_base import spatial as _spatial

__all__ = ["ACTIVATION_FLOPS", "HANDLERS", "Cost", "LayerInfo", "Uncountable", "cost_of"]


def conv(info: LayerInfo) -> Cost:
    """Conv1D/2D/3D: one MAC per kernel tap, input channel (within its group) and output element.

    macs  = prod(out_spatial) * filters * prod(kernel) * (c_in / groups)
    flops = 2 * macs (a multiply-add is 2) + out_elements if bias + activation
    """
    (in_shape,) = info.input_shapes
    c_in = in_shape[_channel_axis(info)]
    groups = int(info.config.get("groups", 1))
    out = _elements(info.output_shape)
    kernel = math.prod(info.config["kernel_size"])
    macs = out * kernel * (c_in // groups)
    flops = 2 * macs
    if info.config.get("use_bias", True):
        flops += out  # one add per output element
    flops += _activation_flops(info.config.get("activation"), out)
    return Cost(macs, flops)


def depthwise_conv(info: LayerInfo) -> Cost:
    """DepthwiseConv: each output element sees prod(kernel) taps of one input channel."""
    out = _elements(info.output_shape)
    macs = out * math.prod(info.config["kernel_size"])
    flops = 2 * macs + (out if info.config.get("use_bias", True) else 0)
    flops += _activation_flops(info.config.get("activation"), out)
    return Cost(macs, flops)


def separable_conv(info: LayerInfo) -> Cost:
    """SeparableConv: depthwise (prod(kernel) per mid element) then pointwise 1x1 (c_mid per output)."""
    (in_shape,) = info.input_shapes
    c_in = in_shape[_channel_axis(info)]
    c_mid = c_in * int(info.config.get("depth_multiplier", 1))
    out = _elements(info.output_shape)
    spatial_out = math.prod(_spatial(info.output_shape, info))
    macs = spatial_out * c_mid * math.prod(info.config["kernel_size"]) + out * c_mid
    flops = 2 * macs + (out if info.config.get("use_bias", True) else 0)
    flops += _activation_flops(info.config.get("activation"), out)
    return Cost(macs, flops)


def conv_transpose(info: LayerInfo) -> Cost:
    """ConvTranspose: every input element is scattered over prod(kernel) * filters outputs."""
    (in_shape,) = info.input_shapes
    ins = _elements(in_shape)
    filters = int(info.config["filters"])
    out = _elements(info.output_shape)
    macs = ins * math.prod(info.config["kernel_size"]) * filters // int(info.config.get("groups", 1))
    flops = 2 * macs + (out if info.config.get("use_bias", True) else 0)
    flops += _activation_flops(info.config.get("activation"), out)
    return Cost(macs, flops)


def dense(info: LayerInfo) -> Cost:
    """Dense: in_features MACs per output element (applied over all leading axes).

    macs  = prod(leading) * in_features * units
    flops = 2 * macs + units if bias + activation
    """
    (in_shape,) = info.input_shapes
    out = _elements(info.output_shape)
    macs = out * in_shape[-1]
    flops = 2 * macs + (out if info.config.get("use_bias", True) else 0)
    flops += _activation_flops(info.config.get("activation"), out)
    return Cost(macs, flops)


def batch_norm(info: LayerInfo) -> Cost:
    """Inference BN folds to y = a * x + b per channel: 1 multiply + 1 add per element.

    (a = gamma / sqrt(var + eps) and b = beta - mean * a are per-channel constants.)
    """
    return Cost(0, 2 * _elements(info.output_shape))


def activation_layer(info: LayerInfo) -> Cost:
    """Activation: ACTIVATION_FLOPS[name] per element (relu 1, sigmoid 4, softmax 3, ...)."""
    return Cost(0, _activation_flops(info.config.get("activation"), _elements(info.output_shape)))


def relu_layer(info: LayerInfo) -> Cost:
    """ReLU: max(x, 0) is 1 per element; a cap (max_value) or a leak (negative_slope) adds 1 each."""
    per = 1
    if info.config.get("max_value") is not None:
        per += 1
    if info.config.get("negative_slope"):
        per += 1
    return Cost(0, per * _elements(info.output_shape))


def merge(info: LayerInfo) -> Cost:
    """Add / Subtract / Multiply / Maximum / Minimum of n tensors: n - 1 operations per element."""
    return Cost(0, (len(info.input_shapes) - 1) * _elements(info.output_shape))


def average_merge(info: LayerInfo) -> Cost:
    """Average of n tensors: n - 1 adds and 1 divide per element."""
    return Cost(0, len(info.input_shapes) * _elements(info.output_shape))


def max_pool(info: LayerInfo) -> Cost:
    """MaxPool: a window of k taps takes k - 1 comparisons per output element.

    With 'same' padding the border windows are smaller; the full window is counted.
    """
    window = math.prod(info.config["pool_size"])
    return Cost(0, (window - 1) * _elements(info.output_shape))


def avg_pool(info: LayerInfo) -> Cost:
    """AveragePool: k - 1 adds and 1 divide per output element, k taps per window."""
    window = math.prod(info.config["pool_size"])
    return Cost(0, window * _elements(info.output_shape))


def global_avg_pool(info: LayerInfo) -> Cost:
    """GlobalAveragePool: per channel, HW - 1 adds and 1 divide, i.e. one FLOP per input element."""
    (in_shape,) = info.input_shapes
    return Cost(0, _elements(in_shape))


def global_max_pool(info: LayerInfo) -> Cost:
    """GlobalMaxPool: per channel, HW - 1 comparisons."""
    (in_shape,) = info.input_shapes
    channels = in_shape[_channel_axis(info)]
    return Cost(0, _elements(in_shape) - channels)


def _inner(info: LayerInfo, input_shapes: tuple[Shape, ...], output_shape: Shape) -> Cost:
    """The cost of the layer a wrapper holds (its config under ``layer``), through the joint table."""
    layer = info.config.get("layer")
    if not isinstance(layer, Mapping):
        raise Uncountable("the wrapped layer's configuration is unreadable")
    cost = cost_of(LayerInfo(str(layer.get("class_name")), layer.get("config", {}), input_shapes, output_shape))
    if cost is None:
        raise Uncountable(f"the wrapped layer type {layer.get('class_name')} has no FLOP handler")
    return cost


def bidirectional(info: LayerInfo) -> Cost:
    """Bidirectional: twice the wrapped layer, plus 1 FLOP per output element to merge unless it concatenates."""
    merge = info.config.get("merge_mode", "concat")
    one = _inner(info, info.input_shapes[:1], info.output_shape)
    joined = 0 if merge in ("concat", None) else _elements(info.output_shape)
    return Cost(2 * one.macs, 2 * one.flops + joined)


def time_distributed(info: LayerInfo) -> Cost:
    """TimeDistributed: T times the wrapped layer applied to one step."""
    (shape,) = info.input_shapes[:1]
    steps = _known(shape[0], "the number of time steps")
    one = _inner(info, (shape[1:],), info.output_shape[1:])
    return Cost(steps * one.macs, steps * one.flops)


def cost_of(info: LayerInfo) -> Cost | None:
    """The layer's cost, or None when its type has no handler.

    Raises Uncountable when the type is known but its cost cannot be determined.
    """
    handler = HANDLERS.get(info.layer_type)
    if handler is None:
        return None
    return handler(info)


# Layer class name -> handler. Keras class names, as ``type(layer).__name__`` gives them.
HANDLERS: dict[str, Handler] = {
    "Conv1D": conv,
    "Conv2D": conv,
    "Conv3D": conv,
    "DepthwiseConv2D": depthwise_conv,
    "SeparableConv2D": separable_conv,
    "Conv1DTranspose": conv_transpose,
    "Conv2DTranspose": conv_transpose,
    "Conv3DTranspose": conv_transpose,
    "DepthwiseConv1D": depthwise_conv,
    "SeparableConv1D": separable_conv,
    "Dense": dense,
    "BatchNormalization": batch_norm,
    "ReLU": relu_layer,
    "Activation": activation_layer,
    "Softmax": per_element(ACTIVATION_FLOPS["softmax"]),
    "LeakyReLU": per_element(ACTIVATION_FLOPS["leaky_relu"]),
    "PReLU": per_element(2),  # compare, multiply by the learned slope
    "ELU": per_element(ACTIVATION_FLOPS["elu"]),
    "Add": merge,
    "Subtract": merge,
    "Multiply": merge,
    "Maximum": merge,
    "Minimum": merge,
    "Average": average_merge,
    "MaxPooling1D": max_pool,
    "MaxPooling2D": max_pool,
    "MaxPooling3D": max_pool,
    "AveragePooling1D": avg_pool,
    "AveragePooling2D": avg_pool,
    "AveragePooling3D": avg_pool,
    "GlobalAveragePooling1D": global_avg_pool,
    "GlobalAveragePooling2D": global_avg_pool,
    "GlobalAveragePooling3D": global_avg_pool,
    "GlobalMaxPooling1D": global_max_pool,
    "GlobalMaxPooling2D": global_max_pool,
    "GlobalMaxPooling3D": global_max_pool,
    "Rescaling": per_element(2),  # x * scale + offset
    "Normalization": per_element(2),  # (x - mean) / std, folded to a multiply and an add
    "InputLayer": free,
    "ZeroPadding1D": free,
    "ZeroPadding2D": free,
    "ZeroPadding3D": free,
    "Cropping1D": free,
    "Cropping2D": free,
    "Cropping3D": free,
    "Flatten": free,
    "Reshape": free,
    "Permute": free,
    "Concatenate": free,
    **dict.fromkeys(
        (
            *("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "AlphaDropout"),
            *("GaussianDropout", "GaussianNoise", "ActivityRegularization", "Masking", "Identity"),
            "RepeatVector",
        ),
        free,
    ),  # inference: identity, copies or a mask
    "Bidirectional": bidirectional,
    "TimeDistributed": time_distributed,
    **cost_seq.HANDLERS,
    **cost_ops.HANDLERS,
}


# What ``macs`` and ``flops`` count, as the JSON exports and the Markdown report state it.
CONVENTION = {
    "macs": "multiply-accumulates of matrix products: conv, dense, attention, recurrent and matmul/einsum ops "
    "(what the ResNet paper calls FLOPs)",
    "flops": "every floating-point operation of one inference pass: a multiply-add is 2; bias add, "
    "BN scale and shift, ReLU, residual add and pooling are each counted",
    "batch": 1,
}
# The same convention in one line, as every console table is headed.
CONVENTION_LINE = (
    "MACs = multiply-accumulates of conv/dense layers (the ResNet paper's \"FLOPs\"); "
    "FLOPs = every floating-point operation, a multiply-add counts 2. Batch of 1."
)
