"""The network written once: stem, blocks, block layers and head, over a small set of layer operations.

The code follows the seeds' ``ResNetModel`` helper for helper: ``custom_padding``,
``custom_conv2d``, ``pre_activation``, ``pre_activation_with_shortcut``,
``regular_block``, ``bottleneck_block``, ``block_layer``, ``model_layers``. It never
makes a layer itself: it calls an :class:`Ops`, and the same calls either build real
Keras layers (:class:`resnet_inspect.model.builder.KerasOps`) or record names, shapes
and parameter counts without TensorFlow (:class:`resnet_inspect.model.recorder.Recorder`,
which the estimate reads), the way timm's stage loop emits ``feature_info`` while it builds.
So what is estimated is what is built.

Differences from the seeds, and why:

* ``tf.pad`` becomes a named zero-padding layer and ``tf.nn.relu`` a ReLU layer, so
  that both are visible (and countable) in the graph walk.
* The final average pool covers the whole ``H x W`` map; the seeds use
  ``pool_size = width``, which is the same for square inputs and would fail
  for non-square ones.
* Scopes become name prefixes joined with '.' (see :mod:`resnet_inspect.model.naming`).

Adding a block kind touches one place, this module: a method named after the kind's
scope (``BlockKind.scope``, e.g. ``regular_block``) on each family's class.
:meth:`ResNetBuilder.block_fn` finds it by that name, and the Keras builder, the
recorder, the estimate and ``compare`` all reach blocks through ``block_fn``. The
kind's name and channel expansion are plain data in
:class:`~resnet_inspect.model.spec.BlockKind`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from resnet_inspect.model import naming
from resnet_inspect.model.spec import (
    BLOCK_STRIDES,
    STEM_CONV_KERNEL,
    STEM_CONV_STRIDE,
    STEM_POOL_SIZE,
    STEM_POOL_STRIDE,
    BlockKind,
    DataFormat,
    ResNetSpec,
    Version,
)

T = TypeVar("T")  # a tensor handle: a KerasTensor, or a recorded node


class Ops(Protocol[T]):
    """The layer operations the topology calls; ``name`` is the layer's name, byte for byte."""

    def input(self, shape: tuple[int, ...], name: str) -> T: ...

    def zero_pad(self, x: T, before: int, after: int, name: str) -> T: ...

    def conv2d(
        self, x: T, filters: int, kernel_size: int, strides: int, padding: str, use_bias: bool, name: str
    ) -> T: ...

    def batch_norm(self, x: T, name: str) -> T: ...

    def relu(self, x: T, name: str) -> T: ...

    def add(self, a: T, b: T, name: str) -> T: ...

    def max_pool(self, x: T, pool_size: int, strides: int, padding: str, name: str) -> T: ...

    def avg_pool(self, x: T, pool_size: tuple[int, int], strides: int, name: str) -> T: ...

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


def input_shape(spec: ResNetSpec, channels: int = 3) -> tuple[int, int, int]:
    """The network's input without the batch axis, in the spec's data format."""
    return map_shape(spec.data_format, *spec.input_size, channels)


def block_scope(layer_scope: str, kind: BlockKind, index: int) -> str:
    """Scope of block ``index`` (0-based) of a block layer: ``block_layer2.bottleneck_block0``."""
    return naming.join(layer_scope, f"{kind.scope}{index}")


