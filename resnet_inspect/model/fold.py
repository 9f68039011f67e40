"""The deployed network: every BatchNormalization that directly follows a convolution folded into it.

Inference engines (TensorRT, OpenVINO, TFLite's converter, ONNX Runtime) fold an inference-mode BN
into the convolution before it: with ``s = gamma / sqrt(moving_variance + epsilon)`` per output
channel,

    W' = W * s        (each output channel's kernel scaled)
    b' = (b - moving_mean) * s + beta        (b = 0 for a convolution without bias: it gains one)

A BN folds when its only input is the output of a convolution (Conv1D/2D/3D or DepthwiseConv2D, no
activation of its own, called once) that feeds nothing else, and it normalises that convolution's
channel axis. Any other BN stays, with the reason (:attr:`Folding.kept`): a v2 network's pre-activation
BNs read a residual sum, a pooled map or the input, which no single convolution produced.

The folded network is a real Keras model, made with ``keras.models.clone_model`` (the public way to
rebuild a functional graph with layers replaced): ``clone_function`` rebuilds each layer from its
configuration (a folded convolution with ``use_bias=True``), ``call_function`` calls it, then gives it
the original's weights or the folded ones, and returns a folded BN's input instead of calling the BN, so
the BN is not in the new graph at all. Layer names are kept, so the walk groups the folded network
into the same blocks and stages. A functional model nested in the model (a keras.applications base of a
transfer-learning model) is folded the same way, recursively, and its pairs named by path
(``resnet50/conv1_conv``); a nested Sequential is cloned whole, its BNs unfolded (a note says so).
Imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from resnet_inspect._tf import keras
from resnet_inspect.errors import UsageError

# What folds into its convolution: layers whose kernel's last axis (Conv) or last two axes
# (DepthwiseConv2D: input channel x multiplier) index the output channel.
CONVS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D, keras.layers.DepthwiseConv2D)


@dataclass(frozen=True)
class Folding:
    """A folded model and what was done: (conv, BN) pairs folded, convs that gained a bias, BNs kept and why."""

    model: keras.Model
    folded: tuple[tuple[str, str], ...]
    gained_bias: tuple[str, ...]
    kept: tuple[tuple[str, str], ...]  # (BN name, why it cannot fold)
    nested: tuple[str, ...] = ()  # nested Sequential models cloned whole, their BNs not examined

    @property
    def batch_norms(self) -> int:
        return len(self.folded) + len(self.kept)

    def summary(self) -> str:
        """One line for a heading: how many BNs were folded."""
        gained = f", {len(self.gained_bias)} of them gaining a bias" if self.gained_bias else ""
        return (f"BN folded: {len(self.folded)} of {self.batch_norms} BatchNormalization layers into "
                f"their convolutions{gained}")

    def config(self) -> dict[str, Any]:
        """The JSON record of the fold (in the configuration of every export)."""
        return {
            "folded": [{"conv": conv, "bn": bn} for conv, bn in self.folded],
            "gained_bias": list(self.gained_bias),
            "not_folded": [{"bn": bn, "reason": why} for bn, why in self.kept],
            "nested_not_examined": list(self.nested),
        }


def _history(tensor: Any) -> Any:
    # Keras has no public API for a tensor's producer; every KerasTensor of a functional graph records it.
    return tensor._keras_history.operation


def _consumers(layer: Any, model: keras.Model) -> list[Any]:
    nodes = {id(n) for depth in model._nodes_by_depth.values() for n in depth}
    return [n.operation for n in layer._outbound_nodes if id(n) in nodes]


def _channel_axis(layer: Any, rank: int) -> int:
    return rank - 1 if getattr(layer, "data_format", "channels_last") == "channels_last" else 1


def _why_not(bn: Any, model: keras.Model) -> tuple[Any | None, str | None]:
    """(the convolution ``bn`` folds into, None) or (None, why it cannot fold)."""
    if len(bn._inbound_nodes) != 1:
        return None, f"it is called {len(bn._inbound_nodes)} times (a shared layer)"
    producer = _history(bn._inbound_nodes[0].input_tensors[0])
    if isinstance(producer, keras.layers.InputLayer):
        return None, "it normalises the model's input, which no convolution produced"
    kind = type(producer).__name__
    if not isinstance(producer, CONVS):
        what = "a residual sum" if isinstance(producer, keras.layers.Add) else f"a {kind}"
        return None, f"it follows {producer.name} ({what}), not a convolution"
    if len(producer._inbound_nodes) != 1:
        return None, f"{producer.name} is called {len(producer._inbound_nodes)} times (a shared layer)"
    others = [op.name for op in _consumers(producer, model) if op is not bn]
    if any(producer.output is out for out in model.outputs):
        others.append("the model's output")
    if others:
        return None, f"{producer.name}'s output also feeds {', '.join(others)}"
    if keras.activations.serialize(producer.activation) != "linear":
        return None, f"{producer.name} applies an activation before the BN"
    rank = len(bn.input.shape)
    axes = [bn.axis] if isinstance(bn.axis, int) else list(bn.axis)
    if [a % rank for a in axes] != [_channel_axis(producer, rank)]:
        return None, f"it normalises axis {bn.axis}, not {producer.name}'s channel axis"
    return producer, None


def folded_weights(conv: Any, bn: Any) -> list[np.ndarray]:
    """[W', b'] of ``conv`` with ``bn`` folded in (float64 arithmetic, stored as the conv's variables)."""
    mean = np.asarray(bn.moving_mean.numpy(), dtype=np.float64)
    variance = np.asarray(bn.moving_variance.numpy(), dtype=np.float64)
    gamma = np.asarray(bn.gamma.numpy(), dtype=np.float64) if bn.scale else np.ones_like(mean)
    beta = np.asarray(bn.beta.numpy(), dtype=np.float64) if bn.center else np.zeros_like(mean)
    scale = gamma / np.sqrt(variance + bn.epsilon)
    kernel = np.asarray(conv.kernel.numpy(), dtype=np.float64)
    # the output channel is the last kernel axis (a depthwise kernel: input channel x multiplier, flattened)
    kernel = kernel * scale.reshape(kernel.shape[-2:] if isinstance(conv, keras.layers.DepthwiseConv2D)
                                    else kernel.shape[-1:])
    bias = np.asarray(conv.bias.numpy(), dtype=np.float64) if conv.use_bias else np.zeros_like(mean)
    dtype = conv.variable_dtype
    return [kernel.astype(dtype), ((bias - mean) * scale + beta).astype(dtype)]


def _functional(model: Any) -> bool:
    # clone_model's call_function, which drops a folded BN from the graph, takes functional models only
    return isinstance(model, keras.Model) and not isinstance(model, keras.Sequential) and hasattr(
        model, "_nodes_by_depth")


def fold_batch_norms(model: keras.Model) -> Folding:
    """The model with every foldable BN folded into its convolution (see the module docstring)."""
    if not _functional(model):
        raise UsageError(f"--fold-bn needs a functional model; {model.name} is a {type(model).__name__}")
    pairs: dict[str, Any] = {}  # conv name -> its BN
    folded, kept, nested = [], [], []
    inner: dict[str, Folding] = {}  # nested functional models, folded in turn
    for layer in model.layers:
        if _functional(layer):
            inner[layer.name] = fold_batch_norms(layer)
            continue
        if isinstance(layer, keras.layers.BatchNormalization):
            conv, why = _why_not(layer, model)
            if conv is None:
                kept.append((layer.name, str(why)))
            else:
                pairs[conv.name] = layer
                folded.append((conv.name, layer.name))
        elif isinstance(layer, keras.Model) and any(
            isinstance(inner, keras.layers.BatchNormalization) for inner in layer._flatten_layers()
        ):
            nested.append(layer.name)
    skipped = {bn.name for bn in pairs.values()}
    originals = {layer.name: layer for layer in model.layers}
    gained = [name for name in pairs if not originals[name].use_bias]
    for name, done in inner.items():  # a nested model's pairs, named by their path
        folded += [(f"{name}/{conv}", f"{name}/{bn}") for conv, bn in done.folded]
        kept += [(f"{name}/{bn}", why) for bn, why in done.kept]
        nested += [f"{name}/{n}" for n in done.nested]
        gained += [f"{name}/{conv}" for conv in done.gained_bias]

    def clone(layer: Any) -> Any:
        if not isinstance(layer, keras.layers.Layer):
            return layer  # a plain Keras op: no weights, nothing to change
        if layer.name in inner:
            return inner[layer.name].model  # folded already, with its weights
        config = layer.get_config()
        if layer.name in pairs:
            config["use_bias"] = True
        return layer.__class__.from_config(config)

    def call(layer: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(layer, "name", None) in skipped:
            return args[0]  # the BN is gone: its input (the folded conv's output) takes its place
        outputs = layer(*args, **kwargs)
        original = originals.get(getattr(layer, "name", None))
        if original is not None and original.weights and layer.name not in inner:
            if layer.name in pairs:
                layer.set_weights(folded_weights(original, pairs[layer.name]))
            else:
                layer.set_weights(original.get_weights())
        return outputs

    clone_model = keras.models.clone_model(model, clone_function=clone, call_function=call)
    return Folding(clone_model, tuple(folded), tuple(gained), tuple(kept), tuple(nested))
