"""The ResNet family (v1.5, ResNet-C/D, ResNeXt, Wide ResNet, SE-ResNet, the paper's CIFAR ResNets).

Parameters against the counts their sources publish and against a hand count written here (per conv
k*k*c_in/groups*c_out, per BN 2 trainable numbers a channel, per SE 2*c*c/r + c/r + c, per shortcut by
type), MACs against the published figures and hand arithmetic. Most counts come from the recorder
(no TensorFlow); a few networks are built at 224x224 to check MACs and that the recorder is Keras.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import pytest
from typer.testing import CliRunner

from resnet_inspect.analysis.compare_names import parse_names
from resnet_inspect.errors import FieldError, UsageError
from resnet_inspect.model.family import MEMBERS, member_spec
from resnet_inspect.model.recorder import Recorder, record
from resnet_inspect.model.spec import BlockKind, ResNetSpec, make_spec


@functools.cache
def built_member(name: str) -> tuple[ResNetSpec, Any, Any]:
    """(spec, model, report) of a member as published, built once per session (test_topology reuses them)."""
    from resnet_inspect.analysis.walk import analyze
    from resnet_inspect.model.builder import build_from_spec

    spec = member_spec(name)
    model = build_from_spec(spec)
    return spec, model, analyze(model, config=spec.config())


# Built at full size: one member with grouped convs, to hold the recorder-derived MACs to the Keras walk.
BUILT_MEMBERS = ("resnext50_32x4d", "resnet20")


def trainable(recorder: Recorder) -> int:
    """Keras' count less the BN moving mean and variance (half of each BN's 4 numbers a channel)."""
    moving = sum(n.params * n.times for n in recorder.nodes if n.layer_type == "BatchNormalization") // 2
    return recorder.params - moving


# --- hand counts ----------------------------------------------------------------------------------


def conv(k: int, c_in: int, c_out: int, groups: int = 1, bias: bool = False) -> int:
    return k * k * c_in // groups * c_out + (c_out if bias else 0)


def bn(c: int) -> int:
    return 2 * c  # gamma, beta


def se(c: int, r: int) -> int:
    return 2 * c * (c // r) + c // r + c  # FC to c/r with bias, FC back to c with bias


def imagenet_count(
    blocks: tuple[int, ...], groups: int = 1, width_per_group: int = 64, k: int = 1, deep_stem: bool = False,
    se_ratio: int | None = None,
) -> int:
    """Trainable parameters of a bottleneck ImageNet ResNet as torchvision/timm build it, by hand."""
    if deep_stem:
        total = conv(3, 3, 32) + bn(32) + conv(3, 32, 32) + bn(32) + conv(3, 32, 64) + bn(64)
    else:
        total = conv(7, 3, 64) + bn(64)
    c_in = 64
    for i, n in enumerate(blocks):
        planes = 64 * 2**i
        inner = planes * width_per_group // 64 * groups * k
        out = 4 * planes
        for b in range(n):
            total += conv(1, c_in, inner) + bn(inner) + conv(3, inner, inner, groups) + bn(inner)
            total += conv(1, inner, out) + bn(out)
            if se_ratio:
                total += se(out, se_ratio)
            if b == 0:  # a projection (the avg pool of ResNet-D adds none)
                total += conv(1, c_in, out) + bn(out)
            c_in = out
    return total + c_in * 1000 + 1000


def cifar_count(n: int) -> int:
    """Trainable parameters of the paper's CIFAR ResNet 6n+2 with option A shortcuts (none), by hand."""
    total, c_in = conv(3, 3, 16) + bn(16), 16
    for i in range(3):
        c = 16 * 2**i
        for _ in range(n):
            total += conv(3, c_in, c) + bn(c) + conv(3, c, c) + bn(c)
            c_in = c
    return total + 64 * 10 + 10


# --- parameters ----------------------------------------------------------------------------------

# torchvision's weights metadata (num_params) and timm's model cards, trainable parameters.
PUBLISHED_PARAMS = {
    "resnet50-v1.5": 25_557_032,
    "resnet101-v1.5": 44_549_160,
    "resnet152-v1.5": 60_192_808,
    "resnext50_32x4d": 25_028_904,
    "resnext101_32x8d": 88_791_336,
    "resnext101_64x4d": 83_455_272,
    "wide_resnet50_2": 68_883_240,
    "wide_resnet101_2": 126_886_696,
    "resnet50d": 25_576_264,
    "seresnet50": 28_088_024,
}


@pytest.mark.parametrize("name", list(PUBLISHED_PARAMS))
def test_published_parameter_counts_are_reproduced(name: str) -> None:
    assert trainable(record(member_spec(name))) == PUBLISHED_PARAMS[name]


