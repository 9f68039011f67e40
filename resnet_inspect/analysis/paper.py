"""The paper's Table 1 beside our v1 networks: the published figures, in one place. No TensorFlow here.

The paper counts "FLOPs" as multiply-adds, i.e. our MACs, for a 224x224 input. Its networks have
BN after every conv and no conv bias, which is what ``--arch-version v1 --no-bias`` builds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from resnet_inspect.analysis.report import Report
from resnet_inspect.errors import InspectError, UsageError
from resnet_inspect.model.spec import ResNetSpec, Version, make_spec

CITATION = (
    'K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition", CVPR 2016 '
    "(arXiv:1512.03385), Table 1, row FLOPs"
)
# Table 1, 224x224 input, in units of 10^9 multiply-adds (the paper's "FLOPs"), printed to two digits.
PAPER_GMACS: dict[int, float] = {18: 1.8, 34: 3.6, 50: 3.8, 101: 7.6, 152: 11.3}

PARAMS_SOURCE = (
    "torchvision.models.resnet18/34/50/101/152 (num_params); keras.applications.ResNet50/101/152 "
    "give the same counts once their conv biases are removed"
)
# Trainable parameters of the same networks as published with their reference implementations:
# conv weights, BN gamma and beta, the dense layer with its bias (no conv bias).
PUBLISHED_PARAMS: dict[int, int] = {
    18: 11_689_512,
    34: 21_797_672,
    50: 25_557_032,
    101: 44_549_160,
    152: 60_192_808,
}
PAPER_INPUT_SIZE = 224
# The paper prints two significant digits; 2% covers that rounding (e.g. 3.86 for "3.8").
TOLERANCE = 0.02


@dataclass(frozen=True)
class PaperRow:
    depth: int
    name: str
    macs: int
    paper_macs: int
    difference: float  # ours / paper - 1
    within_tolerance: bool
    trainable: int
    published_params: int
    params_equal: bool


def paper_spec(depth: int) -> ResNetSpec:
    """The paper's network of ``depth``: v1, no conv bias, 224x224, 1000 classes."""
    return make_spec(depth, version=Version.V1, use_bias=False, input_size=PAPER_INPUT_SIZE)


def paper_depths(depths: Sequence[int]) -> tuple[int, ...]:
    """The depths to compare (all of Table 1 when none are given), validated."""
    unknown = [d for d in depths if d not in PAPER_GMACS]
    if unknown:
        valid = ", ".join(str(d) for d in PAPER_GMACS)
        raise UsageError(f"the paper's Table 1 has no depth {unknown[0]}; its depths: {valid}")
    return tuple(dict.fromkeys(depths)) or tuple(PAPER_GMACS)


def paper_row(depth: int, report: Report) -> PaperRow:
    """Compare the walk of :func:`paper_spec` ``(depth)`` with the published figures."""
    totals = report.totals
    if totals.macs is None:
        raise InspectError(f"{report.model_name} has unsupported layers; its MACs are unknown")
    paper_macs = round(PAPER_GMACS[depth] * 1e9)
    difference = totals.macs / paper_macs - 1
    return PaperRow(
        depth=depth,
        name=report.model_name,
        macs=totals.macs,
        paper_macs=paper_macs,
        difference=difference,
        within_tolerance=abs(difference) <= TOLERANCE,
        trainable=totals.trainable,
        published_params=PUBLISHED_PARAMS[depth],
        params_equal=totals.trainable == PUBLISHED_PARAMS[depth],
    )


# --- the family's sections: each member's published figures beside ours ------------------------------


@dataclass(frozen=True)
class Published:
    """What a source states for one member: trainable parameters and multiply-adds at its input size.

    ``params_digits``: None where the count is exact (torchvision's and timm's metadata), else the
    significant digits the source prints; ``gmacs`` to ``macs_digits`` significant digits. None: not published.
    """

    name: str
    params: float | None
    gmacs: float | None
    params_digits: int | None = None
    macs_digits: int = 3


