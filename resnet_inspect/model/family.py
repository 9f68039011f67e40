"""The ResNet family by name: each published member as its authors built it. Plain data, no TensorFlow.

A member is a :class:`~resnet_inspect.model.spec.ResNetSpec` with some knobs of
:mod:`resnet_inspect.model.design` turned, built as published: no conv bias, BN after every conv,
the authors' stem, stride placement and shortcut type, 224x224 and 1000 classes (32x32 and 10
classes for CIFAR). The names before the family keep their meaning: ``resnet50`` is the seeds'
v2 and ``resnet50-v1`` the paper's network (both with the conv bias unless ``--no-bias``); they
are listed here too, read off the depth table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from resnet_inspect.errors import UsageError
from resnet_inspect.model.design import Shortcut, Stem, StrideAt, knob_words
from resnet_inspect.model.spec import (
    BOTTLENECK_FROM_DEPTH,
    DEPTHS,
    BlockKind,
    ResNetSpec,
    Version,
    make_spec,
)

# The paper's CIFAR-10 networks (section 4.2): 6n+2 layers, n regular blocks per block layer.
CIFAR_DEPTHS = (20, 32, 44, 56, 110, 1202)
CIFAR_WIDTH = 16
CIFAR_BLOCK_LAYERS = 3
CIFAR_INPUT = 32
CIFAR_CLASSES = 10
# Depths whose bottleneck moves its stride in v1.5 (18 and 34 have no bottleneck: v1.5 is v1 there).
BOTTLENECK_DEPTHS = tuple(d for d in DEPTHS if BOTTLENECK_FROM_DEPTH <= d <= 152)
BAG_OF_TRICKS_DEPTHS = tuple(d for d in DEPTHS if d <= 152)


@dataclass(frozen=True)
class Member:
    """One name: its family, where it comes from, and the network it builds."""

    name: str
    family: str
    source: str
    spec: ResNetSpec

    @property
    def knobs(self) -> str:
        """What defines it, read off the spec: the version, the layout and each knob turned."""
        spec = self.spec
        parts = [spec.version.value, f"{spec.block_kind.value} {'-'.join(map(str, spec.blocks))}"]
        parts += knob_words(spec.knobs())
        if spec.stem is Stem.CIFAR:
            parts.append(f"{spec.input_size[0]}x{spec.input_size[1]}, {spec.classes} classes")
        return ", ".join(parts)


def _published(name: str, depth: int, version: Version = Version.V1, **knobs: object) -> ResNetSpec:
    """A published ImageNet network: ``depth``'s layout, no conv bias, the knobs given, named ``name``."""
    spec = make_spec(depth, use_bias=False, version=version, **knobs)
    return dataclasses.replace(spec, arch=name)


def _cifar(depth: int) -> ResNetSpec:
    """The paper's CIFAR-10 ResNet of ``depth`` = 6n + 2, with its option A shortcuts."""
    n = (depth - 2) // 6
    spec = make_spec(
        None, blocks=(n,) * CIFAR_BLOCK_LAYERS, block_kind=BlockKind.REGULAR, input_size=CIFAR_INPUT,
        classes=CIFAR_CLASSES, width=CIFAR_WIDTH, use_bias=False, version=Version.V1,
        stem=Stem.CIFAR, shortcut=Shortcut.ZERO_PAD,
    )
    return dataclasses.replace(spec, depth=depth, arch=f"resnet{depth}")


TORCHVISION = "torchvision.models"
BAG_OF_TRICKS = 'He et al. 2019, "Bag of Tricks for Image Classification with CNNs" (timm)'
RESNEXT = 'Xie et al. 2017, "Aggregated Residual Transformations" (torchvision)'
WIDE = 'Zagoruyko & Komodakis 2016, "Wide Residual Networks" (torchvision)'
SENET = 'Hu et al. 2018, "Squeeze-and-Excitation Networks"'
RESNET_PAPER = 'He et al. 2015, "Deep Residual Learning", section 4.2'


