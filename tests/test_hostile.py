"""Every command tried as a careless or hostile user would: one ``Error:`` line, exit 2 or 1, nothing written.

The table names each bad case with its exact message. Numbers in the resource refusals are derived
here from Keras (count_params, len(model.layers) of small networks, extrapolated by arithmetic) and
from hand arithmetic on shapes; the free memory is pinned to :data:`FREE` so the messages are exact.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shlex
import shutil
import stat
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from resnet_inspect.analysis import budget
from resnet_inspect.analysis.budget import FORWARD_BYTES, KERAS_LAYER_BYTES, TF_RUNTIME_BYTES
from resnet_inspect.cli import app
from resnet_inspect.model.family import MEMBERS

# Keras' legacy HDF5 code calls np.array(x, copy=False) on its variables, which numpy 2 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

FREE = 16 * 2**30  # what the host is said to have free in these tests
TINY = ["--input-size", "32", "--blocks", "1,1", "--width", "8"]
BENCH_HEADER = "batch_size,device,precision,xla,mean_ms,p50_ms,p90_ms,p99_ms,std_ms,images_per_s,gflops_per_s,pct_of_peak"
MODEL_USAGE = "give keras:<Application> (e.g. keras:ResNet50) or a .keras or .h5 file"
NOT_A_NAME = "is not a keras.applications constructor name (letters and digits, starting with a capital, e.g. ResNet50)"
NOT_REGULAR = "is not a regular file (a device, pipe or socket)"
LAMBDA = ("holds a Lambda layer 'double' (arbitrary Python code) and safe mode refuses to load it; pass --unsafe "
          "if you trust the file")


def human(size: int) -> str:
    """Binary units as the messages write them: TiB and GiB with 2 decimals, MiB and KiB with 1."""
    for unit, scale, digits in (("TiB", 2**40, 2), ("GiB", 2**30, 2), ("MiB", 2**20, 1), ("KiB", 2**10, 1)):
        if size >= scale:
            return f"{size / scale:,.{digits}f} {unit}"
    return f"{size:,} B"


@pytest.fixture(autouse=True)
def fixed_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "host_free_bytes", lambda: FREE)
    monkeypatch.setattr(budget, "gpu_free_bytes", lambda index=0: None)


def make_files(folder: Path) -> dict[str, Path]:
    """Real Keras files, files that pretend to be models, and things that are not files at all."""
    from resnet_inspect._tf import keras

    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}

    def path(name: str) -> Path:
        files[name] = folder / name
        return files[name]

    inputs = keras.Input((8, 8, 3), name="image")
    features = keras.layers.GlobalAveragePooling2D(name="pool")(keras.layers.Conv2D(4, 3, name="conv")(inputs))
    tiny = keras.Model(inputs, keras.layers.Dense(2, name="logits")(features), name="tiny")
    tiny.save(path("tiny.keras"))
    tiny.save(path("tiny.h5"))
    tiny.save_weights(path("weights.weights.h5"))
    doubled = keras.layers.Lambda(lambda t: t * 2.0, name="double")(inputs)
    lam = keras.Model(inputs, keras.layers.Conv2D(4, 3, name="conv")(doubled), name="lam")
    lam.save(path("lambda.keras"))
    lam.save(path("lambda.h5"))
    archive = files["tiny.keras"].read_bytes()
    path("truncated.keras").write_bytes(archive[: len(archive) // 2])
    hdf5 = files["tiny.h5"].read_bytes()
    path("truncated.h5").write_bytes(hdf5[: len(hdf5) // 3])
    path("empty.keras").write_bytes(b"")
    path("text.keras").write_text("not a model\n")
    for name in ("pickle.keras", "pickle.h5", "model.pkl"):
        path(name).write_bytes(pickle.dumps({"weights": [1.0, 2.0]}))
    with zipfile.ZipFile(path("notes.keras"), "w") as zipped:
        zipped.writestr("notes.txt", "a zip, but not a Keras archive")
    with zipfile.ZipFile(files["tiny.keras"]) as zipped:
        members = {name: zipped.read(name) for name in zipped.namelist()}

    def variant(name: str, config: bytes) -> None:
        with zipfile.ZipFile(path(name), "w") as zipped:
            for member, data in members.items():
                zipped.writestr(member, config if member == "config.json" else data)

    config = json.loads(members["config.json"])
    conv = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Conv2D")
    conv["module"], conv["class_name"], conv["config"] = "os", "system", "touch PWNED"
    variant("os_system.keras", json.dumps(config).encode())
    variant("notjson.keras", b"{not json")
    variant("deep.keras", b"[" * 100_000 + b"]" * 100_000)
    path("folder.keras").mkdir()
    os.mkfifo(path("fifo.keras"))
    os.symlink("/dev/zero", path("zero.h5"))
    os.symlink("/dev/null", path("null.png"))
    path("plain.txt").write_text("a regular file\n")
    path("bench_empty.csv").write_text("")
    path("bench_cols.csv").write_text("a,b\n1,2\n")
    path("bench_ok.csv").write_text(f"{BENCH_HEADER}\n1,CPU:0,float32,False,2.0,2.0,2.0,2.0,,500.0,,\n")
    return files


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_files(tmp_path_factory.mktemp("hostile"))


# --- figures of the resource refusals, from Keras and hand arithmetic ------------------------------------


def keras_size(build, depth: int | None, **options) -> tuple[int, int]:
    """(count_params, layers) of a network as Keras builds it."""
    _, model, _ = build(depth, **options)
    return model.count_params(), len(model.layers)


def largest_layer(build, depth: int | None, kind: str = "", **options) -> int:
    """Parameters of the network's largest layer (of class ``kind`` if given) as Keras counts them (the same
    for any repeat count)."""
    _, model, _ = build(depth, **options)
    return max(layer.count_params() for layer in model.layers if type(layer).__name__.startswith(kind))


def refusal(name: str, params: int, layers: int, largest: int) -> str:
    """The runtime, the weights, the initializer's two copies of the largest layer's, the layer objects."""
    weights, copies, objects = 4 * params, 8 * largest, layers * KERAS_LAYER_BYTES
    return (
        f"Error: building {name} ({params:,} parameters) needs an estimated "
        f"{human(TF_RUNTIME_BYTES + weights + copies + objects)} (TensorFlow runtime {human(TF_RUNTIME_BYTES)} + "
        f"float32 weights {human(weights)} + initializer copies of the largest layer {human(copies)} + "
        f"{layers:,} Keras layers {human(objects)}) but the host has {human(FREE)} free; refused before building\n"
    )


def linear_in_blocks(build, blocks: tuple[int, ...], **options) -> tuple[int, int]:
    """Params and layers of a layout: every block after a block layer's first has the same layers, so
    both grow linearly with the block count; the slope of each block layer comes from Keras at 1 and 2."""
    base = keras_size(build, None, blocks=(1,) * len(blocks), **options)
    params, layers = base
    for i, count in enumerate(blocks):
        more = keras_size(build, None, blocks=tuple(2 if j == i else 1 for j in range(len(blocks))), **options)
        params += (count - 1) * (more[0] - base[0])
        layers += (count - 1) * (more[1] - base[1])
    return params, layers


def quadratic(values: tuple[int, int, int], x: int) -> int:
    """The degree-2 polynomial through (1, v1), (2, v2), (3, v3) at x (Lagrange): a count of weights is
    quadratic in the width (a conv kernel has c_in x c_out weights, both proportional to it)."""
    v1, v2, v3 = values
    return (v1 * (x - 2) * (x - 3) - 2 * v2 * (x - 1) * (x - 3) + v3 * (x - 1) * (x - 2)) // 2


def expected_figures(build) -> dict[str, str]:
    """The messages whose numbers come from Keras and arithmetic, by case name."""
    figures = {}
    p, n = linear_in_blocks(build, (99999999999999999999,), input_size=64)
    big = largest_layer(build, None, blocks=(1,), input_size=64)
    figures["blocks-huge"] = refusal("resnet-bottleneck-99999999999999999999", p, n, big)
    p, n = linear_in_blocks(build, (1000, 1000, 1000, 1000), input_size=64)
    big = largest_layer(build, None, blocks=(1, 1, 1, 1), input_size=64)
    figures["blocks-1000x4"] = refusal("resnet-bottleneck-1000-1000-1000-1000", p, n, big)
    p, n = linear_in_blocks(build, (1_000_000,), input_size=64, width=1)
    big = largest_layer(build, None, blocks=(1,), input_size=64, width=1)
    figures["blocks-deep-narrow"] = refusal("resnet-bottleneck-1000000", p, n, big)
    # the logits' weights and biases grow linearly with the classes: (classes - 1) x the slope from 1 to 2;
    # at 10**9 classes the logits layer alone, 10**9 x that slope, is the largest layer
    (p1, layers18), (p2, _) = (keras_size(build, 18, input_size=32, classes=c) for c in (1, 2))
    figures["classes-billion"] = refusal("resnet18", p1 + (10**9 - 1) * (p2 - p1), layers18, 10**9 * (p2 - p1))
    figures["plot-classes-billion"] = figures["compare-classes-billion"] = figures["classes-billion"]
    by_width = tuple(keras_size(build, 18, input_size=32, width=w)[0] for w in (1, 2, 3))
    # a conv kernel grows with the square of the width, the logits linearly: at 10**9 a conv is the largest
    big_by_width = tuple(largest_layer(build, 18, "Conv", input_size=32, width=w) for w in (1, 2, 3))
    figures["width-huge"] = refusal("resnet18", quadratic(by_width, 10**9), layers18, quadratic(big_by_width, 10**9))
    from resnet_inspect.analysis.compare import BlockSetup, build_block
    from resnet_inspect.model.spec import BlockKind

    blocks = [build_block(BlockSetup(BlockKind.REGULAR, filters=f, size=8)) for f in (1, 2, 3)]
    by_filters = tuple(block.count_params() for block in blocks)
    big_by_filters = tuple(max(layer.count_params() for layer in block.layers) for block in blocks)
    block_layers = len(blocks[0].layers)
    figures["compare-filters-huge"] = refusal(
        "a regular block of 1000000000000 filters", quadratic(by_filters, 10**12), block_layers,
        quadratic(big_by_filters, 10**12)
    )
    # The tiny network's activation peak: its 32x32x3 input and the 38x38x3 padded copy the 7x7/2 conv
    # reads are alive together, 7,404 elements x 4 bytes per image (the peak of tests/test_bench.py).
    # A pass also holds one more buffer the size of the largest output, that padded copy: 4,332 elements.
    tiny_params, tiny_layers = keras_size(build, None, blocks=(1, 1), input_size=32, width=8)
    tiny_big = largest_layer(build, None, blocks=(1, 1), input_size=32, width=8)
    per_image, batch = (32 * 32 * 3 + 2 * 38 * 38 * 3) * 4, 10**9
    model = 4 * tiny_params + 8 * tiny_big + tiny_layers * KERAS_LAYER_BYTES  # float32, built once
    fixed = TF_RUNTIME_BYTES + FORWARD_BYTES + model + tiny_layers * KERAS_LAYER_BYTES  # and built again
    need = fixed + 4 * tiny_params + batch * per_image
    figures["bench-batch-billion"] = (
        f"Error: batch {batch} (float32) needs an estimated {human(need)} (TensorFlow and the inspected model "
        f"{human(fixed)} + weights {human(4 * tiny_params)} + activations {human(batch * per_image)}) but the host "
        f"has {human(FREE)} free; the largest batch that fits is {(FREE - fixed - 4 * tiny_params) // per_image}\n"
    )
    parts = [TF_RUNTIME_BYTES + model, TF_RUNTIME_BYTES + FORWARD_BYTES, 4 * tiny_params, 8 * tiny_big,
             tiny_layers * KERAS_LAYER_BYTES, batch * per_image]
    figures["memory-measure-batch-billion"] = (
        f"Error: --measure on resnet-bottleneck-1-1 needs an estimated {human(sum(parts))} (this process "
        f"{human(parts[0])} + measuring process: TensorFlow runtime and forward pass {human(parts[1])} + float32 "
        f"weights {human(parts[2])} + initializer copies of the largest layer {human(parts[3])} + {tiny_layers} "
        f"Keras layers {human(parts[4])} + activations of batch {batch} {human(parts[5])}) but the host has "
        f"{human(FREE)} free; refused before building\n"
    )
    figures["report-measure-batch-billion"] = figures["memory-measure-batch-billion"]
    return figures


def elements(what: str, count: int) -> str:
    return f"Error: {what} has a tensor of {count:,} elements; TensorFlow indexes at most 2**63 - 1\n"


# --- the table --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A bad command line: ``{name}`` is a file of :func:`make_files`, ``{out}`` a fresh empty folder;
    ``message`` the whole stderr, or None when :func:`expected_figures` derives it."""

    name: str
    args: tuple[str, ...]
    code: int
    message: str | None


