"""Network specifications as plain data: no TensorFlow here.

A ResNet variant is a frozen :class:`ResNetSpec`. The depth table follows the
seeds ("block_layer_sizes ... loaded in backend"): one row per depth, no
function per depth. The two block kinds differ in one declared place,
:attr:`BlockKind.expansion`.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
from dataclasses import dataclass

from resnet_inspect.errors import FieldError, UsageError
from resnet_inspect.model.design import KNOBS, Design, Knobs, Shortcut, Stem, StrideAt, knob_words

# Blocks per block layer for each published depth (the seeds' depth table and their README).
DEPTHS: dict[int, tuple[int, int, int, int]] = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
    200: (3, 24, 36, 3),
}

# The seeds' model class: `self.bottleneck = num_layers >= 50`.
BOTTLENECK_FROM_DEPTH = 50
# The seeds' model class: `self.block_strides = [1, 2, 2, 2]`, `self.filters_initial = 64`.
BLOCK_STRIDES: tuple[int, ...] = (1, 2, 2, 2)
MAX_BLOCK_LAYERS = 6
DEFAULT_WIDTH = 64
DEFAULT_DEPTH = 50
DEFAULT_INPUT_SIZE = 224
DEFAULT_CLASSES = 1000
# The seeds' stem: a 7x7/2 initial conv, then a 3x3/2 max pool.
STEM_CONV_KERNEL = 7
STEM_CONV_STRIDE = 2
STEM_POOL_SIZE = 3
STEM_POOL_STRIDE = 2


class BlockKind(str, enum.Enum):
    """The block kinds, each with the two numbers the rest of the package reads: ``expansion`` (output
    channels per filter) and ``convs`` (convolutions on its main path). The block itself is the method
    ``<value>_block`` of each network family in :mod:`resnet_inspect.model.topology`; a new kind is a
    member here and its method there."""

    # The seeds' regular block: two 3x3 convs; their bottleneck: 1x1, 3x3, then a 1x1 with 4x the filters.
    REGULAR = ("regular", 1, 2)
    BOTTLENECK = ("bottleneck", 4, 3)

    expansion: int
    convs: int

    def __new__(cls, value: str, expansion: int, convs: int) -> BlockKind:
        member = str.__new__(cls, value)
        member._value_ = value
        member.expansion = expansion
        member.convs = convs
        return member

    @property
    def scope(self) -> str:
        """Scope prefix of one block, as in the seeds' ``variable_scope``."""
        return f"{self.value}_block"


class DataFormat(str, enum.Enum):
    CHANNELS_LAST = "channels_last"
    CHANNELS_FIRST = "channels_first"


class Version(str, enum.Enum):
    """Network family: v2 is the seeds' pre-activation ResNet (He et al. 2016, "Identity Mappings"),
    v1 the original post-activation ResNet of the paper (He et al. 2015, "Deep Residual Learning")."""

    V1 = "v1"
    V2 = "v2"

    @property
    def stride_at(self) -> StrideAt:
        """The bottleneck conv that strides unless a design says otherwise: the paper's released models
        stride in the first 1x1, the seeds' v2 in the 3x3."""
        return StrideAt.FIRST if self is Version.V1 else StrideAt.MIDDLE

    @property
    def activation(self) -> str:
        """Where BN and ReLU sit relative to each conv."""
        return "post-activation" if self is Version.V1 else "pre-activation"


