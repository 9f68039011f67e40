"""`resnet-inspect compare`: built blocks and models against hand arithmetic and Keras' own counts."""

from __future__ import annotations

import csv
import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from resnet_inspect.analysis import compare as core
from resnet_inspect.cli import app
from resnet_inspect.model.spec import BlockKind, Version
from resnet_inspect.output import payloads

REGULAR, BOTTLENECK = BlockKind.REGULAR, BlockKind.BOTTLENECK


def run(*args: str):
    return CliRunner().invoke(app, list(args))


@functools.cache
def sides(filters: int = 64, size: int = 56, first: bool = False, version: str = "v2") -> tuple[core.BlockSide, ...]:
    setups = [
        core.BlockSetup(kind, filters=filters, size=size, first=first, version=Version(version))
        for kind in (REGULAR, BOTTLENECK)
    ]
    return core.compare_blocks(setups)


def conv_weights(k: int, c_in: int, c_out: int) -> int:
    return k * k * c_in * c_out  # kernel taps x input channels x filters (seeds 004)


# --- blocks, against hand arithmetic ---------------------------------------------------------------


def test_seeds_example_73728_vs_69632_from_built_blocks() -> None:
    regular, bottleneck = sides()
    # Seeds (004): regular, 64 filters on 64 channels: two 3x3 convs.
    assert [(c.part, c.kernel_shape, c.in_channels, c.out_channels, c.weights) for c in regular.convs] == [
        ("conv1", (3, 3), 64, 64, 3 * 3 * 64 * 64),
        ("conv2", (3, 3), 64, 64, 3 * 3 * 64 * 64),
    ]
    # Bottleneck, 64 filters on 256 channels: 1x1 squeeze, 3x3, 1x1 expand to 4 x 64.
    assert [(c.part, c.kernel_shape, c.in_channels, c.out_channels, c.weights) for c in bottleneck.convs] == [
        ("conv1", (1, 1), 256, 64, 1 * 1 * 256 * 64),
        ("conv2", (3, 3), 64, 64, 3 * 3 * 64 * 64),
        ("conv3", (1, 1), 64, 256, 1 * 1 * 64 * 256),
    ]
    assert regular.totals.split.weights == 36_864 + 36_864 == 73_728
    assert bottleneck.totals.split.weights == 16_384 + 36_864 + 16_384 == 69_632
    assert (regular.in_channels, regular.out_channels) == (64, 64)
    assert (bottleneck.in_channels, bottleneck.out_channels) == (256, 256)


def test_biases_and_batch_norm_are_counted_apart_from_the_weights() -> None:
    regular, bottleneck = sides()
    assert regular.totals.split.biases == 64 + 64  # one per filter of each conv
    assert bottleneck.totals.split.biases == 64 + 64 + 256
    # BN before each conv: gamma and beta (trainable), moving mean and variance (not), per input channel.
    assert regular.totals.split.bn_trainable == regular.totals.split.bn_non_trainable == 2 * 64 + 2 * 64
    assert bottleneck.totals.split.bn_trainable == bottleneck.totals.split.bn_non_trainable == 2 * 256 + 2 * 64 + 2 * 64
    assert regular.totals.params == 73_728 + 128 + 256 + 256
    assert bottleneck.totals.params == 69_632 + 384 + 768 + 768


def test_block_params_equal_keras_count_params() -> None:
    for side in sides() + sides(first=True):
        assert side.totals.params == core.build_block(side.setup).count_params()


