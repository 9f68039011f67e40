"""The cheap build and the cache of walks (issue 15).

* an inspection build (no initial values drawn) walks exactly as a build with values, and leaves nothing
  for Keras to draw later;
* Keras loads without pandas and matplotlib, which still import afterwards; TensorFlow's API modules load on
  first use, once, whole even when threads race for them, each top-level name still bound to its module;
* a walk survives the JSON encoding unchanged; a corrupt, hostile or foreign entry is a miss and is rebuilt;
  the key covers every spec field and the library versions; the folder stays under its bound;
* every command's output is byte-identical with and without the cache, and a warm run imports no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from resnet_inspect.analysis import cache
from resnet_inspect.analysis.report import Report
from resnet_inspect.cli import app
from resnet_inspect.model.spec import ResNetSpec, make_spec

SMALL = ["--depth", "18", "--input-size", "32", "--classes", "10"]


def run(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of the test's own."""
    where = tmp_path / "cache"
    monkeypatch.setenv(cache.CACHE_ENV, str(where))
    return where


@pytest.fixture
def small_report(build) -> Report:
    return build(18, input_size=32, classes=10)[2]


# --- the cheap build ---------------------------------------------------------------------------------


def test_an_inspection_build_walks_as_a_build_with_values() -> None:
    from resnet_inspect.analysis.walk import analyze
    from resnet_inspect.model.builder import build_from_spec

    spec = make_spec(50, input_size=64, classes=10)
    with_values = build_from_spec(spec)
    deferred = build_from_spec(spec, initialize=False)
    assert analyze(deferred, config=spec.config()) == analyze(with_values, config=spec.config())
    assert deferred.count_params() == with_values.count_params()
    assert [(v.path, v.shape, v.dtype) for v in deferred.weights] == [
        (v.path, v.shape, v.dtype) for v in with_values.weights
    ]
    # The initializers are those of the real build (they are part of each layer's configuration).
    assert [layer.get_config() for layer in deferred.layers] == [layer.get_config() for layer in with_values.layers]
    # Nothing was drawn, and nothing is left for Keras to draw when the next scope closes.
    from keras.src.backend.common import global_state

    pending = {id(v) for v in global_state.get_global_attribute("uninitialized_variables") or []}
    assert not pending & {id(v) for v in deferred.weights}


