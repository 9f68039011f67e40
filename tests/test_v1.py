"""The paper's v1 network: hand arithmetic, published counts, keras.applications, Table 1, the paper command."""

from __future__ import annotations

import csv
import functools
import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from resnet_inspect.analysis.paper import PAPER_GMACS, PUBLISHED_PARAMS, paper_row
from resnet_inspect.cli import app
from resnet_inspect.errors import UsageError
from resnet_inspect.model.spec import DEPTHS, make_spec

PAPER_DEPTHS = (18, 34, 50, 101, 152)


def v1_by_hand(depth: int, size: int = 224, classes: int = 1000) -> tuple[int, int]:
    """(trainable parameters, MACs) of the paper's network without conv bias, written from the paper.

    Stem 7x7/2 conv + BN, 3x3/2 max pool; block layers of 64 * 2^i filters, the first block of
    block layers 2-4 at stride 2 (in the first 1x1 of a bottleneck, in the first 3x3 of a regular
    block); a 1x1 projection + BN only where the shape changes; BN (gamma, beta) after every conv;
    a dense layer with bias. Trainable = conv weights + 2 per BN channel + dense.
    """
    bottleneck = depth >= 50
    h = size // 2  # after the 7x7/2 stem conv
    params = 7 * 7 * 3 * 64 + 2 * 64
    macs = h * h * 64 * 7 * 7 * 3
    h //= 2  # after the 3x3/2 max pool
    c_in = 64
    for i, n in enumerate(DEPTHS[depth]):
        f = 64 * 2**i
        c_out = 4 * f if bottleneck else f
        for b in range(n):
            stride = 2 if (b == 0 and i > 0) else 1
            h_out = h // stride
            if stride != 1 or c_in != c_out:  # projection shortcut: 1x1 conv + BN
                params += c_in * c_out + 2 * c_out
                macs += h_out * h_out * c_in * c_out
            if bottleneck:  # 1x1 (strided) -> 3x3 -> 1x1, all at the output size
                params += c_in * f + 2 * f + 9 * f * f + 2 * f + f * c_out + 2 * c_out
                macs += h_out * h_out * (c_in * f + 9 * f * f + f * c_out)
            else:  # 3x3 (strided) -> 3x3
                params += 9 * c_in * f + 2 * f + 9 * f * f + 2 * f
                macs += h_out * h_out * (9 * c_in * f + 9 * f * f)
            c_in, h = c_out, h_out
    return params + c_in * classes + classes, macs + c_in * classes


@pytest.mark.parametrize("depth", PAPER_DEPTHS)
def test_v1_reproduces_published_counts_and_table_1(depth: int, build) -> None:
    spec, model, report = build(depth, version="v1", use_bias=False)
    assert spec.name == f"resnet{depth}-v1"
    params, macs = v1_by_hand(depth)
    keras_trainable = sum(math.prod(v.shape) for v in model.trainable_weights)
    assert report.totals.trainable == keras_trainable == params == PUBLISHED_PARAMS[depth]
    assert report.totals.params == model.count_params()
    assert report.totals.macs == macs
    assert abs(macs / (PAPER_GMACS[depth] * 1e9) - 1) <= 0.02  # the paper's Table 1, within 2%
    assert not report.unsupported


def test_published_counts_table_matches_hand_arithmetic_for_every_depth() -> None:
    """The published-count table is not trusted blindly: it is what the paper's architecture gives."""
    assert {d: v1_by_hand(d)[0] for d in PUBLISHED_PARAMS} == PUBLISHED_PARAMS


@functools.cache
def keras_resnet(name: str):
    from resnet_inspect._tf import keras

    return getattr(keras.applications, name)(weights=None)


def _conv_signature(model) -> list[tuple]:
    """(kernel, strides, filters, output shape) of every Conv2D, sorted: the architecture, not the names."""
    return sorted(
        (tuple(layer.kernel_size), tuple(layer.strides), layer.filters, tuple(layer.output.shape[1:]))
        for layer in model.layers
        if type(layer).__name__ == "Conv2D"
    )


@pytest.mark.parametrize(("depth", "application"), [(50, "ResNet50"), (101, "ResNet101")])
def test_v1_is_the_keras_applications_resnet(depth: int, application: str, build) -> None:
    """keras.applications' ResNet also strides in the first 1x1 conv: same convs, same counts once its biases go."""
    _, model, report = build(depth, version="v1", use_bias=False)
    theirs = keras_resnet(application)
    assert _conv_signature(model) == _conv_signature(theirs)
    conv_biases = sum(layer.filters for layer in theirs.layers if type(layer).__name__ == "Conv2D")
    their_trainable = sum(math.prod(v.shape) for v in theirs.trainable_weights)
    assert report.totals.trainable == their_trainable - conv_biases