def test_macs_and_flops_at_56_by_hand() -> None:
    regular, bottleneck = sides()
    positions = 56 * 56  # stride 1, 'same' padding: every conv keeps the 56x56 map
    assert [c.macs for c in regular.convs] == [positions * 3 * 3 * 64 * 64] * 2
    assert regular.totals.macs == positions * 73_728 == 231_211_008
    assert bottleneck.totals.macs == positions * 69_632 == 218_365_952
    e64, e256 = positions * 64, positions * 256  # elements of a 64- and a 256-channel map
    # regular: BN (2) + ReLU (1) twice, a bias add after each conv (1 + 1), the residual add (1), on 64 channels.
    assert regular.totals.flops == 2 * regular.totals.macs + (2 + 1 + 1 + 2 + 1 + 1 + 1) * e64
    # bottleneck: on 256 channels BN1 (2), ReLU1 (1), conv3's bias (1), the add (1);
    # on 64 channels conv1's and conv2's biases (1 + 1), BN2 and BN3 (2 + 2), ReLU2 and ReLU3 (1 + 1).
    assert bottleneck.totals.flops == 2 * bottleneck.totals.macs + 5 * e256 + 8 * e64


@pytest.mark.parametrize("filters", [8, 16, 48])
def test_filters_n_gives_18_n2_and_17_n2(filters: int) -> None:
    regular, bottleneck = sides(filters=filters, size=8)
    assert regular.totals.split.weights == 2 * 9 * filters**2
    assert bottleneck.totals.split.weights == 17 * filters**2  # 4 N^2 + 9 N^2 + 4 N^2
    assert bottleneck.in_channels == 4 * filters


def test_first_block_shows_its_projection_shortcut() -> None:
    regular, bottleneck = sides(first=True)
    # The first block of block layer 1 takes the stem's 64 channels and projects its shortcut (seeds 000).
    assert {c.part: (c.kernel_shape, c.in_channels, c.out_channels, c.weights) for c in regular.convs} == {
        "conv1": ((3, 3), 64, 64, conv_weights(3, 64, 64)),
        "conv2": ((3, 3), 64, 64, conv_weights(3, 64, 64)),
        "shortcut": ((1, 1), 64, 64, conv_weights(1, 64, 64)),
    }
    assert {c.part: (c.kernel_shape, c.in_channels, c.out_channels, c.weights) for c in bottleneck.convs} == {
        "conv1": ((1, 1), 64, 64, conv_weights(1, 64, 64)),
        "conv2": ((3, 3), 64, 64, conv_weights(3, 64, 64)),
        "conv3": ((1, 1), 64, 256, conv_weights(1, 64, 256)),
        "shortcut": ((1, 1), 64, 256, conv_weights(1, 64, 256)),
    }
    assert regular.totals.split.weights == 73_728 + 4_096
    assert bottleneck.totals.split.weights == 4_096 + 36_864 + 16_384 + 16_384
    assert (bottleneck.in_channels, bottleneck.out_channels) == (64, 256)


@pytest.mark.parametrize("version", [v.value for v in Version])
def test_blocks_are_the_networks_own_blocks(build, version: str) -> None:
    """The standalone blocks have the layers of block layer 1 in the built networks, name for name."""
    for depth, kind in ((18, REGULAR), (50, BOTTLENECK)):
        _, _, report = build(depth, input_size=32, version=version)
        for first, index in ((True, 0), (False, 1)):
            side = next(s for s in sides(first=first, version=version) if s.setup.kind is kind)
            prefix = f"block_layer1.{kind.scope}{index}."
            network = [r for r in report.layers if r.name.startswith(prefix)]
            standalone = [r for r in side.report.layers if r.name != "input"]
            assert [(r.name.removeprefix(prefix), r.layer_type, r.params) for r in network] == [
                (r.name.rsplit(".", 1)[-1], r.layer_type, r.params) for r in standalone
            ]