HAND_COUNTED = {
    "resnet50-v1.5": imagenet_count((3, 4, 6, 3)),
    "resnext50_32x4d": imagenet_count((3, 4, 6, 3), groups=32, width_per_group=4),
    "resnext101_32x8d": imagenet_count((3, 4, 23, 3), groups=32, width_per_group=8),
    "wide_resnet50_2": imagenet_count((3, 4, 6, 3), k=2),
    "resnet50d": imagenet_count((3, 4, 6, 3), deep_stem=True),
    "resnet50c": imagenet_count((3, 4, 6, 3), deep_stem=True),
    "seresnet50": imagenet_count((3, 4, 6, 3), se_ratio=16),
    "seresnet101": imagenet_count((3, 4, 23, 3), se_ratio=16),
    **{f"resnet{6 * n + 2}": cifar_count(n) for n in (3, 5, 7, 9, 18, 200)},
}


@pytest.mark.parametrize("name", list(HAND_COUNTED))
def test_parameters_equal_the_hand_count(name: str) -> None:
    assert trainable(record(member_spec(name))) == HAND_COUNTED[name]


# The ResNet paper's Table 6 (CIFAR-10), "# params", printed to two digits.
CIFAR_TABLE6 = {20: 0.27e6, 32: 0.46e6, 44: 0.66e6, 56: 0.85e6, 110: 1.7e6, 1202: 19.4e6}


@pytest.mark.parametrize("depth", list(CIFAR_TABLE6))
def test_cifar_resnets_match_the_papers_table6(depth: int) -> None:
    count = trainable(record(member_spec(f"resnet{depth}")))
    assert abs(count / CIFAR_TABLE6[depth] - 1) < 0.02  # the table's two digits


# --- MACs -----------------------------------------------------------------------------------------


def hand_macs(recorder: Recorder) -> int:
    """Multiply-adds by hand from the recorded shapes: a conv or dense layer does one multiply-add per
    weight at each output position (weights = its parameters less one bias per output channel)."""
    total = 0
    for node in recorder.nodes:
        if node.layer_type not in ("Conv2D", "Dense"):
            continue
        units = node.output_shape[-1]
        has_bias = node.layer_type == "Dense" or ".se_fc" in node.name  # published members: no conv bias
        weights = node.params - (units if has_bias else 0)
        positions = math.prod(node.output_shape[:-1])
        total += weights * positions * node.times
    return total


def member_macs(name: str) -> int:
    return hand_macs(record(member_spec(name)))


def test_the_walk_counts_the_hand_macs_of_a_grouped_network() -> None:
    for name in BUILT_MEMBERS:
        spec, model, report = built_member(name)
        recorder = record(spec)
        assert recorder.params == model.count_params(), name
        assert report.totals.macs == hand_macs(recorder), name
    (conv2,) = [r for r in built_member("resnext50_32x4d")[2].layers if r.name.endswith("layer1.bottleneck_block0.conv2")]
    # 56x56 outputs, 128 filters, 3x3 taps over 128/32 = 4 input channels each
    assert conv2.macs == 56 * 56 * 128 * 9 * 4
    assert conv2.params == 9 * 4 * 128


