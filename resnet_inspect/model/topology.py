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

The family's members (v1.5, ResNet-C/D, ResNeXt, Wide ResNet, SE-ResNet, the CIFAR ResNets) are the
same two classes with the knobs of :class:`~resnet_inspect.model.design.Design` turned: the bottleneck's
inner width and groups, where it strides, SE on the residual branch, the stem, and how a downsampling
shortcut is made; every knob's default is the network as it was before them.

Adding a block kind touches one place, this module: a method named after the kind's
scope (``BlockKind.scope``, e.g. ``regular_block``) on each family's class.
:meth:`ResNetBuilder.block_fn` finds it by that name, and the Keras builder, the
recorder, the estimate and ``compare`` all reach blocks through ``block_fn``. The
kind's name and channel expansion are plain data in
:class:`~resnet_inspect.model.spec.BlockKind`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from resnet_inspect.errors import FieldError
from resnet_inspect.model import naming
from resnet_inspect.model.design import Design, Shortcut, Stem, StrideAt
from resnet_inspect.model.ops import Ops, channel_index, map_shape  # noqa: F401  (channel_index: public here)
from resnet_inspect.model.spec import (
    BLOCK_STRIDES,
    STEM_CONV_KERNEL,
    STEM_CONV_STRIDE,
    STEM_POOL_SIZE,
    STEM_POOL_STRIDE,
    BlockKind,
    ResNetSpec,
    Version,
)

T = TypeVar("T")  # a tensor handle: a KerasTensor, or a recorded node


def input_shape(spec: ResNetSpec, channels: int = 3) -> tuple[int, int, int]:
    """The network's input without the batch axis, in the spec's data format."""
    return map_shape(spec.data_format, *spec.input_size, channels)


def block_scope(layer_scope: str, kind: BlockKind, index: int) -> str:
    """Scope of block ``index`` (0-based) of a block layer: ``block_layer2.bottleneck_block0``."""
    return naming.join(layer_scope, f"{kind.scope}{index}")