def test_keras_loads_without_pandas_or_matplotlib_which_import_afterwards() -> None:
    code = (
        "import sys\n"
        "import resnet_inspect._tf\n"
        "print(sorted(m for m in ('pandas', 'matplotlib') if m in sys.modules))\n"
        "import pandas, matplotlib.pyplot\n"
        "print(pandas.DataFrame({'a': [1]}).shape)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == "[]\n(1, 1)\n"


def test_tensorflows_api_modules_load_on_first_use_whole_and_in_place() -> None:
    code = (
        "import sys, threading, types\n"
        "from resnet_inspect._tf import tf\n"
        "lazy = {n for n, m in vars(tf).items() if type(m).__name__ == '_LazyModule'}\n"
        "print(len(lazy) > 20, {'distribute', 'raw_ops', 'compat'} <= lazy)\n"
        "barrier, found = threading.Barrier(8), []\n"
        "def read():\n"
        "    barrier.wait()\n"
        "    found.append(hasattr(tf.raw_ops, 'Conv2D') and hasattr(tf.raw_ops, 'AddV2'))\n"
        "threads = [threading.Thread(target=read) for _ in range(8)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(found == [True] * 8, type(tf.raw_ops) is types.ModuleType)\n"
        # Loading tf.distribute imports the package tensorflow.distribute, which Python binds as tf.distribute.
        "print(tf.distribute.has_strategy(), tf.distribute is sys.modules['tensorflow._api.v2.distribute'])\n"
        "print(tf.distribute.has_strategy(), tf.compat.v1.Session.__name__)\n"
        # The profiler's module loads a native library that logs as it loads: held back as the import's logs are.
        "print(tf.profiler.experimental.ProfilerOptions.__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if k != "RESNET_INSPECT_TF_LOGS"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout == "True True\nTrue True\nFalse True\nFalse Session\nProfilerOptions\n"
    assert done.stderr == ""


# --- the encoding --------------------------------------------------------------------------------------


def test_a_walk_survives_the_encoding(small_report: Report) -> None:
    text = json.dumps(cache.encode(small_report))
    assert cache.decode(Report, json.loads(text)) == small_report
    assert "pickle" not in text


@pytest.mark.parametrize(
    "damage",
    [
        lambda doc: doc["report"]["layers"][0].update(params="9"),  # a string for a count
        lambda doc: doc["report"]["layers"][0].update(params=True),  # a bool is no count
        lambda doc: doc["report"]["layers"][0].pop("macs"),  # a field missing
        lambda doc: doc["report"]["layers"][0].update(extra=1),  # a field too many
        lambda doc: doc["report"].update(layers={"a": 1}),  # an object for a list
        lambda doc: doc["key"]["versions"].update(tensorflow="0.0"),  # another TensorFlow's walk
        lambda doc: doc.update(heading=["not", "text"]),
    ],
)
def test_a_damaged_entry_is_a_miss_and_is_rebuilt(damage, folder: Path, small_report: Report) -> None:
    calls = []

    def walk() -> cache.Walked:
        calls.append(1)
        return cache.Walked(small_report, "heading")

    assert cache.walked("test", {"n": 1}, walk).report == small_report
    (entry,) = (folder / "walks").glob("*.json")
    doc = json.loads(entry.read_text())
    damage(doc)
    entry.write_text(json.dumps(doc))
    assert cache.walked("test", {"n": 1}, walk) == cache.Walked(small_report, "heading")
    assert len(calls) == 2  # rebuilt
    assert cache.walked("test", {"n": 1}, walk).report == small_report
    assert len(calls) == 2  # and stored again, whole


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"\x80\x04\x95cos\nsystem\n(S'touch pwned'\ntR.",  # a pickle that would run a command
        b"[" * 100_000 + b"]" * 100_000,  # nesting deeper than the parser's recursion
        b"null",
    ],
)
def test_a_corrupt_or_hostile_entry_is_a_miss_never_run(
    content: bytes, folder: Path, small_report: Report, tmp_path: Path
) -> None:
    material = cache.key_material("test", {"n": 2})
    path = cache.entry_path(material)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    os.chdir(tmp_path)
    assert cache.read(material) is None
    assert not (tmp_path / "pwned").exists()
    assert cache.walked("test", {"n": 2}, lambda: cache.Walked(small_report, "h")).report == small_report
    assert cache.read(material) == cache.Walked(small_report, "h")


def test_the_key_holds_every_spec_field_and_the_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = make_spec(50)
    identity = cache.spec_identity(spec)
    assert set(identity["spec"]) == {f.name for f in dataclasses.fields(ResNetSpec)}
    changed = {
        "use_bias": False, "classes": 10, "width": 32, "input_size": (128, 128), "groups": 32,
        "width_per_group": 4, "se_ratio": 16,
    }
    paths = {cache.entry_path(cache.key_material("k", identity))}
    for name, value in changed.items():
        other = dataclasses.replace(spec, **{name: value})
        paths.add(cache.entry_path(cache.key_material("k", cache.spec_identity(other))))
    assert len(paths) == 1 + len(changed)
    before = cache.key_material("k", identity)
    from importlib import metadata

    import keras
    import tensorflow

    assert before["versions"]["tensorflow"] == tensorflow.__version__ == metadata.version("tensorflow")
    assert before["versions"]["keras"] == keras.__version__
    monkeypatch.setattr(cache, "library_versions", lambda: {"tensorflow": "2.99.0", "keras": "3.15.1"})
    assert cache.entry_path(cache.key_material("k", identity)) != cache.entry_path(before)


