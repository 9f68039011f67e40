"""The built network and its walk, checked against Keras and against hand arithmetic written here."""

from __future__ import annotations

import pytest

from resnet_inspect.model.spec import DEPTHS

# --- an independent count of the seeds' network at 224x224 -------------------------------------------
# Written from the seeds' description, not from the builder: stem 7x7/2 conv to 112x112, max pool to 56,
# block layers at 56, 28, 14, 7 with 64 * 2^i filters, the first block of each with a 1x1 projection.


def hand_macs(depth: int, classes: int = 1000) -> int:
    """Conv + dense multiply-accumulates of the v2 network at 224x224, by hand."""
    bottleneck = depth >= 50
    macs = 112 * 112 * 64 * (7 * 7 * 3)  # stem conv
    c_in, h_in = 64, 56
    for i, n in enumerate(DEPTHS[depth]):
        f = 64 * 2**i
        h = h_in if i == 0 else h_in // 2  # strides 1, 2, 2, 2
        c_out = 4 * f if bottleneck else f
        for b in range(n):
            c = c_in if b == 0 else c_out
            if b == 0:
                macs += h * h * c_out * c  # 1x1 projection at the layer's stride
            if bottleneck:
                h_first = h_in if b == 0 else h  # the first 1x1 runs before the strided 3x3
                macs += h_first * h_first * f * c + h * h * f * 9 * f + h * h * 4 * f * f
            else:
                macs += h * h * f * 9 * c + h * h * f * 9 * f
        c_in, h_in = c_out, h
    return macs + c_in * classes  # dense logits


def hand_params(depth: int, classes: int = 1000) -> int:
    """All parameters (conv weights + conv biases + BN 4 per channel + dense), by hand."""
    bottleneck = depth >= 50

    def conv(k: int, c: int, f: int) -> int:
        return k * k * c * f + f

    def bn(c: int) -> int:
        return 4 * c  # gamma, beta, moving mean, moving variance

    total = conv(7, 3, 64)
    c_in = 64
    for i, n in enumerate(DEPTHS[depth]):
        f = 64 * 2**i
        c_out = 4 * f if bottleneck else f
        for b in range(n):
            c = c_in if b == 0 else c_out
            if b == 0:
                total += conv(1, c, c_out)
            if bottleneck:
                total += bn(c) + conv(1, c, f) + bn(f) + conv(3, f, f) + bn(f) + conv(1, f, 4 * f)
            else:
                total += bn(c) + conv(3, c, f) + bn(f) + conv(3, f, f)
        c_in = c_out
    return total + bn(c_in) + c_in * classes + classes


@pytest.mark.parametrize("depth", list(DEPTHS))
def test_full_size_counts_for_every_depth(build, depth: int) -> None:
    spec, model, report = build(depth)
    totals = report.totals
    assert totals.params == model.count_params()
    assert sum(r.params for r in report.layers) == model.count_params()
    assert totals.params == hand_params(depth)
    assert totals.macs == hand_macs(depth)
    assert totals.unsupported == 0
    for record in report.layers:
        assert record.output_shape == tuple(model.get_layer(record.name).output.shape[1:])
    stages = {row.name: row.output_shape for row in report.rows("stage")}
    expansion = 4 if depth >= 50 else 1
    assert stages == {
        "stem": (56, 56, 64),
        "block_layer1": (56, 56, 64 * expansion),
        "block_layer2": (28, 28, 128 * expansion),
        "block_layer3": (14, 14, 256 * expansion),
        "block_layer4": (7, 7, 512 * expansion),
        "head": (1000,),
    }
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    assert totals.trainable == trainable
    assert totals.split.weights + totals.split.biases + totals.split.bn_trainable + totals.split.bn_non_trainable == totals.params


def test_seeds_worked_example_from_built_blocks(build) -> None:
    """Seeds (004): a regular block, 64 filters on 64 channels, has 73,728 weights; a bottleneck block
    with 64 filters on 256 channels, 69,632. Identity blocks of ResNet-34 and ResNet-50 are exactly those."""
    _, _, r34 = build(34)
    _, _, r50 = build(50)
    blocks34 = {row.name: row for row in r34.rows("block")}
    blocks50 = {row.name: row for row in r50.rows("block")}
    assert blocks34["block_layer1.regular_block1"].split.weights == 3 * 3 * 64 * 64 + 3 * 3 * 64 * 64 == 73_728
    assert blocks50["block_layer1.bottleneck_block1"].split.weights == 1 * 1 * 256 * 64 + 3 * 3 * 64 * 64 + 1 * 1 * 64 * 256
    assert blocks50["block_layer1.bottleneck_block1"].split.weights == 69_632


