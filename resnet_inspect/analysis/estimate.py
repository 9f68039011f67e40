"""What a network will need, from its spec alone: parameters, layers, activations. No TensorFlow.

A command refuses a request that cannot fit before it builds anything
(:func:`check_fits`), so ``--classes 1000000000`` or ``--blocks 1000,1000,1000,1000``
ends in one line, not in minutes of building and an out-of-memory kill.

The estimate follows the builders (:mod:`resnet_inspect.model.builder`) layer by layer
for the stem, the first block of each block layer, ONE of its repeated blocks and
the head: every block after the first in a block layer has the same layers and
shapes, so its parameters and layers are counted ``blocks - 1`` times, and it
alone gives the activation peak of all of them. The peak is the liveness sweep
of :mod:`resnet_inspect.analysis.liveness` (the one bench and memory use) over that
chain: only a block's input crosses into the next block, so the chain's peak is
the whole network's. Tests check every figure against Keras ``count_params()``,
``len(model.layers)`` and the sweep over the walked model.

What a command needs, in bytes:

* building: the float32 weights (4 bytes per parameter) and the Keras layer
  objects (:data:`KERAS_LAYER_BYTES` each);
* running a forward pass (bench, ``memory --measure``): that, plus
  batch x activation peak x bytes per element.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from resnet_inspect.analysis.liveness import peak_live
from resnet_inspect.analysis.records import LayerRecord
from resnet_inspect.model.spec import (
    STEM_CONV_KERNEL,
    STEM_CONV_STRIDE,
    STEM_POOL_STRIDE,
    BlockKind,
    DataFormat,
    ResNetSpec,
    Version,
)

FLOAT32_BYTES = 4
# Resident memory of one built Keras 3 layer beside its weights (the layer object, its node, its
# KerasTensors): 83.9 and 84.8 KiB per layer measured here (Keras 3.15, Python 3.11) building
# --blocks 100,100 and 500,500 regular blocks of width 1 (weights < 0.3 MiB), RSS after minus
# before. tests/test_estimate.py measures it again.
KERAS_LAYER_BYTES = 85 * 1024
# BatchNormalization keeps gamma, beta, moving mean and moving variance: 4 numbers per channel.
BN_PARAMS_PER_CHANNEL = 4


@dataclass
class _Chain:
    """Layer records of a stretch of network, in build order (only names, inputs, shapes and params)."""

    data_format: DataFormat
    use_bias: bool
    records: list[LayerRecord] = field(default_factory=list)

    def add(self, name: str, layer_type: str, inputs: Iterable[str], hwc: tuple[int, int, int], params: int) -> str:
        h, w, c = hwc
        shape = (c, h, w) if self.data_format is DataFormat.CHANNELS_FIRST else (h, w, c)
        self.records.append(
            LayerRecord(
                name=name, stage=None, block=None, layer_type=layer_type, inputs=tuple(inputs), input_shapes=(),
                output_shape=shape, config=(), weights=0, biases=0, bn_trainable=0, bn_non_trainable=0, other=0,
                params=params, trainable=0, non_trainable=0, macs=None, flops=None,
            )
        )
        return name

    def hwc(self, name: str) -> tuple[int, int, int]:
        shape = next(r.output_shape for r in self.records if r.name == name)
        return (shape[1], shape[2], shape[0]) if self.data_format is DataFormat.CHANNELS_FIRST else shape

    # --- the builders' helpers, as shapes and parameter counts ---------------------------------

    def conv(self, x: str, filters: int, kernel: int, stride: int, name: str) -> str:
        """``custom_conv2d``: a strided conv pads k - 1 first (no pad layer for a 1x1), then 'valid'."""
        h, w, c = self.hwc(x)
        if stride > 1 and kernel > 1:
            x = self.add(name + "_pad", "ZeroPadding2D", [x], (h + kernel - 1, w + kernel - 1, c), 0)
        # 'same' at stride 1 keeps the side; padded 'valid' at stride s: (h + k - 1 - k) // s + 1 = (h - 1) // s + 1
        side = (lambda n: (n - 1) // stride + 1) if stride > 1 else (lambda n: n)
        params = kernel * kernel * c * filters + (filters if self.use_bias else 0)  # k x k x c_in x c_out (+ bias)
        return self.add(name, "Conv2D", [x], (side(h), side(w), filters), params)

    def bn(self, x: str, name: str) -> str:
        return self.add(name, "BatchNormalization", [x], self.hwc(x), BN_PARAMS_PER_CHANNEL * self.hwc(x)[2])

    def relu(self, x: str, name: str) -> str:
        return self.add(name, "ReLU", [x], self.hwc(x), 0)

    def residual_add(self, a: str, b: str, name: str) -> str:
        return self.add(name, "Add", [a, b], self.hwc(a), 0)


def _v2_block(g: _Chain, x: str, kind: BlockKind, f: int, stride: int, scope: str, project: int | None) -> str:
    """``ResNetBuilder.regular_block`` / ``bottleneck_block``: BN-ReLU before each conv, bare add."""
    pre1 = g.relu(g.bn(x, f"{scope}.preact1_bn"), f"{scope}.preact1_relu")
    shortcut = g.conv(pre1, project, 1, stride, f"{scope}.shortcut") if project is not None else x
    if kind is BlockKind.REGULAR:
        y = g.conv(pre1, f, 3, stride, f"{scope}.conv1")
        y = g.conv(g.relu(g.bn(y, f"{scope}.preact2_bn"), f"{scope}.preact2_relu"), f, 3, 1, f"{scope}.conv2")
    else:
        y = g.conv(pre1, f, 1, 1, f"{scope}.conv1")
        y = g.conv(g.relu(g.bn(y, f"{scope}.preact2_bn"), f"{scope}.preact2_relu"), f, 3, stride, f"{scope}.conv2")
        pre3 = g.relu(g.bn(y, f"{scope}.preact3_bn"), f"{scope}.preact3_relu")
        y = g.conv(pre3, kind.expansion * f, 1, 1, f"{scope}.conv3")
    return g.residual_add(y, shortcut, f"{scope}.add")


def _v1_block(g: _Chain, x: str, kind: BlockKind, f: int, stride: int, scope: str, project: int | None) -> str:
    """``ResNetV1Builder``: conv-BN(-ReLU), the stride in the first conv, add then ReLU."""

    def conv_bn(t: str, filters: int, kernel: int, s: int, name: str, relu: bool = True) -> str:
        t = g.bn(g.conv(t, filters, kernel, s, name), name + "_bn")
        return g.relu(t, name + "_relu") if relu else t

    shortcut = conv_bn(x, project, 1, stride, f"{scope}.shortcut", relu=False) if project is not None else x
    if kind is BlockKind.REGULAR:
        y = conv_bn(conv_bn(x, f, 3, stride, f"{scope}.conv1"), f, 3, 1, f"{scope}.conv2", relu=False)
    else:
        y = conv_bn(conv_bn(x, f, 1, stride, f"{scope}.conv1"), f, 3, 1, f"{scope}.conv2")
        y = conv_bn(y, kind.expansion * f, 1, 1, f"{scope}.conv3", relu=False)
    return g.relu(g.residual_add(y, shortcut, f"{scope}.add"), f"{scope}.out_relu")


def _projection(version: Version, kind: BlockKind, in_channels: int, f: int, stride: int) -> int | None:
    """Filters of a block layer's first shortcut: v2 always projects (seeds), v1 where the shape changes."""
    out = kind.expansion * f
    if version is Version.V1 and stride == 1 and in_channels == out:
        return None
    return out


