"""Safe loading that cannot be bypassed, and --model files sized before Keras allocates them (issue 11).

Every hostile file here is small and made in the test: a real Keras save whose config.json is
rewritten, an archive whose directory declares sizes it does not hold, an HDF5 file with a
declared-but-unwritten dataset. Each spelling of a dangerous object is first shown to be one that
Keras itself resolves (``keras.saving.load_model(..., safe_mode=False)`` builds it), so the refusal
is of what Keras would really deserialise.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from resnet_inspect.cli import app
from resnet_inspect.errors import InspectError, UsageError

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

REFUSED = "and safe mode refuses to load it; pass --unsafe if you trust the file"
LAMBDA = "a Lambda layer 'double' (arbitrary Python code)"
# Lambda's function spelled as Keras resolves it (module keras.activations): no serialised code anywhere.
RELU = {"module": "keras.activations", "class_name": "function", "config": "relu", "registered_name": None}


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def rewrite(source: Path, target: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of the archive ``source`` whose config.json ``edit`` changed; every other member kept."""
    with zipfile.ZipFile(source) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def layer(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(node for node in config["config"]["layers"] if node["config"].get("name") == name)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small real saves to rewrite."""
    from resnet_inspect._tf import keras

    folder = tmp_path_factory.mktemp("saved")
    paths = {}
    relu = keras.Sequential(
        [keras.Input((4,)), keras.layers.Lambda(keras.activations.relu, name="double"), keras.layers.Dense(3, name="d")],
        name="relu",
    )
    paths["lambda"] = folder / "lambda.keras"
    relu.save(paths["lambda"])
    timed = keras.Sequential(
        [keras.Input((2, 4)), keras.layers.TimeDistributed(keras.layers.Lambda(keras.activations.relu, name="double"),
                                                           name="each")], name="timed")
    paths["timed"] = folder / "timed.keras"
    timed.save(paths["timed"])
    inputs = keras.Input((4,), name="x")
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(keras.activations.relu, name="double")],
                             name="inner")
    paths["nested"] = folder / "nested.keras"
    keras.Model(inputs, keras.layers.Dense(2, name="d")(inner(inputs)), name="outer").save(paths["nested"])
    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d")], name="dense")
    paths["dense"] = folder / "dense.keras"
    dense.save(paths["dense"])
    dense.save(folder / "dense.h5")
    paths["dense.h5"] = folder / "dense.h5"
    compiled = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")], name="compiled")
    compiled.compile(loss=keras.losses.mean_squared_error)
    paths["compiled"] = folder / "compiled.keras"
    compiled.save(paths["compiled"])
    return paths


def respell_keras_layers_lambda(config: dict[str, Any]) -> None:
    """``"class_name": "layers.Lambda", "module": "keras"``: Keras reads it as keras.layers.Lambda."""
    for node in _walk(config):
        if node.get("class_name") == "Lambda":
            node.update(module="keras", class_name="layers.Lambda")
        if node.get("class_name") == "function":
            node.update(RELU)


def _walk(config: Any):
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


@pytest.mark.parametrize("name", ["lambda", "timed", "nested"])
def test_a_lambda_however_spelled_or_nested_is_refused(saved: dict[str, Path], tmp_path: Path, name: str) -> None:
    """The scan matched ``class_name == "Lambda"``; now every object is resolved the way Keras resolves it."""
    from resnet_inspect._tf import keras

    path = rewrite(saved[name], tmp_path / f"{name}.keras", respell_keras_layers_lambda)
    text = (path.read_bytes())
    assert b'"layers.Lambda"' in text and b"__lambda__" not in text
    # Keras itself reads this spelling as a Lambda layer
    loaded = keras.saving.load_model(path, safe_mode=False)
    found = [type(x).__name__ for x in _layers(loaded)]
    assert "Lambda" in found
    result = run("summary", "--model", str(path))
    assert result.exit_code == 2, result.output
    assert result.stderr == f"Error: --model '{path}' holds {LAMBDA} {REFUSED}\n"


def _layers(model: Any) -> list[Any]:
    found, stack = [], list(model.layers)
    while stack:
        item = stack.pop()
        found.append(item)
        stack.extend(getattr(item, "layers", []))
        if hasattr(item, "layer"):
            stack.append(item.layer)
    return found


def test_a_registered_custom_class_behind_a_keras_module_is_refused(
    saved: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registered_name resolves before the module (Keras' order): ``module: keras.layers`` hides nothing."""
    from resnet_inspect._tf import keras
    from resnet_inspect.model.sources import load_model

    ran: list[str] = []

    class Spy(keras.layers.Dense):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            ran.append("Spy")
            super().__init__(*args, **kwargs)

    registry = keras.src.saving.object_registration.GLOBAL_CUSTOM_OBJECTS
    monkeypatch.setitem(registry, "issue11>Spy", Spy)

    def disguise(config: dict[str, Any]) -> None:
        layer(config, "d").update(module="keras.layers", class_name="Dense", registered_name="issue11>Spy")

    path = rewrite(saved["dense"], tmp_path / "spy.keras", disguise)
    with pytest.raises(UsageError) as info:
        load_model(str(path))
    assert str(info.value) == (
        f"--model '{path}' holds a custom object '{Spy.__module__}.{Spy.__qualname__}' (its Python code would run) "
        f"{REFUSED}"
    )
    assert ran == []  # refused before Keras created it
    with contextlib.suppress(ValueError):  # its weights are stored under Dense's path, not Spy's
        keras.saving.load_model(path)
    assert ran == ["Spy"]  # Keras itself resolves the disguise to the registered class and runs it


def test_a_function_that_is_not_a_keras_builtin_is_refused(saved: dict[str, Path], tmp_path: Path) -> None:
    """keras.utils.plot_model (it writes files) is public Keras API that Keras' resolver returns (its own
    deny list of non-modeling functions leaves it out), but no activation."""
    from keras.src.saving import serialization_lib

    getter = {"module": "keras.utils", "class_name": "function", "config": "plot_model", "registered_name": None}
    resolved = serialization_lib._retrieve_class_or_fn("plot_model", None, "keras.utils", "function", getter)
    assert resolved.__name__ == "plot_model"

    def activation(config: dict[str, Any]) -> None:
        layer(config, "d")["config"]["activation"] = getter

    path = rewrite(saved["dense"], tmp_path / "getter.keras", activation)
    result = run("summary", "--model", str(path))
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"Error: --model '{path}' holds a function '{resolved.__module__}.plot_model' (Python code outside Keras' "
        f"built-in functions) {REFUSED}\n"
    )


