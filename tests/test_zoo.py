"""Any Keras model: a zoo of small models built here, each counted by hand in the test.

For every model, each MAC (multiply-accumulate of a matrix product: conv, dense, attention, recurrent)
and each parameter is derived below by hand arithmetic, independently of the walk; the parameters
are also checked against Keras' ``count_params()``. Nothing in the zoo is unsupported, so every total
must be complete; the last tests check that a total that misses something is never called complete.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest

ZOO: dict[str, Callable[[], tuple[Any, int, int]]] = {}


def zoo(builder: Callable[[], tuple[Any, int, int]]) -> Callable[[], tuple[Any, int, int]]:
    """Register a builder returning (model, MACs by hand, parameters by hand); built once per session."""
    cached = functools.cache(builder)
    ZOO[builder.__name__] = cached
    return cached


@zoo
def sequential_cnn() -> tuple[Any, int, int]:
    from resnet_inspect._tf import keras

    L = keras.layers
    model = keras.Sequential(
        [keras.Input((16, 16, 3)), L.Conv2D(8, 3, padding="same"), L.MaxPooling2D(2), L.Conv2D(16, 3),
         L.Flatten(), L.Dense(10)]
    )  # fmt: skip
    # conv 16x16x8 outputs x 3x3x3 taps; pool to 8x8; valid conv 6x6x16 x 3x3x8; dense 576 -> 10.
    macs = 16 * 16 * 8 * 27 + 6 * 6 * 16 * 72 + 576 * 10
    params = (27 * 8 + 8) + (72 * 16 + 16) + (576 * 10 + 10)
    return model, macs, params


@zoo
def functional_mlp() -> tuple[Any, int, int]:
    from resnet_inspect._tf import keras

    x = keras.Input((20,))
    y = keras.layers.Dense(3)(keras.layers.Dense(16)(keras.layers.Dense(32, activation="relu")(x)))
    return keras.Model(x, y), 20 * 32 + 32 * 16 + 16 * 3, (20 * 32 + 32) + (32 * 16 + 16) + (16 * 3 + 3)


@zoo
def multi_input_output() -> tuple[Any, int, int]:
    from resnet_inspect._tf import keras

    L = keras.layers
    image, vector = keras.Input((8, 8, 3)), keras.Input((5,))
    seen = L.GlobalAveragePooling2D()(L.Conv2D(4, 3, padding="same")(image))
    both = L.Concatenate()([seen, L.Dense(6)(vector)])
    model = keras.Model([image, vector], [L.Dense(2, name="out_a")(both), L.Dense(1, name="out_b")(both)])
    macs = 8 * 8 * 4 * 27 + 5 * 6 + 10 * 2 + 10 * 1
    params = (27 * 4 + 4) + (5 * 6 + 6) + (10 * 2 + 2) + (10 + 1)
    return model, macs, params


@zoo
def siamese_shared() -> tuple[Any, int, int]:
    from resnet_inspect._tf import keras

    L = keras.layers
    left, right = keras.Input((6,)), keras.Input((6,))
    encoder = L.Dense(12, name="encoder")
    distance = L.Subtract()([encoder(left), encoder(right)])
    model = keras.Model([left, right], L.Dense(1)(distance))
    # The encoder runs twice (2 x 6 x 12 MACs), its 6 x 12 + 12 parameters are counted once.
    return model, 2 * 6 * 12 + 12, (6 * 12 + 12) + (12 + 1)


@zoo
def ops_attention() -> tuple[Any, int, int]:
    from resnet_inspect._tf import keras

    ops, L = keras.ops, keras.layers
    x = keras.Input((8, 16))
    q, k, v = L.Dense(16)(x), L.Dense(16)(x), L.Dense(16)(x)
    weights = ops.softmax(ops.matmul(q, ops.transpose(k, (0, 2, 1))) / 4.0)
    model = keras.Model(x, ops.matmul(weights, v) + x)
    # three 16 -> 16 projections of 8 tokens, QK^T (8 x 8 scores of 16 products), AV (8 x 16 of 8).
    return model, 3 * 8 * 16 * 16 + 8 * 8 * 16 + 8 * 16 * 8, 3 * (16 * 16 + 16)


@zoo
def vit_block() -> tuple[Any, int, int]:
    from resnet_inspect._tf import keras

    L = keras.layers
    tokens = keras.Input((4, 8))  # T = 4 tokens of d = 8
    h = L.LayerNormalization()(tokens)
    h = L.Add()([tokens, L.MultiHeadAttention(num_heads=2, key_dim=4)(h, h)])
    mlp = L.Dense(8)(L.Dense(16, activation="gelu")(L.LayerNormalization()(h)))
    model = keras.Model(tokens, L.Add()([h, mlp]))
    t, d, heads, key = 4, 8, 2, 4
    attention = 3 * t * d * heads * key + 2 * heads * t * t * key + t * heads * key * d
    macs = attention + t * d * 16 + t * 16 * d
    params = 4 * (d * heads * key + heads * key) - heads * key + d + 2 * (2 * d) + (d * 16 + 16) + (16 * d + d)
    # (Q, K, V kernels and biases: 3 x (8 x 8 + 8); the output projection 8 x 8 + 8; two norms' γ/β.)
    assert params == 3 * (8 * 8 + 8) + (8 * 8 + 8) + 2 * 16 + 144 + 136
    return model, macs, params


@zoo
def unet() -> tuple[Any, int, int]:
    from resnet_inspect._tf import keras

    L = keras.layers
    image = keras.Input((16, 16, 3))
    down = L.Conv2D(4, 3, padding="same")(image)
    bottom = L.Conv2D(8, 3, padding="same")(L.MaxPooling2D(2)(down))
    up = L.UpSampling2D(2)(bottom)
    transposed = L.Conv2DTranspose(4, 2, strides=2)(bottom)
    model = keras.Model(image, L.Conv2D(1, 1)(L.Concatenate()([down, up, transposed])))
    # Conv2DTranspose: each of the 8x8x8 input elements is scattered over 2x2 taps x 4 filters.
    macs = 16 * 16 * 4 * 27 + 8 * 8 * 8 * 36 + 8 * 8 * 8 * 4 * 4 + 16 * 16 * 16
    params = (27 * 4 + 4) + (36 * 8 + 8) + (2 * 2 * 8 * 4 + 4) + (16 + 1)
    return model, macs, params


@zoo
def embedding_lstm() -> tuple[Any, int, int]:
    from resnet_inspect._tf import keras

    L = keras.layers
    ids = keras.Input((10,), dtype="int32")
    model = keras.Model(ids, L.Dense(1)(L.LSTM(16)(L.Embedding(100, 8)(ids))))
    # LSTM: 10 steps x 4 gates x 16 units x (8 inputs + 16 recurrent); the embedding is a lookup.
    macs = 10 * 4 * 16 * (8 + 16) + 16
    params = 100 * 8 + (4 * 16 * (8 + 16) + 4 * 16) + (16 + 1)
    return model, macs, params


@zoo
def gru_series() -> tuple[Any, int, int]:
    from resnet_inspect._tf import keras

    series = keras.Input((12, 3))
    model = keras.Model(series, keras.layers.Dense(1)(keras.layers.GRU(8)(series)))
    # GRU: 12 steps x 3 gates x 8 units x (3 + 8); reset_after keeps two bias vectors of 3 x 8.
    return model, 12 * 3 * 8 * (3 + 8) + 8, (3 * 8 * (3 + 8) + 2 * 3 * 8) + (8 + 1)


def resnet50_macs(side: int) -> int:
    """Conv MACs of keras.applications.ResNet50 at side x side, from its architecture: 7x7/2 stem conv,
    3x3/2 max pool, bottleneck stages (3, 4, 6, 3) of widths 64..512 (x4 out), the stride on each
    stage's first 1x1 conv and projection (stage 1: stride 1)."""
    h = (side + 6 - 7) // 2 + 1
    total = h * h * 64 * 7 * 7 * 3
    h = (h + 2 - 3) // 2 + 1
    c_in = 64
    for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for b in range(blocks):
            s = stride if b == 0 else 1
            h = (h - 1) // s + 1
            total += h * h * width * c_in + h * h * width * 9 * width + h * h * 4 * width * width
            if b == 0:
                total += h * h * 4 * width * c_in
            c_in = 4 * width
    return total