def test_v1_blocks_post_activation_and_projection_only_where_the_shape_changes() -> None:
    regular, bottleneck = sides(version="v1")
    # The paper's blocks have the same convolutions: the seeds' weight counts hold for v1 too.
    assert (regular.totals.split.weights, bottleneck.totals.split.weights) == (73_728, 69_632)
    # v1: a BN after each conv, on its output channels.
    assert regular.totals.split.bn_trainable == 2 * 64 + 2 * 64
    assert bottleneck.totals.split.bn_trainable == 2 * 64 + 2 * 64 + 2 * 256
    regular, bottleneck = sides(first=True, version="v1")
    # 64 -> 64 at stride 1: no projection in v1; 64 -> 256: a 1x1 projection with its BN.
    assert [c.part for c in regular.convs] == ["conv1", "conv2"]
    assert {c.part: c.weights for c in bottleneck.convs}["shortcut"] == 64 * 256
    assert bottleneck.totals.split.bn_trainable == 2 * (64 + 64 + 256 + 256)
    for side in (regular, bottleneck):
        assert side.totals.params == core.build_block(side.setup).count_params()


# --- models, against Keras' count_params -----------------------------------------------------------


def entries(build, depths: tuple[int, ...], **options) -> tuple[core.ModelEntry, ...]:
    return tuple(core.ModelEntry(f"resnet{d}", *build(d, **options)[::2]) for d in depths)


def test_model_totals_equal_count_params(build) -> None:
    depths = (18, 34, 50)
    rows = core.compare_models(entries(build, depths, input_size=32))
    counts = [build(d, input_size=32)[1].count_params() for d in depths]
    assert [r.totals.params for r in rows] == counts
    assert [r.diff["params"] for r in rows] == [c - counts[0] for c in counts]
    assert [r.ratio["params"] for r in rows] == [c / counts[0] for c in counts]
    assert [r.block_type for r in rows] == ["regular", "regular", "bottleneck"]
    assert [r.blocks for r in rows] == [(2, 2, 2, 2), (3, 4, 6, 3), (3, 4, 6, 3)]
    # 32x32 input, total stride 32: a 1x1 map of 512 (regular) or 4 x 512 (bottleneck) channels.
    assert [r.features_shape for r in rows] == [(1, 1, 512), (1, 1, 512), (1, 1, 2048)]
    assert [r.output_shape for r in rows] == [(1000,)] * 3
    for row in rows:
        t = row.totals
        assert t.split.weights + t.split.biases + t.split.bn_trainable + t.split.bn_non_trainable + t.split.other == t.params
        assert sum(stage.params for stage in row.stages) == t.params


def test_stage_columns(build) -> None:
    rows = core.compare_models(entries(build, (18, 50), input_size=32))
    table = payloads.model_table(rows, core.CompareLevel.STAGE)
    stages = ["stem", "block_layer1", "block_layer2", "block_layer3", "block_layer4", "head"]
    assert [k for k in table[0] if k.endswith("_params")] == [f"{s}_params" for s in stages]
    assert table[0]["stem_params"] == table[1]["stem_params"] == 7 * 7 * 3 * 64 + 64  # 7x7 conv with bias
    # head: BN before the pool (4 per channel) and the dense logits (weights + biases).
    assert table[0]["head_params"] == 4 * 512 + 512 * 1000 + 1000
    assert table[1]["head_params"] == 4 * 2048 + 2048 * 1000 + 1000
    assert "stem_params" not in payloads.model_table(rows, core.CompareLevel.MODEL)[0]


def test_build_models_reports_progress() -> None:
    calls: list[tuple[int, str]] = []
    specs = core.model_specs(core.parse_names(["resnet18", "resnet34"]).models, core_spec)
    built = core.build_models(specs, lambda done, label: calls.append((done, label)))
    assert calls == [(0, "resnet18"), (1, "resnet34"), (2, "")]
    assert [e.label for e in built] == ["resnet18", "resnet34"]


def core_spec(depth: int):
    from resnet_inspect.model.spec import make_spec

    return make_spec(depth, input_size=32, classes=10)


# --- names -----------------------------------------------------------------------------------------