def _members() -> Iterator[Member]:
    for depth in DEPTHS:
        yield Member(f"resnet{depth}", "ResNet v2 (the seeds)", 'He et al. 2016, "Identity Mappings"',
                     make_spec(depth))
    for depth in DEPTHS:
        yield Member(f"resnet{depth}-v1", "ResNet v1 (the paper)", 'He et al. 2015, "Deep Residual Learning"',
                     make_spec(depth, version=Version.V1))
    for depth in BOTTLENECK_DEPTHS:
        name = f"resnet{depth}-v1.5"
        yield Member(name, "ResNet v1.5", f"{TORCHVISION}.resnet{depth}",
                     _published(name, depth, stride_at=StrideAt.MIDDLE))
    for letter, shortcut in (("c", Shortcut.PROJECTION), ("d", Shortcut.AVG_POOL)):
        for depth in BAG_OF_TRICKS_DEPTHS:
            name = f"resnet{depth}{letter}"
            yield Member(name, f"ResNet-{letter.upper()}", BAG_OF_TRICKS,
                         _published(name, depth, stride_at=StrideAt.MIDDLE, stem=Stem.DEEP, shortcut=shortcut))
    for depth, groups, width in ((50, 32, 4), (101, 32, 8), (101, 64, 4)):
        name = f"resnext{depth}_{groups}x{width}d"
        yield Member(name, "ResNeXt", RESNEXT, _published(
            name, depth, stride_at=StrideAt.MIDDLE, groups=groups, width_per_group=width))
    for depth in (50, 101):
        name = f"wide_resnet{depth}_2"
        yield Member(name, "Wide ResNet", WIDE,
                     _published(name, depth, stride_at=StrideAt.MIDDLE, width_multiplier=2))
    for depth in (50, 101):
        # Hu et al.'s Caffe models stride in the first 1x1, as the paper's: 3.87 GMACs for SE-ResNet-50.
        name = f"seresnet{depth}"
        yield Member(name, "SE-ResNet", SENET, _published(name, depth, se_ratio=16))
    for depth in CIFAR_DEPTHS:
        yield Member(f"resnet{depth}", "CIFAR ResNet", RESNET_PAPER, _cifar(depth))


MEMBERS: Mapping[str, Member] = {member.name: member for member in _members()}


def lookup(name: str) -> Member | None:
    """The member named ``name`` (any case, surrounding spaces ignored); None if there is none."""
    return MEMBERS.get(name.strip().lower())


def member(name: str) -> Member:
    """The member named ``name``; a UsageError listing the names otherwise."""
    found = lookup(name)
    if found is None:
        raise UsageError(f"unknown architecture {name!r}; `resnet-inspect archs` lists them: {', '.join(MEMBERS)}")
    return found


def member_spec(name: str, overrides: Mapping[str, object] | None = None) -> ResNetSpec:
    """The network ``name`` builds, with ``overrides`` (ResNetSpec fields) on top, validated.

    A published member that an override changes is no longer the published network: it keeps its
    name with ``-custom`` and lists what changed (:attr:`ResNetSpec.changed`), so every heading says so.
    The seeds' and the paper's names (no ``arch``) take overrides as their options always did.
    """
    spec = member(name).spec
    overrides = {field: value for field, value in (overrides or {}).items() if getattr(spec, field) != value}
    if "blocks" in overrides or "block_kind" in overrides:
        overrides["depth"] = None  # another layout: the depth no longer names it
    if spec.arch is None:
        return dataclasses.replace(spec, **overrides)
    changed = tuple(
        f"{field.replace('_', '-')} {_shown(field, value)}" for field, value in overrides.items() if field != "depth"
    )
    return dataclasses.replace(spec, **overrides, changed=changed)


def _shown(field: str, value: object) -> str:
    """An option's value as the user would type it."""
    if field == "input_size":
        return "x".join(map(str, value))  # type: ignore[call-overload]
    if field == "blocks":
        return ",".join(map(str, value))  # type: ignore[call-overload]
    return str(getattr(value, "value", value))