def test_the_folder_stays_under_its_bound_oldest_out(folder: Path, small_report: Report) -> None:
    walked = cache.Walked(small_report, "h")
    materials = {name: cache.key_material(name, {}) for name in "abc"}
    paths = {name: cache.entry_path(material) for name, material in materials.items()}
    assert cache.write(materials["a"], walked)
    size = paths["a"].stat().st_size
    bound = 2 * size + size // 2  # room for two entries
    assert cache.write(materials["b"], walked, max_bytes=bound)
    os.utime(paths["a"], (1_000_000, 1_000_000))  # a, then b
    os.utime(paths["b"], (1_000_001, 1_000_001))
    assert cache.read(materials["a"]) == walked  # a is used again: now the most recent
    assert cache.write(materials["c"], walked, max_bytes=bound)  # one must go: b, the least recently used
    assert sorted(p.name for p in (folder / "walks").iterdir()) == sorted([paths["a"].name, paths["c"].name])
    assert cache.write(materials["b"], walked, max_bytes=size // 2) is False  # larger than the bound: not stored
    assert not paths["b"].exists()


def test_an_unwritable_folder_is_no_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_report) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv(cache.CACHE_ENV, str(blocker / "cache"))  # a folder under a file cannot be made
    assert cache.walked("x", {}, lambda: cache.Walked(small_report, "h")).report == small_report