def case(name: str, args: list[str], code: int, message: str | None = None) -> Case:
    return Case(name, tuple(args), code, message)


DEPTHS = "valid depths: 18, 34, 50, 101, 152, 200"
BLOCKS = "--blocks must be comma-separated positive integers such as 3,4,6,3, got"
INPUT = "--input-size must be N or HxW (e.g. 224 or 192x256), got"
NOT_INT = "Input should be a valid integer, unable to parse string as an integer"
FAMILY = ", ".join(name for name in MEMBERS if MEMBERS[name].spec.arch is not None)
NAMES = ("known blocks: regular, bottleneck; models: resnet18, resnet34, resnet50, resnet101, resnet152, resnet200 "
         "(optionally with a version suffix: -v1, -v2); the family (`resnet-inspect archs`): " + FAMILY)
COLUMNS = ("batch_size, device, precision, xla, mean_ms, p50_ms, p90_ms, p99_ms, std_ms, images_per_s, "
           "gflops_per_s, pct_of_peak")
NO_BENCH_COLUMNS = f"lacks the column(s) {COLUMNS}; a bench CSV (resnet-inspect bench --csv) has {COLUMNS}"

CASES: list[Case] = [
    # the application itself
    case("no-such-command", ["nonsense"], 2, "Error: No such command 'nonsense'.\n"),
    case("unknown-option", ["summary", "--foo"], 2, "Error: No such option: --foo\n"),
    case("extra-argument", ["summary", "extra"], 2, "Error: Got unexpected extra argument(s) (extra)\n"),
    case("option-without-value", ["summary", "--depth"], 2, "Error: Option '--depth' requires an argument.\n"),
    # summary: the network options
    case("depth-not-int", ["summary", "--depth", "abc"], 2, f"Error: Invalid value for '--depth' / '-d': {NOT_INT}\n"),
    case("depth-fraction", ["summary", "--depth", "50.5"], 2, f"Error: Invalid value for '--depth' / '-d': {NOT_INT}\n"),
    case("depth-negative", ["summary", "--depth", "-1"], 2, f"Error: unknown depth -1; {DEPTHS}\n"),
    case("depth-zero", ["summary", "--depth", "0"], 2, f"Error: unknown depth 0; {DEPTHS}\n"),
    case("depth-huge", ["summary", "--depth", "99999999999999999999999"], 2,
         f"Error: unknown depth 99999999999999999999999; {DEPTHS}\n"),
    case("depth-and-blocks", ["summary", "--depth", "50", "--blocks", "3,4,6,3"], 2,
         "Error: give either --depth or --blocks, not both\n"),
    case("blocks-empty", ["summary", "--blocks", ""], 2, f"Error: {BLOCKS} ''\n"),
    case("blocks-commas", ["summary", "--blocks", ",,"], 2, f"Error: {BLOCKS} ',,'\n"),
    case("blocks-negative", ["summary", "--blocks", "1,-1"], 2, f"Error: {BLOCKS} '1,-1'\n"),
    case("blocks-words", ["summary", "--blocks", "three,four"], 2, f"Error: {BLOCKS} 'three,four'\n"),
    case("blocks-zero", ["summary", "--blocks", "0"], 2, "Error: --blocks needs positive block counts, e.g. 3,4,6,3\n"),
    case("blocks-seven-layers", ["summary", "--blocks", "1,1,1,1,1,1,1"], 2,
         "Error: --blocks takes at most 6 block layers, got 7\n"),
    case("blocks-huge", ["summary", "--blocks", "99999999999999999999", "--input-size", "64"], 1),
    case("blocks-1000x4", ["summary", "--blocks", "1000,1000,1000,1000", "--input-size", "64"], 1),
    case("blocks-deep-narrow", ["summary", "--blocks", "1000000", "--width", "1", "--input-size", "64"], 1),
    case("block-type-unknown", ["summary", "--block-type", "foo"], 2,
         "Error: Invalid value for '--block-type': Value error, 'foo' is not one of 'regular', 'bottleneck'.\n"),
    case("input-size-empty", ["summary", "--input-size", ""], 2, f"Error: {INPUT} ''\n"),
    case("input-size-zero", ["summary", "--input-size", "0"], 2, "Error: --input-size must be positive, got '0'\n"),
    case("input-size-zero-side", ["summary", "--input-size", "224x0"], 2,
         "Error: --input-size must be positive, got '224x0'\n"),
    case("input-size-negative", ["summary", "--input-size", "-5"], 2, f"Error: {INPUT} '-5'\n"),
    case("input-size-half", ["summary", "--input-size", "1x"], 2, f"Error: {INPUT} '1x'\n"),
    case("input-size-fraction", ["summary", "--input-size", "22.4"], 2, f"Error: {INPUT} '22.4'\n"),
    case("input-size-too-small", ["summary", "--input-size", "16"], 2,
         "Error: input 16x16 is too small for this network: it downsamples by 32, so the minimum input size is 32x32\n"),
    # the 7x7/2 stem conv makes a 5e9 x 5e9 x 64 map
    case("input-size-beyond-int64", ["summary", "--input-size", "10000000000"], 2,
         elements("resnet50 at input 10000000000x10000000000", (10**10 // 2) ** 2 * 64)),
    case("classes-negative", ["summary", "--classes", "-1"], 2, "Error: --classes must be a positive integer, got -1\n"),
    case("classes-zero", ["summary", "--classes", "0"], 2, "Error: --classes must be a positive integer, got 0\n"),
    case("classes-not-int", ["summary", "--classes", "abc"], 2, f"Error: Invalid value for '--classes': {NOT_INT}\n"),
    case("classes-billion", ["summary", "--depth", "18", "--classes", "1000000000", "--input-size", "32"], 1),
    case("width-zero", ["summary", "--width", "0"], 2, "Error: --width must be a positive integer, got 0\n"),
    case("width-negative", ["summary", "--width", "-3"], 2, "Error: --width must be a positive integer, got -3\n"),
    case("width-huge", ["summary", "--depth", "18", "--width", "1000000000", "--input-size", "32"], 1),
    case("data-format-unknown", ["summary", "--data-format", "xx"], 2,
         "Error: Invalid value for '--data-format': Value error, 'xx' is not one of 'channels_last', "
         "'channels_first'.\n"),
    case("level-unknown", ["summary", "--level", "foo"], 2,
         "Error: Invalid value for '--level' / '-l': Value error, 'foo' is not one of 'stage', 'block', 'layer'.\n"),
    case("version-unknown", ["summary", "--arch-version", "v3"], 2,
         "Error: Invalid value for '--arch-version': Value error, 'v3' is not one of 'v1', 'v2'.\n"),
    # summary: where the outputs go
    case("csv-empty", ["summary", *TINY, "--csv", ""], 2, "Error: --csv '.' is a folder; give a file path\n"),
    case("csv-folder", ["summary", *TINY, "--csv", "{out}"], 2, "Error: --csv '{out}' is a folder; give a file path\n"),
    case("csv-under-proc", ["summary", *TINY, "--csv", "/proc/resnet.csv"], 1,
         "Error: cannot write --csv '/proc/resnet.csv': No such file or directory\n"),
    case("json-over-a-proc-file", ["summary", *TINY, "--json", "/proc/self/status"], 1,
         "Error: cannot write --json '/proc/self/status': No such file or directory\n"),
    case("csv-below-a-file", ["summary", *TINY, "--csv", "{plain.txt}/x.csv"], 2,
         "Error: --csv '{plain.txt}/x.csv': '{plain.txt}' is not a folder\n"),
    case("csv-dev-null", ["summary", *TINY, "--csv", "/dev/null"], 2,
         f"Error: --csv '/dev/null' {NOT_REGULAR}; give a file path\n"),
    case("csv-fifo", ["summary", *TINY, "--csv", "{fifo.keras}"], 2,
         f"Error: --csv '{{fifo.keras}}' {NOT_REGULAR}; give a file path\n"),
    case("csv-symlink-to-device", ["summary", *TINY, "--csv", "{null.png}"], 2,
         f"Error: --csv '{{null.png}}' {NOT_REGULAR}; give a file path\n"),
    case("csv-and-json-one-file", ["summary", *TINY, "--csv", "{out}/r.txt", "--json", "{out}/r.txt"], 2,
         "Error: --csv and --json name the same file '{out}/r.txt'; give different files\n"),
    case("csv-dash", ["summary", *TINY, "--csv", "-"], 2,
         "Error: --csv '-': reports are written to files, not to standard output; give a file path\n"),
    case("csv-null-byte", ["summary", *TINY, "--csv", "{out}/a\x00b.csv"], 2,
         "Error: Invalid value for '--csv': Value error, embedded null byte\n"),
    case("csv-name-too-long", ["summary", *TINY, "--csv", "{out}/" + "x" * 300 + ".csv"], 2,
         "Error: --csv '{out}/" + "x" * 300 + ".csv': File name too long\n"),
    case("csv-folder-name-too-long", ["summary", *TINY, "--csv", "{out}/" + "q" * 300 + "/b.csv"], 2,
         "Error: --csv '{out}/" + "q" * 300 + "/b.csv': File name too long\n"),
    case("csv-over-the-model", ["summary", "--model", "{tiny.keras}", "--csv", "{tiny.keras}"], 2,
         "Error: --csv '{tiny.keras}' would overwrite the --model file; give another path\n"),
    # --model keras:<name>: a constructor of keras.applications, nothing else
    *(
        case(f"keras-{label}", ["summary", "--model", f"keras:{name}"], 2,
             f"Error: --model {'keras:' + name!r}: {name!r} {NOT_A_NAME}\n")
        for label, name in (
            ("import", "__import__"), ("os-system", "os.system"), ("path", "../x"), ("shell", "ResNet50;rm"),
            ("submodule", "imagenet_utils"), ("helper", "decode_predictions"), ("dunder", "__init__"),
            ("call", "ResNet50()"), ("space", "ResNet50 "), ("newline", "ResNet50\n"),
        )
    ),
    case("keras-empty", ["summary", "--model", "keras:"], 2,
         f"Error: --model 'keras:' names no application: {MODEL_USAGE}\n"),
    case("keras-not-an-application", ["summary", "--model", "keras:VGG17"], 2,
         "Error: unknown keras.applications model 'VGG17'; did you mean VGG19 or VGG16?\n"),
    case("keras-case", ["summary", "--model", "keras:resnet50"], 2,
         "Error: unknown keras.applications model 'resnet50'; did you mean ResNet50?\n"),
    case("keras-classes-zero", ["summary", "--model", "keras:ResNet50", "--classes", "0"], 2,
         "Error: --classes must be a positive integer, got 0\n"),
    case("keras-with-depth", ["summary", "--model", "keras:ResNet50", "--depth", "18"], 2,
         "Error: --depth/-d cannot be combined with --model: the model defines its own network\n"),
    case("model-empty", ["summary", "--model", ""], 2, f"Error: --model needs a value: {MODEL_USAGE}\n"),
    case("model-null-byte", ["summary", "--model", "{out}/a\x00b.keras"], 2,
         f"Error: --model '{{out}}/a\\x00b.keras': no such file; {MODEL_USAGE}\n"),
    case("model-name-too-long", ["summary", "--model", "{out}/" + "y" * 300 + ".keras"], 2,
         "Error: --model '{out}/" + "y" * 300 + ".keras': File name too long\n"),
    # --model files
    case("model-missing", ["summary", "--model", "{out}/missing.keras"], 2,
         f"Error: --model '{{out}}/missing.keras': no such file; {MODEL_USAGE}\n"),
    case("model-folder", ["summary", "--model", "{folder.keras}"], 2,
         f"Error: --model '{{folder.keras}}' is a folder; {MODEL_USAGE} (Keras 3 cannot load SavedModel folders)\n"),
    case("model-pickle", ["summary", "--model", "{model.pkl}"], 2,
         f"Error: --model '{{model.pkl}}' is not a .keras or .h5 file; {MODEL_USAGE}\n"),
    case("model-fifo", ["summary", "--model", "{fifo.keras}"], 2,
         f"Error: --model '{{fifo.keras}}' {NOT_REGULAR}; {MODEL_USAGE}\n"),
    case("model-dev-zero", ["summary", "--model", "{zero.h5}"], 2,
         f"Error: --model '{{zero.h5}}' {NOT_REGULAR}; {MODEL_USAGE}\n"),
    case("model-empty-file", ["summary", "--model", "{empty.keras}"], 1,
         "Error: --model '{empty.keras}' is an empty file, not a Keras model\n"),
    *(
        case(f"model-{label}", ["summary", "--model", f"{{{name}}}"], 1,
             f"Error: --model '{{{name}}}' is not a loadable Keras model: {why}\n")
        for label, name, why in (
            ("text", "text.keras", "not a .keras archive (a .keras file is a zip)"),
            ("truncated-keras", "truncated.keras", "not a .keras archive (a .keras file is a zip)"),
            ("pickle-keras", "pickle.keras", "not a .keras archive (a .keras file is a zip)"),
            ("zip-not-keras", "notes.keras", "a zip archive without the config.json of a .keras file"),
            ("pickle-h5", "pickle.h5", "not an HDF5 file"),
            # HDF5's own words: the file ends (eof) before the size its superblock records (stored_eof)
            ("truncated-h5", "truncated.h5", "Unable to synchronously open file (truncated file: eof = {third of "
             "tiny.h5}, sblock->base_addr = 0, stored_eof = {size of tiny.h5})"),
        )
    ),
    case("model-weights-only-h5", ["summary", "--model", "{weights.weights.h5}"], 1,
         "Error: --model '{weights.weights.h5}' holds no model configuration (a weights-only file?); save the whole "
         "model with model.save()\n"),
    case("model-config-not-json", ["summary", "--model", "{notjson.keras}"], 1,
         "Error: --model '{notjson.keras}' holds a model configuration that is not JSON: Expecting property name "
         "enclosed in double quotes: line 1 column 2 (char 1)\n"),
    case("model-config-too-deep", ["summary", "--model", "{deep.keras}"], 1,
         "Error: --model '{deep.keras}' holds a model configuration that is not JSON: maximum recursion depth "
         "exceeded while decoding a JSON array from a unicode string\n"),
    *(
        case(f"model-code-outside-keras{suffix}", ["summary", "--model", "{os_system.keras}", *extra], 2,
             "Error: --model '{os_system.keras}' refers to code outside Keras ('system' from module 'os'); only "
             "Keras layers are loaded\n")
        for suffix, extra in (("", []), ("-unsafe", ["--unsafe"]))
    ),
    case("model-lambda-keras", ["summary", "--model", "{lambda.keras}"], 2, f"Error: --model '{{lambda.keras}}' {LAMBDA}\n"),
    case("model-lambda-h5", ["summary", "--model", "{lambda.h5}"], 2, f"Error: --model '{{lambda.h5}}' {LAMBDA}\n"),
    case("model-file-with-input-size", ["summary", "--model", "{tiny.keras}", "--input-size", "64"], 2,
         "Error: --input-size cannot be combined with --model: the model defines its own network; "
         "keras:<Application> takes --input-size and --classes\n"),
    case("unsafe-without-model", ["summary", "--unsafe"], 2, "Error: --unsafe applies to a --model file\n"),
    case("unsafe-with-application", ["summary", "--model", "keras:ResNet50", "--unsafe"], 2,
         "Error: --unsafe applies to a model file, not to keras:ResNet50\n"),
    # compare
    case("compare-nothing", ["compare"], 2,
         "Error: compare needs at least two names, e.g. 'regular bottleneck' or 'resnet34 resnet50'; got none\n"),
    case("compare-one", ["compare", "regular"], 2,
         "Error: compare needs at least two names, e.g. 'regular bottleneck' or 'resnet34 resnet50'; got only "
         "'regular'\n"),
    case("compare-unknown", ["compare", "foo", "bar"], 2, f"Error: unknown name 'foo'; {NAMES}\n"),
    case("compare-empty-name", ["compare", "resnet50", ""], 2, f"Error: unknown name ''; {NAMES}\n"),
    case("compare-null-name", ["compare", "\x00", "resnet18"], 2, f"Error: unknown name '\\x00'; {NAMES}\n"),
    case("compare-twice", ["compare", "resnet50", "resnet50"], 2,
         "Error: 'resnet50' is named twice; name each block or model once\n"),
    case("compare-same-network", ["compare", "resnet50", "resnet50-v2"], 2,
         "Error: 'resnet50' and 'resnet50-v2' are the same network; name each once\n"),
    case("compare-mixed", ["compare", "regular", "resnet50"], 2,
         "Error: cannot mix blocks (regular) with models (resnet50): compare blocks with blocks, or models with "
         "models\n"),
    case("compare-bad-version", ["compare", "resnet50-v3", "resnet18"], 2,
         "Error: unknown version 'v3' in 'resnet50-v3'; known versions: v1, v2 (and the family's resnet50-v1.5: "
         "`resnet-inspect archs`)\n"),
    case("compare-filters-zero", ["compare", "regular", "bottleneck", "--filters", "0"], 2,
         "Error: --filters must be a positive integer, got 0\n"),
    case("compare-filters-negative", ["compare", "regular", "bottleneck", "--filters", "-4"], 2,
         "Error: --filters must be a positive integer, got -4\n"),
    case("compare-size-zero", ["compare", "regular", "bottleneck", "--size", "0"], 2,
         "Error: --size must be a positive integer, got 0\n"),
    case("compare-filters-huge", ["compare", "regular", "bottleneck", "--filters", "1000000000000"], 1),
    # the regular block's 1e10 x 1e10 x 64 maps
    case("compare-size-beyond-int64", ["compare", "regular", "bottleneck", "--size", "10000000000"], 2,
         elements("a regular block of 64 filters on a 10000000000x10000000000 map", 10**20 * 64)),
    case("compare-block-option-on-models", ["compare", "resnet50", "resnet18", "--filters", "3"], 2,
         "Error: --filters only applies to block comparisons (regular bottleneck)\n"),
    case("compare-model-option-on-blocks", ["compare", "regular", "bottleneck", "--input-size", "64"], 2,
         "Error: --input-size only applies to model comparisons (e.g. resnet34 resnet50)\n"),
    case("compare-classes-zero", ["compare", "resnet50", "resnet18", "--classes", "0"], 2,
         "Error: --classes must be a positive integer, got 0\n"),
    case("compare-classes-billion", ["compare", "resnet18", "resnet50", "--classes", "1000000000",
                                     "--input-size", "32"], 1),
    case("compare-level-unknown", ["compare", "resnet50", "resnet18", "--level", "layer"], 2,
         "Error: Invalid value for '--level' / '-l': Value error, 'layer' is not one of 'model', 'stage'.\n"),
    case("compare-csv-dev-null", ["compare", "regular", "bottleneck", "--csv", "/dev/null"], 2,
         f"Error: --csv '/dev/null' {NOT_REGULAR}; give a file path\n"),
    # bench
    case("bench-batch-zero", ["bench", *TINY, "--batch-size", "0"], 2,
         "Error: --batch-size must be a positive integer, got 0\n"),
    case("bench-batch-negative", ["bench", *TINY, "-b", "-1"], 2,
         "Error: --batch-size must be a positive integer, got -1\n"),
    case("bench-batch-not-int", ["bench", *TINY, "-b", "abc"], 2,
         f"Error: Invalid value for '--batch-size' / '-b': {NOT_INT}\n"),
    case("bench-batch-billion", ["bench", *TINY, "-b", "1000000000"], 1),
    # the padded 38x38x3 input of each image
    case("bench-batch-beyond-int64", ["bench", *TINY, "-b", "99999999999999999999999"], 2,
         elements("resnet-bottleneck-1-1 at input 32x32 and batch 99999999999999999999999",
                  38 * 38 * 3 * 99999999999999999999999)),
    *(
        case(f"bench-device-{label}", ["bench", *TINY, "--device", value], 2,
             f"Error: --device must be auto, cpu, gpu or gpu:N, got {value!r}\n")
        for label, value in (("tpu", "tpu"), ("index-word", "gpu:x"), ("empty", ""), ("cpu-index", "cpu:0"))
    ),
    case("bench-devices-all-one-gpu", ["bench", *TINY, "--devices", "all", "--device", "gpu:0"], 2,
         "Error: --devices all uses every GPU; give --device gpu, not gpu:0\n"),
    case("bench-devices-unknown", ["bench", *TINY, "--devices", "some"], 2,
         "Error: Invalid value for '--devices': Value error, 'some' is not one of 'one', 'all'.\n"),
    case("bench-warmup-negative", ["bench", *TINY, "--warmup", "-1"], 2, "Error: --warmup must be 0 or more, got -1\n"),
    case("bench-warmup-huge", ["bench", *TINY, "--warmup", "99999999999999999999"], 2,
         "Error: --warmup 99999999999999999999: at most 1,000,000 steps per run (every step time is kept)\n"),
    case("bench-iterations-zero", ["bench", *TINY, "--iterations", "0"], 2,
         "Error: --iterations must be a positive integer, got 0\n"),
    case("bench-iterations-huge", ["bench", *TINY, "-n", "10000000"], 2,
         "Error: --iterations 10000000: at most 1,000,000 steps per run (every step time is kept)\n"),
    *(
        case(f"bench-min-time-{label}", ["bench", *TINY, "--min-time", value], 2,
             f"Error: --min-time must be a positive number of seconds, got {shown}\n")
        for label, value, shown in (("nan", "nan", "nan"), ("inf", "inf", "inf"), ("negative", "-1", "-1.0"),
                                    ("zero", "0", "0.0"))
    ),
    case("bench-min-time-huge", ["bench", *TINY, "--min-time", "1e300"], 2,
         "Error: --min-time 1e+300: at most 3,600 seconds per run\n"),
    case("bench-min-time-word", ["bench", *TINY, "--min-time", "soon"], 2,
         "Error: Invalid value for '--min-time': Input should be a valid number, unable to parse string as a number\n"),
    case("bench-iterations-and-min-time", ["bench", *TINY, "-n", "3", "--min-time", "1"], 2,
         "Error: --iterations and --min-time cannot both be given: give one\n"),
    case("bench-threads-zero", ["bench", *TINY, "--threads", "0"], 2, "Error: --threads must be a positive integer, got 0\n"),
    case("bench-threads-huge", ["bench", *TINY, "--threads", "100000"], 2,
         "Error: --threads 100000: this process can use {cpus} logical CPU(s); give at most {cpus}\n"),
    case("bench-precision-unknown", ["bench", *TINY, "--precision", "foo"], 2,
         "Error: Invalid value for '--precision': Value error, 'foo' is not one of 'float32', 'mixed_float16', "
         "'mixed_bfloat16'.\n"),
    case("bench-precision-saved-model", ["bench", "--model", "{tiny.keras}", "--precision", "mixed_float16"], 2,
         "Error: --precision applies to built networks and keras:<Application> models; '{tiny.keras}' computes in "
         "the dtype it was saved with\n"),
    case("bench-json-and-csv-one-file", ["bench", *TINY, "--csv", "{out}/b", "--json", "{out}/b"], 2,
         "Error: --csv and --json name the same file '{out}/b'; give different files\n"),
    case("bench-json-over-the-model", ["bench", "--model", "{tiny.h5}", "--json", "{tiny.h5}"], 2,
         "Error: --json '{tiny.h5}' would overwrite the --model file; give another path\n"),
    case("bench-model-lambda", ["bench", "--model", "{lambda.keras}"], 2, f"Error: --model '{{lambda.keras}}' {LAMBDA}\n"),
    # memory
    case("memory-batch-zero", ["memory", *TINY, "--batch-size", "0"], 2,
         "Error: --batch-size must be a positive integer, got 0\n"),
    case("memory-dtype-unknown", ["memory", *TINY, "--dtype", "int8"], 2,
         "Error: Invalid value for '--dtype': Value error, 'int8' is not one of 'float32', 'float16', 'bfloat16', "
         "'float64'.\n"),
    case("memory-measure-batch-billion", ["memory", *TINY, "--measure", "-b", "1000000000"], 1),
    case("memory-input-beyond-int64", ["memory", "--input-size", "10000000000"], 2,
         elements("resnet50 at input 10000000000x10000000000", (10**10 // 2) ** 2 * 64)),
    case("memory-json-folder", ["memory", *TINY, "--json", "{out}"], 2,
         "Error: --json '{out}' is a folder; give a file path\n"),
    # plot
    case("plot-no-out", ["plot", "--depth", "18"], 2, "Error: Missing option '--out' / '-o'.\n"),
    case("plot-out-not-png", ["plot", "--depth", "18", "--out", "{out}/chart.txt"], 2,
         "Error: --out '{out}/chart.txt' must name a .png file\n"),
    case("plot-out-symlink-to-device", ["plot", "--depth", "18", "--out", "{null.png}"], 2,
         f"Error: --out '{{null.png}}' {NOT_REGULAR}; give a file path\n"),
    case("plot-unknown-model", ["plot", "resnet51", "resnet18", "--out", "{out}/c.png"], 2,
         "Error: unknown model name 'resnet51'; known models: resnet18, resnet34, resnet50, resnet101, resnet152, "
         f"resnet200, optionally with a version suffix (-v1, -v2); the family (`resnet-inspect archs`): {FAMILY}\n"),
    case("plot-models-and-bench", ["plot", "resnet50", "--bench", "{bench_ok.csv}", "--out", "{out}/c.png"], 2,
         "Error: give model names or --bench, not both\n"),
    case("plot-bench-missing", ["plot", "--bench", "{out}/none.csv", "--out", "{out}/c.png"], 2,
         "Error: --bench '{out}/none.csv': no such file; give the CSV file written by resnet-inspect bench --csv\n"),
    case("plot-bench-folder", ["plot", "--bench", "{folder.keras}", "--out", "{out}/c.png"], 2,
         "Error: --bench '{folder.keras}' is a folder; give the CSV file written by resnet-inspect bench --csv\n"),
    case("plot-bench-name-too-long", ["plot", "--bench", "{out}/" + "z" * 300 + ".csv", "--out", "{out}/c.png"], 2,
         "Error: --bench '{out}/" + "z" * 300 + ".csv': File name too long\n"),
    case("plot-bench-dev-zero", ["plot", "--bench", "/dev/zero", "--out", "{out}/c.png"], 2,
         f"Error: --bench '/dev/zero' {NOT_REGULAR}; give the CSV file written by resnet-inspect bench --csv\n"),
    case("plot-bench-empty", ["plot", "--bench", "{bench_empty.csv}", "--out", "{out}/c.png"], 2,
         "Error: --bench '{bench_empty.csv}' is not a CSV table: No columns to parse from file\n"),
    case("plot-bench-wrong-columns", ["plot", "--bench", "{bench_cols.csv}", "--out", "{out}/c.png"], 2,
         f"Error: --bench '{{bench_cols.csv}}' {NO_BENCH_COLUMNS}\n"),
    case("plot-bench-binary", ["plot", "--bench", "{pickle.h5}", "--out", "{out}/c.png"], 2,
         "Error: --bench '{pickle.h5}' is not a CSV table: 'utf-8' codec can't decode byte 0x80 in position 0: "
         "invalid start byte\n"),
    case("plot-bench-with-depth", ["plot", "--bench", "{bench_ok.csv}", "--depth", "18", "--out", "{out}/c.png"], 2,
         "Error: --depth/-d cannot be used with --bench: the chart shows the bench file as it is\n"),
    case("plot-classes-billion", ["plot", "-d", "18", "--classes", "1000000000", "--input-size", "32", "--out",
                                  "{out}/c.png"], 1),
    # report
    case("report-no-out", ["report", "--depth", "18"], 2, "Error: Missing option '--out' / '-o'.\n"),
    case("report-out-file", ["report", *TINY, "--out", "{plain.txt}"], 2,
         "Error: --out '{plain.txt}' is a file; give a folder\n"),
    case("report-out-below-file", ["report", *TINY, "--out", "{plain.txt}/r"], 2,
         "Error: --out '{plain.txt}/r': '{plain.txt}' is not a folder\n"),
    case("report-out-name-too-long", ["report", *TINY, "--out", "{out}/" + "r" * 300], 2,
         "Error: --out '{out}/" + "r" * 300 + "': File name too long\n"),
    case("report-out-proc", ["report", *TINY, "--out", "/proc/resnet-report"], 1,
         "Error: cannot write --out '/proc/resnet-report': No such file or directory\n"),
    case("report-batch-zero", ["report", *TINY, "--out", "{out}/r", "--batch-size", "0"], 2,
         "Error: --batch-size must be a positive integer, got 0\n"),
    case("report-over-its-bench-file", ["report", *TINY, "--out", "{out}", "--bench", "{out}/blocks.csv"], 2,
         "Error: --out '{out}/blocks.csv' would overwrite the --bench file; give another path\n"),
    case("report-file-is-a-folder", ["report", *TINY, "--out", "{out}"], 2,
         "Error: --out '{out}/report.json' is a folder; give a file path\n"),
    case("report-measure-batch-billion", ["report", *TINY, "--out", "{out}/r", "--measure", "-b", "1000000000"], 1),
    # paper
    case("paper-depth-unknown", ["paper", "--depth", "7"], 2,
         "Error: the paper's Table 1 has no depth 7; its depths: 18, 34, 50, 101, 152\n"),
    case("paper-depth-not-in-table", ["paper", "--depth", "200"], 2,
         "Error: the paper's Table 1 has no depth 200; its depths: 18, 34, 50, 101, 152\n"),
    case("paper-csv-dev-null", ["paper", "--csv", "/dev/null"], 2,
         f"Error: --csv '/dev/null' {NOT_REGULAR}; give a file path\n"),
]

# What some cases find in their {out} folder before they run.
SETUP = {
    "report-over-its-bench-file": lambda out, files: (out / "blocks.csv").write_text(files["bench_ok.csv"].read_text()),
    "report-file-is-a-folder": lambda out, files: (out / "report.json").mkdir(),
}


def fill(text: str, files: dict[str, Path], out: Path) -> str:
    text = text.replace("{out}", str(out)).replace("{cpus}", str(len(os.sched_getaffinity(0))))
    size = files["tiny.h5"].stat().st_size
    text = text.replace("{third of tiny.h5}", str(size // 3)).replace("{size of tiny.h5}", str(size))
    for name, path in files.items():
        text = text.replace("{" + name + "}", str(path))
    return text


def listing(folder: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(folder)), p.stat().st_size if p.is_file() else -1) for p in folder.rglob("*"))


def test_case_names_are_unique() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    assert len(CASES) >= 150, len(CASES)


@pytest.fixture(scope="module")
def figures(build) -> dict[str, str]:
    return expected_figures(build)


@pytest.mark.parametrize("bad", CASES, ids=lambda c: c.name)
def test_bad_input(bad: Case, files: dict[str, Path], figures: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    if bad.name in SETUP:
        SETUP[bad.name](out, files)
    before, watched = listing(out), listing(files["plain.txt"].parent)
    result = CliRunner().invoke(app, [fill(a, files, out) for a in bad.args])
    expected = figures[bad.name] if bad.message is None else fill(bad.message, files, out)
    assert (result.exit_code, result.stderr) == (bad.code, expected)
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert listing(out) == before  # nothing written, nothing left behind
    assert listing(files["plain.txt"].parent) == watched  # and the inputs untouched
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_the_derived_figures_are_checked_against_keras(build) -> None:
    """The extrapolation of linear_in_blocks and quadratic, against Keras at sizes it can build."""
    assert linear_in_blocks(build, (3, 2), input_size=64, width=4) == keras_size(
        build, None, blocks=(3, 2), input_size=64, width=4
    )
    by_width = tuple(keras_size(build, 18, input_size=32, width=w)[0] for w in (1, 2, 3))
    assert quadratic(by_width, 5) == keras_size(build, 18, input_size=32, width=5)[0]


def test_bad_input_never_loads_tensorflow(files: dict[str, Path], tmp_path: Path) -> None:
    """Every case of the table, run in a fresh process: all are refused before TensorFlow is imported."""
    commands = []
    for number, bad in enumerate(CASES):
        out = tmp_path / f"out{number}"
        out.mkdir()
        if bad.name in SETUP:
            SETUP[bad.name](out, files)
        commands.append([[fill(a, files, out) for a in bad.args], bad.code])
    code = (
        "import json, sys\n"
        "from typer.testing import CliRunner\n"
        "from resnet_inspect.analysis import budget\n"
        f"budget.host_free_bytes = lambda: {FREE}\n"
        "budget.gpu_free_bytes = lambda index=0: None\n"
        "from resnet_inspect.cli import app\n"
        "for args, code in json.loads(sys.stdin.read()):\n"
        "    result = CliRunner().invoke(app, args)\n"
        "    assert result.exit_code == code, (args, result.output)\n"
        "    assert 'tensorflow' not in sys.modules, ('TensorFlow was imported', args)\n"
        "print(len(sys.argv) and 'ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], input=json.dumps(commands), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


# --- safe loading, beyond the command line ------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["imagenet_utils", "resnet", "decode_predictions", "preprocess_input", "__builtins__", "ResNet50;rm"]
)
def test_a_name_that_skips_parse_source_is_still_refused(name: str) -> None:
    """load_model checks again, once Keras is loaded: only a function of keras.applications' own modules."""
    from resnet_inspect.errors import UsageError
    from resnet_inspect.model.sources import ModelSource, load_model

    with pytest.raises(UsageError, match=f"^unknown keras.applications model {re.escape(repr(name))}"):
        load_model(ModelSource(f"keras:{name}", application=name))


def test_keras_safe_mode_is_the_second_line(files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """With the JSON scan blinded, Keras' own safe mode still refuses the Lambda layer."""
    from resnet_inspect.errors import UsageError
    from resnet_inspect.model import sources

    monkeypatch.setattr(sources, "_code_layers", lambda config: ())
    source = sources.parse_source(str(files["lambda.keras"]))
    assert source.code_layers == ()
    with pytest.raises(UsageError, match="holds a Lambda layer"):
        sources.load_model(source)


def test_the_scan_finds_every_lambda(files: dict[str, Path]) -> None:
    from resnet_inspect.model.sources import parse_source

    assert parse_source(str(files["lambda.keras"])).code_layers == ("double",)
    assert parse_source(str(files["lambda.h5"])).code_layers == ("double",)
    assert parse_source(str(files["tiny.keras"])).code_layers == ()


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
def test_a_read_only_file_system(tmp_path: Path) -> None:
    """A read-only tmpfs mounted in a private mount namespace: every writer fails with one line, exit 1,
    and the report already there is untouched."""
    folder = tmp_path / "ro"
    folder.mkdir()
    lines = [
        f"mount -t tmpfs tmpfs {folder} && echo 'old report' > {folder}/r.csv && mount -o remount,ro {folder}"
        " || exit 99",
    ]
    commands = [
        ["summary", *TINY, "--csv", f"{folder}/r.csv"],
        ["summary", *TINY, "--json", f"{folder}/new/r.json"],
        ["report", *TINY, "--out", f"{folder}/bundle"],
        ["plot", "--depth", "18", "--out", f"{folder}/c.png"],
    ]
    for args in commands:
        lines.append(f"{shlex.quote(sys.executable)} -m resnet_inspect {shlex.join(args)}; echo \"exit $?\"")
    lines.append(f"cat {folder}/r.csv; ls -A {folder}")
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("this machine does not allow a private mount namespace")
    done = subprocess.run(["unshare", "-rm", "sh", "-c", "\n".join(lines)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"Error: cannot write --csv '{folder}/r.csv': Read-only file system",
        f"Error: cannot write --json '{folder}/new/r.json': Read-only file system",
        f"Error: cannot write --out '{folder}/bundle': Read-only file system",
        f"Error: cannot write --out '{folder}/c.png': Read-only file system",
    ]
    assert done.stdout.splitlines() == ["exit 1"] * 4 + ["old report", "r.csv"]