@dataclass(frozen=True)
class Estimate:
    """A network's size from its spec: exact parameter and layer counts, activation peak per image."""

    name: str
    params: int
    layers: int
    peak_elements: int  # elements per image alive at once at the liveness peak
    peak_layer: str
    largest_tensor: int  # elements per image of the largest layer output

    def build_bytes(self) -> tuple[int, int]:
        """(weights, Keras layer objects) in bytes for building the model: float32 weights."""
        return self.params * FLOAT32_BYTES, self.layers * KERAS_LAYER_BYTES

    def activation_bytes(self, batch_size: int, element_bytes: int) -> int:
        # elements alive at the peak x images x bytes per element
        return self.peak_elements * batch_size * element_bytes


def estimate(spec: ResNetSpec) -> Estimate:
    """Parameters, layers and activation peak of ``spec``'s network, without building it."""
    block = _v1_block if spec.version is Version.V1 else _v2_block
    g = _Chain(spec.data_format, spec.use_bias)
    h, w = spec.input_size
    x = g.add("input", "InputLayer", [], (h, w, 3), 0)
    x = g.conv(x, spec.width, STEM_CONV_KERNEL, STEM_CONV_STRIDE, "stem.conv_initial")
    if spec.version is Version.V1:
        x = g.relu(g.bn(x, "stem.conv_initial_bn"), "stem.conv_initial_relu")
    ph, pw, pc = g.hwc(x)
    # max pool 'same' at stride 2: ceil(n / 2)
    x = g.add("stem.pool_initial", "MaxPooling2D", [x], (-(-ph // STEM_POOL_STRIDE), -(-pw // STEM_POOL_STRIDE), pc), 0)
    params, layers = sum(r.params for r in g.records), len(g.records)
    for i, count in enumerate(spec.blocks):
        f, stride, scope = spec.filters(i), spec.block_strides[i], f"block_layer{i + 1}"
        project = _projection(spec.version, spec.block_kind, g.hwc(x)[2], f, stride)
        for j, times in ((0, 1), (1, count - 1)):
            if times == 0:
                continue
            start = len(g.records)
            x = block(g, x, spec.block_kind, f, stride if j == 0 else 1, f"{scope}.b{j}", project if j == 0 else None)
            # a block after the first is counted once per repeat: same layers, same shapes
            params += times * sum(r.params for r in g.records[start:])
            layers += times * (len(g.records) - start)
    start = len(g.records)
    if spec.version is Version.V2:  # v2 blocks end on a bare add: the head pre-activates once more
        x = g.relu(g.bn(x, "head.preact_bn"), "head.preact_relu")
    ah, aw, ac = g.hwc(x)
    x = g.add("head.avg_pool", "AveragePooling2D", [x], (1, 1, ac), 0)
    x = g.add("head.flatten", "Flatten", [x], (1, 1, ac), 0)
    g.add("head.logits", "Dense", [x], (1, 1, spec.classes), ac * spec.classes + spec.classes)  # c x classes + bias
    params += sum(r.params for r in g.records[start:])
    layers += len(g.records) - start
    return _finish(spec.name, g, params, layers)


def _finish(name: str, g: _Chain, params: int, layers: int) -> Estimate:
    peak = peak_live(g.records)
    assert peak is not None  # every shape is known
    return Estimate(
        name=name,
        params=params,
        layers=layers,
        peak_elements=peak.elements,
        peak_layer=peak.at_layer,
        largest_tensor=max(math.prod(r.output_shape) for r in g.records),
    )


def estimate_block(
    kind: BlockKind,
    filters: int,
    in_channels: int,
    size: int,
    first: bool,
    version: Version,
    use_bias: bool = True,
    data_format: DataFormat = DataFormat.CHANNELS_LAST,
) -> Estimate:
    """One block on its own, as ``compare`` builds it: at stride 1, projected when ``first`` (and the version does)."""
    g = _Chain(DataFormat(data_format), use_bias)
    x = g.add("input", "InputLayer", [], (size, size, in_channels), 0)
    project = _projection(Version(version), kind, in_channels, filters, 1) if first else None
    (_v1_block if Version(version) is Version.V1 else _v2_block)(g, x, kind, filters, 1, "block", project)
    return _finish(f"a {kind.value} block of {filters} filters", g, sum(r.params for r in g.records), len(g.records))


# --- refusing what cannot fit ------------------------------------------------------------------