def test_names_parse_blocks_models_and_version_suffixes() -> None:
    from resnet_inspect.model.spec import Version

    assert core.parse_names(["Regular", "bottleneck"]).blocks == (REGULAR, BOTTLENECK)
    models = core.parse_names(["resnet18", "ResNet50-" + Version.V2.value]).models
    assert [(m.label, m.depth, m.version) for m in models] == [
        ("resnet18", 18, None),
        (f"resnet50-{Version.V2.value}", 50, Version.V2),
    ]
    # Every version the specs know is accepted as a suffix, without compare knowing their names.
    for version in Version:
        assert core.parse_model_name(f"resnet34-{version.value}") == core.ModelName(
            f"resnet34-{version.value}", 34, version
        )
    specs = core.model_specs(models, core_spec)
    assert [s.version for _, s in specs] == [Version.V2, Version.V2]


# --- the command -----------------------------------------------------------------------------------


def test_cli_block_comparison(tmp_path: Path) -> None:
    out_csv, out_json = tmp_path / "blocks.csv", tmp_path / "blocks.json"
    result = run("compare", "regular", "bottleneck", "--csv", str(out_csv), "--json", str(out_json))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    out = result.stdout
    assert out.startswith("regular vs bottleneck block: 64 filters, identity shortcut, 56x56 map")
    assert "MACs = multiply-accumulates" in out
    assert "bottleneck 69,632 vs regular 73,728 conv weights: 0.944× (-4,096)" in out
    assert "256 → 64" in out and "231,211,008" in out and "218,365,952" in out
    rows = list(csv.DictReader(out_csv.open()))
    assert list(rows[0]) == list(payloads.BLOCK_COLUMNS)
    assert [(r["block"], r["part"], r["kernel_shape"], r["weights"]) for r in rows] == [
        ("regular", "conv1", "3x3", str(3 * 3 * 64 * 64)),
        ("regular", "conv2", "3x3", str(3 * 3 * 64 * 64)),
        ("regular", "total", "", "73728"),
        ("bottleneck", "conv1", "1x1", str(256 * 64)),
        ("bottleneck", "conv2", "3x3", str(3 * 3 * 64 * 64)),
        ("bottleneck", "conv3", "1x1", str(64 * 256)),
        ("bottleneck", "total", "", "69632"),
    ]
    assert rows[2]["bn_trainable"] == str(4 * 64) and rows[2]["macs"] == str(56 * 56 * 73_728)
    doc = json.loads(out_json.read_text())
    assert doc["comparison"] == "blocks"
    assert doc["ratios"][0]["weights"] == 69_632 / 73_728 == 17 / 18
    assert [b["totals"]["weights"] for b in doc["blocks"]] == [73_728, 69_632]
    assert [b["in_channels"] for b in doc["blocks"]] == [64, 256]
    assert "multiply-add is 2" in doc["convention"]["flops"]


def test_cli_block_options() -> None:
    result = run("compare", "bottleneck", "regular", "--filters", "32", "--size", "28", "--first", "--no-bias")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("bottleneck vs regular block: 32 filters, first block of block layer 1, 28x28 map")
    assert "no conv bias" in out
    # first blocks at 32 filters: bottleneck 32*32 + 9*32*32 + 32*128 + 32*128, regular 2*9*32*32 + 32*32.
    assert f"regular {2 * 9 * 32 * 32 + 32 * 32:,} vs bottleneck {32 * 32 + 9 * 32 * 32 + 2 * 32 * 128:,}" in out
    assert "MACs at 28x28" in out