class ResNetBuilder(Generic[T]):
    """The seeds' ``ResNetModel`` helpers: the pre-activation ResNet v2, over ``ops``."""

    def __init__(self, ops: Ops[T], use_bias: bool = True) -> None:
        self.ops = ops
        self.use_bias = use_bias

    # --- helpers (the seeds' ResNetModel) --------------------------------------------------------

    def custom_padding(self, inputs: T, kernel_size: int, name: str) -> T:
        """Pad k-1 in total, the smaller half before, so a strided conv is independent of input size."""
        pad_total = kernel_size - 1
        pad_before = pad_total // 2
        if pad_total == 0:
            return inputs  # a 1x1 conv needs no padding; the seeds' tf.pad is a no-op here
        return self.ops.zero_pad(inputs, pad_before, pad_total - pad_before, name + "_pad")

    def custom_conv2d(self, inputs: T, filters: int, kernel_size: int, strides: int, name: str) -> T:
        if strides > 1:
            padding = "valid"
            inputs = self.custom_padding(inputs, kernel_size, name)
        else:
            padding = "same"
        return self.ops.conv2d(inputs, filters, kernel_size, strides, padding, self.use_bias, name)

    def pre_activation(self, inputs: T, name: str) -> T:
        """BN -> ReLU, applied before a conv (pre-activation ResNet)."""
        return self.ops.relu(self.ops.batch_norm(inputs, name + "_bn"), name + "_relu")

    def pre_activation_with_shortcut(
        self, inputs: T, scope: str, shortcut_filters: int | None, strides: int
    ) -> tuple[T, T]:
        """Pre-activate the input; project the *pre-activated* input when shortcut_filters is set."""
        pre_activated = self.pre_activation(inputs, naming.join(scope, "preact1"))
        shortcut = inputs
        if shortcut_filters is not None:
            shortcut = self.custom_conv2d(pre_activated, shortcut_filters, 1, strides, naming.join(scope, "shortcut"))
        return pre_activated, shortcut

    # --- blocks: one method per BlockKind, named after its scope ---------------------------------

    def regular_block(
        self, inputs: T, filters: int, strides: int, scope: str, shortcut_filters: int | None = None
    ) -> T:
        pre1, shortcut = self.pre_activation_with_shortcut(inputs, scope, shortcut_filters, strides)
        conv1 = self.custom_conv2d(pre1, filters, 3, strides, naming.join(scope, "conv1"))
        pre2 = self.pre_activation(conv1, naming.join(scope, "preact2"))
        conv2 = self.custom_conv2d(pre2, filters, 3, 1, naming.join(scope, "conv2"))
        return self.ops.add(conv2, shortcut, naming.join(scope, "add"))

    def bottleneck_block(
        self, inputs: T, filters: int, strides: int, scope: str, shortcut_filters: int | None = None
    ) -> T:
        pre1, shortcut = self.pre_activation_with_shortcut(inputs, scope, shortcut_filters, strides)
        conv1 = self.custom_conv2d(pre1, filters, 1, 1, naming.join(scope, "conv1"))
        pre2 = self.pre_activation(conv1, naming.join(scope, "preact2"))
        # v2 strides in the 3x3 conv, not in the first 1x1 (the seeds' bottleneck_block).
        conv2 = self.custom_conv2d(pre2, filters, 3, strides, naming.join(scope, "conv2"))
        pre3 = self.pre_activation(conv2, naming.join(scope, "preact3"))
        conv3 = self.custom_conv2d(pre3, BlockKind.BOTTLENECK.expansion * filters, 1, 1, naming.join(scope, "conv3"))
        return self.ops.add(conv3, shortcut, naming.join(scope, "add"))

    def block_fn(self, kind: BlockKind) -> Callable[..., T]:
        """The block method of ``kind``: the one named ``kind.scope`` (``regular_block``, ...)."""
        return getattr(self, kind.scope)

    def block_layer(self, inputs: T, kind: BlockKind, filters: int, strides: int, num_blocks: int, scope: str) -> T:
        """Stack num_blocks blocks; the first projects its shortcut and carries the stride (the seeds' block_layer)."""
        block = self.block_fn(kind)
        shortcut_filters = self.first_shortcut_filters(inputs, kind, filters, strides)
        output = block(inputs, filters, strides, block_scope(scope, kind, 0), shortcut_filters)

        def repeated(x: T, i: int) -> T:
            return block(x, filters, 1, block_scope(scope, kind, i))

        return self.ops.repeat(output, num_blocks - 1, repeated)

    def first_shortcut_filters(self, inputs: T, kind: BlockKind, filters: int, strides: int) -> int | None:
        """Filters of the first block's projection; the seeds project in every block layer, even the first."""
        return kind.expansion * filters

    # --- the whole network (the seeds' model_layers) ---------------------------------------------

    def stem_conv(self, inputs: T, spec: ResNetSpec) -> T:
        return self.custom_conv2d(
            inputs, spec.width, STEM_CONV_KERNEL, STEM_CONV_STRIDE, naming.join(naming.STEM, "conv_initial")
        )

    def final_activation(self, inputs: T) -> T:
        """v2 blocks end on a bare add, so the head pre-activates once more (the seeds' model_layers)."""
        return self.pre_activation(inputs, naming.join(naming.HEAD, "preact"))

    def model_layers(self, inputs: T, spec: ResNetSpec) -> T:
        x = self.stem_conv(inputs, spec)
        x = self.ops.max_pool(
            x, STEM_POOL_SIZE, STEM_POOL_STRIDE, "same", naming.join(naming.STEM, "pool_initial")
        )
        for i, num_blocks in enumerate(spec.blocks):
            x = self.block_layer(
                x, spec.block_kind, spec.filters(i), spec.block_strides[i], num_blocks, naming.stage_scope(i)
            )
        x = self.final_activation(x)
        x = self.ops.avg_pool(x, self.ops.spatial(x), 1, naming.join(naming.HEAD, "avg_pool"))
        x = self.ops.flatten(x, naming.join(naming.HEAD, "flatten"))
        return self.ops.dense(x, spec.classes, naming.join(naming.HEAD, "logits"))


