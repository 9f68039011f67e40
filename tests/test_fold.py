"""--fold-bn: the deployed network, its BNs folded into the convolutions before them.

Every figure is checked against Keras' own count_params() and hand arithmetic written here, and the folded
network's outputs against the unfolded model's on random input, with random (non-trivial) BN statistics:
with Keras' initial statistics (mean 0, variance 1, gamma 1, beta 0) a fold that did nothing would pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from resnet_inspect.cli import app

SMALL = {"input_size": (32, 32), "classes": 10}
# Output channels of every BN of ResNet-18 v1 (each follows a conv): the stem's 64; per block layer two
# blocks of two convs at 64, 128, 256, 512 filters; a projection shortcut (conv + BN) in layers 2-4.
RESNET18_V1_BN_CHANNELS = 64 + 4 * 64 + (4 * 128 + 128) + (4 * 256 + 256) + (4 * 512 + 512)  # 4,800
# ResNet-18 v2: only the BN between the two convs of each block follows a conv (2 blocks per layer).
RESNET18_V2_FOLDABLE_CHANNELS = 2 * (64 + 128 + 256 + 512)  # 1,920
# keras.applications.ResNet50: every BN follows a conv: stem 64, each bottleneck f, f, 4f, the first
# block of each stage a projection of 4f; stages (f, blocks) = (64, 3), (128, 4), (256, 6), (512, 3).
KERAS_RESNET50_BN_CHANNELS = 64 + sum(n * 6 * f + 4 * f for f, n in ((64, 3), (128, 4), (256, 6), (512, 3)))


def randomize_batch_norms(model, seed: int = 0) -> int:
    """Random moving mean/variance, gamma and beta in every BN, and random conv biases (Keras initialises them to
    zero, which would leave the b of (b - mean) * s + beta untried); returns how many BNs there are."""
    from resnet_inspect._tf import keras

    rng = np.random.default_rng(seed)
    count = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and layer.use_bias:
            layer.bias.assign(rng.normal(0, 0.3, layer.bias.shape).astype("float32"))
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.moving_mean.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.3, c), rng.normal(0, 0.3, c),
                               rng.uniform(0.5, 2.0, c)])
            count += 1
    return count


def same_outputs(model, folded, seed: int = 1) -> float:
    """The largest difference between the two models' outputs, relative to the largest output."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, *model.inputs[0].shape[1:])).astype("float32")
    expected = model(x, training=False).numpy()
    got = folded(x, training=False).numpy()
    return float(np.abs(expected - got).max() / np.abs(expected).max())


def built(depth: int, **options):
    from resnet_inspect.model.builder import build_from_spec
    from resnet_inspect.model.spec import make_spec

    return build_from_spec(make_spec(depth, **SMALL, **options))


def batch_norm_count(model) -> int:
    from resnet_inspect._tf import keras

    return sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def test_v1_folds_every_bn_and_the_outputs_agree() -> None:
    from resnet_inspect.analysis.walk import analyze
    from resnet_inspect.model.fold import fold_batch_norms

    model = built(18, version="v1", use_bias=False)
    assert randomize_batch_norms(model) == 20
    folding = fold_batch_norms(model)
    assert len(folding.folded) == 20 and folding.kept == ()
    assert len(folding.gained_bias) == 20  # --no-bias: every folded conv gains one
    assert batch_norm_count(folding.model) == 0
    # The BN's 4 values per channel go; each conv gains a bias of C.
    assert folding.model.count_params() == model.count_params() - 4 * RESNET18_V1_BN_CHANNELS + RESNET18_V1_BN_CHANNELS
    assert same_outputs(model, folding.model) < 1e-5
    # MACs are the convolutions' multiply-adds: unchanged. FLOPs: each folded BN's 2 per element go, each
    # gained bias adds 1 per element. Elements of the BN outputs at 32x32 (the stem conv strides 2, the pool 2):
    # stem 16x16x64; layer 1 four at 8x8x64; layers 2-4 five (with the projection) at 4x4x128, 2x2x256, 1x1x512.
    elements = 16 * 16 * 64 + 4 * 8 * 8 * 64 + 5 * 4 * 4 * 128 + 5 * 2 * 2 * 256 + 5 * 512
    before, after = analyze(model).totals, analyze(folding.model).totals
    assert after.macs == before.macs
    assert after.flops == before.flops - 2 * elements + elements


def test_v2_keeps_the_preactivation_bns_with_their_reasons() -> None:
    from resnet_inspect.model.fold import fold_batch_norms

    model = built(18)  # v2, conv bias on: no conv gains a bias
    assert randomize_batch_norms(model, seed=3) == 17
    folding = fold_batch_norms(model)
    assert len(folding.folded) == 8 and folding.gained_bias == ()
    kept = dict(folding.kept)
    assert len(kept) == 9  # 8 pre-activations and the head's final BN
    assert kept["block_layer1.regular_block0.preact1_bn"] == (
        "it follows stem.pool_initial (a MaxPooling2D), not a convolution")
    assert kept["block_layer3.regular_block0.preact1_bn"] == (
        "it follows block_layer2.regular_block1.add (a residual sum), not a convolution")
    assert kept["head.preact_bn"] == "it follows block_layer4.regular_block1.add (a residual sum), not a convolution"
    assert batch_norm_count(folding.model) == 9
    assert folding.model.count_params() == model.count_params() - 4 * RESNET18_V2_FOLDABLE_CHANNELS
    assert same_outputs(model, folding.model) < 1e-5