@dataclass(frozen=True)
class Section:
    family: str
    source: str
    rows: tuple[Published, ...]


TV = "torchvision.models weights metadata (num_params, GFLOPS = multiply-adds)"
FAMILY_SECTIONS: tuple[Section, ...] = (
    Section("v1.5", TV, (
        Published("resnet50-v1.5", 25_557_032, 4.09),
        Published("resnet101-v1.5", 44_549_160, 7.80),
        Published("resnet152-v1.5", 60_192_808, 11.51),
    )),
    Section("c/d", "He et al. 2019 (Bag of Tricks) Table 5, FLOPs; timm resnet50d parameters", (
        Published("resnet50c", None, 4.3, macs_digits=2),
        Published("resnet50d", 25_576_264, 4.3, macs_digits=2),
    )),
    Section("resnext", f"Xie et al. 2017 Table 3 (ResNeXt-50 32x4d: 4.2 GFLOPs); {TV}", (
        Published("resnext50_32x4d", 25_028_904, 4.23),
        Published("resnext101_32x8d", 88_791_336, 16.41),
        Published("resnext101_64x4d", 83_455_272, 15.46),
    )),
    Section("wide", f"Zagoruyko & Komodakis 2016, bottleneck form as in {TV}", (
        Published("wide_resnet50_2", 68_883_240, 11.4, macs_digits=3),
        Published("wide_resnet101_2", 126_886_696, 22.75, macs_digits=4),
    )),
    Section("se", "Hu et al. 2018 Table 2 (GFLOPs); timm seresnet50/101 parameters", (
        Published("seresnet50", 28_088_024, 3.87),
        Published("seresnet101", 49.3e6, 7.60, params_digits=3),
    )),
    Section("cifar", "He et al. 2015 Table 6 (CIFAR-10, # params; no FLOPs published)", tuple(
        Published(f"resnet{depth}", params, None, params_digits=2)
        for depth, params in ((20, 0.27e6), (32, 0.46e6), (44, 0.66e6), (56, 0.85e6), (110, 1.7e6), (1202, 19.4e6))
    )),
)
SECTIONS = {section.family: section for section in FAMILY_SECTIONS}


def rounding(value: float, digits: int) -> float:
    """Half a unit of the last of ``digits`` significant digits: the largest difference that rounding explains."""
    return 0.5 * 10 ** (math.floor(math.log10(abs(value))) - digits + 1)


def within(ours: int, published: float, digits: int | None) -> bool:
    """Equal for an exact count; else within the rounding of the published digits (1.7M: 1.65M to 1.75M)."""
    return ours == published if digits is None else abs(ours - published) <= rounding(published, digits)


@dataclass(frozen=True)
class FamilyRow:
    section: str
    name: str
    trainable: int
    published_params: float | None
    params_within: bool | None
    macs: int | None
    published_macs: float | None
    macs_within: bool | None


def family_sections(families: Sequence[str]) -> tuple[Section, ...]:
    """The sections to show (``all``: every one), validated."""
    unknown = [f for f in families if f != "all" and f not in SECTIONS]
    if unknown:
        raise UsageError(f"no family section {unknown[0]!r}; sections: {', '.join(SECTIONS)}, all")
    if "all" in families:
        return FAMILY_SECTIONS
    return tuple(SECTIONS[f] for f in dict.fromkeys(families))


def family_row(section: Section, published: Published, report: Report) -> FamilyRow:
    """One member's walk beside what its source publishes."""
    totals = report.totals
    macs_ok = None
    if published.gmacs is not None and totals.macs is not None:
        macs_ok = within(totals.macs, published.gmacs * 1e9, published.macs_digits)
    return FamilyRow(
        section=section.family,
        name=published.name,
        trainable=totals.trainable,
        published_params=published.params,
        params_within=None if published.params is None else within(
            totals.trainable, published.params, published.params_digits),
        macs=totals.macs,
        published_macs=None if published.gmacs is None else published.gmacs * 1e9,
        macs_within=macs_ok,
    )
