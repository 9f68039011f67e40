"""--model: keras.applications constructors and saved files, their grouping, totals and every bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from resnet_inspect.cli import app
from resnet_inspect.errors import InspectError, UsageError
from resnet_inspect.model.sources import application_names, parse_source

# Keras' legacy HDF5 code calls np.array(x, copy=False) on its variables, which numpy 2 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def run(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny model files, and files that only pretend to be models."""
    from resnet_inspect._tf import keras

    folder = tmp_path_factory.mktemp("models")
    paths = {name: folder / name for name in (
        "tiny.keras", "tiny.h5", "seq.keras", "lambda.keras", "lambda.h5", "v1.keras",
        "empty.keras", "text.keras", "other.zip.keras", "text.h5", "model.onnx",
    )}
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    keras.Model(inputs, keras.layers.Dense(2, name="logits")(x), name="tiny").save(paths["tiny.keras"])
    keras.Model(inputs, keras.layers.Dense(2, name="logits")(x), name="tiny").save(paths["tiny.h5"])
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.ReLU()], name="seq").save(
        paths["seq.keras"]
    )
    doubled = keras.layers.Lambda(lambda t: t * 2.0, name="double")(inputs)
    lam = keras.Model(inputs, keras.layers.Conv2D(4, 3, name="conv")(doubled), name="lam")
    lam.save(paths["lambda.keras"])
    lam.save(paths["lambda.h5"])
    from resnet_inspect.model.builder import build_resnet

    build_resnet(None, blocks=(1, 1), block_type="regular", input_size=32, width=8, classes=10, version="v1").save(
        paths["v1.keras"]
    )
    paths["empty.keras"].write_bytes(b"")
    paths["text.keras"].write_text("not a model\n")
    with zipfile.ZipFile(paths["other.zip.keras"], "w") as archive:
        archive.writestr("notes.txt", "a zip, but not a Keras archive")
    paths["text.h5"].write_text("not hdf5\n")
    paths["model.onnx"].write_bytes(b"\x08\x01")
    return paths


# --- parse_source: no TensorFlow needed -------------------------------------------------------------


def test_application_names_come_from_the_installed_keras() -> None:
    names = application_names()
    assert names is not None
    assert {"ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "MobileNetV2", "VGG16"} <= set(names)
    assert not any(name[0].islower() for name in names)  # submodules (resnet, imagenet_utils) are not models


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("keras:ResNet51", UsageError, "unknown keras.applications model 'ResNet51'; did you mean ResNet50"),
        ("keras:resnet50", UsageError, "unknown keras.applications model 'resnet50'; did you mean ResNet50?"),
        ("keras:", UsageError, "--model 'keras:' names no application"),
        ("", UsageError, "--model needs a value"),
        ("missing.keras", UsageError, "--model 'missing.keras': no such file"),
    ],
)
def test_parse_source_errors(text: str, error: type, message: str) -> None:
    with pytest.raises(error) as info:
        parse_source(text)
    assert str(info.value).startswith(message)


def test_usage_errors_do_not_import_tensorflow(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from resnet_inspect.cli import app\n"
        "for args in (['summary', '--model', 'keras:Nope'], ['summary', '--model', 'nothing.keras'],\n"
        "             ['summary', '--model', 'keras:ResNet50', '--depth', '18'], ['paper', '--depth', '7']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 2, args\n"
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


# --- bad input through the CLI: one line, exit 1 or 2, nothing written ----------------------------------


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("missing.keras", 2, "Error: --model '{path}': no such file; give keras:<Application> (e.g. keras:ResNet50) "
         "or a .keras or .h5 file\n"),
        ("model.onnx", 2, "Error: --model '{path}' is not a .keras or .h5 file; give keras:<Application> "
         "(e.g. keras:ResNet50) or a .keras or .h5 file\n"),
        ("empty.keras", 1, "Error: --model '{path}' is an empty file, not a Keras model\n"),
        ("text.keras", 1, "Error: --model '{path}' is not a loadable Keras model: not a .keras archive "
         "(a .keras file is a zip)\n"),
        ("other.zip.keras", 1, "Error: --model '{path}' is not a loadable Keras model: "),
        ("text.h5", 1, "Error: --model '{path}' is not a loadable Keras model: "),
        ("lambda.keras", 2, "Error: --model '{path}' holds a Lambda layer 'double' (arbitrary Python code) and safe "
         "mode refuses to load it; pass --unsafe if you trust the file\n"),
        ("lambda.h5", 2, "Error: --model '{path}' holds a Lambda layer 'double' (arbitrary Python code) and safe "
         "mode refuses to load it; pass --unsafe if you trust the file\n"),
    ],
)
def test_bad_model_files(files: dict[str, Path], tmp_path: Path, name: str, code: int, message: str) -> None:
    path = files.get(name, files["tiny.keras"].parent / name)
    out = tmp_path / "out.csv"
    result = run("summary", "--model", str(path), "--csv", str(out))
    assert result.exit_code == code
    assert result.stderr.startswith(message.format(path=path))
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""
    assert not out.exists()


