"""Build the seeds' ResNet as a Keras 3 functional model.

The code follows the seeds' ``ResNetModel`` helper for helper: ``custom_padding``,
``custom_conv2d``, ``pre_activation``, ``pre_activation_with_shortcut``,
``regular_block``, ``bottleneck_block``, ``block_layer``, ``model_layers``.
Differences from the seeds, and why:

* ``tf.pad`` becomes a named ``ZeroPadding2D`` layer and ``tf.nn.relu`` a
  ``ReLU`` layer, so that both are visible (and countable) in the graph walk.
* The final average pool covers the whole ``H x W`` map; the seeds use
  ``pool_size = width``, which is the same for square inputs and would fail
  for non-square ones.
* Scopes become name prefixes joined with '.' (see :mod:`resnet_inspect.model.naming`).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

from resnet_inspect._tf import keras
from resnet_inspect.model import naming
from resnet_inspect.model.spec import (
    STEM_CONV_KERNEL,
    STEM_CONV_STRIDE,
    STEM_POOL_SIZE,
    STEM_POOL_STRIDE,
    BlockKind,
    DataFormat,
    ResNetSpec,
    Version,
    make_spec,
)

layers = keras.layers
Tensor = Any  # a KerasTensor


class ResNetBuilder:
    """Keras counterpart of the seeds' ``ResNetModel`` helpers, for one spec."""

    def __init__(self, data_format: DataFormat = DataFormat.CHANNELS_LAST, use_bias: bool = True) -> None:
        self.data_format = DataFormat(data_format).value
        self.use_bias = use_bias
        self.channel_axis = 1 if self.data_format == DataFormat.CHANNELS_FIRST.value else -1

    # --- helpers (seeds 001) -------------------------------------------------------------

    def custom_padding(self, inputs: Tensor, kernel_size: int, name: str) -> Tensor:
        """Pad k-1 in total, the smaller half before, so a strided conv is independent of input size."""
        pad_total = kernel_size - 1
        pad_before = pad_total // 2
        pad_after = pad_total - pad_before
        if pad_total == 0:
            return inputs  # a 1x1 conv needs no padding; the seeds' tf.pad is a no-op here
        return layers.ZeroPadding2D(
            padding=((pad_before, pad_after), (pad_before, pad_after)),
            data_format=self.data_format,
            name=name + "_pad",
        )(inputs)

    def custom_conv2d(self, inputs: Tensor, filters: int, kernel_size: int, strides: int, name: str) -> Tensor:
        if strides > 1:
            padding = "valid"
            inputs = self.custom_padding(inputs, kernel_size, name)
        else:
            padding = "same"
        return layers.Conv2D(
            filters=filters,
            kernel_size=kernel_size,
            strides=strides,
            padding=padding,
            data_format=self.data_format,
            use_bias=self.use_bias,
            name=name,
        )(inputs)

    def pre_activation(self, inputs: Tensor, name: str) -> Tensor:
        """BN -> ReLU, applied before a conv (pre-activation ResNet)."""
        bn = layers.BatchNormalization(axis=self.channel_axis, name=name + "_bn")(inputs)
        return layers.ReLU(name=name + "_relu")(bn)

    def pre_activation_with_shortcut(
        self, inputs: Tensor, scope: str, shortcut_filters: int | None, strides: int
    ) -> tuple[Tensor, Tensor]:
        """Pre-activate the input; project the *pre-activated* input when shortcut_filters is set."""
        pre_activated = self.pre_activation(inputs, naming.join(scope, "preact1"))
        shortcut = inputs
        if shortcut_filters is not None:
            shortcut = self.custom_conv2d(pre_activated, shortcut_filters, 1, strides, naming.join(scope, "shortcut"))
        return pre_activated, shortcut

    # --- blocks (seeds 001, 004) -----------------------------------------------------------

    def regular_block(
        self, inputs: Tensor, filters: int, strides: int, scope: str, shortcut_filters: int | None = None
    ) -> Tensor:
        pre1, shortcut = self.pre_activation_with_shortcut(inputs, scope, shortcut_filters, strides)
        conv1 = self.custom_conv2d(pre1, filters, 3, strides, naming.join(scope, "conv1"))
        pre2 = self.pre_activation(conv1, naming.join(scope, "preact2"))
        conv2 = self.custom_conv2d(pre2, filters, 3, 1, naming.join(scope, "conv2"))
        return layers.Add(name=naming.join(scope, "add"))([conv2, shortcut])

    def bottleneck_block(
        self, inputs: Tensor, filters: int, strides: int, scope: str, shortcut_filters: int | None = None
    ) -> Tensor:
        pre1, shortcut = self.pre_activation_with_shortcut(inputs, scope, shortcut_filters, strides)
        conv1 = self.custom_conv2d(pre1, filters, 1, 1, naming.join(scope, "conv1"))
        pre2 = self.pre_activation(conv1, naming.join(scope, "preact2"))
        # v2 (seeds 004) strides in the 3x3 conv, not in the first 1x1.
        conv2 = self.custom_conv2d(pre2, filters, 3, strides, naming.join(scope, "conv2"))
        pre3 = self.pre_activation(conv2, naming.join(scope, "preact3"))
        conv3 = self.custom_conv2d(
            pre3, BlockKind.BOTTLENECK.expansion * filters, 1, 1, naming.join(scope, "conv3")
        )
        return layers.Add(name=naming.join(scope, "add"))([conv3, shortcut])

    def block_fn(self, kind: BlockKind) -> Callable[..., Tensor]:
        return self.bottleneck_block if kind is BlockKind.BOTTLENECK else self.regular_block

    def block_layer(
        self, inputs: Tensor, kind: BlockKind, filters: int, strides: int, num_blocks: int, scope: str
    ) -> Tensor:
        """Stack num_blocks blocks; the first projects its shortcut and carries the stride (seeds 000)."""
        block = self.block_fn(kind)
        shortcut_filters = self.first_shortcut_filters(inputs, kind, filters, strides)
        output = block(inputs, filters, strides, naming.join(scope, f"{kind.scope}0"), shortcut_filters)
        for i in range(1, num_blocks):
            output = block(output, filters, 1, naming.join(scope, f"{kind.scope}{i}"))
        return output

    def first_shortcut_filters(self, inputs: Tensor, kind: BlockKind, filters: int, strides: int) -> int | None:
        """Filters of the first block's projection; the seeds project in every block layer, even the first."""
        return kind.expansion * filters

    # --- the whole network (seeds 002) -----------------------------------------------------

    def stem_conv(self, inputs: Tensor, spec: ResNetSpec) -> Tensor:
        return self.custom_conv2d(
            inputs, spec.width, STEM_CONV_KERNEL, STEM_CONV_STRIDE, naming.join(naming.STEM, "conv_initial")
        )

    def final_activation(self, inputs: Tensor) -> Tensor:
        """v2 blocks end on a bare add, so the head pre-activates once more (seeds 002)."""
        return self.pre_activation(inputs, naming.join(naming.HEAD, "preact"))

    def model_layers(self, inputs: Tensor, spec: ResNetSpec) -> Tensor:
        x = self.stem_conv(inputs, spec)
        x = layers.MaxPooling2D(
            STEM_POOL_SIZE,
            STEM_POOL_STRIDE,
            padding="same",
            data_format=self.data_format,
            name=naming.join(naming.STEM, "pool_initial"),
        )(x)
        for i, num_blocks in enumerate(spec.blocks):
            x = self.block_layer(
                x, spec.block_kind, spec.filters(i), spec.block_strides[i], num_blocks, naming.stage_scope(i)
            )
        x = self.final_activation(x)
        spatial = x.shape[2:4] if self.data_format == DataFormat.CHANNELS_FIRST.value else x.shape[1:3]
        x = layers.AveragePooling2D(
            pool_size=tuple(spatial), strides=1, data_format=self.data_format, name=naming.join(naming.HEAD, "avg_pool")
        )(x)
        x = layers.Flatten(data_format=self.data_format, name=naming.join(naming.HEAD, "flatten"))(x)
        return layers.Dense(spec.classes, name=naming.join(naming.HEAD, "logits"))(x)