@zoo
def transfer_resnet50() -> tuple[Any, int, int]:
    from resnet_inspect._tf import keras

    base = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(32, 32, 3))
    image = keras.Input((32, 32, 3))
    head = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(base(image)))
    # The base's parameters from Keras itself; the head's by hand.
    return keras.Model(image, head), resnet50_macs(32) + 2048 * 10, base.count_params() + 2048 * 10 + 10


@zoo
def nested_sequential() -> tuple[Any, int, int]:
    from resnet_inspect._tf import keras

    L = keras.layers
    inner = keras.Sequential([L.Dense(8, activation="relu"), L.Dense(4)], name="inner")
    x = keras.Input((6,))
    model = keras.Model(x, L.Dense(2)(inner(L.Dense(6)(x))))
    return model, 6 * 6 + 6 * 8 + 8 * 4 + 4 * 2, (36 + 6) + (48 + 8) + (32 + 4) + (8 + 2)


@functools.cache
def walked(name: str) -> tuple[Any, Any, int, int]:
    from resnet_inspect.analysis.inspection import inspect_model

    model, macs, params = ZOO[name]()
    return model, inspect_model(model), macs, params


@pytest.mark.parametrize("name", list(ZOO))
def test_zoo_macs_and_params_match_the_hand_count(name: str) -> None:
    model, report, macs, params = walked(name)
    assert report.unsupported == ()
    assert report.totals.macs == macs
    assert report.totals.params == params == model.count_params()
    assert report.totals.trainable == sum(int(w.numpy().size) for w in model.trainable_weights)
    report.rows("layer")  # the receptive field of every row: unknown where it does not apply, no crash