def test_a_folder_is_not_a_model(tmp_path: Path) -> None:
    result = run("summary", "--model", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: --model '{tmp_path}' is a folder; give keras:<Application> (e.g. keras:ResNet50) or a .keras "
        "or .h5 file (Keras 3 cannot load SavedModel folders)\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "keras:ResNet50", "--depth", "18"],
         "Error: --depth/-d cannot be combined with --model: the model defines its own network\n"),
        (["--model", "keras:ResNet50", "--no-bias"],
         "Error: --bias/--no-bias cannot be combined with --model: the model defines its own network\n"),
        (["--model", "keras:ResNet50", "--arch-version", "v1"],
         "Error: --arch-version cannot be combined with --model: the model defines its own network\n"),
        (["--model", "keras:ResNet50", "--classes", "0"], "Error: --classes must be a positive integer, got 0\n"),
        (["--model", "keras:ResNet50", "--unsafe"], "Error: --unsafe applies to a model file, not to keras:ResNet50\n"),
        (["--unsafe"], "Error: --unsafe applies to a --model file\n"),
        (["--model", "keras:ResNet5O"],
         "Error: unknown keras.applications model 'ResNet5O'; did you mean ResNet50, ResNet152 or ResNet50V2?\n"),
    ],
)
def test_model_option_usage_errors(args: list[str], message: str) -> None:
    result = run("summary", *args)
    assert result.exit_code == 2
    assert result.stderr == message


def test_model_file_takes_no_network_options(files: dict[str, Path]) -> None:
    result = run("summary", "--model", str(files["tiny.keras"]), "--input-size", "64")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: --input-size cannot be combined with --model: the model defines its own network; "
        "keras:<Application> takes --input-size and --classes\n"
    )


def test_application_that_refuses_its_options() -> None:
    result = run("summary", "--model", "keras:ResNet50", "--input-size", "16")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "Error: keras.applications.ResNet50(weights=None, input_shape=(16, 16, 3)) refused: "
    )
    assert result.stderr.count("\n") == 1


# --- models that load ---------------------------------------------------------------------------------------


def test_tiny_model_file_layer_level_totals_and_exports(files: dict[str, Path], tmp_path: Path) -> None:
    from resnet_inspect._tf import keras

    out_csv, out_json = tmp_path / "tiny.csv", tmp_path / "tiny.json"
    path = files["tiny.keras"]
    result = run("summary", "--model", str(path), "--csv", str(out_csv), "--json", str(out_json))
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "note: tiny has no block or stage level (its layer names follow no known block scheme); showing layers\n"
    )
    assert result.stdout.startswith(f"tiny from '{path}', input 8x8x3")
    doc = json.loads(out_json.read_text())
    assert doc["level"] == "layer"
    assert doc["config"]["source"] == str(path) and len(doc["config"]["sha256"]) == 64
    # by hand: conv 3*3*3*4 + 4, dense 4*2 + 2; and Keras' own count
    assert doc["totals"]["params"] == (3 * 3 * 3 * 4 + 4) + (4 * 2 + 2) == keras.saving.load_model(path).count_params()
    # conv: 6x6x4 outputs x 27 taps; dense 4 x 2
    assert doc["totals"]["macs"] == 6 * 6 * 4 * 27 + 4 * 2
    assert [line.split(",")[0] for line in out_csv.read_text().splitlines()] == [
        "name", "image", "conv", "pool", "logits"
    ]
    # the same command gives the same bytes
    again = tmp_path / "again.json"
    assert run("summary", "--model", str(path), "--json", str(again)).exit_code == 0
    assert again.read_bytes() == out_json.read_bytes()


def test_unavailable_level_asked_for_explicitly(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "x.csv"
    result = run("summary", "--model", str(files["tiny.h5"]), "--level", "block", "--csv", str(out))
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: --level block is unavailable for tiny: its layer names (e.g. 'image') follow no known block "
        "scheme; use --level layer\n"
    )
    assert not out.exists()