def tfsm(config: dict[str, Any]) -> None:
    """The Dense layer replaced by a TFSMLayer reading a SavedModel folder."""
    node = layer(config, "d")
    node.update(module="keras.layers", class_name="TFSMLayer", registered_name=None)
    node["config"] = {"name": "served", "filepath": "/nowhere/saved_model", "call_endpoint": "serve",
                      "trainable": False, "dtype": "float32"}


def test_a_tfsm_layer_is_named_with_what_it_would_run(saved: dict[str, Path], tmp_path: Path) -> None:
    path = rewrite(saved["dense"], tmp_path / "tfsm.keras", tfsm)
    what = "a TFSMLayer 'served' (loads the SavedModel at '/nowhere/saved_model' and runs its graph)"
    refused = run("summary", "--model", str(path))
    assert refused.exit_code == 2
    assert refused.stderr == f"Error: --model '{path}' holds {what} {REFUSED}\n"
    unsafe = run("summary", "--model", str(path), "--unsafe")
    assert unsafe.stderr.splitlines()[0] == (
        f"Warning: --unsafe: '{path}' holds {what}; it runs as the model loads; use it only on files you trust"
    )
    assert unsafe.exit_code == 1  # the SavedModel is not there: Keras' own error, one line
    assert unsafe.stderr.count("\n") == 2 and "Traceback" not in unsafe.output


def test_the_compile_configuration_is_never_code_and_hides_nothing(saved: dict[str, Path], tmp_path: Path) -> None:
    """compile(loss=keras.losses.mean_squared_error) stores a function of module 'builtins' in the
    top-level compile_config, which compile=False discards: the model loads. A Lambda elsewhere, or in a
    nested model's compile configuration (which Keras does read), is still refused."""
    from resnet_inspect._tf import keras

    doc = json.loads(zipfile.ZipFile(saved["compiled"]).read("config.json"))
    assert doc["compile_config"]["loss"]["module"] == "builtins"
    result = run("summary", "--model", str(saved["compiled"]))
    assert result.exit_code == 0, result.output
    assert keras.saving.load_model(saved["compiled"], compile=False).count_params() == 4 * 2 + 2

    def lambda_beside(config: dict[str, Any]) -> None:
        respell_keras_layers_lambda(config)
        config["compile_config"] = doc["compile_config"]

    hidden = rewrite(saved["lambda"], tmp_path / "beside.keras", lambda_beside)
    refused = run("summary", "--model", str(hidden))
    assert refused.exit_code == 2
    assert refused.stderr == f"Error: --model '{hidden}' holds {LAMBDA} {REFUSED}\n"


