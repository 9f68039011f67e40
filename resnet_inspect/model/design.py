"""The knobs that make the ResNet family's members out of one block code: plain data, no TensorFlow.

Each member of the family (:mod:`resnet_inspect.model.family`) is the seeds' or the paper's network
with some of these turned:

* ``groups`` and ``width_per_group``: ResNeXt (Xie et al. 2017), the bottleneck's 3x3 conv grouped
  into C groups of d channels each in block layer 1 (doubled per block layer, as the filters are);
* ``width_multiplier``: Wide ResNet (Zagoruyko & Komodakis 2016), the bottleneck's inner width x k;
* ``stem``: the 7x7 conv (the paper), three 3x3 convs (ResNet-C, He et al. 2019) or the CIFAR
  layout's single 3x3 conv at stride 1 without the max pool (the ResNet paper, section 4.2);
* ``shortcut``: how a downsampling shortcut is made: a 1x1 projection (the paper's option B), a 2x2
  average pool then the projection at stride 1 (ResNet-D), or parameter-free subsampling and
  zero-padded channels (the paper's option A);
* ``se_ratio``: squeeze-and-excitation on each block's residual branch (Hu et al. 2018);
* ``stride_at``: where a bottleneck strides: its first 1x1 conv (the paper's released models) or
  its 3x3 conv (ResNet-B / v1.5, and the seeds' v2).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass

from resnet_inspect.errors import FieldError

# The reference width of torchvision's `width = int(planes * (base_width / 64.)) * groups`.
REFERENCE_WIDTH = 64


class Stem(str, enum.Enum):
    PLAIN = "7x7"  # a 7x7/2 conv, then a 3x3/2 max pool
    DEEP = "deep"  # ResNet-C: 3x3/2 (width/2), 3x3 (width/2), 3x3 (width), then the max pool
    CIFAR = "cifar"  # one 3x3/1 conv, no pool: the paper's CIFAR-10 networks

    @property
    def stride(self) -> int:
        """The stem's total stride: conv and max pool."""
        return 1 if self is Stem.CIFAR else 4


class Shortcut(str, enum.Enum):
    PROJECTION = "projection"
    AVG_POOL = "avg-pool"
    ZERO_PAD = "zero-pad"


class StrideAt(str, enum.Enum):
    """The conv of a bottleneck that carries its stride."""

    FIRST = "1x1"
    MIDDLE = "3x3"


@dataclass(frozen=True, kw_only=True)
class Knobs:
    """What a family member changes in the blocks, the stem and the shortcuts (see the module docstring):
    fields of :class:`~resnet_inspect.model.spec.ResNetSpec` and of :class:`Design`. Each default leaves
    the network as it was before the family."""

    groups: int = 1
    width_per_group: int | None = None
    width_multiplier: int = 1
    stem: Stem = Stem.PLAIN
    shortcut: Shortcut = Shortcut.PROJECTION
    se_ratio: int | None = None
    stride_at: StrideAt | None = None  # None: the version's own (v1 the first 1x1, v2 the 3x3)

    def check_knobs(self) -> None:
        """Each count positive (a FieldError naming the knob otherwise)."""
        for field in ("groups", "width_multiplier"):
            if getattr(self, field) <= 0:
                raise FieldError(field, f"must be a positive integer, got {getattr(self, field)}")
        for field in ("width_per_group", "se_ratio"):
            value = getattr(self, field)
            if value is not None and value <= 0:
                raise FieldError(field, f"must be a positive integer, got {value}")


# The knobs, by field name.
KNOBS = tuple(f.name for f in dataclasses.fields(Knobs))


def knob_words(knobs: Mapping[str, object]) -> list[str]:
    """Knobs as headings say them: ``groups 32``, ``width per group 4``, ``stride at 3x3``."""
    return [f"{name.replace('_', ' ')} {value}" for name, value in knobs.items()]


@dataclass(frozen=True, kw_only=True)
class Design(Knobs):
    """The knobs as the block code reads them. ``reference_width``: the filters of block layer 1, against
    which ``width_per_group`` is read (the network's width; 64 for a block compared on its own)."""

    reference_width: int = REFERENCE_WIDTH

    def __post_init__(self) -> None:
        self.check_knobs()

    @property
    def widens(self) -> bool:
        """Whether the bottleneck's inner width differs from its filters (ResNeXt, Wide ResNet)."""
        return self.groups != 1 or self.width_per_group is not None or self.width_multiplier != 1

    def inner_width(self, filters: int) -> int:
        """The bottleneck's 1x1 -> 3x3 -> width: torchvision's ``int(planes * base_width / 64) * groups``
        with ``base_width`` = ``width_per_group`` and 64 = the reference width, times the multiplier."""
        if self.width_per_group is None:
            inner = filters * self.width_multiplier
            if inner % self.groups:
                raise FieldError("groups", f"must divide the bottleneck's inner width {inner}, got {self.groups}")
            return inner
        inner = filters * self.width_per_group // self.reference_width * self.groups * self.width_multiplier
        if inner == 0:
            raise FieldError(
                "width_per_group", f"{self.width_per_group} at {filters} filters gives an inner width of 0"
            )
        return inner

    def se_units(self, channels: int) -> int:
        """Units of the squeeze FC: C / r, at least 1 (a small network would otherwise get none)."""
        assert self.se_ratio is not None
        return max(1, channels // self.se_ratio)