def test_v1_structure(build) -> None:
    _, _, r18 = build(18, version="v1", use_bias=False)
    names = {r.name for r in r18.layers}
    # 64 -> 64 at stride 1: no projection in the first block layer of a regular network (option B).
    assert "block_layer1.regular_block0.shortcut" not in names
    assert "block_layer2.regular_block0.shortcut" in names
    assert not any(name.startswith("head.preact") for name in names)
    assert dict(r18.layer("block_layer2.regular_block0.conv1").config)["strides"] == [2, 2]
    # post-activation: conv -> BN -> ReLU, and the ReLU comes after the add
    assert r18.layer("block_layer1.regular_block0.conv1_bn").inputs == ("block_layer1.regular_block0.conv1",)
    assert r18.layer("block_layer1.regular_block0.conv1_relu").inputs == ("block_layer1.regular_block0.conv1_bn",)
    assert r18.layer("block_layer1.regular_block0.out_relu").inputs == ("block_layer1.regular_block0.add",)
    assert set(r18.layer("block_layer1.regular_block0.add").inputs) == {
        "block_layer1.regular_block0.conv2_bn",
        "stem.pool_initial",
    }

    _, _, r50 = build(50, version="v1", use_bias=False)
    block = "block_layer2.bottleneck_block0"
    conv1, conv2 = dict(r50.layer(f"{block}.conv1").config), dict(r50.layer(f"{block}.conv2").config)
    assert (conv1["kernel_size"], conv1["strides"]) == ([1, 1], [2, 2])  # the stride sits in the first 1x1
    assert (conv2["kernel_size"], conv2["strides"]) == ([3, 3], [1, 1])
    assert r50.layer(f"{block}.conv2").input_shapes == ((28, 28, 128),)
    assert "block_layer1.bottleneck_block0.shortcut" in {r.name for r in r50.layers}  # 64 -> 256 channels
    assert r50.grouped
    assert [row.type for row in r50.rows("block")][:3] == ["stem", "bottleneck+proj", "bottleneck"]


def test_v1_names_and_descriptions() -> None:
    assert make_spec(50).name == "resnet50"  # v2 names unchanged
    assert make_spec(50, version="v1").name == "resnet50-v1"
    assert make_spec(None, blocks=(1, 1), version="v1", input_size=32).name == "resnet-bottleneck-1-1-v1"
    assert make_spec(50).describe().startswith("resnet50 v2 (pre-activation), bottleneck blocks 3-4-6-3")
    assert make_spec(50, version="v1").describe().startswith("resnet50-v1 (post-activation), bottleneck blocks")
    assert make_spec(18, version="v1").config()["arch_version"] == "v1"
    with pytest.raises(UsageError, match="'v3' is not a valid Version"):
        make_spec(50, version="v3")


def test_custom_v1_layout_and_other_options(build) -> None:
    spec, model, report = build(None, blocks=(1, 2), block_kind="regular", version="v1", input_size=32, width=16)
    assert spec.name == "resnet-regular-1-2-v1"
    assert report.totals.params == model.count_params()
    assert report.grouped
    _, model_cf, report_cf = build(18, version="v1", input_size=32, data_format="channels_first")
    assert report_cf.layer("head.logits").input_shapes == ((512,),)
    assert report_cf.totals.params == model_cf.count_params()


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_summary_version_v1(tmp_path: Path) -> None:
    out = tmp_path / "r18.json"
    result = run("summary", "--depth", "18", "--input-size", "32", "--arch-version", "v1", "--no-bias", "--json", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("resnet18-v1 (post-activation), regular blocks 2-2-2-2, input 32x32x3")
    doc = json.loads(out.read_text())
    assert doc["model"] == "resnet18-v1"
    assert doc["config"]["arch_version"] == "v1"
    assert doc["totals"]["trainable"] == PUBLISHED_PARAMS[18]  # parameters do not depend on the input size


def test_summary_version_errors_and_the_tool_version() -> None:
    result = run("summary", "--arch-version", "v3")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Invalid value for '--arch-version'")
    assert result.stderr.count("\n") == 1
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("resnet-inspect ")


def test_paper_rows(build) -> None:
    for depth in PAPER_DEPTHS:
        _, _, report = build(depth, version="v1", use_bias=False)
        row = paper_row(depth, report)
        params, macs = v1_by_hand(depth)
        assert (row.macs, row.trainable) == (macs, params)
        assert row.paper_macs == round(PAPER_GMACS[depth] * 1e9)
        assert row.difference == pytest.approx(macs / row.paper_macs - 1)
        assert row.within_tolerance and row.params_equal


def test_paper_command(tmp_path: Path) -> None:
    out_csv, out_json = tmp_path / "paper.csv", tmp_path / "paper.json"
    result = run("paper", "--depth", "18", "--depth", "34", "--csv", str(out_csv), "--json", str(out_json))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    r18 = next(line for line in lines if "resnet18-v1" in line)
    # 1,814,073,344 MACs by hand: +0.78% against the paper's 1.8 x 10^9
    assert v1_by_hand(18)[1] == 1_814_073_344
    assert "1.814 G" in r18 and "1.8 G" in r18 and "+0.78%" in r18 and "11,689,512" in r18
    assert any("resnet34-v1" in line and "+1.77%" in line for line in lines)
    assert "Deep Residual Learning for Image Recognition" in result.stdout
    rows = list(csv.DictReader(out_csv.open()))
    assert [(int(r["depth"]), int(r["macs"]), int(r["trainable"])) for r in rows] == [
        (d, v1_by_hand(d)[1], v1_by_hand(d)[0]) for d in (18, 34)
    ]
    doc = json.loads(out_json.read_text())
    assert doc["tolerance"] == 0.02 and [r["within_tolerance"] for r in doc["rows"]] == [True, True]


def test_paper_unknown_depth_is_a_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "paper.csv"
    result = run("paper", "--depth", "200", "--csv", str(out))
    assert result.exit_code == 2
    assert result.stderr == "Error: the paper's Table 1 has no depth 200; its depths: 18, 34, 50, 101, 152\n"
    assert not out.exists()