def test_the_default_folder_is_the_users_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(cache.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "resnet-inspect"


# --- the commands -----------------------------------------------------------------------------------------


def _outputs(where: Path) -> dict[str, bytes]:
    return {str(p.relative_to(where)): p.read_bytes() for p in sorted(where.rglob("*")) if p.is_file()}


COMMANDS = {
    "summary": ["summary", *SMALL, "--level", "layer", "--csv", "{out}/s.csv", "--json", "{out}/s.json"],
    "compare": ["compare", "resnet18", "resnet34", "--input-size", "32", "--classes", "10", "--level", "stage",
                "--csv", "{out}/c.csv", "--json", "{out}/c.json"],
    "memory": ["memory", *SMALL, "--csv", "{out}/m.csv", "--json", "{out}/m.json"],
    "plot": ["plot", *SMALL, "--out", "{out}/p.png"],
    "plot models": ["plot", "resnet18", "resnet34", "--input-size", "32", "--out", "{out}/pm.png"],
    "summary --fold-bn": ["summary", *SMALL, "--fold-bn", "--json", "{out}/f.json"],
    "compare --fold-bn": ["compare", "resnet18", "resnet18-v1", "--input-size", "32", "--classes", "10", "--fold-bn",
                          "--json", "{out}/cf.json"],
    "report": ["report", *SMALL, "--out", "{out}/r"],
    "summary --model": ["summary", "--model", "keras:MobileNetV2", "--input-size", "32", "--classes", "10",
                        "--json", "{out}/a.json"],
}


# Run as fresh processes: Keras numbers the auto-named layers of a keras.applications model (input_layer,
# input_layer_1, ...) by how many it made before in the process, cached or not.
FRESH = ("summary --model",)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_cached_or_not_every_output_is_the_same(
    name: str, tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = {}
    out = tmp_path / "out"  # the same paths each time (the commands print them), emptied between runs
    for run_name in ("no-cache", "cold", "warm"):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        if run_name == "warm":
            assert list((folder / "walks").glob("*.json"))  # the cold run stored its walks
        args = [a.format(out=out) for a in COMMANDS[name]] + (["--no-cache"] if run_name == "no-cache" else [])
        if run_name == "warm":  # the walk must come from the cache: building or loading is an error now
            import resnet_inspect.analysis.inspection as inspection

            def refuse(*args, **kwargs):
                raise AssertionError("built although cached")

            for function in ("inspect_model", "inspect_spec", "open_model"):
                monkeypatch.setattr(inspection, function, refuse)
        if name in FRESH:
            done = subprocess.run([sys.executable, "-m", "resnet_inspect", *args], capture_output=True, text=True,
                                  timeout=300)
            assert done.returncode == 0, done.stderr[-2000:]
            results[run_name] = (done.stdout, done.stderr, _outputs(out))
            continue
        result = run(*args)
        assert result.exit_code == 0, result.output
        results[run_name] = (result.stdout, result.stderr, _outputs(out))
        if run_name == "no-cache":
            assert not (folder / "walks").exists()
    assert results["no-cache"] == results["cold"] == results["warm"]


WARM = {
    "summary": ["summary", *SMALL],
    "compare": ["compare", "resnet18", "resnet34", "--input-size", "32", "--classes", "10", "--json", "{out}/c.json"],
    "memory": ["memory", *SMALL, "--json", "{out}/m.json"],
    "plot": ["plot", *SMALL, "--out", "{out}/p.png"],
    "report": ["report", *SMALL, "--out", "{out}/r"],
}


def test_a_warm_run_imports_no_tensorflow(tmp_path: Path) -> None:
    """Each command once in this process (which stores the walks in the session's cache), then in a fresh
    process, which must answer without loading TensorFlow or Keras."""
    for args in WARM.values():
        result = run(*[a.format(out=tmp_path / "first") for a in args])
        assert result.exit_code == 0, result.output
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from resnet_inspect.cli import app\n"
        "r = CliRunner().invoke(app, sys.argv[1:])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n"
    )
    for name, args in WARM.items():
        argv = [a.format(out=tmp_path / "second") for a in args]
        done = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (name, done.stderr[-2000:])
        assert done.stdout == "[]\n", name


def test_a_model_file_is_cached_by_its_content(tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A --model file's walk is read back while the file is the same, and walked afresh once its bytes change."""
    from resnet_inspect._tf import keras

    path = tmp_path / "tiny.keras"

    def save(filters: int) -> None:
        image = keras.Input((8, 8, 3), name="image")
        features = keras.layers.GlobalAveragePooling2D(name="pool")(keras.layers.Conv2D(filters, 3, name="conv")(image))
        keras.Model(image, keras.layers.Dense(2, name="logits")(features), name="tiny").save(path)

    def summary(*extra: str) -> str:
        result = run("summary", "--model", str(path), *extra)
        assert result.exit_code == 0, result.output
        return result.stdout

    save(4)
    fresh = summary("--no-cache")
    assert summary() == fresh  # cold: walked and stored
    import resnet_inspect.analysis.inspection as inspection

    with monkeypatch.context() as patch:
        patch.setattr(inspection, "open_model", lambda *a, **k: pytest.fail("loaded although cached"))
        assert summary() == fresh  # warm
    save(5)  # other weights in the same file: another key
    changed = summary()
    assert changed != fresh
    assert changed == summary("--no-cache")
    summary("--json", str(tmp_path / "changed.json"))
    # conv 3x3x3x5 + 5 biases, dense 5x2 + 2 biases (the first file: 3x3x3x4 + 4 and 4x2 + 2)
    assert json.loads((tmp_path / "changed.json").read_text())["totals"]["params"] == 3 * 3 * 3 * 5 + 5 + 5 * 2 + 2


def test_fold_bn_is_part_of_the_key(tmp_path: Path, folder: Path) -> None:
    """--fold-bn walks another network: a cached as-built walk is never its answer, nor the other way round."""
    spec = make_spec(18)
    as_built, folded = (cache.entry_path(cache.key_material("k", cache.spec_identity(spec, f))) for f in (False, True))
    assert as_built != folded
    params = {}
    for flags in ([], ["--fold-bn"], []):  # as built (stored), folded (stored beside it), as built again (warm)
        out = tmp_path / "s.json"
        result = run("summary", *SMALL, *flags, "--json", str(out))
        assert result.exit_code == 0, result.output
        data = json.loads(out.read_text())
        params.setdefault(bool(flags), set()).add(data["totals"]["params"])
        assert ("fold_bn" in data["config"]) == bool(flags)
    assert len(params[False]) == len(params[True]) == 1
    (folded_params,), (built_params,) = params[True], params[False]
    assert folded_params < built_params  # folding drops the folded BNs' 4 parameters per channel
    assert len(list((folder / "walks").glob("*.json"))) == 2


def test_the_key_follows_the_keras_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A keras.applications model is built channels_first or channels_last as keras.json says: an entry made under
    one setting never answers the other."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    identity = {"application": "ResNet50", "options": {}, "fold_bn": False}
    paths = {cache.entry_path(cache.key_material("inspect_model", identity))}  # no keras.json: Keras' defaults
    for data_format in ("channels_last", "channels_first"):
        (tmp_path / "keras.json").write_text(json.dumps({"image_data_format": data_format}))
        paths.add(cache.entry_path(cache.key_material("inspect_model", identity)))
    assert len(paths) == 3