class ResNetV1Builder(ResNetBuilder):
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
        self, inputs: Tensor, filters: int, kernel_size: int, strides: int, name: str, relu: bool = True
    ) -> Tensor:
        """conv -> BN (-> ReLU): the paper's post-activation unit."""
        x = self.custom_conv2d(inputs, filters, kernel_size, strides, name)
        x = layers.BatchNormalization(axis=self.channel_axis, name=name + "_bn")(x)
        return layers.ReLU(name=name + "_relu")(x) if relu else x

    def shortcut(self, inputs: Tensor, scope: str, shortcut_filters: int | None, strides: int) -> Tensor:
        if shortcut_filters is None:
            return inputs
        return self.conv_bn(inputs, shortcut_filters, 1, strides, naming.join(scope, "shortcut"), relu=False)

    def residual_output(self, residual: Tensor, shortcut: Tensor, scope: str) -> Tensor:
        """Add, then ReLU: in v1 the activation comes after the sum."""
        x = layers.Add(name=naming.join(scope, "add"))([residual, shortcut])
        return layers.ReLU(name=naming.join(scope, "out_relu"))(x)

    def regular_block(
        self, inputs: Tensor, filters: int, strides: int, scope: str, shortcut_filters: int | None = None
    ) -> Tensor:
        shortcut = self.shortcut(inputs, scope, shortcut_filters, strides)
        x = self.conv_bn(inputs, filters, 3, strides, naming.join(scope, "conv1"))
        x = self.conv_bn(x, filters, 3, 1, naming.join(scope, "conv2"), relu=False)
        return self.residual_output(x, shortcut, scope)

    def bottleneck_block(
        self, inputs: Tensor, filters: int, strides: int, scope: str, shortcut_filters: int | None = None
    ) -> Tensor:
        shortcut = self.shortcut(inputs, scope, shortcut_filters, strides)
        # The paper's released models stride in this first 1x1 conv (see the class docstring).
        x = self.conv_bn(inputs, filters, 1, strides, naming.join(scope, "conv1"))
        x = self.conv_bn(x, filters, 3, 1, naming.join(scope, "conv2"))
        x = self.conv_bn(x, BlockKind.BOTTLENECK.expansion * filters, 1, 1, naming.join(scope, "conv3"), relu=False)
        return self.residual_output(x, shortcut, scope)

    def first_shortcut_filters(self, inputs: Tensor, kind: BlockKind, filters: int, strides: int) -> int | None:
        """Project only where the shape changes: a stride, or other channels than the block's output."""
        out_channels = kind.expansion * filters
        if strides == 1 and inputs.shape[self.channel_axis] == out_channels:
            return None
        return out_channels

    def stem_conv(self, inputs: Tensor, spec: ResNetSpec) -> Tensor:
        return self.conv_bn(
            inputs, spec.width, STEM_CONV_KERNEL, STEM_CONV_STRIDE, naming.join(naming.STEM, "conv_initial")
        )

    def final_activation(self, inputs: Tensor) -> Tensor:
        return inputs  # every v1 block already ends in a ReLU