class ResNetV1Builder(ResNetBuilder[T]):
    """The paper's original ResNet (He et al. 2015, "Deep Residual Learning"): post-activation.

    Where it differs from the seeds' v2 (:class:`ResNetBuilder`), and why:

    * conv -> BN -> ReLU after every conv and a ReLU after the residual add, as in the paper's
      Fig. 2 and 5; v2 (He et al. 2016) moved BN and ReLU before each conv so that the shortcut
      path stays a pure identity.
    * A projection shortcut (1x1 conv + BN) only where the shape changes (the paper's option B);
      the seeds' v2 projects in the first block of every block layer, even where 64 -> 64 at
      stride 1 would not need it. This is what makes ResNet-18 11,689,512 parameters.
    * A bottleneck block strides in its FIRST 1x1 conv, as the paper's released Caffe models (and
      keras.applications.ResNet50) do, while v2 and torchvision stride in the 3x3 conv. The 3x3
      then runs on the downsampled map: ResNet-50 costs 3.86 GMACs (the paper's 3.8), not 4.1.
    * No final BN/ReLU before the pool: every block already ends activated.
    """

    def conv_bn(self, inputs: T, filters: int, kernel_size: int, strides: int, name: str, relu: bool = True) -> T:
        """conv -> BN (-> ReLU): the paper's post-activation unit."""
        x = self.ops.batch_norm(self.custom_conv2d(inputs, filters, kernel_size, strides, name), name + "_bn")
        return self.ops.relu(x, name + "_relu") if relu else x

    def shortcut(self, inputs: T, scope: str, shortcut_filters: int | None, strides: int) -> T:
        if shortcut_filters is None:
            return inputs
        return self.conv_bn(inputs, shortcut_filters, 1, strides, naming.join(scope, "shortcut"), relu=False)

    def residual_output(self, residual: T, shortcut: T, scope: str) -> T:
        """Add, then ReLU: in v1 the activation comes after the sum."""
        total = self.ops.add(residual, shortcut, naming.join(scope, "add"))
        return self.ops.relu(total, naming.join(scope, "out_relu"))

    def regular_block(
        self, inputs: T, filters: int, strides: int, scope: str, shortcut_filters: int | None = None
    ) -> T:
        shortcut = self.shortcut(inputs, scope, shortcut_filters, strides)
        x = self.conv_bn(inputs, filters, 3, strides, naming.join(scope, "conv1"))
        x = self.conv_bn(x, filters, 3, 1, naming.join(scope, "conv2"), relu=False)
        return self.residual_output(x, shortcut, scope)

    def bottleneck_block(
        self, inputs: T, filters: int, strides: int, scope: str, shortcut_filters: int | None = None
    ) -> T:
        shortcut = self.shortcut(inputs, scope, shortcut_filters, strides)
        # The paper's released models stride in this first 1x1 conv (see the class docstring).
        x = self.conv_bn(inputs, filters, 1, strides, naming.join(scope, "conv1"))
        x = self.conv_bn(x, filters, 3, 1, naming.join(scope, "conv2"))
        x = self.conv_bn(x, BlockKind.BOTTLENECK.expansion * filters, 1, 1, naming.join(scope, "conv3"), relu=False)
        return self.residual_output(x, shortcut, scope)

    def first_shortcut_filters(self, inputs: T, kind: BlockKind, filters: int, strides: int) -> int | None:
        """Project only where the shape changes: a stride, or other channels than the block's output."""
        out_channels = kind.expansion * filters
        if strides == 1 and self.ops.channels(inputs) == out_channels:
            return None
        return out_channels

    def stem_conv(self, inputs: T, spec: ResNetSpec) -> T:
        return self.conv_bn(
            inputs, spec.width, STEM_CONV_KERNEL, STEM_CONV_STRIDE, naming.join(naming.STEM, "conv_initial")
        )

    def final_activation(self, inputs: T) -> T:
        return inputs  # every v1 block already ends in a ReLU


# One class per network family.
FAMILIES: dict[Version, type[ResNetBuilder]] = {Version.V1: ResNetV1Builder, Version.V2: ResNetBuilder}


def network(ops: Ops[T], spec: ResNetSpec) -> tuple[T, T]:
    """(input, logits) of ``spec``'s whole network, made through ``ops``."""
    inputs = ops.input(input_shape(spec), "input")
    return inputs, FAMILIES[spec.version](ops, spec.use_bias).model_layers(inputs, spec)


def one_block(
    ops: Ops[T], kind: BlockKind, filters: int, shape: tuple[int, ...], first: bool, version: Version, use_bias: bool
) -> tuple[T, T]:
    """(input, output) of one block on its own, as block layer 1 of the network makes it.

    ``first``: through ``block_layer`` with one block, the way the network makes the first block of a
    block layer (with the projection that family gives it: v2 always, v1 where the shape changes);
    otherwise ``block_fn(kind)`` without a projection, as every later block of a block layer.
    """
    net = FAMILIES[Version(version)](ops, use_bias)
    inputs = ops.input(shape, "input")
    scope = naming.stage_scope(0)
    if first:
        return inputs, net.block_layer(inputs, kind, filters, BLOCK_STRIDES[0], 1, scope)
    return inputs, net.block_fn(kind)(inputs, filters, BLOCK_STRIDES[0], block_scope(scope, kind, 0))