def test_v1_5_costs_more_than_v1_by_the_strided_1x1_convs() -> None:
    # v1 runs each downsampling block's first 1x1 on the halved map, v1.5 on the full one: block
    # layers 2-4 each add (H^2 - (H/2)^2) * c_in * inner MACs, H = 56, 28, 14 and c_in * inner doubled twice.
    extra = sum((h * h - (h // 2) ** 2) * c_in * inner for h, c_in, inner in ((56, 256, 128), (28, 512, 256),
                                                                               (14, 1024, 512)))
    v1 = hand_macs(record(make_spec(50, version="v1", use_bias=False)))
    assert member_macs("resnet50-v1.5") - v1 == extra == 3 * 77_070_336
    assert round(member_macs("resnet50-v1.5") / 1e9, 2) == 4.09  # torchvision: 4.09 GFLOPS (multiply-adds)
    assert round(v1 / 1e9, 2) == 3.86


# Published multiply-adds (GMACs) at 224x224, and the sources' precision.
PUBLISHED_GMACS = {
    "resnext50_32x4d": (4.2, 0.02),  # Xie et al. Table 3 (torchvision: 4.23)
    "wide_resnet50_2": (11.4, 0.01),  # torchvision
    "seresnet50": (3.87, 0.005),  # Hu et al. Table 2
    "resnet50d": (4.35, 0.01),  # timm
}


@pytest.mark.parametrize("name", list(PUBLISHED_GMACS))
def test_macs_match_the_published(name: str) -> None:
    gmacs, tolerance = PUBLISHED_GMACS[name]
    assert abs(member_macs(name) / (gmacs * 1e9) - 1) <= tolerance


def test_se_block_parameters_and_placement(build: Any) -> None:
    _, _, report = build(None, blocks=(1, 2), input_size=32, width=8, classes=10, version="v1", se_ratio=4)
    block = "block_layer1.bottleneck_block0."
    inputs = {r.name.removeprefix(block): [i.removeprefix(block) for i in r.inputs] for r in report.layers
              if r.name.startswith(block)}
    # on the residual branch after conv3's BN, before the add: pool, FC, ReLU, FC, sigmoid, scale
    assert inputs["se_pool"] == ["conv3_bn"]
    assert [inputs[p] for p in ("se_fc1", "se_relu", "se_fc2", "se_gate")] == [
        ["se_pool"], ["se_fc1"], ["se_relu"], ["se_fc2"]]
    assert inputs["se_scale"] == ["conv3_bn", "se_gate"]
    assert inputs["add"] == ["se_scale", "shortcut_bn"]
    assert sum(r.params for r in report.layers if r.name.startswith(block + "se_")) == se(32, 4)


def test_option_a_shortcut_has_no_parameters_and_zero_pads() -> None:
    import numpy as np

    spec, model, report = built_member("resnet20")
    shortcut = [r for r in report.layers if r.name.startswith("block_layer2.regular_block0.shortcut")]
    assert [r.layer_type for r in shortcut] == ["MaxPooling2D", "Rescaling", "Concatenate"]
    assert sum(r.params for r in shortcut) == 0
    # the shortcut passes x[::2, ::2] in its first 16 channels and zeros in the other 16
    from resnet_inspect._tf import keras

    sub = keras.Model(model.input, model.get_layer("block_layer2.regular_block0.shortcut_concat").output)
    entry = keras.Model(model.input, model.get_layer("block_layer1.regular_block2.out_relu").output)
    x = np.random.default_rng(0).normal(size=(1, 32, 32, 3)).astype("float32")
    out, before = sub(x).numpy(), entry(x).numpy()
    np.testing.assert_array_equal(out[..., :16], before[:, ::2, ::2, :])
    assert not out[..., 16:].any()


# --- names and options ------------------------------------------------------------------------------


def test_existing_names_keep_their_meaning() -> None:
    assert member_spec("resnet50") == make_spec(50)
    assert member_spec("resnet50-v1") == make_spec(50, version="v1")
    assert make_spec(50).name == "resnet50" and make_spec(50).config() == {
        "name": "resnet50", "arch_version": "v2", "depth": 50, "blocks": [3, 4, 6, 3], "block_type": "bottleneck",
        "input_size": [224, 224], "classes": 1000, "width": 64, "use_bias": True, "data_format": "channels_last",
    }


def test_options_on_top_of_a_name_change_it_and_say_so() -> None:
    spec = member_spec("resnext50_32x4d", {"input_size": (128, 128), "groups": 32})
    assert spec.name == "resnext50_32x4d-custom"
    assert spec.changed == ("input-size 128x128",)  # groups 32 is the published value: no change
    assert "changed from resnext50_32x4d as published: input-size 128x128" in spec.describe()
    assert member_spec("resnext50_32x4d", {"groups": 32}).name == "resnext50_32x4d"


def test_knobs_are_refused_where_they_mean_nothing() -> None:
    with pytest.raises(FieldError) as err:
        make_spec(18, groups=2)
    assert err.value.field == "groups"
    with pytest.raises(FieldError) as err:
        make_spec(50, groups=3)  # 64 channels in 3 groups
    assert err.value.field == "groups"
    with pytest.raises(FieldError) as err:
        make_spec(50, stem="deep", width=1)
    assert err.value.field == "width"


def test_compare_takes_family_names() -> None:
    selection = parse_names(["resnet50-v1.5", "resnext50_32x4d", "resnet56", "resnet50"])
    assert [m.arch for m in selection.models] == ["resnet50-v1.5", "resnext50_32x4d", "resnet56", None]
    with pytest.raises(UsageError, match="wide_resnet50_2"):
        parse_names(["resnet50", "wide_resnet50_3"])


def test_archs_lists_every_member() -> None:
    from resnet_inspect.cli import app

    result = CliRunner().invoke(app, ["archs"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name, member in MEMBERS.items():
        line = next(line for line in result.output.splitlines() if line.split()[:1] == [name])
        assert f"{record(member.spec).params:,}" in line


def test_arch_option_builds_the_member_and_refuses_depth() -> None:
    from resnet_inspect.cli import app

    result = CliRunner().invoke(app, ["summary", "--arch", "resnet20", "-l", "stage"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "resnet20" in result.output
    result = CliRunner().invoke(app, ["summary", "--arch", "resnet20", "--depth", "50"])
    assert result.exit_code == 2
    assert "Error: give either --arch or --depth, not both" in result.output
    result = CliRunner().invoke(app, ["summary", "--arch", "resnet21"])
    assert result.exit_code == 2 and "unknown architecture 'resnet21'" in result.output


def test_compare_blocks_sets_a_resnext_and_a_wide_bottleneck_beside_the_seeds() -> None:
    from resnet_inspect.analysis.compare import BlockSetup, compare_blocks

    plain, resnext, wide = compare_blocks([
        BlockSetup(BlockKind.BOTTLENECK, use_bias=False),
        BlockSetup(BlockKind.BOTTLENECK, use_bias=False, groups=32, width_per_group=4),
        BlockSetup(BlockKind.BOTTLENECK, use_bias=False, width_multiplier=2),
    ])
    # the seeds' 64-filter bottleneck at 56x56 on 256 channels: 1x1 256->64, 3x3 64->64, 1x1 64->256
    assert [c.weights for c in plain.convs] == [256 * 64, 9 * 64 * 64, 64 * 256]
    # ResNeXt 32x4d: inner width 32 * 4 = 128, the 3x3 in 32 groups of 4 channels
    assert [c.weights for c in resnext.convs] == [256 * 128, 9 * 4 * 128, 128 * 256]
    assert [c.weights for c in wide.convs] == [256 * 128, 9 * 128 * 128, 128 * 256]
    assert [c.macs for c in resnext.convs] == [56 * 56 * w for w in (256 * 128, 9 * 4 * 128, 128 * 256)]


def test_compare_command_takes_groups_for_blocks_and_refuses_model_knobs() -> None:
    from resnet_inspect.cli import app

    result = CliRunner().invoke(app, ["compare", "regular", "bottleneck", "--groups", "32", "--width-per-group",
                                      "4", "--size", "4"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "groups 32, width per group 4" in result.output.splitlines()[0]
    result = CliRunner().invoke(app, ["compare", "regular", "bottleneck", "--stem", "deep"])
    assert result.exit_code == 2
    assert "--stem only applies to model comparisons" in result.output
    result = CliRunner().invoke(app, ["compare", "regular", "bottleneck", "--groups", "3"])
    assert result.exit_code == 2
    assert "Error: --groups must divide the bottleneck's inner width 64, got 3" in result.output


# --- paper --family ----------------------------------------------------------------------------------


def test_published_digits_set_the_tolerance() -> None:
    from resnet_inspect.analysis.paper import within

    assert within(1_727_962, 1.7e6, 2) and not within(1_750_001, 1.7e6, 2)  # 1.7 M: 1.65 M to 1.75 M
    assert within(25_557_032, 25_557_032, None) and not within(25_557_033, 25_557_032, None)


def test_every_family_section_agrees_with_ours_but_the_se_flops() -> None:
    """Each published figure of the sections against the recorder's count and the hand MACs; Hu et al. count
    the SE blocks' pooling and scaling too (2 * H * W * C a block), which MACs leave out."""
    from resnet_inspect.analysis.paper import FAMILY_SECTIONS, within

    for section in FAMILY_SECTIONS:
        for published in section.rows:
            recorder = record(member_spec(published.name))
            if published.params is not None:
                assert within(trainable(recorder), published.params, published.params_digits), published.name
            if published.gmacs is None:
                continue
            ours = hand_macs(recorder)
            if section.family == "se":
                assert not within(ours, published.gmacs * 1e9, published.macs_digits)
                continue
            assert within(ours, published.gmacs * 1e9, published.macs_digits), published.name
    per_block = [(56, 256)] * 3 + [(28, 512)] * 4 + [(14, 1024)] * 6 + [(7, 2048)] * 3
    pool_and_scale = sum(2 * h * h * c for h, c in per_block)
    assert round((member_macs("seresnet50") + pool_and_scale) / 1e9, 2) == 3.87


def test_family_row_reads_the_walk() -> None:
    from resnet_inspect.analysis.paper import SECTIONS, family_row

    section = SECTIONS["cifar"]
    row = family_row(section, section.rows[0], built_member("resnet20")[2])
    assert (row.name, row.trainable, row.params_within) == ("resnet20", cifar_count(3), True)
    assert row.published_macs is None and row.macs_within is None


def test_paper_family_usage_errors() -> None:
    from resnet_inspect.cli import app

    result = CliRunner().invoke(app, ["paper", "--family", "resnet"])
    assert result.exit_code == 2
    assert result.output == "Error: no family section 'resnet'; sections: v1.5, c/d, resnext, wide, se, cifar, all\n"
    result = CliRunner().invoke(app, ["paper", "--family", "se", "--depth", "50"])
    assert result.exit_code == 2
    assert result.output == "Error: --depth picks rows of Table 1; give it or --family, not both\n"