def test_the_file_loaded_is_the_file_scanned(saved: dict[str, Path], tmp_path: Path) -> None:
    """Scanned, then replaced on disk by a Lambda model before the load: the scanned bytes are what loads."""
    from resnet_inspect.model.sources import load_model, parse_source

    path = tmp_path / "swapped.keras"
    shutil.copyfile(saved["dense"], path)
    scanned = path.read_bytes()
    source = parse_source(str(path))
    rewrite(saved["lambda"], tmp_path / "evil.keras", respell_keras_layers_lambda).replace(path)
    assert path.read_bytes() != scanned
    model, config = load_model(source)
    assert model.name == "dense" and [type(x).__name__ for x in model.layers] == ["Dense"]
    assert config["sha256"] == hashlib.sha256(scanned).hexdigest()


# --- sizing before Keras allocates ---------------------------------------------------------------------------


def huge_dense(config: dict[str, Any]) -> None:
    layer(config, "d")["config"]["units"] = 300_000_000


def test_a_huge_dense_layer_is_sized_from_its_configuration(saved: dict[str, Path], tmp_path: Path) -> None:
    """Dense(300,000,000) on 4 inputs: 4 x 300M + 300M float32 parameters, known without allocating them."""
    import psutil

    from resnet_inspect.model.sizing import Footprint
    from resnet_inspect.model.sources import load_model

    path = rewrite(saved["dense"], tmp_path / "huge.keras", huge_dense)
    assert path.stat().st_size < 32 * 1024
    seen: list[Footprint] = []

    def admit(found: Footprint) -> None:
        seen.append(found)
        raise InspectError("refused")

    before = psutil.Process().memory_info().rss
    with pytest.raises(InspectError, match="^refused$"):
        load_model(str(path), admit=admit)
    grown = psutil.Process().memory_info().rss - before
    params = 4 * 300_000_000 + 300_000_000
    assert (seen[0].params, seen[0].weight_bytes) == (params, 4 * params)
    assert seen[0].largest_weight_bytes == 4 * (4 * 300_000_000)  # the kernel
    assert grown < 256 * 2**20  # the 6 GB of weights were never allocated