def test_a_conv_feeding_two_layers_is_not_folded_and_a_bn_after_the_input_neither() -> None:
    from resnet_inspect._tf import keras
    from resnet_inspect.model.fold import fold_batch_norms

    x = keras.Input((8, 8, 3))
    first = keras.layers.BatchNormalization(name="input_bn")(x)
    conv = keras.layers.Conv2D(4, 3, name="conv")(first)
    normed = keras.layers.BatchNormalization(name="bn")(conv)
    out = keras.layers.Add(name="add")([normed, conv])
    model = keras.Model(x, out)
    randomize_batch_norms(model)
    folding = fold_batch_norms(model)
    assert folding.folded == ()
    assert dict(folding.kept) == {
        "input_bn": "it normalises the model's input, which no convolution produced",
        "bn": "conv's output also feeds add",
    }
    assert same_outputs(model, folding.model) < 1e-6


def test_keras_resnet50_folds_every_bn() -> None:
    from resnet_inspect._tf import keras
    from resnet_inspect.model.fold import fold_batch_norms

    model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10)
    assert randomize_batch_norms(model, seed=5) == 53
    folding = fold_batch_norms(model)
    assert (len(folding.folded), folding.kept, folding.gained_bias) == (53, (), ())  # its convs have biases
    assert folding.model.count_params() == model.count_params() - 4 * KERAS_RESNET50_BN_CHANNELS
    assert same_outputs(model, folding.model) < 1e-4  # softmax probabilities after 53 folded BNs


def test_a_nested_keras_resnet50_is_folded_inside_a_transfer_model() -> None:
    """A transfer-learning model (keras ResNet50 as a layer of the user's model): the base's 53 BNs fold, named
    by path, and the folded model computes what the original does."""
    from resnet_inspect._tf import keras
    from resnet_inspect.analysis.inspection import inspect_model
    from resnet_inspect.model.fold import fold_batch_norms

    base = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(32, 32, 3))
    assert randomize_batch_norms(base, seed=7) == 53
    x = keras.Input((32, 32, 3))
    model = keras.Model(x, keras.layers.Dense(3, name="logits")(keras.layers.GlobalAveragePooling2D()(base(x))))
    folding = fold_batch_norms(model)
    assert (len(folding.folded), folding.kept, folding.nested) == (53, (), ())
    assert ("resnet50/conv1_conv", "resnet50/conv1_bn") in folding.folded
    assert folding.model.count_params() == model.count_params() - 4 * KERAS_RESNET50_BN_CHANNELS
    assert same_outputs(model, folding.model) < 1e-4
    names = {record.name for record in inspect_model(folding.model).layers}
    assert "resnet50/conv1_conv" in names and "resnet50/conv1_bn" not in names


# --- the command line ------------------------------------------------------------------------------


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_summary_fold_bn_json_lists_what_was_folded(tmp_path: Path) -> None:
    out = tmp_path / "s.json"
    plain, folded = tmp_path / "p.json", tmp_path / "f.json"
    assert run("summary", "--depth", "18", "--input-size", "32", "--json", str(plain)).exit_code == 0
    result = run("summary", "--depth", "18", "--input-size", "32", "--fold-bn", "--json", str(out))
    assert result.exit_code == 0, result.output
    assert "BN folded: 8 of 17 BatchNormalization layers into their convolutions" in result.stdout
    assert ("note: --fold-bn: head.preact_bn not folded: it follows block_layer4.regular_block1.add "
            "(a residual sum), not a convolution") in result.stderr
    folded.write_text(out.read_text())
    before, after = json.loads(plain.read_text()), json.loads(folded.read_text())
    record = after["config"]["fold_bn"]
    assert len(record["folded"]) == 8 and len(record["not_folded"]) == 9
    assert {"bn": "head.preact_bn", "reason": record["not_folded"][-1]["reason"]} == record["not_folded"][-1]
    assert after["totals"]["params"] == before["totals"]["params"] - 4 * RESNET18_V2_FOLDABLE_CHANNELS
    assert after["totals"]["macs"] == before["totals"]["macs"]


