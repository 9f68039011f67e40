"""FLOP and MAC handlers against hand arithmetic, on small built layers."""

from __future__ import annotations

import pytest

from resnet_inspect.analysis.flops import HANDLERS, LayerInfo, cost_of


def walk_one(layer, input_shape):
    """Report of a one-layer model (the layer under test after an input)."""
    from resnet_inspect._tf import keras
    from resnet_inspect.analysis.walk import analyze

    inputs = keras.Input(input_shape, name="x")
    model = keras.Model(inputs, layer(inputs))
    return analyze(model).layer(layer.name)


def test_conv_same_and_valid_with_bias() -> None:
    from resnet_inspect._tf import keras

    r = walk_one(keras.layers.Conv2D(5, 3, padding="same", name="c"), (6, 7, 4))
    # 6*7 positions * 5 filters, each 3*3*4 = 36 taps
    assert r.macs == 6 * 7 * 5 * 36
    assert r.flops == 2 * r.macs + 6 * 7 * 5  # + one bias add per output element
    assert (r.split.weights, r.split.biases) == (3 * 3 * 4 * 5, 5)
    r = walk_one(keras.layers.Conv2D(5, 3, strides=2, padding="valid", use_bias=False, name="c"), (7, 7, 4))
    assert r.output_shape == (3, 3, 5)
    assert r.macs == 3 * 3 * 5 * 36 and r.flops == 2 * r.macs


def test_conv_channels_first_and_groups() -> None:
    info = LayerInfo("Conv2D", {"kernel_size": [3, 3], "groups": 2, "data_format": "channels_first",
                                "use_bias": False}, ((8, 10, 10),), (6, 10, 10))
    cost = cost_of(info)
    assert cost.macs == 10 * 10 * 6 * 9 * (8 // 2)


def test_dense_with_activation() -> None:
    from resnet_inspect._tf import keras

    r = walk_one(keras.layers.Dense(3, activation="relu", name="d"), (10,))
    assert r.macs == 30
    assert r.flops == 2 * 30 + 3 + 3  # multiply-adds, bias adds, one max per output


def test_batchnorm_relu_add_pooling() -> None:
    from resnet_inspect._tf import keras

    assert walk_one(keras.layers.BatchNormalization(name="bn"), (4, 4, 3)).flops == 2 * 48
    assert walk_one(keras.layers.ReLU(name="r"), (4, 4, 3)).flops == 48
    assert walk_one(keras.layers.ReLU(max_value=6.0, name="r6"), (4, 4, 3)).flops == 2 * 48
    assert walk_one(keras.layers.MaxPooling2D(3, 2, padding="same", name="mp"), (8, 8, 2)).flops == 4 * 4 * 2 * 8
    assert walk_one(keras.layers.AveragePooling2D(2, name="ap"), (8, 8, 2)).flops == 4 * 4 * 2 * 4
    assert walk_one(keras.layers.GlobalAveragePooling2D(name="gap"), (8, 8, 2)).flops == 128
    assert walk_one(keras.layers.ZeroPadding2D(1, name="zp"), (8, 8, 2)).flops == 0
    assert walk_one(keras.layers.Flatten(name="f"), (8, 8, 2)).flops == 0


def test_add_of_three_tensors() -> None:
    from resnet_inspect._tf import keras
    from resnet_inspect.analysis.walk import analyze

    a, b, c = (keras.Input((5, 5, 2)) for _ in range(3))
    model = keras.Model([a, b, c], keras.layers.Add(name="add")([a, b, c]))
    assert analyze(model).layer("add").flops == 2 * 50


def test_unknown_type_is_none_and_unknown_activation_is_uncountable() -> None:
    from resnet_inspect.analysis.flops import Uncountable

    assert cost_of(LayerInfo("MysteryLayer", {}, ((3,),), (3,))) is None
    with pytest.raises(Uncountable):
        cost_of(LayerInfo("Activation", {"activation": "mish"}, ((3,),), (3,)))
    with pytest.raises(Uncountable):
        cost_of(LayerInfo("ReLU", {}, ((None, 3),), (None, 3)))


def test_every_handler_is_documented() -> None:
    for name, handler in HANDLERS.items():
        assert handler.__doc__, f"handler of {name} has no docstring with its formula"