class ResNetBuilder(Generic[T]):
    """The seeds' ``ResNetModel`` helpers: the pre-activation ResNet v2, over ``ops``, with the family's
    knobs (:class:`~resnet_inspect.model.design.Design`; its defaults are the seeds' network)."""

    def __init__(self, ops: Ops[T], use_bias: bool = True, design: Design | None = None) -> None:
        self.ops = ops
        self.use_bias = use_bias
        self.design = design if design is not None else Design()

    version = Version.V2

    # --- helpers (the seeds' ResNetModel) --------------------------------------------------------

    def custom_padding(self, inputs: T, kernel_size: int, name: str) -> T:
        """Pad k-1 in total, the smaller half before, so a strided conv is independent of input size."""
        pad_total = kernel_size - 1
        pad_before = pad_total // 2
        if pad_total == 0:
            return inputs  # a 1x1 conv needs no padding; the seeds' tf.pad is a no-op here
        return self.ops.zero_pad(inputs, pad_before, pad_total - pad_before, name + "_pad")

    def custom_conv2d(
        self, inputs: T, filters: int, kernel_size: int, strides: int, name: str, groups: int = 1
    ) -> T:
        if strides > 1:
            padding = "valid"
            inputs = self.custom_padding(inputs, kernel_size, name)
        else:
            padding = "same"
        return self.ops.conv2d(inputs, filters, kernel_size, strides, padding, self.use_bias, name, groups)

    def pre_activation(self, inputs: T, name: str) -> T:
        """BN -> ReLU, applied before a conv (pre-activation ResNet)."""
        return self.ops.relu(self.ops.batch_norm(inputs, name + "_bn"), name + "_relu")

    def pre_activation_with_shortcut(
        self, inputs: T, scope: str, shortcut_filters: int | None, strides: int
    ) -> tuple[T, T]:
        """Pre-activate the input; project the *pre-activated* input when shortcut_filters is set
        (a zero-padded shortcut takes the input itself: it has nothing to learn)."""
        pre_activated = self.pre_activation(inputs, naming.join(scope, "preact1"))
        shortcut = inputs
        if shortcut_filters is not None:
            source = inputs if self.design.shortcut is Shortcut.ZERO_PAD else pre_activated
            shortcut = self.downsample(source, scope, shortcut_filters, strides)
        return pre_activated, shortcut

    def project(self, inputs: T, filters: int, strides: int, name: str) -> T:
        """The 1x1 projection of a shortcut (v1 adds its BN)."""
        return self.custom_conv2d(inputs, filters, 1, strides, name)

    def downsample(self, inputs: T, scope: str, filters: int, strides: int) -> T:
        """A shortcut that changes the shape, of the design's kind: a projection (option B), a 2x2
        average pool then the projection at stride 1 (ResNet-D), or subsampling and zero channels (option A)."""
        name = naming.join(scope, "shortcut")
        kind = self.design.shortcut
        if kind is Shortcut.ZERO_PAD:
            if strides > 1:  # x[::s, ::s]: a 1x1 max pool at stride s
                inputs = self.ops.max_pool(inputs, 1, strides, "valid", name + "_subsample")
            return self.pad_channels(inputs, filters, name)
        if kind is Shortcut.AVG_POOL and strides > 1:
            # timm's AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False) is Keras' 'same' average pool
            inputs = self.ops.avg_pool(inputs, (strides, strides), strides, name + "_pool", padding="same")
            strides = 1
        return self.project(inputs, filters, strides, name)

    def pad_channels(self, inputs: T, filters: int, name: str) -> T:
        """The input's channels, then zeros up to ``filters`` (as many copies of a zero map as it takes)."""
        channels = self.ops.channels(inputs)
        if filters == channels:
            return inputs
        if filters % channels:
            raise FieldError(
                "shortcut", f"zero-pad cannot take {channels} channels to {filters}: not a multiple"
            )
        zeros = self.ops.zeros(inputs, name + "_zeros")
        return self.ops.concat([inputs] + [zeros] * (filters // channels - 1), name + "_concat")

    def squeeze_excite(self, inputs: T, scope: str) -> T:
        """Hu et al.'s SE on the residual branch: pool, FC to C/r, ReLU, FC to C, sigmoid, scale.

        The FCs are 1x1 convs with bias on the pooled 1x1 map (as timm's SEModule): the same
        weights and multiply-adds as Dense layers, in either data format."""
        if self.design.se_ratio is None:
            return inputs
        channels = self.ops.channels(inputs)
        x = self.ops.global_avg_pool(inputs, naming.join(scope, "se_pool"))
        x = self.ops.conv2d(x, self.design.se_units(channels), 1, 1, "valid", True, naming.join(scope, "se_fc1"))
        x = self.ops.relu(x, naming.join(scope, "se_relu"))
        x = self.ops.conv2d(x, channels, 1, 1, "valid", True, naming.join(scope, "se_fc2"))
        x = self.ops.sigmoid(x, naming.join(scope, "se_gate"))
        return self.ops.multiply(inputs, x, naming.join(scope, "se_scale"))

    def bottleneck_strides(self, strides: int) -> tuple[int, int]:
        """(first 1x1, 3x3) strides: the design's placement, else the version's."""
        placement = self.design.stride_at or self.version.stride_at
        return (strides, 1) if placement is StrideAt.FIRST else (1, strides)

    # --- blocks: one method per BlockKind, named after its scope ---------------------------------

    def regular_block(
        self, inputs: T, filters: int, strides: int, scope: str, shortcut_filters: int | None = None
    ) -> T:
        pre1, shortcut = self.pre_activation_with_shortcut(inputs, scope, shortcut_filters, strides)
        conv1 = self.custom_conv2d(pre1, filters, 3, strides, naming.join(scope, "conv1"))
        pre2 = self.pre_activation(conv1, naming.join(scope, "preact2"))
        conv2 = self.custom_conv2d(pre2, filters, 3, 1, naming.join(scope, "conv2"))
        return self.ops.add(self.squeeze_excite(conv2, scope), shortcut, naming.join(scope, "add"))

    def bottleneck_block(
        self, inputs: T, filters: int, strides: int, scope: str, shortcut_filters: int | None = None
    ) -> T:
        pre1, shortcut = self.pre_activation_with_shortcut(inputs, scope, shortcut_filters, strides)
        inner, (stride1, stride2) = self.design.inner_width(filters), self.bottleneck_strides(strides)
        conv1 = self.custom_conv2d(pre1, inner, 1, stride1, naming.join(scope, "conv1"))
        pre2 = self.pre_activation(conv1, naming.join(scope, "preact2"))
        # v2 strides in the 3x3 conv, not in the first 1x1 (the seeds' bottleneck_block).
        conv2 = self.custom_conv2d(pre2, inner, 3, stride2, naming.join(scope, "conv2"), self.design.groups)
        pre3 = self.pre_activation(conv2, naming.join(scope, "preact3"))
        conv3 = self.custom_conv2d(pre3, BlockKind.BOTTLENECK.expansion * filters, 1, 1, naming.join(scope, "conv3"))
        return self.ops.add(self.squeeze_excite(conv3, scope), shortcut, naming.join(scope, "add"))

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

    def stem_unit(self, inputs: T, filters: int, kernel_size: int, strides: int, name: str, last: bool) -> T:
        """One conv of the stem: the seeds' v2 stem conv is bare (the first block pre-activates it); a
        conv of the deep stem that another follows is pre-activated for it."""
        x = self.custom_conv2d(inputs, filters, kernel_size, strides, name)
        return x if last else self.pre_activation(x, name)

    def stem(self, inputs: T, spec: ResNetSpec) -> T:
        """The 7x7 conv and max pool (the seeds'), three 3x3 convs and the pool (ResNet-C), or a 3x3/1 conv (CIFAR)."""
        stem, width = Stem(spec.stem), spec.width
        if stem is Stem.CIFAR:
            return self.stem_unit(inputs, width, 3, 1, naming.join(naming.STEM, "conv_initial"), last=True)
        if stem is Stem.DEEP:
            x = self.stem_unit(inputs, width // 2, 3, 2, naming.join(naming.STEM, "conv_initial1"), last=False)
            x = self.stem_unit(x, width // 2, 3, 1, naming.join(naming.STEM, "conv_initial2"), last=False)
            x = self.stem_unit(x, width, 3, 1, naming.join(naming.STEM, "conv_initial3"), last=True)
        else:
            name = naming.join(naming.STEM, "conv_initial")
            x = self.stem_unit(inputs, width, STEM_CONV_KERNEL, STEM_CONV_STRIDE, name, last=True)
        return self.ops.max_pool(
            x, STEM_POOL_SIZE, STEM_POOL_STRIDE, "same", naming.join(naming.STEM, "pool_initial")
        )

    def final_activation(self, inputs: T) -> T:
        """v2 blocks end on a bare add, so the head pre-activates once more (the seeds' model_layers)."""
        return self.pre_activation(inputs, naming.join(naming.HEAD, "preact"))

    def model_layers(self, inputs: T, spec: ResNetSpec) -> T:
        x = self.stem(inputs, spec)
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

    def conv_bn(
        self, inputs: T, filters: int, kernel_size: int, strides: int, name: str, relu: bool = True, groups: int = 1
    ) -> T:
        """conv -> BN (-> ReLU): the paper's post-activation unit."""
        x = self.custom_conv2d(inputs, filters, kernel_size, strides, name, groups)
        x = self.ops.batch_norm(x, name + "_bn")
        return self.ops.relu(x, name + "_relu") if relu else x

    version = Version.V1

    def shortcut(self, inputs: T, scope: str, shortcut_filters: int | None, strides: int) -> T:
        if shortcut_filters is None:
            return inputs
        return self.downsample(inputs, scope, shortcut_filters, strides)

    def project(self, inputs: T, filters: int, strides: int, name: str) -> T:
        return self.conv_bn(inputs, filters, 1, strides, name, relu=False)

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
        return self.residual_output(self.squeeze_excite(x, scope), shortcut, scope)

    def bottleneck_block(
        self, inputs: T, filters: int, strides: int, scope: str, shortcut_filters: int | None = None
    ) -> T:
        shortcut = self.shortcut(inputs, scope, shortcut_filters, strides)
        # The paper's released models stride in this first 1x1 conv (see the class docstring); v1.5 in the 3x3.
        inner, (stride1, stride2) = self.design.inner_width(filters), self.bottleneck_strides(strides)
        x = self.conv_bn(inputs, inner, 1, stride1, naming.join(scope, "conv1"))
        x = self.conv_bn(x, inner, 3, stride2, naming.join(scope, "conv2"), groups=self.design.groups)
        x = self.conv_bn(x, BlockKind.BOTTLENECK.expansion * filters, 1, 1, naming.join(scope, "conv3"), relu=False)
        return self.residual_output(self.squeeze_excite(x, scope), shortcut, scope)

    def first_shortcut_filters(self, inputs: T, kind: BlockKind, filters: int, strides: int) -> int | None:
        """Project only where the shape changes: a stride, or other channels than the block's output."""
        out_channels = kind.expansion * filters
        if strides == 1 and self.ops.channels(inputs) == out_channels:
            return None
        return out_channels

    def stem_unit(self, inputs: T, filters: int, kernel_size: int, strides: int, name: str, last: bool) -> T:
        return self.conv_bn(inputs, filters, kernel_size, strides, name)

    def final_activation(self, inputs: T) -> T:
        return inputs  # every v1 block already ends in a ReLU


# One class per network family.
FAMILIES: dict[Version, type[ResNetBuilder]] = {Version.V1: ResNetV1Builder, Version.V2: ResNetBuilder}


def network(ops: Ops[T], spec: ResNetSpec) -> tuple[T, T]:
    """(input, logits) of ``spec``'s whole network, made through ``ops``."""
    inputs = ops.input(input_shape(spec), "input")
    return inputs, FAMILIES[spec.version](ops, spec.use_bias, spec.design).model_layers(inputs, spec)


def one_block(
    ops: Ops[T],
    kind: BlockKind,
    filters: int,
    shape: tuple[int, ...],
    first: bool,
    version: Version,
    use_bias: bool,
    design: Design | None = None,
) -> tuple[T, T]:
    """(input, output) of one block on its own, as block layer 1 of the network makes it.

    ``first``: through ``block_layer`` with one block, the way the network makes the first block of a
    block layer (with the projection that family gives it: v2 always, v1 where the shape changes);
    otherwise ``block_fn(kind)`` without a projection, as every later block of a block layer.
    """
    net = FAMILIES[Version(version)](ops, use_bias, design)
    inputs = ops.input(shape, "input")
    scope = naming.stage_scope(0)
    if first:
        return inputs, net.block_layer(inputs, kind, filters, BLOCK_STRIDES[0], 1, scope)
    return inputs, net.block_fn(kind)(inputs, filters, BLOCK_STRIDES[0], block_scope(scope, kind, 0))