# One builder class per network family.
BUILDERS: dict[Version, type[ResNetBuilder]] = {Version.V1: ResNetV1Builder, Version.V2: ResNetBuilder}


def input_shape(spec: ResNetSpec, channels: int = 3) -> tuple[int, int, int]:
    h, w = spec.input_size
    if spec.data_format is DataFormat.CHANNELS_FIRST:
        return (channels, h, w)
    return (h, w, channels)


@contextlib.contextmanager
def recursion_room(frames: int) -> Iterator[None]:
    """Python's recursion limit raised by ``frames`` for the duration of the block.

    keras.Model maps a functional graph recursively, one Python frame per layer on the
    longest path, so a network deeper than the limit (1000: --blocks 150 regular blocks)
    would fail with RecursionError. Those frames call Python from Python, which CPython
    3.11+ runs without growing the C stack.
    """
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(previous + frames)
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def build_from_spec(spec: ResNetSpec) -> keras.Model:
    """Build the functional model for a validated spec (random weights, nothing downloaded)."""
    from resnet_inspect.analysis.estimate import estimate

    builder = BUILDERS[spec.version](spec.data_format, spec.use_bias)
    with recursion_room(estimate(spec).layers):
        inputs = keras.Input(shape=input_shape(spec), name="input")
        outputs = builder.model_layers(inputs, spec)
        return keras.Model(inputs, outputs, name=spec.name)


def build_resnet(
    depth: int | None = 50,
    *,
    blocks: tuple[int, ...] | None = None,
    block_type: BlockKind | str | None = None,
    input_size: int | tuple[int, int] = 224,
    classes: int = 1000,
    width: int = 64,
    use_bias: bool = True,
    data_format: DataFormat | str = "channels_last",
    version: str = "v2",
) -> keras.Model:
    """Build a ResNet: a published depth (18/34/50/101/152/200) or a custom layout.

    >>> model = build_resnet(50)                       # the seeds' ResNet-50 v2
    >>> model = build_resnet(50, version="v1", use_bias=False)  # the paper's ResNet-50
    >>> model = build_resnet(blocks=(1, 1, 1, 1), block_type="regular", input_size=32)
    """
    spec = make_spec(
        depth,
        blocks=blocks,
        block_kind=block_type,
        input_size=input_size,
        classes=classes,
        width=width,
        use_bias=use_bias,
        data_format=data_format,
        version=version,
    )
    return build_from_spec(spec)
