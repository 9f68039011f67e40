"""Our FLOPs against TensorFlow's profiler on the frozen graph (summary --verify).

TensorFlow's count is the independent source: convolutions must agree exactly, and every other
difference must be the documented convention, recomputed here by hand from the layer shapes.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import pytest
from conftest import built
from test_v1 import v1_by_hand
from typer.testing import CliRunner

from resnet_inspect.analysis.crosscheck import OUTSIDE, TfOp, attribute
from resnet_inspect.analysis.paper import PAPER_GMACS
from resnet_inspect.cli import app

SMALL = 64  # exactness does not depend on the input size; 64 keeps the frozen graphs quick


@functools.cache
def verified(depth: int, version: str, size: int = SMALL, use_bias: bool = True):
    from resnet_inspect.analysis.tfprofile import verify_model

    _, model, report = built(depth, version=version, input_size=size, use_bias=use_bias)
    return model, report, verify_model(model, report)


def rows_of(verification) -> dict:
    return {row.layer_type: row for row in verification.rows}


@pytest.mark.parametrize(("depth", "version"), [(18, "v2"), (50, "v2"), (18, "v1")])
def test_tensorflow_agrees_on_convolutions_and_the_differences_are_the_conventions(depth: int, version: str) -> None:
    model, report, verification = verified(depth, version)
    rows = rows_of(verification)
    convs = [r for r in report.layers if r.layer_type == "Conv2D"]
    assert verification.conv.layers == len(convs) == sum(type(x).__name__ == "Conv2D" for x in model.layers)
    assert verification.conv.exact and verification.conv.mismatched == ()
    assert verification.conv.tf == 2 * sum(r.macs for r in convs)  # TF counts 2 per multiply-add
    # conv layers with their bias adds, the dense layer, the residual adds and the average pool agree exactly
    for kind in ("Conv2D", "Dense", "Add", "AveragePooling2D"):
        assert rows[kind].difference == 0, rows[kind]
    assert dict(rows["Conv2D"].tf_ops)["BiasAdd"] == sum(math.prod(r.output_shape) for r in convs)
    # BN: TF also evaluates the per-channel folding, 6 FLOPs per channel (add eps, rsqrt as 2, x gamma,
    # mean x inv, beta - ...); both count the per-element multiply and add.
    bn = [r for r in report.layers if r.layer_type == "BatchNormalization"]
    assert rows["BatchNormalization"].difference == 6 * sum(r.output_shape[-1] for r in bn)
    assert rows["BatchNormalization"].ours == 2 * sum(math.prod(r.output_shape) for r in bn)
    # ReLU: no FLOP statistics in TF; ours 1 per element
    relus = [r for r in report.layers if r.layer_type == "ReLU"]
    assert rows["ReLU"].tf == 0 and rows["ReLU"].ours == sum(math.prod(r.output_shape) for r in relus)
    # Max pool 3x3: TF counts 9 taps per output, ours 8 comparisons
    (pool,) = [r for r in report.layers if r.layer_type == "MaxPooling2D"]
    assert rows["MaxPooling2D"].difference == math.prod(pool.output_shape)
    assert "Relu" in rows["ReLU"].note and rows["Conv2D"].note == ""
    # every TF FLOP was given to a layer
    assert OUTSIDE not in rows
    assert sum(row.tf for row in verification.rows) == verification.tf_total


def test_tensorflow_conv_count_matches_hand_arithmetic_and_the_paper() -> None:
    """TF's count of the paper's ResNet-50 at 224 against hand arithmetic and Table 1: no code of ours involved."""
    _, _, verification = verified(50, "v1", 224, use_bias=False)
    macs = v1_by_hand(50)[1]
    dense_macs = 2048 * 1000
    assert verification.conv.exact
    assert verification.conv.tf == 2 * (macs - dense_macs)
    assert dict(rows_of(verification)["Dense"].tf_ops)["MatMul"] == 2 * dense_macs
    assert abs((verification.conv.tf // 2 + dense_macs) / (PAPER_GMACS[50] * 1e9) - 1) <= 0.02


def test_attribution_resolves_tensorflow_scope_renaming() -> None:
    """TF renames scope 'dense' to 'dense_1' when the name was used: layer 'dense_1' then owns 'dense_1_2'."""
    ops = [
        TfOp("x", "Placeholder", 0),
        TfOp("tiny_1/dense_1/MatMul", "MatMul", 24),
        TfOp("tiny_1/dense_1/BiasAdd", "BiasAdd", 3),
        TfOp("tiny_1/dense_1_2/MatMul", "MatMul", 18),
        TfOp("tiny_1/dense_1_2/inner/Relu", "Relu", 0),
        TfOp("Identity", "Identity", 0),
    ]
    owner = attribute(ops, ["x", "dense", "dense_1"], "tiny")
    assert owner == {
        "x": None,
        "tiny_1/dense_1/MatMul": "dense",
        "tiny_1/dense_1/BiasAdd": "dense",
        "tiny_1/dense_1_2/MatMul": "dense_1",
        "tiny_1/dense_1_2/inner/Relu": "dense_1",
        "Identity": None,
    }


def test_verify_a_model_whose_layer_names_collide_with_tensorflow_renaming() -> None:
    from resnet_inspect._tf import keras
    from resnet_inspect.analysis.inspection import inspect_model
    from resnet_inspect.analysis.tfprofile import verify_model
    from resnet_inspect.output.render import conv_check_text

    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(3, name="dense")(inputs)
    outputs = keras.layers.Dense(5, activation="softmax", name="dense_1")(hidden)
    model = keras.Model(inputs, outputs, name="tiny")
    report = inspect_model(model)
    verification = verify_model(model, report)
    rows = rows_of(verification)
    assert conv_check_text(verification.conv).plain == "No conv layers: nothing to compare conv by conv."
    # by hand: dense 4x3 (2*12 + 3 bias), dense_1 3x5 (2*15 + 5 bias) + softmax over 5 (TF 5 each, ours 3)
    assert rows["Dense"].tf == (2 * 12 + 3) + (2 * 15 + 5) + 5 * 5
    assert rows["Dense"].difference == (5 - 3) * 5
    assert "Softmax" in rows["Dense"].note


def test_verify_keras_applications_resnet() -> None:
    from resnet_inspect.analysis.inspection import inspect_model
    from resnet_inspect.analysis.tfprofile import verify_model
    from resnet_inspect.model.sources import load_model

    model, config = load_model("keras:ResNet50", input_size=(SMALL, SMALL), classes=10)
    report = inspect_model(model, config)
    verification = verify_model(model, report)
    rows = rows_of(verification)
    assert verification.conv.exact and verification.conv.layers == 53
    assert rows["GlobalAveragePooling2D"].difference == 0
    assert rows["Activation"].tf == 0 and "Relu" in rows["Activation"].note
    assert rows["Dense"].difference == 2 * 10  # softmax over 10 classes: 5 each in TF, 3 here


def test_summary_verify_prints_and_exports(tmp_path: Path) -> None:
    out = tmp_path / "r18.json"
    result = CliRunner().invoke(
        app, ["summary", "--depth", "18", "--input-size", "32", "--verify", "--level", "stage", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "FLOPs: ours beside TensorFlow's profiler, per layer type" in result.stdout
    assert "Convolutions agree exactly" in result.stdout
    doc = json.loads(out.read_text())
    check = doc["verify"]
    assert check["conv"]["exact"] is True and check["conv"]["tf"] == check["conv"]["ours"]  # both 2 x MACs
    assert check["method"].startswith("tf.compat.v1.profiler")
    conv_row = next(r for r in check["rows"] if r["layer_type"] == "Conv2D")
    assert conv_row["difference"] == 0 and set(conv_row["tf_ops"]) == {"Conv2D", "BiasAdd"}
    assert doc["totals"]["flops"] == sum(r["ours"] for r in check["rows"])


def test_verify_needs_a_fixed_input_shape() -> None:
    from resnet_inspect._tf import keras
    from resnet_inspect.analysis.inspection import inspect_model
    from resnet_inspect.analysis.tfprofile import verify_model
    from resnet_inspect.errors import InspectError

    inputs = keras.Input((None, None, 3), name="image")
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="conv")(inputs), name="anysize")
    with pytest.raises(InspectError, match=r"--verify needs a fixed input shape; anysize takes \(None, None, None, 3\)"):
        verify_model(model, inspect_model(model))


def test_verify_keras_ops_grouped_convs_and_activations_are_explained() -> None:
    """Keras ops (outside every layer scope) are compared as one row, whose only difference is softmax's
    convention (5 per element in TF, 3 here); a grouped conv run as a function call is named, not a mismatch;
    GELU and swish rows carry the activation note; a difference with no known reason says 'unexplained'."""
    from resnet_inspect._tf import keras
    from resnet_inspect.analysis.crosscheck import KERAS_OPS, UNEXPLAINED, _note
    from resnet_inspect.analysis.inspection import inspect_model
    from resnet_inspect.analysis.tfprofile import verify_model

    ops, L = keras.ops, keras.layers
    image = keras.Input((8, 8, 16))
    y = L.Activation("swish")(L.Activation("gelu")(L.Conv2D(16, 3, padding="same", groups=16, name="grouped")(image)))
    tokens = L.Reshape((64, 16))(y)
    q = L.Dense(16)(tokens)
    scores = ops.softmax(ops.matmul(q, ops.transpose(q, (0, 2, 1))) * 0.25)
    model = keras.Model(image, ops.matmul(scores, q) + tokens)
    verification = verify_model(model, inspect_model(model))
    rows = rows_of(verification)
    keras_ops = rows[KERAS_OPS]
    assert dict(keras_ops.tf_ops)["BatchMatMulV2"] == 2 * 2 * 64 * 64 * 16  # both matmuls, 2 per multiply-add
    assert keras_ops.difference == 2 * 64 * 64 and "Softmax" in keras_ops.note
    assert verification.conv.hidden == ("grouped",) and verification.conv.mismatched == ()
    assert "function call" in rows["Conv2D"].note
    assert "Sigmoid" in rows["Activation"].note
    assert OUTSIDE not in rows
    assert _note("Mystery", ["Mul"]) == UNEXPLAINED


def test_verify_explains_layer_norm_normalization_and_gelu_by_hand() -> None:
    """ConvNeXt's other rows: each difference is the one its note states, recomputed here by hand for a
    (rows, channels) input, and no row is left 'unexplained'."""
    from resnet_inspect._tf import keras
    from resnet_inspect.analysis.crosscheck import UNEXPLAINED
    from resnet_inspect.analysis.inspection import inspect_model
    from resnet_inspect.analysis.tfprofile import verify_model

    rows_, channels = 4, 8
    n = rows_ * channels
    L = keras.layers
    x = keras.Input((rows_, channels))
    y = L.Normalization(mean=[0.5] * channels, variance=[2.0] * channels)(x)
    y = L.Activation("gelu")(L.LayerNormalization()(y))
    model = keras.Model(x, y)
    verification = verify_model(model, inspect_model(model))
    rows = rows_of(verification)

    # LayerNormalization: TF 9 per element + 4 per row; ours 7 per element + 4 per row.
    layer_norm = rows["LayerNormalization"]
    assert (layer_norm.tf, layer_norm.ours) == (9 * n + 4 * rows_, 7 * n + 4 * rows_)
    assert "9 per element" in layer_norm.note and "7" in layer_norm.note
    # Normalization: both (x - mean) / sigma per element; TF adds max(sqrt(var), eps) per channel.
    normalization = rows["Normalization"]
    assert (normalization.tf, normalization.ours) == (2 * n + channels, 2 * n)
    assert "1 per channel" in normalization.note
    # GELU as Keras writes it, 0.5 x erfc(-x / sqrt 2): TF counts 3 multiplies and a negation per element
    # and nothing for Erfc, which is named in the note.
    gelu = rows["Activation"]
    assert gelu.tf == 4 * n and dict(gelu.tf_ops)["Erfc"] == 0
    assert "Erfc" in gelu.note
    assert all(row.note != UNEXPLAINED for row in verification.rows)