def test_block_structure_follows_the_seeds(build) -> None:
    _, model, report = build(50, input_size=64)
    names = [r.name for r in report.layers]
    block0 = [n for n in names if n.startswith("block_layer2.bottleneck_block0.")]
    # graph order: the main path, then the projection (built from the pre-activated input), then the add
    assert [n.rsplit(".", 1)[1] for n in block0] == [
        "preact1_bn", "preact1_relu", "conv1", "preact2_bn", "preact2_relu",
        "conv2_pad", "conv2", "preact3_bn", "preact3_relu", "conv3", "shortcut", "add",
    ]
    # the projection reads the *pre-activated* input, at the layer's stride; the add joins conv3 and it
    shortcut = report.layer("block_layer2.bottleneck_block0.shortcut")
    assert shortcut.inputs == ("block_layer2.bottleneck_block0.preact1_relu",)
    assert dict(shortcut.config)["strides"] == [2, 2]
    add = report.layer("block_layer2.bottleneck_block0.add")
    assert set(add.inputs) == {"block_layer2.bottleneck_block0.conv3", "block_layer2.bottleneck_block0.shortcut"}
    # later blocks add their input unchanged (the previous block's add)
    add1 = report.layer("block_layer2.bottleneck_block1.add")
    assert "block_layer2.bottleneck_block0.add" in add1.inputs
    # the strided conv pads k-1 = 2 explicitly (1 before, 1 after) and is 'valid'; the others are 'same'
    pad = dict(report.layer("block_layer2.bottleneck_block0.conv2_pad").config)
    assert pad["padding"] == [[1, 1], [1, 1]]
    assert dict(report.layer("block_layer2.bottleneck_block0.conv2").config)["padding"] == "valid"
    assert dict(report.layer("block_layer2.bottleneck_block1.conv2").config)["padding"] == "same"
    stem_pad = dict(report.layer("stem.conv_initial_pad").config)
    assert stem_pad["padding"] == [[3, 3], [3, 3]]
    # head: final pre-activation, average pool over the whole 2x2 map, flatten, dense logits
    head = [n for n in names if n.startswith("head.")]
    assert head == ["head.preact_bn", "head.preact_relu", "head.avg_pool", "head.flatten", "head.logits"]
    assert dict(report.layer("head.avg_pool").config)["pool_size"] == [2, 2]
    assert all(n.startswith(("stem.", "block_layer", "head.")) or n == "input" for n in names)
    assert model.get_layer("block_layer1.bottleneck_block0.conv1").use_bias is True


def test_no_bias_removes_exactly_the_conv_biases(build) -> None:
    _, with_bias, r1 = build(18, input_size=32)
    _, without, r2 = build(18, input_size=32, use_bias=False)
    conv_filters = sum(layer.filters for layer in with_bias.layers if type(layer).__name__ == "Conv2D")
    assert r1.totals.params - r2.totals.params == conv_filters
    assert r2.totals.params == without.count_params()
    assert r2.totals.split.biases == 1000  # only the dense layer keeps its bias


def test_channels_first_builds_and_walks_on_the_cpu(build) -> None:
    _, model, first = build(18, input_size=64, data_format="channels_first")
    _, _, last = build(18, input_size=64)
    assert first.totals.params == last.totals.params == model.count_params()
    assert first.totals.macs == last.totals.macs
    assert first.totals.flops == last.totals.flops
    assert first.rows("stage")[1].output_shape == (64, 16, 16)
    assert last.rows("stage")[1].output_shape == (16, 16, 64)


def test_non_square_input_and_custom_layout(build) -> None:
    spec, model, report = build(None, blocks=(1, 1, 1, 1), block_kind="regular", input_size=(64, 96), classes=10,
                                width=16)
    assert spec.name == "resnet-regular-1-1-1-1"
    assert report.totals.params == model.count_params()
    assert report.rows("stage")[-2].output_shape == (2, 3, 128)
    assert dict(report.layer("head.avg_pool").config)["pool_size"] == [2, 3]
    assert report.rows("stage")[-1].output_shape == (10,)
    # width 16: stem conv 7*7*3*16 weights
    assert report.layer("stem.conv_initial").split.weights == 7 * 7 * 3 * 16


def test_levels_partition_the_layers(build) -> None:
    _, _, report = build(34, input_size=32)
    for level in ("stage", "block"):
        rows = report.rows(level)
        assert sum(r.layers for r in rows) == len(report.layers)
        assert sum(r.params for r in rows) == report.totals.params
        assert sum(r.flops for r in rows) == report.totals.flops
    blocks = report.rows("block")
    assert [r.name for r in blocks][:3] == ["stem", "block_layer1.regular_block0", "block_layer1.regular_block1"]
    assert blocks[1].type == "regular+proj" and blocks[2].type == "regular"
    assert len(blocks) == 1 + sum(DEPTHS[34]) + 1


def test_analyze_any_functional_model_and_report_unsupported() -> None:
    from resnet_inspect._tf import keras
    from resnet_inspect.analysis.walk import analyze

    class Mystery(keras.layers.Layer):  # a custom layer: no FLOP handler, must be reported, not zero
        def call(self, x):
            return x * 2.0

    inputs = keras.Input((8, 8, 3), name="x")
    y = keras.layers.Conv2D(4, 3, name="c")(inputs)
    y = Mystery(name="ln")(y)
    y = keras.layers.GlobalAveragePooling2D(name="gap")(y)
    model = keras.Model(inputs, keras.layers.Dense(2, name="d")(y))
    report = analyze(model)
    assert report.totals.params == model.count_params()
    assert [u.name for u in report.unsupported] == ["ln"]
    assert report.layer("ln").flops is None and report.layer("ln").macs is None
    assert report.totals.flops is None and report.totals.macs is None
    assert report.totals.macs_counted == 6 * 6 * 4 * 27 + 4 * 2
    assert not report.grouped
    with pytest.raises(Exception, match="unavailable"):
        report.rows("block")
    assert len(report.rows("layer")) == 5