@dataclass(frozen=True)
class ResNetSpec(Knobs):
    """Everything needed to build one network. Validated on construction."""

    blocks: tuple[int, ...]
    block_kind: BlockKind
    depth: int | None = None
    input_size: tuple[int, int] = (DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE)
    classes: int = DEFAULT_CLASSES
    width: int = DEFAULT_WIDTH
    use_bias: bool = True
    data_format: DataFormat = DataFormat.CHANNELS_LAST
    version: Version = Version.V2
    # and the family's knobs, inherited from Knobs (keyword-only)
    arch: str | None = None  # the family member's name it started from (resnet_inspect.model.family)
    changed: tuple[str, ...] = ()  # the fields options changed on top of ``arch``, as "field value"

    def __post_init__(self) -> None:
        if not self.blocks or any(n <= 0 for n in self.blocks):
            raise FieldError("blocks", "needs positive block counts, e.g. 3,4,6,3")
        if len(self.blocks) > MAX_BLOCK_LAYERS:
            raise FieldError("blocks", f"takes at most {MAX_BLOCK_LAYERS} block layers, got {len(self.blocks)}")
        check_positive("classes", self.classes)
        check_positive("width", self.width)
        for side in self.input_size:
            check_positive("input_size", side)
        design = self.design  # validates the knobs
        if design.widens and self.block_kind is not BlockKind.BOTTLENECK:
            knob = next(k for k in ("groups", "width_per_group", "width_multiplier") if k in self.knobs())
            raise FieldError(knob, "applies to bottleneck blocks only (ResNeXt and Wide ResNet widen the bottleneck)")
        if self.block_kind is BlockKind.BOTTLENECK:
            for i in range(len(self.blocks)):
                design.inner_width(self.filters(i))  # a width the groups divide, and not 0
        if self.stem is Stem.DEEP and self.width < 2:
            raise FieldError("width", f"must be 2 or more with the deep stem (width / 2 filters), got {self.width}")
        minimum = self.min_input_size
        if min(self.input_size) < minimum:
            raise UsageError(
                f"input {self.input_size[0]}x{self.input_size[1]} is too small for this network: "
                f"it downsamples by {minimum}, so the minimum input size is {minimum}x{minimum}"
            )

    @property
    def block_strides(self) -> tuple[int, ...]:
        """Seeds: [1, 2, 2, 2]; a custom layout with more or fewer block layers keeps the pattern."""
        return (BLOCK_STRIDES[0],) + (BLOCK_STRIDES[1],) * (len(self.blocks) - 1)

    @property
    def design(self) -> Design:
        """The knobs as the block code reads them."""
        return Design(**{k: getattr(self, k) for k in KNOBS}, reference_width=self.width)

    def knobs(self) -> dict[str, object]:
        """The knobs that differ from the network before the family (the stride placement: from the version's)."""
        plain = Knobs(stride_at=self.version.stride_at)
        mine = dataclasses.replace(self.design, stride_at=self.stride_at or self.version.stride_at)
        return {
            k: getattr(mine, k).value if isinstance(getattr(mine, k), enum.Enum) else getattr(mine, k)
            for k in KNOBS
            if getattr(mine, k) != getattr(plain, k)
            and not (k == "stride_at" and self.block_kind is not BlockKind.BOTTLENECK)  # a bottleneck's only
        }

    @property
    def total_stride(self) -> int:
        """Product of every stride in the network: stem conv, stem pool, block layers."""
        return Stem(self.stem).stride * math.prod(self.block_strides)

    @property
    def min_input_size(self) -> int:
        """Smallest side for which every stride-2 stage halves a map of at least 2.

        With the seeds' padding any input >= 1 gives a 1x1 map, but below the
        total stride the last block layers would see a map made mostly of padding.
        """
        return self.total_stride

    @property
    def weight_layers(self) -> int:
        """Conv and dense layers on the main path: the depth the name refers to."""
        stem_convs = 3 if self.stem is Stem.DEEP else 1
        return stem_convs + self.block_kind.convs * sum(self.blocks) + 1

    @property
    def name(self) -> str:
        """``resnet50`` for the seeds' v2 (unchanged), ``resnet50-v1`` for the paper's network; a family
        member's own name (``resnext50_32x4d``), ``-custom`` added once options change it."""
        if self.arch is not None:
            return f"{self.arch}-custom" if self.changed else self.arch
        if self.depth is not None:
            base = f"resnet{self.depth}"
        else:
            layout = "-".join(str(n) for n in self.blocks)
            base = f"resnet-{self.block_kind.value}-{layout}"
        name = base if self.version is Version.V2 else f"{base}-{self.version.value}"
        return f"{name}-custom" if self.knobs() else name

    def filters(self, layer_index: int) -> int:
        """Filters of block layer ``layer_index`` (0-based): doubled per block layer, as the seeds' model does."""
        return self.width * 2**layer_index

    def describe(self) -> str:
        h, w = self.input_size
        layout = "-".join(str(n) for n in self.blocks)
        bias = "conv bias" if self.use_bias else "no conv bias"
        # v1 names already end in "-v1"; v2 names carry the version word as before.
        suffixed = self.name.removesuffix("-custom").endswith(f"-{self.version.value}")
        family = self.name if suffixed or self.arch is not None else f"{self.name} {self.version.value}"
        text = (
            f"{family} ({self.version.activation}), {self.block_kind.value} blocks "
            f"{layout}, input {h}x{w}x3, {self.classes} classes, width {self.width}, "
            f"{bias}, {self.data_format.value}"
        )
        knobs = ", ".join(knob_words(self.knobs()))
        if knobs:
            text += f", {knobs}"
        if self.changed:
            text += f"; changed from {self.arch} as published: {', '.join(self.changed)}"
        return text

    def config(self) -> dict[str, object]:
        """Plain, JSON-serialisable configuration."""
        return {
            "name": self.name,
            "arch_version": self.version.value,
            "depth": self.depth,
            "blocks": list(self.blocks),
            "block_type": self.block_kind.value,
            "input_size": list(self.input_size),
            "classes": self.classes,
            "width": self.width,
            "use_bias": self.use_bias,
            "data_format": self.data_format.value,
            # only where set, so that the configuration of a network from before the family is unchanged
            **({"arch": self.arch, "changed": list(self.changed)} if self.arch is not None else {}),
            **self.knobs(),
        }