def test_sequential_model_file(files: dict[str, Path]) -> None:
    from resnet_inspect.analysis.inspection import inspect_model
    from resnet_inspect.model.sources import load_model

    model, config = load_model(str(files["seq.keras"]))
    report = inspect_model(model, config)
    assert report.totals.params == model.count_params() == 4 * 3 + 3
    assert report.totals.macs == 4 * 3 and not report.unsupported


def test_lambda_model_with_unsafe_is_loaded_with_a_warning_and_listed_unsupported(files: dict[str, Path]) -> None:
    path = files["lambda.keras"]
    result = run("summary", "--model", str(path), "--unsafe")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(
        f"Warning: --unsafe: '{path}' holds a Lambda layer 'double' (arbitrary Python code); it runs as the model "
        "loads; use it only on files you trust\n"
    )
    assert "unsupported: double (Lambda): no FLOP handler for layer type Lambda" in result.stdout
    assert "(1 layer of type Lambda unknown)" in result.stdout


def test_our_v1_network_saved_and_reloaded_keeps_its_blocks(files: dict[str, Path], build) -> None:
    from resnet_inspect.analysis.inspection import inspect_model
    from resnet_inspect.model.sources import load_model

    model, config = load_model(str(files["v1.keras"]))
    report = inspect_model(model, config)
    _, _, fresh = build(None, blocks=(1, 1), block_kind="regular", input_size=32, width=8, classes=10, version="v1")
    assert report.grouped
    assert [(r.name, r.params, r.macs, r.flops) for r in report.rows("block")] == [
        (r.name, r.params, r.macs, r.flops) for r in fresh.rows("block")
    ]


@pytest.mark.parametrize(("application", "blocks"), [("ResNet50", (3, 4, 6, 3)), ("ResNet50V2", (3, 4, 6, 3))])
def test_keras_applications_resnets_are_grouped_by_stage_and_block(application: str, blocks: tuple) -> None:
    from resnet_inspect.analysis.inspection import inspect_model
    from resnet_inspect.model.sources import load_model

    model, config = load_model(f"keras:{application}", input_size=(64, 64), classes=10)
    assert config == {
        "name": model.name, "source": f"keras:{application}", "application": application, "weights": None,
        "input_size": [64, 64], "classes": 10,
    }
    report = inspect_model(model, config)
    assert report.grouped  # ResNet50V2's unnamed max-pool shortcuts join the block that adds them
    assert report.totals.params == model.count_params()
    stages = report.rows("stage")
    assert [s.name for s in stages] == ["stem", "conv2", "conv3", "conv4", "conv5", "head"]
    assert [s.type for s in stages[1:5]] == [f"{n} x bottleneck" for n in blocks]
    block_rows = report.rows("block")
    assert len(block_rows) == sum(blocks) + 2
    assert sum(r.params for r in block_rows) == model.count_params()
    if application == "ResNet50":  # v1: a projection in the first block of each stage
        assert [r.type for r in block_rows if r.name.endswith("_block1")] == ["bottleneck+proj"] * 4


def test_keras_application_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "stages.json"
    result = run("summary", "--model", "keras:ResNet50", "--input-size", "64", "--level", "stage", "--json", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("resnet50 from keras.applications.ResNet50(weights=None), input 64x64x3")
    doc = json.loads(out.read_text())
    assert [row["name"] for row in doc["rows"]] == ["stem", "conv2", "conv3", "conv4", "conv5", "head"]


def test_non_resnet_application_gets_the_layer_level() -> None:
    from resnet_inspect.analysis.inspection import inspect_model
    from resnet_inspect.model.sources import load_model

    model, config = load_model("keras:MobileNetV2", input_size=(32, 32), classes=10)
    report = inspect_model(model, config)
    assert not report.grouped
    assert report.totals.params == model.count_params()
    with pytest.raises(UsageError, match="--level block is unavailable for"):
        report.rows("block")


def test_load_errors_are_project_errors(files: dict[str, Path]) -> None:
    from resnet_inspect.model.sources import load_model

    with pytest.raises(UsageError, match="apply to keras:<Application> models"):
        load_model(str(files["tiny.keras"]), input_size=(32, 32))
    with pytest.raises(InspectError, match="is an empty file"):
        load_model(str(files["empty.keras"]))