def test_compare_fold_bn_and_where_it_does_not_apply(tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    result = run("compare", "resnet18-v1", "resnet18", "--input-size", "32", "--fold-bn", "--no-bias", "--json",
                 str(out))
    assert result.exit_code == 0, result.output
    v1, v2 = json.loads(out.read_text())["models"]
    assert (len(v1["fold_bn"]["folded"]), len(v1["fold_bn"]["gained_bias"]), v1["fold_bn"]["not_folded"]) == (20, 20, [])
    assert len(v2["fold_bn"]["not_folded"]) == 9
    assert "deployed: BNs folded into their convolutions (--fold-bn)" in result.stdout
    assert "note: resnet18: --fold-bn: head.preact_bn not folded" in result.stderr
    blocks = run("compare", "regular", "bottleneck", "--fold-bn")
    assert (blocks.exit_code, blocks.stderr) == (
        2, "Error: --fold-bn only applies to model comparisons (e.g. resnet34 resnet50)\n")
    measured = run("memory", "--depth", "18", "--fold-bn", "--measure")
    assert (measured.exit_code, measured.stderr) == (
        2, "Error: --measure builds the network as designed in a fresh process; the folded network of --fold-bn is "
           "estimated, not measured\n")


def test_bench_fold_bn_times_both_networks(tmp_path: Path) -> None:
    out_json, out_csv = tmp_path / "b.json", tmp_path / "b.csv"
    result = run("bench", "--blocks", "1,1", "--block-type", "regular", "--input-size", "32", "--width", "8",
                 "--classes", "10", "--arch-version", "v1", "--fold-bn", "-b", "2", "-n", "2", "--warmup", "1",
                 "--json", str(out_json), "--csv", str(out_csv))
    assert result.exit_code == 0, result.output
    assert "the network as built (BNs not folded), its steps interleaved with those above" in result.stdout
    assert "images/s folded / as built: batch 2 float32: " in result.stdout
    payload = json.loads(out_json.read_text())
    [row], [built_row] = payload["rows"], payload["as_built"]["rows"]
    assert row["batch_size"] == built_row["batch_size"] == 2
    ratio = float(payload["as_built"]["images_per_s_folded_over_built"][0].split(": ")[1].rstrip("x"))
    assert ratio == pytest.approx(row["images_per_s"] / built_row["images_per_s"], abs=1e-3)
    # GFLOP/s of each from its own FLOPs: the folded network has fewer (no BN, a bias add instead)
    assert row["gflops_per_s"] / row["images_per_s"] < built_row["gflops_per_s"] / built_row["images_per_s"]
    assert len(out_csv.read_text().splitlines()) == 2  # the header and the folded network's row


def test_a_sequential_model_file_is_refused(tmp_path: Path) -> None:
    from resnet_inspect._tf import keras

    path = tmp_path / "seq.keras"
    keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3, name="c"),
                      keras.layers.BatchNormalization(name="b")], name="seq").save(path)
    result = run("summary", "--model", str(path), "--fold-bn")
    assert (result.exit_code, result.stderr) == (2, "Error: --fold-bn needs a functional model; seq is a Sequential\n")


def test_interleaved_timing_alternates_the_order_and_keeps_whole_rounds() -> None:
    from resnet_inspect.bench.stats import StepsInterrupted, time_interleaved

    now, order = [0.0], []

    def step(name: str, seconds: float):
        def run() -> None:
            order.append(name)
            now[0] += seconds

        return run

    times = time_interleaved([step("a", 1.0), step("b", 3.0)], warmup=1, iterations=3, clock=lambda: now[0])
    assert order == ["a", "b", "b", "a", "a", "b", "b", "a"]  # warm-up a b, then b a, a b, b a
    assert times == [[1.0, 1.0, 1.0], [3.0, 3.0, 3.0]]
    # --min-time: until the first step has that much timed
    order.clear()
    times = time_interleaved([step("a", 1.0), step("b", 3.0)], warmup=0, iterations=None, min_time=2.5,
                             clock=lambda: now[0])
    assert [len(t) for t in times] == [3, 3]

    def interrupt() -> None:
        if len(order) == 5:
            raise KeyboardInterrupt
        order.append("c")

    order.clear()
    with pytest.raises(StepsInterrupted) as stopped:
        time_interleaved([step("a", 1.0), interrupt], warmup=0, iterations=10, clock=lambda: now[0])
    # a, c | c, a | a, (interrupted): two whole rounds
    assert stopped.value.all_times == ((1.0, 1.0), (0.0, 0.0))


def test_a_depthwise_convolution_folds_per_output_channel() -> None:
    from resnet_inspect._tf import keras
    from resnet_inspect.model.fold import fold_batch_norms

    x = keras.Input((8, 8, 3))
    y = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False, name="dw")(x)
    y = keras.layers.BatchNormalization(name="bn")(y)
    model = keras.Model(x, keras.layers.ReLU(name="relu")(y))
    randomize_batch_norms(model, seed=7)
    folding = fold_batch_norms(model)
    assert (folding.folded, folding.gained_bias) == ((("dw", "bn"),), ("dw",))
    # 3x3 kernel x 3 channels x 2 = 54 weights; the BN's 4 x 6 go, a bias of 6 comes
    assert (model.count_params(), folding.model.count_params()) == (54 + 4 * 6, 54 + 6)
    assert same_outputs(model, folding.model) < 1e-6


def test_training_the_deployed_network_is_refused() -> None:
    result = run("bench", "--depth", "18", "--fold-bn", "--mode", "train")
    assert (result.exit_code, result.stderr) == (
        2, "Error: --fold-bn is the deployed network, for inference; --mode train trains the network with its "
           "BatchNormalization layers: give one or the other\n")