def test_cli_model_comparison(tmp_path: Path, build) -> None:
    out_csv, out_json = tmp_path / "models.csv", tmp_path / "models.json"
    args = ["compare", "resnet18", "resnet34", "resnet50", "--input-size", "32", "--level", "stage"]
    result = run(*args, "--csv", str(out_csv), "--json", str(out_json))
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no progress bar off a terminal
    counts = [build(d, input_size=32)[1].count_params() for d in (18, 34, 50)]
    out = result.stdout
    assert out.startswith("3 models (v2), input 32x32x3, 1000 classes")
    for c in counts:
        assert f"{c:,}" in out
    assert f"{counts[1] - counts[0]:+,}" in out
    assert "Parameters per stage" in out and "MACs per stage (M)" in out
    rows = list(csv.DictReader(out_csv.open()))
    assert [int(r["params"]) for r in rows] == counts
    assert [r["name"] for r in rows] == ["resnet18", "resnet34", "resnet50"]
    assert rows[2]["blocks"] == "3-4-6-3" and rows[2]["features_shape"] == "1x1x2048"
    assert [int(r["params_diff"]) for r in rows] == [c - counts[0] for c in counts]
    assert sum(int(v) for k, v in rows[0].items() if k.endswith("_params") and k != "params") == counts[0]
    doc = json.loads(out_json.read_text())
    assert doc["comparison"] == "models" and doc["against"] == "resnet18" and doc["level"] == "stage"
    assert [r["params"] for r in doc["rows"]] == counts
    assert [m["depth"] for m in doc["models"]] == [18, 34, 50]
    assert doc["columns"] == list(rows[0])
    # the features map's receptive field by hand: the 7x7/2 stem and 3x3/2 pool give 11 pixels at a jump of
    # 4; each 3x3 conv adds 2 x the jump it sees, and the first of stages 2-4 doubles the jump after it
    assert [(int(r["receptive_field"]), int(r["jump"])) for r in rows] == [
        (receptive_field(threes), 32) for threes in ((4, 4, 4, 4), (6, 8, 12, 6), (3, 4, 6, 3))
    ]
    assert "Activation memory (one float32 image) and receptive field" in out
    # the activation memory is the memory command's, for the same network
    memory_json = tmp_path / "memory.json"
    assert run("memory", "--depth", "18", "--input-size", "32", "--json", str(memory_json)).exit_code == 0
    memory = json.loads(memory_json.read_text())["memory"]
    assert doc["rows"][0]["inference_peak_bytes"] == memory["inference_peak_bytes"]
    assert doc["rows"][0]["training_activation_bytes"] == memory["training_activation_bytes"]
    assert all(0 < r["inference_peak_bytes"] <= r["activation_bytes"] for r in doc["rows"])


def receptive_field(threes: tuple[int, ...]) -> int:
    """The features map's receptive field of a v2 ResNet whose stages hold ``threes`` 3x3 convs each."""
    field, jump = 7 + 2 * 2, 4  # 7x7 conv at stride 2, then the 3x3 max pool at stride 2
    for stage, convs in enumerate(threes):
        for conv in range(convs):
            field += 2 * jump
            if stage > 0 and conv == 0:
                jump *= 2
    return field


