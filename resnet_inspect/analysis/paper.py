"""The paper's Table 1 beside our v1 networks: the published figures, in one place. No TensorFlow here.

The paper counts "FLOPs" as multiply-adds, i.e. our MACs, for a 224x224 input. Its networks have
BN after every conv and no conv bias, which is what ``--arch-version v1 --no-bias`` builds.
"""

from __future__ import annotations

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
