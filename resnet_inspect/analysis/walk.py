"""Walk a built Keras functional model, every call of every operation, into records.

What the walk covers (the README's "Any Keras model"):

* every node of the graph, in graph order: the layers of ``model.layers`` and the Keras ops that a
  functional graph records as nodes of their own (``keras.ops.matmul``, ``x + y``, ``x * 0.5``), which
  are typed ``ops.<Class>`` (:mod:`resnet_inspect.analysis.cost_ops`);
* every call: a layer called k times (a shared encoder) gives k rows, each with its own MACs; its
  parameters are on the row of its first call and the later calls, named ``name#2``, ``name#3``, show 0,
  so the parameters add up to ``count_params()``;
* nested models: a Functional or Sequential model used as a layer is walked into; its layers are rows
  named ``outer/inner`` (Keras forbids '/' in layer names, so the path is unambiguous), its inputs are the
  tensors of the outer call and it gets no row of its own;
* a model whose input size is unknown gets a note (:data:`DYNAMIC_NOTE`): the layers that depend on it
  have unknown MACs until a size is given.

Node order, calls and nesting come from the graph Keras builds (``model.operations``, each operation's
inbound nodes and the model's nodes by depth); Keras has no public API for the nodes themselves.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
NEST = naming.NEST  # outer/inner: the path of a layer inside a nested model
CALL = "#"  # name#2: the second call of a shared layer
DYNAMIC_NOTE = (
    "{model} takes inputs of unknown size {shapes}: the MACs and FLOPs of the layers that depend on it are "
    "unknown. Give a size with --input-size (keras.applications) or build the model with a fixed input shape."
)

Grouping = Callable[[str], "naming.Group | None"]


def _shape(tensor: Any) -> Shape:
    """Shape without the batch axis."""
    return tuple(tensor.shape[1:])


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of a config value (tuples become lists, objects their repr)."""
    return json.loads(json.dumps(value, default=repr))


def _config(op: Any) -> dict[str, Any]:
    """A layer's config; for a plain op (no config beyond its name) its public attributes (axis, subscripts)."""
    if isinstance(op, keras.layers.Layer):
        try:
            return _plain(op.get_config())
        except NotImplementedError:  # a custom layer without get_config: no config to read
            return {"name": op.name}
    return _plain({k: v for k, v in vars(op).items() if not k.startswith("_")})


def _param_split(layer: Any) -> ParamSplit:
    """Parameters by role. γ/β are a normalization's only in a normalization layer (LayerScale's gamma is not)."""
    split = dict.fromkeys(SPLIT_FIELDS, 0)
    normalization = type(layer).__name__.endswith("Normalization")
    for variable in layer.weights:
        role = WEIGHT_ROLES.get(variable.name, "other")
        if role.startswith("bn_") and not normalization:
            role = "other"
        split[role] += math.prod(variable.shape)
    return ParamSplit(**split)


def _named_shapes(op: Any, node: Any) -> dict[str, Shape]:
    """Shapes of the call's tensors by argument name, where the call's signature names them."""
    try:
        bound = inspect.signature(op.call).bind(*node.arguments.args, **node.arguments.kwargs)
    except (TypeError, ValueError, AttributeError):
        return {}
    return {k: _shape(v) for k, v in bound.arguments.items() if isinstance(v, keras.KerasTensor)}


def _graph(op: Any) -> Any | None:
    """The functional graph of a nested model (a Sequential's is built inside it), or None for a layer or op."""
    if not isinstance(op, keras.Model):
        return None
    graph = getattr(op, "_functional", None) if isinstance(op, keras.Sequential) else op
    return graph if hasattr(graph, "_nodes_by_depth") else None


def _nodes(graph: Any) -> list[Any]:
    """The graph's nodes (calls) from the inputs to the outputs; ties in the order Keras lists the operations."""
    order = {id(op): i for i, op in enumerate(graph.operations)}
    keyed = [
        ((-depth, order.get(id(node.operation), 0), node.operation._inbound_nodes.index(node)), node)
        for depth, nodes in graph._nodes_by_depth.items()
        for node in nodes
    ]
    return [node for _, node in sorted(keyed, key=lambda item: item[0])]