def test_cli_versions_suffix_and_option(tmp_path: Path, build) -> None:
    out = tmp_path / "v.json"
    result = run("compare", "resnet18", "resnet18-v2", "--arch-version", "v1", "--input-size", "32", "--json", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("2 models (v1/v2), input 32x32x3")
    doc = json.loads(out.read_text())
    # The plain name takes --version, the suffixed one its own.
    assert [(r["name"], r["version"]) for r in doc["rows"]] == [("resnet18", "v1"), ("resnet18-v2", "v2")]
    counts = [build(18, input_size=32, version=v)[1].count_params() for v in ("v1", "v2")]
    assert [r["params"] for r in doc["rows"]] == counts
    assert "resnet18-v1" in result.stdout  # the plain name is shown with its version when versions differ
    result = run("compare", "resnet50-v1", "resnet50", "--arch-version", "v1")
    assert result.exit_code == 2
    assert result.stderr == "Error: 'resnet50-v1' and 'resnet50' are the same network; name each once\n"


def test_cli_exports_are_deterministic(tmp_path: Path) -> None:
    for args in (["regular", "bottleneck", "--size", "8"], ["resnet18", "resnet34", "--input-size", "32"]):
        made = []
        for attempt in range(2):
            c, j = tmp_path / f"{args[0]}{attempt}.csv", tmp_path / f"{args[0]}{attempt}.json"
            result = run("compare", *args, "--csv", str(c), "--json", str(j))
            assert result.exit_code == 0, result.output
            made.append((c.read_bytes(), j.read_bytes()))
        assert made[0] == made[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Error: compare needs at least two names, e.g. 'regular bottleneck' or 'resnet34 resnet50'; got none\n"),
        (["resnet50"],
         "Error: compare needs at least two names, e.g. 'regular bottleneck' or 'resnet34 resnet50'; got only 'resnet50'\n"),
        (["regular", "resnet50"],
         "Error: cannot mix blocks (regular) with models (resnet50): compare blocks with blocks, or models with models\n"),
        (["resnet50", "resnet42"], f"Error: unknown name 'resnet42'; known {core.known_names()}\n"),
        (["regular", "basic"], f"Error: unknown name 'basic'; known {core.known_names()}\n"),
        (["resnet50", "resnet50-v9"], "Error: unknown version 'v9' in 'resnet50-v9'; known versions: "
         + ", ".join(v for v in core.version_names())
         + " (and the family's resnet50-v1.5: `resnet-inspect archs`)\n"),
        (["resnet50", "ResNet50"], "Error: 'resnet50' is named twice; name each block or model once\n"),
        (["resnet50", "resnet50-v2"], "Error: 'resnet50' and 'resnet50-v2' are the same network; name each once\n"),
        (["regular", "bottleneck", "--filters", "0"], "Error: --filters must be a positive integer, got 0\n"),
        (["regular", "bottleneck", "--size", "-56"], "Error: --size must be a positive integer, got -56\n"),
        (["regular", "bottleneck", "--input-size", "32", "--level", "stage"],
         "Error: --input-size, --level/-l only apply to model comparisons (e.g. resnet34 resnet50)\n"),
        (["resnet18", "resnet34", "--filters", "32", "--first"],
         "Error: --filters, --first only apply to block comparisons (regular bottleneck)\n"),
        (["resnet18", "resnet34", "--size", "28"], "Error: --size only applies to block comparisons (regular bottleneck)\n"),
        (["resnet18", "resnet34", "--input-size", "16"],
         "Error: input 16x16 is too small for this network: it downsamples by 32, so the minimum input size is 32x32\n"),
        (["resnet18", "resnet34", "--classes", "0"], "Error: --classes must be a positive integer, got 0\n"),
    ],
)
def test_usage_errors_are_one_line_exit_2_and_write_nothing(args: list[str], message: str, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    result = run("compare", *args, "--csv", str(out), "--json", str(tmp_path / "out.json"))
    assert result.exit_code == 2
    assert result.stderr == message
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_known_names_come_from_the_tables() -> None:
    from resnet_inspect.model.spec import DEPTHS, Version

    known = core.known_names()
    for name in [k.value for k in BlockKind] + [f"resnet{d}" for d in DEPTHS] + [f"-{v.value}" for v in Version]:
        assert name in known


def test_help_and_usage_errors_do_not_import_tensorflow() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from resnet_inspect.cli import app\n"
        "for args in (['compare', '--help'], ['compare', 'regular'], ['compare', 'regular', 'resnet18'],\n"
        "             ['compare', 'resnet18', 'resnet9'], ['compare', 'regular', 'bottleneck', '--size', '0']):\n"
        "    r = CliRunner().invoke(app, args)\n"
        "    assert r.exit_code == (0 if '--help' in args else 2), r.output\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'pandas')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_int_columns_with_an_unknown_stay_integers(tmp_path: Path) -> None:
    from resnet_inspect.output.export import write_csv

    path = tmp_path / "t.csv"
    write_csv(path, [{"name": "a", "macs": 231_211_008}, {"name": "b", "macs": None}])
    assert path.read_text() == "name,macs\na,231211008\nb,\n"