def test_shared_layer_is_counted_per_call_and_its_parameters_once() -> None:
    _, report, _, _ = walked("siamese_shared")
    first, second = report.layer("encoder"), report.layer("encoder#2")
    assert first.macs == second.macs == 6 * 12
    assert (first.params, second.params) == (6 * 12 + 12, 0)
    assert report.layer("subtract").inputs == ("encoder", "encoder#2")


def test_keras_ops_are_rows_of_their_own() -> None:
    _, report, _, _ = walked("ops_attention")
    types = [r.layer_type for r in report.layers]
    assert types.count("ops.Matmul") == 2 and "ops.Softmax" in types and "ops.Transpose" in types
    scores = next(r for r in report.layers if r.layer_type == "ops.Softmax")
    assert scores.output_shape == (8, 8) and scores.flops == 3 * 8 * 8
    assert next(r for r in report.layers if r.layer_type == "ops.Transpose").flops == 0


def test_nested_resnet_rows_are_paths_and_keep_stages_and_blocks() -> None:
    _, report, _, _ = walked("transfer_resnet50")
    names = [r.name for r in report.layers]
    assert "resnet50/conv2_block1_1_conv" in names
    stages = report.rows("stage")
    assert [s.name for s in stages] == ["stem", "conv2", "conv3", "conv4", "conv5", "head"]
    assert [s.type for s in stages[1:5]] == ["3 x bottleneck", "4 x bottleneck", "6 x bottleneck", "3 x bottleneck"]
    # The outer model's pooling and classifier join the head; its input the stem.
    head = stages[-1]
    assert head.macs == 2048 * 10
    assert report.layer("resnet50/conv1_pad").inputs == (names[0],)  # the outer input feeds the nested one


def test_nested_sequential_rows_are_paths() -> None:
    _, report, _, _ = walked("nested_sequential")
    inner = [r for r in report.layers if r.name.startswith("inner/")]
    assert [r.layer_type for r in inner] == ["Dense", "Dense"]
    assert inner[0].inputs == (report.layers[1].name,)
    assert report.layers[-1].inputs == (inner[-1].name,)


def test_vector_inputs_have_no_receptive_field_and_do_not_crash() -> None:
    _, report, _, _ = walked("multi_input_output")
    rows = {r.name: r for r in report.rows("layer")}
    assert rows["out_a"].receptive_field is None
    assert rows[report.layers[0].name].receptive_field in (1, None)


def test_an_unsupported_layer_makes_the_total_a_named_lower_bound() -> None:
    from resnet_inspect._tf import keras
    from resnet_inspect.analysis.inspection import inspect_model
    from resnet_inspect.output.render import bounded

    class Mystery(keras.layers.Layer):
        def call(self, x: Any) -> Any:
            return x * 2.0

    x = keras.Input((4,))
    model = keras.Model(x, keras.layers.Dense(3)(Mystery()(keras.layers.Dense(4)(x))))
    report = inspect_model(model)
    totals = report.totals
    assert totals.macs is None and totals.macs_counted == 16 + 12
    assert totals.unsupported_types == ("Mystery",)
    assert bounded(totals.macs, totals.macs_counted, totals) == "≥ 28 (1 layer of type Mystery unknown)"


def test_dynamic_input_size_gets_a_note_naming_the_option() -> None:
    from resnet_inspect._tf import keras
    from resnet_inspect.analysis.inspection import inspect_model

    x = keras.Input((None, None, 3))
    report = inspect_model(keras.Model(x, keras.layers.Conv2D(2, 3)(x)))
    assert report.totals.macs is None
    assert len(report.notes) == 1 and "--input-size" in report.notes[0]


def test_custom_scale_and_layer_scale_of_keras_applications_are_counted() -> None:
    """InceptionResNetV2's CustomScaleLayer (x + y * scale: 2 per element) and ConvNeXt's LayerScale (x * gamma:
    1 per element), small enough to build here; the constructors themselves: benchmarks/applications_sweep.py."""
    from keras.src.applications.convnext import LayerScale
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    from resnet_inspect._tf import keras
    from resnet_inspect.analysis.inspection import inspect_model

    a, b = keras.Input((4, 4, 3)), keras.Input((4, 4, 3))
    scaled = CustomScaleLayer(0.17, name="scaled")([a, b])
    model = keras.Model([a, b], LayerScale(1e-6, 3, name="layer_scale")(scaled))
    report = inspect_model(model)
    assert report.layer("scaled").flops == 2 * 48 and report.layer("layer_scale").flops == 48
    assert report.totals.params == model.count_params() == 3 and report.totals.flops == 3 * 48