@dataclass
class _Walk:
    """The state of one walk: the records so far and who made each tensor."""

    grouping: Grouping
    records: list[LayerRecord] = field(default_factory=list)
    unsupported: list[Unsupported] = field(default_factory=list)
    producers: dict[int, str] = field(default_factory=dict)  # id(KerasTensor) -> record name
    names: set[str] = field(default_factory=set)
    calls: dict[int, int] = field(default_factory=dict)  # id(operation) -> calls walked so far

    def name(self, prefix: str, op: Any) -> str:
        """``prefix + op.name``, ``#k`` for the k-th call, and a further ``#n`` in the rare clash of names."""
        count = self.calls[id(op)] = self.calls.get(id(op), 0) + 1
        base = f"{prefix}{op.name}" + (f"{CALL}{count}" if count > 1 else "")
        name, n = base, 1
        while name in self.names:
            n += 1
            name = f"{base}{CALL}{n}"
        self.names.add(name)
        return name

    def graph(self, graph: Any, prefix: str) -> None:
        for node in _nodes(graph):
            op = node.operation
            if node.is_input and prefix:
                continue  # a nested model's input is the tensor of the outer call, mapped by the caller
            inner = _graph(op)
            if inner is None:
                self.node(node, prefix)
                continue
            path = self.name(prefix, op)
            outer_in, inner_in = node.input_tensors, inner.inputs
            if len(outer_in) != len(inner_in):
                raise TypeError(f"nested model {path!r} cannot be walked: its inputs do not match its call")
            for outer, inside in zip(outer_in, inner_in, strict=True):
                self.producers[id(inside)] = self.producers.get(id(outer), "?")
            self.graph(inner, path + NEST)
            for outer, inside in zip(node.output_tensors, inner.outputs, strict=False):
                self.producers[id(outer)] = self.producers.get(id(inside), "?")

    def node(self, node: Any, prefix: str) -> None:
        """The record of one call (its outputs entered in ``producers``), and why its cost is unknown if it is."""
        op = node.operation
        is_layer = isinstance(op, keras.layers.Layer)
        layer_type = _kind(op)
        first_call = id(op) not in self.calls
        name = self.name(prefix, op)
        input_tensors = [] if node.is_input else list(node.input_tensors)
        inputs = tuple(self.producers.get(id(t), "?") for t in input_tensors)
        outputs = list(node.output_tensors)
        for tensor in outputs:
            self.producers[id(tensor)] = name
        out_shape = _shape(outputs[0])
        in_shapes = tuple(_shape(t) for t in input_tensors) or (out_shape,)
        config = _config(op)
        info = flops.LayerInfo(layer_type, config, in_shapes, out_shape, _named_shapes(op, node))
        try:
            cost = flops.cost_of(info)
            reason = f"no FLOP handler for {'layer' if is_layer else 'op'} type {layer_type}"
        except flops.Uncountable as exc:
            cost, reason = None, str(exc)
        if cost is None:
            self.unsupported.append(Unsupported(name, layer_type, reason))
        counted = is_layer and first_call  # parameters belong to the first call
        trainable = sum(math.prod(v.shape) for v in op.trainable_weights) if counted else 0
        non_trainable = sum(math.prod(v.shape) for v in op.non_trainable_weights) if counted else 0
        group = self.grouping(name)
        self.records.append(
            LayerRecord(
                name=name,
                stage=group.stage if group else None,
                block=group.block if group else None,
                layer_type=layer_type,
                inputs=inputs,
                input_shapes=in_shapes,
                output_shape=out_shape,
                config=tuple(sorted(config.items())),
                split=_param_split(op) if counted else ParamSplit(),
                params=trainable + non_trainable,
                trainable=trainable,
                non_trainable=non_trainable,
                macs=cost.macs if cost else None,
                flops=cost.flops if cost else None,
            )
        )


def _kind(op: Any) -> str:
    """A record's layer type: the layer's class, or ``ops.<class>`` for a Keras op."""
    return type(op).__name__ if isinstance(op, keras.layers.Layer) else f"ops.{type(op).__name__}"


@dataclass
class _Names(_Walk):
    """A walk that only names the calls: (record name, layer type, Keras node) of each, in the walk's order."""

    found: list[tuple[str, str, Any]] = field(default_factory=list)

    def node(self, node: Any, prefix: str) -> None:
        self.found.append((self.name(prefix, node.operation), _kind(node.operation), node))


def named_nodes(model: keras.Model, nested: bool = False) -> list[tuple[str, str, Any]]:
    """(record name, layer type, Keras node) of every call, in the order and with the names :func:`analyze` gives
    ``model``'s records: how ``profile`` finds each record's layer. ``nested``: a nested model's calls are
    walked into, as :func:`analyze` does (their nodes belong to the nested model's graph, not the outer one:
    no tensor of the outer graph to cut at); else a nested model is a TypeError that names it."""
    graph = _graph(model)
    if graph is None:
        raise TypeError("named_nodes() needs a built Keras functional or Sequential model")
    if not nested:
        for node in _nodes(graph):
            if _graph(node.operation) is not None:
                raise TypeError(f"{model.name} holds the nested model {node.operation.name!r}")
    walk = _Names(naming.group_of)
    walk.graph(graph, "")
    return walk.found


def dynamic_inputs(model: keras.Model) -> tuple[Shape, ...]:
    """The shapes (without batch) of the model's inputs that have an unknown size; empty when all are fixed."""
    return tuple(shape for t in model.inputs if None in (shape := _shape(t)))


def analyze(
    model: keras.Model,
    config: Mapping[str, Any] | None = None,
    grouping: Grouping = naming.group_of,
) -> Report:
    """Walk ``model`` in graph order and return an immutable :class:`Report`.

    Works on any Keras functional or Sequential model (see the module's docstring for what is
    walked). Stage and block come from the layer names through ``grouping`` (the seeds' scheme by
    default); layers it does not recognise have no stage or block, and only the layer level is available.
    """
    graph = _graph(model)
    if not getattr(model, "built", False) or graph is None:
        raise TypeError("analyze() needs a built Keras functional or Sequential model")
    walk = _Walk(grouping)
    walk.graph(graph, "")
    dynamic = dynamic_inputs(graph)
    notes = (DYNAMIC_NOTE.format(model=model.name, shapes=", ".join(map(str, dynamic))),) if dynamic else ()
    return Report(
        model_name=model.name,
        layers=tuple(walk.records),
        unsupported=tuple(walk.unsupported),
        config=tuple((config or {}).items()),
        notes=notes,
    )