def check_positive(field: str, value: int) -> None:
    """A count that must be 1 or more (classes, width, an input side)."""
    if value <= 0:
        raise FieldError(field, f"must be a positive integer, got {value}")


# A value quoted in a message is cut to this many characters (a 5,000-digit number stays one short line).
SHOWN_CHARS = 40


def shown_value(text: str) -> str:
    """``text`` quoted for a message, cut when long."""
    quoted = repr(text)
    return quoted if len(quoted) <= SHOWN_CHARS else f"{quoted[:SHOWN_CHARS]}... ({len(text):,} characters)"


def _whole(digits: str, field: str) -> int:
    """The number a run of digits spells; one longer than Python converts (its int-string limit) is a
    FieldError, not a ValueError about ``sys.set_int_max_str_digits``."""
    try:
        return int(digits)
    except ValueError:
        raise FieldError(field, f"has a number of {len(digits):,} digits; no count of a network comes near") from None


def parse_blocks(text: str) -> tuple[int, ...]:
    """Parse ``"3,4,6,3"`` into a tuple of positive ints."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not re.fullmatch(r"\d+", p) for p in parts):
        raise FieldError(
            "blocks", f"must be comma-separated positive integers such as 3,4,6,3, got {shown_value(text)}"
        )
    return tuple(_whole(p, "blocks") for p in parts)


def parse_input_size(text: str) -> tuple[int, int]:
    """Parse ``"224"`` or ``"HxW"`` (e.g. ``"192x256"``)."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?", text)
    if not match:
        raise FieldError("input_size", f"must be N or HxW (e.g. 224 or 192x256), got {shown_value(text)}")
    h = _whole(match.group(1), "input_size")
    w = _whole(match.group(2), "input_size") if match.group(2) is not None else h
    if h <= 0 or w <= 0:
        raise FieldError("input_size", f"must be positive, got {shown_value(text)}")
    return (h, w)


def make_spec(
    depth: int | None = DEFAULT_DEPTH,
    *,
    blocks: tuple[int, ...] | None = None,
    block_kind: BlockKind | str | None = None,
    input_size: int | tuple[int, int] = DEFAULT_INPUT_SIZE,
    classes: int = DEFAULT_CLASSES,
    width: int = DEFAULT_WIDTH,
    use_bias: bool = True,
    data_format: DataFormat | str = DataFormat.CHANNELS_LAST,
    version: Version | str = Version.V2,
    **knobs: object,
) -> ResNetSpec:
    """Resolve a depth or a custom layout into a validated spec; ``knobs``: the family's
    (:data:`resnet_inspect.model.design.KNOBS`, e.g. ``groups=32, width_per_group=4``)."""
    unknown = set(knobs) - set(KNOBS)
    if unknown:
        raise TypeError(f"make_spec() got unexpected keyword arguments {sorted(unknown)}")
    if blocks is None:
        if depth is None:
            raise UsageError("give a depth or a custom layout (blocks)")
        if depth not in DEPTHS:
            valid = ", ".join(str(d) for d in DEPTHS)
            raise UsageError(f"unknown depth {depth}; valid depths: {valid}")
        blocks = DEPTHS[depth]
        if block_kind is None:
            block_kind = BlockKind.BOTTLENECK if depth >= BOTTLENECK_FROM_DEPTH else BlockKind.REGULAR
    else:
        depth = None
        if block_kind is None:
            block_kind = BlockKind.BOTTLENECK
    if isinstance(input_size, int):
        input_size = (input_size, input_size)
    try:
        kind = BlockKind(block_kind)
        fmt = DataFormat(data_format)
        ver = Version(version)
        for key, enum_type in (("stem", Stem), ("shortcut", Shortcut), ("stride_at", StrideAt)):
            if knobs.get(key) is not None:
                knobs[key] = enum_type(knobs[key])
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if depth is not None and kind is not (
        BlockKind.BOTTLENECK if depth >= BOTTLENECK_FROM_DEPTH else BlockKind.REGULAR
    ):
        # A depth names a published layout; another block kind is a custom network.
        depth = None
    return ResNetSpec(
        blocks=tuple(blocks),
        block_kind=kind,
        depth=depth,
        input_size=tuple(input_size),  # type: ignore[arg-type]
        classes=classes,
        width=width,
        use_bias=use_bias,
        data_format=fmt,
        version=ver,
        **knobs,  # type: ignore[arg-type]
    )
