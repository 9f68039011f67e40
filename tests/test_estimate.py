"""The spec-only estimate (no TensorFlow) against Keras: count_params(), the layers, the liveness peak."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from resnet_inspect.analysis.budget import KERAS_LAYER_BYTES
from resnet_inspect.analysis.estimate import estimate, estimate_block
from resnet_inspect.analysis.liveness import peak_live
from resnet_inspect.model.spec import make_spec

SMALL = [
    dict(blocks=(1,), block_kind="regular", input_size=32, width=4, version="v1"),
    dict(blocks=(2, 1), block_kind="bottleneck", input_size=(37, 45), width=6, version="v2", use_bias=False),
    dict(blocks=(1, 3, 2), block_kind="regular", input_size=33, width=4, version="v2", data_format="channels_first"),
    dict(blocks=(2, 2), block_kind="bottleneck", input_size=40, width=4, version="v1", use_bias=False),
    dict(blocks=(1, 1, 1, 2), block_kind="bottleneck", input_size=(64, 35), width=3, version="v1",
         data_format="channels_first", classes=7),
    dict(blocks=(3, 1), block_kind="regular", input_size=32, width=5, version="v1", classes=3),
]


@pytest.mark.parametrize("options", SMALL, ids=lambda o: "-".join(str(v) for v in o.values()))
def test_estimate_matches_the_built_model(build, options: dict) -> None:
    spec, model, report = build(None, **options)
    found = estimate(spec)
    live = peak_live(report.layers)
    assert found.params == model.count_params()
    assert found.layers == len(report.layers) == len(model.layers)
    assert (found.peak_elements, found.peak_layer) == (live.elements, live.at_layer)
    assert found.largest_tensor == max(math.prod(r.output_shape) for r in report.layers)


ESTIMATED_DEPTHS = (18, 50, 200)


@pytest.mark.parametrize("depth", ESTIMATED_DEPTHS)
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_estimate_of_published_depths(build, depth: int, version: str) -> None:
    spec, model, report = build(depth, version=version)
    found = estimate(spec)
    assert (found.params, found.layers) == (model.count_params(), len(report.layers))
    assert found.peak_elements == peak_live(report.layers).elements


def test_estimate_by_hand_for_one_regular_block() -> None:
    # v2, one regular block, width 4, 32x32 input, 10 classes, conv bias:
    found = estimate(make_spec(None, blocks=(1,), block_kind="regular", input_size=32, width=4, classes=10))
    stem = 7 * 7 * 3 * 4 + 4
    block = 4 * 4 + (1 * 1 * 4 * 4 + 4) + (3 * 3 * 4 * 4 + 4) + 4 * 4 + (3 * 3 * 4 * 4 + 4)  # BN, proj, conv, BN, conv
    head = 4 * 4 + 4 * 10 + 10  # BN, dense
    assert found.params == stem + block + head
    # input, pad, conv, pool | bn, relu, shortcut, conv1, bn, relu, conv2, add | bn, relu, pool, flatten, dense
    assert found.layers == 4 + 8 + 5
    # padding the input: the 32 x 32 x 3 input and its 38 x 38 x 3 padded copy are alive together (more than
    # the padded copy and the 16 x 16 x 4 conv output after it)
    assert found.peak_elements == 32 * 32 * 3 + 38 * 38 * 3 and found.peak_layer == "stem.conv_initial_pad"


def test_estimate_of_huge_requests_is_instant() -> None:
    found = estimate(make_spec(None, blocks=(10**20,) * 4))
    assert found.params > 10**26 and found.layers > 10**21
    found = estimate(make_spec(50, classes=10**9))
    assert found.params > 2048 * 10**9


@pytest.mark.parametrize("first", [False, True])
@pytest.mark.parametrize(("kind", "version"), [("regular", "v1"), ("bottleneck", "v2"), ("bottleneck", "v1")])
def test_block_estimate_matches_the_built_block(kind: str, version: str, first: bool) -> None:
    from resnet_inspect.analysis.compare import BlockSetup, build_block
    from resnet_inspect.model.spec import BlockKind, Version

    setup = BlockSetup(BlockKind(kind), filters=8, size=10, first=first, use_bias=False, version=Version(version))
    model = build_block(setup)
    found = estimate_block(setup.kind, setup.filters, setup.in_channels, setup.size, first, setup.version, False)
    assert (found.params, found.layers) == (model.count_params(), len(model.layers))


def test_keras_layer_bytes_is_what_a_layer_costs_here() -> None:
    """Build a deep, narrow network (weights < 0.1 MiB) in a fresh process: resident memory per layer."""
    code = (
        "import gc, json, psutil\n"
        "from resnet_inspect.model.builder import build_from_spec\n"
        "from resnet_inspect.model.spec import make_spec\n"
        "small = make_spec(None, blocks=(1, 1), block_kind='regular', input_size=32, width=1, classes=2)\n"
        "build_from_spec(small); gc.collect()\n"
        "before = psutil.Process().memory_info().rss\n"
        "model = build_from_spec(make_spec(None, blocks=(60, 60), block_kind='regular', input_size=32, width=1))\n"
        "gc.collect()\n"
        "print(json.dumps([psutil.Process().memory_info().rss - before, len(model.layers), model.count_params()]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    grown, layers, params = json.loads(done.stdout.splitlines()[-1])
    per_layer = (grown - 4 * params) / layers
    assert 0.5 * KERAS_LAYER_BYTES < per_layer < 2 * KERAS_LAYER_BYTES, per_layer


def test_a_network_deeper_than_the_recursion_limit_builds() -> None:
    """Keras maps a functional graph recursively; the builder makes room for the network's depth."""
    from typer.testing import CliRunner

    from resnet_inspect.cli import app

    assert sys.getrecursionlimit() < 1060
    args = ["summary", "--blocks", "150", "--block-type", "regular", "--width", "1", "--input-size", "32",
            "--level", "stage"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    # stem: input, pad, conv, pool; the first block: BN, ReLU, shortcut, conv, BN, ReLU, conv, add; each of
    # the 149 others the same without the shortcut; head: BN, ReLU, pool, flatten, dense
    assert f"layers: {4 + 8 + 149 * 7 + 5}" in result.stdout
