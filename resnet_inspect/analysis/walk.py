"""Walk a built Keras functional model layer by layer (public Keras API only) into records."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from resnet_inspect._tf import keras
from resnet_inspect.analysis import flops
from resnet_inspect.analysis.records import SPLIT_FIELDS, LayerRecord, ParamSplit, Shape, Unsupported
from resnet_inspect.analysis.report import Report
from resnet_inspect.model import naming

# Variable name (last path component) -> parameter role (a field of ParamSplit; any other name is "other").
WEIGHT_ROLES: dict[str, str] = {
    "kernel": "weights",
    "depthwise_kernel": "weights",
    "pointwise_kernel": "weights",
    "recurrent_kernel": "weights",
    "embeddings": "weights",
    "bias": "biases",
    "gamma": "bn_trainable",
    "beta": "bn_trainable",
    "moving_mean": "bn_non_trainable",
    "moving_variance": "bn_non_trainable",
}

Grouping = Callable[[str], "naming.Group | None"]


def _shape(tensor: Any) -> Shape:
    """Shape without the batch axis."""
    return tuple(tensor.shape[1:])


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, dict):
        return list(value.values())
    return [value]


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of a config value (tuples become lists, objects their repr)."""
    return json.loads(json.dumps(value, default=repr))


def _param_split(layer: Any) -> ParamSplit:
    split = dict.fromkeys(SPLIT_FIELDS, 0)
    for variable in layer.weights:
        split[WEIGHT_ROLES.get(variable.name, "other")] += math.prod(variable.shape)
    return ParamSplit(**split)


def _inbound(layer: Any, producers: Mapping[int, str]) -> tuple[list[Any], tuple[str, ...]]:
    """Input tensors of a single-call layer, and the names of the layers that made them."""
    if isinstance(layer, keras.layers.InputLayer):
        return [], ()
    tensors = _as_list(layer.input)
    return tensors, tuple(producers.get(id(t), "?") for t in tensors)


def _record(layer: Any, producers: dict[int, str], grouping: Grouping) -> tuple[LayerRecord, Unsupported | None]:
    """The record of one layer (its outputs entered in ``producers``), and why its cost is unknown if it is."""
    layer_type = type(layer).__name__
    try:
        input_tensors, inputs = _inbound(layer, producers)
        output = layer.output
    except (AttributeError, ValueError) as exc:  # shared layers have several calls
        raise TypeError(f"layer {layer.name!r} cannot be walked: {exc}") from None
    outputs = _as_list(output)
    for tensor in outputs:
        producers[id(tensor)] = layer.name
    out_shape = _shape(outputs[0])
    in_shapes = tuple(_shape(t) for t in input_tensors) or (out_shape,)
    layer_config = _plain(layer.get_config())
    try:
        cost = flops.cost_of(flops.LayerInfo(layer_type, layer_config, in_shapes, out_shape))
        reason = f"no FLOP handler for layer type {layer_type}"
    except flops.Uncountable as exc:
        cost, reason = None, str(exc)
    trainable = sum(math.prod(v.shape) for v in layer.trainable_weights)
    non_trainable = sum(math.prod(v.shape) for v in layer.non_trainable_weights)
    group = grouping(layer.name)
    record = LayerRecord(
        name=layer.name,
        stage=group.stage if group else None,
        block=group.block if group else None,
        layer_type=layer_type,
        inputs=inputs,
        input_shapes=in_shapes,
        output_shape=out_shape,
        config=tuple(sorted(layer_config.items())),
        split=_param_split(layer),
        params=trainable + non_trainable,
        trainable=trainable,
        non_trainable=non_trainable,
        macs=cost.macs if cost else None,
        flops=cost.flops if cost else None,
    )
    return record, (None if cost else Unsupported(layer.name, layer_type, reason))


def analyze(
    model: keras.Model,
    config: Mapping[str, Any] | None = None,
    grouping: Grouping = naming.group_of,
) -> Report:
    """Walk ``model`` in graph order and return an immutable :class:`Report`.

    Works on any Keras functional model. Stage and block come from the layer
    names through ``grouping`` (the seeds' scheme by default); layers it does not
    recognise have no stage or block, and only the layer level is available.
    """
    if not getattr(model, "built", False) or not hasattr(model, "inputs"):
        raise TypeError("analyze() needs a built Keras functional model")
    producers: dict[int, str] = {}
    walked = [_record(layer, producers, grouping) for layer in model.layers]
    return Report(
        model_name=model.name,
        layers=tuple(record for record, _ in walked),
        unsupported=tuple(item for _, item in walked if item is not None),
        config=tuple((config or {}).items()),
    )
