"""bench --mode train: the training step (forward, backward, SGD momentum update) and its measured memory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import on_split_cpu
from typer.testing import CliRunner

from resnet_inspect.cli import app

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--blocks", "1,1", "--block-type", "regular", "--input-size", "32", "--width", "8", "--classes", "10"]
TINY_SPEC = {"blocks": (1, 1), "block_kind": "regular", "input_size": 32, "width": 8, "classes": 10}


def run(*args: str):
    return CliRunner().invoke(app, ["bench", *args])


def tiny_model():
    from resnet_inspect.model.builder import build_from_spec
    from resnet_inspect.model.spec import make_spec

    return build_from_spec(make_spec(None, **TINY_SPEC))


def test_a_training_step_updates_the_weights_and_lowers_the_loss() -> None:
    from resnet_inspect._tf import keras, tf
    from resnet_inspect.bench import run as core
    from resnet_inspect.bench.plan import Precision

    model = tiny_model()
    before = [w.numpy().copy() for w in model.trainable_variables]
    x = tf.random.uniform((4, 32, 32, 3), seed=0)
    y = tf.constant([0, 1, 2, 3])
    # Keras' own mean cross-entropy of the batch before any update (training mode, as the step runs it)
    expected = float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, model(x, training=True)))
    moving = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    mean_before = moving.moving_mean.numpy().copy()
    optimizer = core.make_optimizer(Precision.FLOAT32)
    optimizer.build(model.trainable_variables)
    train = tf.function(core._training(model, optimizer, 4))
    losses = [float(train(x, y).numpy()) for _ in range(8)]
    assert int(optimizer.iterations.numpy()) == 8
    changed = [not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_variables, strict=True)]
    assert all(changed)  # every trainable variable moved
    assert not np.array_equal(mean_before, moving.moving_mean.numpy())  # training mode: BN statistics updated
    assert losses[-1] < losses[0]  # eight SGD steps on one batch fit it better
    # the first loss is the mean cross-entropy of the batch (summed, divided by the batch), as Keras computes it
    assert losses[0] == pytest.approx(expected, rel=1e-4)


def test_mixed_float16_scales_the_loss_and_keras_applications_give_probabilities() -> None:
    from resnet_inspect._tf import keras
    from resnet_inspect.bench import run as core
    from resnet_inspect.bench.plan import Precision

    assert isinstance(core.make_optimizer(Precision.MIXED_FLOAT16), keras.optimizers.LossScaleOptimizer)
    assert not isinstance(core.make_optimizer(Precision.MIXED_BFLOAT16), keras.optimizers.LossScaleOptimizer)
    # A built network ends in logits; keras.applications in a softmax.
    assert core._loss(tiny_model())._fn_kwargs["from_logits"] is True
    app_model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10)
    assert core._loss(app_model)._fn_kwargs["from_logits"] is False


def test_bench_mode_train_json_and_console(tmp_path: Path) -> None:
    from resnet_inspect.analysis.memory import memory_totals
    from resnet_inspect.analysis.walk import analyze

    out_json = tmp_path / "t.json"
    result = run(*TINY, "--mode", "train", "-b", "2", "-n", "2", "--warmup", "1", "--precision", "mixed_float16",
                 "--json", str(out_json))
    assert result.exit_code == 0, result.output
    assert "Step = one training step" in result.stdout
    assert "training memory, batch 2 mixed_float16: " in result.stdout
    payload = json.loads(out_json.read_text())
    assert payload["settings"]["mode"] == "train"
    assert payload["convention"]["step"].startswith("one training step of batch_size images")
    [row] = payload["rows"]
    assert (row["batch_size"], row["precision"], row["gflops_per_s"], row["pct_of_peak"]) == (
        2, "mixed_float16", None, None)  # the walk counts forward FLOPs only: unknown, not a guess
    memory = payload["runs"][0]["memory"]
    model = tiny_model()
    # the estimate: the activations the backward pass keeps at the compute dtype (2 bytes) + float32 gradients
    kept = memory_totals(analyze(model), 2, "float16").training_activation_bytes
    assert memory["estimate_bytes"] == kept + 4 * sum(int(np.prod(v.shape)) for v in model.trainable_variables
                                                       + model.non_trainable_variables)
    # believable or flagged, never both
    assert (memory["measured_bytes"] is None) == (memory["note"] is not None)
    if memory["note"] is not None:
        assert memory["note"].startswith("implausible: ")
        assert "measured rise implausible: " in result.stdout


def test_bench_mode_must_be_known() -> None:
    result = run(*TINY, "--mode", "backward")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Invalid value for '--mode'")


def test_training_need_counts_what_a_step_keeps() -> None:
    from resnet_inspect.analysis.estimate import estimate_layers
    from resnet_inspect.analysis.memory import saved_for_backward
    from resnet_inspect.analysis.walk import analyze
    from resnet_inspect.bench import run as core

    report = analyze(tiny_model())
    found = estimate_layers("tiny", report.layers, report.totals.params)
    need = core.training_need(found, report)
    kept = sum(int(np.prod(r.output_shape)) for r in report.layers if r.name in saved_for_backward(report))
    assert need.peak_elements == found.peak_elements + kept
    assert need.params == 3 * report.totals.params  # weights, gradients, momentum


def test_train_on_a_split_cpu_with_mirrored_strategy(tmp_path: Path) -> None:
    out_json = tmp_path / "bench.json"
    [(code, output, _)] = on_split_cpu(["bench", *TINY, "--devices", "all", "--mode", "train", "-b", "4", "-n", "2",
                                        "--warmup", "1", "--threads", "1", "--json", str(out_json)])
    assert code == 0, output
    payload = json.loads(out_json.read_text())
    [row] = payload["rows"]
    assert (row["device"], row["batch_size"]) == ("CPU:0+CPU:1", 4)
    assert payload["runs"][0]["replicas"] == 2
    assert "memory" not in payload["runs"][0]  # not measured across replicas
