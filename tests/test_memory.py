"""Memory and arithmetic intensity against hand arithmetic; the measured peak beside the estimate."""

from __future__ import annotations

import math

import pytest

from resnet_inspect.analysis.memory import Dtype, memory_rows, memory_totals
from resnet_inspect.errors import UsageError


@pytest.fixture(scope="module")
def tiny():
    """input 4x4x1 -> conv 3x3 (2 filters, same) -> relu -> add(conv, relu) -> flatten -> dense 3."""
    from resnet_inspect._tf import keras
    from resnet_inspect.analysis.walk import analyze

    layers = keras.layers
    x = keras.Input((4, 4, 1), name="input")
    conv = layers.Conv2D(2, 3, padding="same", name="conv")(x)
    relu = layers.ReLU(name="relu")(conv)
    added = layers.Add(name="add")([conv, relu])
    flat = layers.Flatten(name="flatten")(added)
    return analyze(keras.Model(x, layers.Dense(3, name="dense")(flat), name="tiny"))


def test_tiny_model_by_hand(tiny) -> None:
    rows = {r.name: r for r in memory_rows(tiny, "layer", batch_size=2, dtype="float32")}
    # output elements x batch 2 x 4 bytes
    assert rows["input"].activation_bytes == 16 * 2 * 4 == 128
    assert rows["conv"].activation_bytes == 32 * 2 * 4 == 256
    assert rows["relu"].activation_bytes == rows["add"].activation_bytes == rows["flatten"].activation_bytes == 256
    assert rows["dense"].activation_bytes == 3 * 2 * 4 == 24
    # conv: 3*3*1*2 kernel + 2 biases = 20 params; dense: 32*3 + 3 = 99
    assert rows["conv"].param_bytes == 20 * 4 and rows["dense"].param_bytes == 99 * 4
    # conv moves (16 in + 32 out) x 2 images + 20 params = 116 elements = 464 bytes;
    # its FLOPs: 32 outputs x 9 taps MACs = 288, x 2 = 576, + 32 bias adds = 608 per image, 1216 for 2
    assert rows["conv"].bytes_moved == 464
    assert rows["conv"].arithmetic_intensity == round(1216 / 464, 3)
    # dense: (32 in + 3 out) x 2 + 99 params = 169 elements = 676 bytes; FLOPs 2 * 96 + 3 = 195 per image
    assert rows["dense"].bytes_moved == 676
    assert rows["dense"].arithmetic_intensity == round(390 / 676, 3)
    assert rows["input"].bytes_moved == 0 and rows["input"].arithmetic_intensity is None

    totals = memory_totals(tiny, batch_size=2, dtype="float32")
    assert totals.param_bytes == (20 + 99) * 4
    assert totals.activation_bytes == 128 + 4 * 256 + 24
    # In order: input 128; conv +256 = 384, the input freed -> 256; relu +256 = 512 (conv still awaited
    # by the add); add +256 = 768, conv and relu freed -> 256; flatten +256 = 512; dense +24.
    assert totals.inference_peak_bytes == 768
    assert totals.peak_layer == "add"
    assert set(totals.peak_tensors) == {"conv", "relu", "add"}
    # Saved for backward: conv's input (128), relu's output (256), dense's input, the flatten (256);
    # the add and the flatten need nothing.
    assert totals.training_activation_bytes == 128 + 256 + 256
    assert totals.saved_tensors == 3


def test_dtype_scales_every_byte_count(tiny) -> None:
    full = memory_totals(tiny, 2, Dtype.FLOAT32)
    half = memory_totals(tiny, 2, "bfloat16")
    double = memory_totals(tiny, 2, "float64")
    for field in ("param_bytes", "activation_bytes", "inference_peak_bytes", "training_activation_bytes"):
        assert getattr(half, field) * 2 == getattr(full, field) == getattr(double, field) // 2


def test_pooling_and_unknown_layers_keep_what_their_gradient_needs() -> None:
    from resnet_inspect._tf import keras
    from resnet_inspect.analysis.walk import analyze

    layers = keras.layers
    x = keras.Input((8, 8, 2), name="input")
    m = layers.MaxPooling2D(2, name="max")(x)  # MaxPoolGrad reads input and output
    a = layers.AveragePooling2D(2, name="avg")(m)  # AvgPoolGrad needs only the shape
    u = layers.UpSampling2D(name="up")(a)  # no rule: input and output kept (an upper bound)
    report = analyze(keras.Model(x, u))
    totals = memory_totals(report, 1, "float32")
    # input 8*8*2 = 128, max 4*4*2 = 32, avg 2*2*2 = 8, up 4*4*2 = 32 elements, 4 bytes each
    assert totals.training_activation_bytes == (128 + 32 + 8 + 32) * 4


def test_blocks_and_stages_add_up_to_the_model(build) -> None:
    _, model, report = build(18, input_size=32)
    params = model.count_params()
    for level in ("stage", "block"):
        rows = memory_rows(report, level, 4, "float16")
        assert sum(r.param_bytes for r in rows) == params * 2
    # every layer output, from the Keras model itself: elements x batch 4 x 2 bytes
    outputs = sum(math.prod(layer.output.shape[1:]) for layer in model.layers)
    assert sum(r.activation_bytes for r in memory_rows(report, "stage", 4, "float16")) == outputs * 4 * 2
    assert memory_totals(report, 4, "float16").activation_bytes == outputs * 4 * 2


def test_resnet50_peak_is_the_first_residual_add(build) -> None:
    """At 224x224 the largest live set is the first add of block layer 1: its two inputs and its output,
    each 56x56x256 (the 64 filters x 4), while the stem's largest map (112x112x64) is never next to two others."""
    _, _, report = build(50)
    totals = memory_totals(report, 1, "float32")
    assert totals.inference_peak_bytes == 3 * 56 * 56 * 256 * 4
    assert totals.peak_layer == "block_layer1.bottleneck_block0.add"
    assert set(totals.peak_tensors) == {
        "block_layer1.bottleneck_block0.conv3",
        "block_layer1.bottleneck_block0.shortcut",
        "block_layer1.bottleneck_block0.add",
    }
    assert memory_totals(report, 8, "float32").inference_peak_bytes == 8 * totals.inference_peak_bytes


def test_batch_size_must_be_positive(tiny) -> None:
    with pytest.raises(UsageError, match="^batch_size must be a positive integer, got 0$"):
        memory_totals(tiny, 0)


def test_measured_peak_is_beside_the_estimate(build) -> None:
    """A real forward pass in a fresh process: the same order of magnitude as the estimate."""
    from resnet_inspect.analysis.measure import measure_peak

    spec, _, report = build(18, input_size=64)
    estimate = memory_totals(report, 16, "float32").inference_peak_bytes
    measured = measure_peak(spec, 16, "float32", estimate)
    assert measured.device in ("CPU:0", "GPU:0")
    assert len(measured.passes) == 2 and measured.peak_bytes == measured.passes[0]  # the first run, then a warm one
    assert measured.estimate_bytes == estimate
    assert measured.difference_bytes == measured.peak_bytes - estimate
    # The runtime may reuse buffers (less) or keep workspaces (more); a 4x band catches a broken method.
    assert 0.25 < measured.ratio < 4, measured
