"""The topology's shape-only recorder against the Keras walk: the same layers, names, types, shapes, parameters.

One block code (resnet_inspect.model.topology) drives both the Keras builder and the recorder; these tests
hold the recorder to what Keras actually builds, for every network the other tests build (through the
session's ``build`` cache, so no network is built twice), and the compact recording to the expanded one.
"""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import pytest
from test_estimate import ESTIMATED_DEPTHS, SMALL
from test_family import BUILT_MEMBERS, built_member
from test_v1 import PAPER_DEPTHS

from resnet_inspect.analysis.liveness import peak_live
from resnet_inspect.model.recorder import Recorder, record, record_block
from resnet_inspect.model.spec import DEPTHS, BlockKind, Version

Call = tuple[tuple[Any, ...], dict[str, Any]]


def call(*args: Any, **kwargs: Any) -> Call:
    return args, kwargs


# Every build(...) of the test suite, written as it is called (the cache keys on the exact arguments).
CALLS: list[Call] = [
    # test_model.py (and test_receptive, test_memory, test_cli_*)
    *(call(depth) for depth in DEPTHS),
    call(50, input_size=64),
    call(18, input_size=32),
    call(18, input_size=32, use_bias=False),
    call(18, input_size=64, data_format="channels_first"),
    call(18, input_size=64),
    call(None, blocks=(1, 1, 1, 1), block_kind="regular", input_size=(64, 96), classes=10, width=16),
    call(34, input_size=32),
    # test_v1.py
    *(call(depth, version="v1", use_bias=False) for depth in PAPER_DEPTHS),
    call(None, blocks=(1, 2), block_kind="regular", version="v1", input_size=32, width=16),
    call(18, version="v1", input_size=32, data_format="channels_first"),
    call(50, version="v1"),  # test_receptive.py
    # test_estimate.py
    *(call(None, **options) for options in SMALL),
    *(call(depth, version=version) for depth in ESTIMATED_DEPTHS for version in ("v1", "v2")),
    # test_compare.py, test_bench.py, test_sources.py
    *(call(depth, input_size=32, version=version) for depth in (18, 50) for version in ("v1", "v2")),
    call(50, input_size=32),
    call(None, blocks=(1, 1), block_kind="regular", input_size=32, width=8, classes=10),
    call(None, blocks=(1, 1), block_kind="regular", input_size=32, width=8, classes=10, version="v1"),
]


def label(c: Call) -> str:
    args, kwargs = c
    return "-".join([*(str(a) for a in args), *(f"{k}={v}" for k, v in kwargs.items())])


def layers_of(items: Any) -> dict[str, tuple]:
    """name -> (type, inputs, output shape, parameters), for walked records and recorded nodes alike."""
    return {item.name: (item.layer_type, tuple(item.inputs), tuple(item.output_shape), item.params) for item in items}


def assert_in_graph_order(recorder: Recorder) -> None:
    """Every node comes after the nodes it reads (the order the liveness sweep needs)."""
    seen: set[str] = set()
    for node in recorder.nodes:
        assert set(node.inputs) <= seen, node.name
        seen.add(node.name)


# The family's knobs on small networks, each in both versions (test_family.py builds its members).
KNOB_SETS: list[dict[str, Any]] = [
    dict(groups=2, width_per_group=4, se_ratio=4),
    dict(stem="deep", shortcut="avg-pool", stride_at="3x3"),
    dict(width_multiplier=2, stride_at="1x1", shortcut="zero-pad"),
    dict(stem="cifar", shortcut="zero-pad", data_format="channels_first"),
    dict(block_kind="regular", stem="deep", shortcut="avg-pool", se_ratio=2),
]
FAMILY_CALLS: list[Call] = [
    call(None, blocks=(1, 2), input_size=32, width=8, classes=10, version="v1", se_ratio=4),  # test_family.py
    *(
        call(None, blocks=(1, 2), input_size=32, width=8, classes=10, version=version, **knobs)
        for knobs in KNOB_SETS
        for version in ("v1", "v2")
    ),
]


@pytest.mark.parametrize("built_call", CALLS + FAMILY_CALLS, ids=label)
def test_recorded_layers_are_the_keras_walk(build, built_call: Call) -> None:
    args, kwargs = built_call
    assert_recorder_is_the_walk(*build(*args, **kwargs))


@pytest.mark.parametrize("name", BUILT_MEMBERS)
def test_recorded_member_is_the_keras_walk(name: str) -> None:
    assert_recorder_is_the_walk(*built_member(name))


def assert_recorder_is_the_walk(spec: Any, model: Any, report: Any) -> None:
    expanded = record(spec, compact=False)
    recorded = layers_of(expanded.nodes)
    # names are unique on both sides, so equal mappings of equal size are the same layer list
    assert len(recorded) == len(expanded.nodes) == len(report.layers) == len(model.layers)
    assert recorded == layers_of(report.layers)
    assert expanded.params == model.count_params()
    assert_in_graph_order(expanded)

    compact = record(spec, compact=True)
    assert (compact.params, compact.layers) == (expanded.params, expanded.layers)
    assert peak_live(compact.nodes) == peak_live(expanded.nodes)
    assert max(math.prod(n.output_shape) for n in compact.nodes) == max(
        math.prod(r.output_shape) for r in report.layers
    )


@pytest.mark.parametrize("first", [False, True])
@pytest.mark.parametrize("version", list(Version))
@pytest.mark.parametrize("kind", list(BlockKind))
def test_recorded_block_is_the_block_compare_builds(kind: BlockKind, version: Version, first: bool) -> None:
    from resnet_inspect.analysis.compare import BlockSetup, build_block
    from resnet_inspect.analysis.walk import analyze

    setup = BlockSetup(kind, filters=4, size=6, first=first, use_bias=first, version=version)
    model = build_block(setup)
    recorder = record_block(kind, 4, setup.input_shape, first, version, setup.use_bias)
    assert layers_of(recorder.nodes) == layers_of(analyze(model).layers)
    assert len(recorder.nodes) == len(model.layers)
    # the block is named as block layer 1's first block in the network
    assert recorder.nodes[-1].name.startswith(f"{setup.scope}.")


def test_compact_recording_counts_repeats_without_recording_them() -> None:
    from resnet_inspect.model.spec import make_spec

    spec = make_spec(None, blocks=(5, 1), block_kind="regular", input_size=32, width=2, version="v1")
    compact, expanded = record(spec), record(spec, compact=False)
    repeated = [n for n in compact.nodes if n.times > 1]
    # block_layer1's regular_block1 stands for blocks 1..4; by hand: conv, BN, ReLU, conv, BN, add, ReLU
    assert {n.name.rsplit(".", 1)[0] for n in repeated} == {"block_layer1.regular_block1"}
    assert len(repeated) == 7 and {n.times for n in repeated} == {4}
    assert len(expanded.nodes) == len(compact.nodes) + 3 * 7
    assert compact.layers == expanded.layers == len(expanded.nodes)


def test_recording_imports_no_tensorflow() -> None:
    code = (
        "import sys\n"
        "from resnet_inspect.analysis.estimate import estimate\n"
        "from resnet_inspect.model.recorder import record\n"
        "from resnet_inspect.model.spec import make_spec\n"
        "spec = make_spec(50, version='v1')\n"
        "assert record(spec, compact=False).layers == estimate(spec).layers\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'numpy')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