def test_a_huge_dense_model_is_refused_with_its_estimate(
    saved: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resnet_inspect.analysis import budget

    monkeypatch.setattr(budget, "host_free_bytes", lambda: 4 * 2**30)
    path = rewrite(saved["dense"], tmp_path / "huge.keras", huge_dense)
    result = run("summary", "--model", str(path))
    assert result.exit_code == 1, result.output
    # 1,500,000,000 float32 parameters: 6.0e9 bytes = 5.59 GiB; the largest, the 4 x 300M kernel, is
    # 4.8e9 bytes, and an initializer makes two copies of it: 9.6e9 bytes = 8.94 GiB
    assert result.stderr.startswith("Error: loading dense (1,500,000,000 parameters) needs an estimated ")
    assert " + weights 5.59 GiB + initializer copies of the largest weight 8.94 GiB + " in result.stderr
    assert result.stderr.endswith("but the host has 4.00 GiB free; refused before loading\n")
    assert result.stderr.count("\n") == 1 and result.stdout == ""


def bomb(source: Path, target: Path, declared: int, stored: int | None = None) -> Path:
    """``source``'s config beside a weights member of 1 MiB of zeros whose directory entry declares
    ``declared`` bytes uncompressed (and ``stored`` compressed, when given): nothing that large exists."""
    with zipfile.ZipFile(source) as archive:
        config = archive.read("config.json")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", config)
        with archive.open("model.weights.h5", "w", force_zip64=True) as member:
            member.write(bytes(2**20))
        info = archive.getinfo("model.weights.h5")
        info.file_size = declared  # the central directory is written from here on close
        if stored is not None:
            info.compress_size = stored
    return target


@pytest.mark.parametrize("declared", [4_900_000_000, 1_000_000_000])
def test_a_decompression_bomb_is_refused_before_extraction(saved: dict[str, Path], tmp_path: Path,
                                                           declared: int) -> None:
    """4.9 GB is over Keras' own 4 GiB floor (Keras checks only after building the model); 1 GB is under it."""
    from resnet_inspect.model.sources import parse_source

    path = bomb(saved["dense"], tmp_path / "bomb.keras", declared)
    info = zipfile.ZipFile(path).getinfo("model.weights.h5")
    assert info.file_size == declared and info.compress_size < 2**20 // 100
    ratio = declared / info.compress_size
    with pytest.raises(InspectError) as refused:
        parse_source(str(path))  # reads the directory only: nothing is extracted, TensorFlow is not needed
    assert str(refused.value) == (
        f"--model '{path}': its member 'model.weights.h5' declares {declared:,} bytes uncompressed from "
        f"{info.compress_size:,} stored ({ratio:,.0f}:1; Keras stores members uncompressed), a decompression bomb; "
        "refused before extraction"
    )


def test_weights_that_outweigh_the_configuration_are_refused(saved: dict[str, Path], tmp_path: Path) -> None:
    """A member declaring 3 GB at a 1:1 ratio is no bomb by ratio, but 3 GB is not the weights of 15
    parameters (4 x 3 + 3 float32 = 60 bytes): refused before Keras reads it."""
    from resnet_inspect.model.sources import load_model

    path = bomb(saved["dense"], tmp_path / "heavy.keras", 3_000_000_000, stored=3_000_000_000)
    with pytest.raises(InspectError) as refused:
        load_model(str(path))
    assert str(refused.value) == (
        f"--model '{path}': its weights declare 3,000,000,000 bytes uncompressed but its configuration holds "
        f"{(4 * 3 + 3) * 4:,} bytes of weights; refused before extraction"
    )


def test_an_hdf5_dataset_declared_huge_is_refused(saved: dict[str, Path], tmp_path: Path) -> None:
    """A chunked, compressed dataset of 10^9 float32 that was never written: a small file declaring 4 GB."""
    import h5py

    from resnet_inspect.model.sources import load_model

    path = tmp_path / "declared.h5"
    shutil.copyfile(saved["dense.h5"], path)
    with h5py.File(path, "a") as handle:
        handle["model_weights"].create_dataset("extra", shape=(10**9,), dtype="f4", chunks=(2**20,),
                                               compression="gzip")
    assert path.stat().st_size < 2**20
    with pytest.raises(InspectError) as refused:
        load_model(str(path))
    message = str(refused.value)
    assert message.startswith(f"--model '{path}': its weights declare ")
    declared = int(message.split("declare ")[1].split(" bytes")[0].replace(",", ""))
    assert declared >= 4 * 10**9
    assert message.endswith(f"but its configuration holds {(4 * 3 + 3) * 4:,} bytes of weights; refused before "
                            "extraction")


@pytest.mark.parametrize("name", ["dense", "dense.h5", "nested", "compiled"])
def test_the_footprint_is_what_keras_builds(saved: dict[str, Path], name: str) -> None:
    """Parameters and weight bytes from the configuration alone equal those of the model Keras loads."""
    from resnet_inspect._tf import keras
    from resnet_inspect.model.sizing import footprint
    from resnet_inspect.model.sources import parse_source

    source = parse_source(str(saved[name]))
    assert source.contents is not None
    found = footprint(source.contents, source.text, legacy=name.endswith(".h5"), unsafe=True)
    model = keras.saving.load_model(saved[name], compile=False, safe_mode=False)
    assert found.params == model.count_params()
    assert found.weight_bytes == sum(int(w.numpy().nbytes) for w in model.weights)
    assert found.file_bytes == saved[name].stat().st_size


def test_a_bomb_is_refused_before_tensorflow_is_imported(saved: dict[str, Path], tmp_path: Path) -> None:
    path = bomb(saved["dense"], tmp_path / "bomb.keras", 4_900_000_000)
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from resnet_inspect.cli import app\n"
        f"result = CliRunner().invoke(app, ['summary', '--model', {str(path)!r}])\n"
        "assert result.exit_code == 1, result.output\n"
        "assert result.stderr.endswith('a decompression bomb; refused before extraction\\n'), result.stderr\n"
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
