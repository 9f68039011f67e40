"""The same command twice gives byte-identical CSV, JSON, Markdown and PNG files, for every command that exports.

Every command runs in two fresh processes with different ``PYTHONHASHSEED`` (set and dict-of-set
iteration orders differ between them), and their files are compared byte for byte. ``bench`` is a
measurement: its timing columns differ from run to run, and everything else in its files must not;
run metadata that changes between runs (free memory, the largest batch it allows) stays on the console.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from resnet_inspect.analysis.budget import LARGEST_BATCH, RUN_METADATA
from resnet_inspect.bench.plan import BENCH_COLUMNS

TINY = ["--input-size", "32", "--blocks", "1,1", "--width", "8", "--classes", "10"]
SMALL = ["--input-size", "32", "--width", "8", "--classes", "10"]
BENCH_CSV = (
    ",".join(BENCH_COLUMNS) + "\n"
    "1,CPU:0,float32,False,2.5,2.5,2.5,2.5,,400.0,12.5,8.0\n"
    "4,CPU:0,float32,False,6.0,6.0,6.5,6.9,0.3,666.667,20.8333,13.3\n"
)
# The identity of a bench row; the other columns are measured.
BENCH_KEYS = ("batch_size", "device", "precision", "xla")


def commands(model: Path, bench: Path) -> list[list[str]]:
    """Every exporting command, writing into the current folder."""
    return [
        ["summary", *TINY, "--level", "layer", "--csv", "summary.csv", "--json", "summary.json"],
        ["summary", "--depth", "18", *SMALL, "--arch-version", "v1", "--verify", "--json", "verify.json"],
        ["summary", "--model", str(model), "--csv", "model.csv", "--json", "model.json"],
        ["compare", "regular", "bottleneck", "--filters", "8", "--size", "8", "--csv", "blocks.csv",
         "--json", "blocks.json"],
        ["compare", "resnet18", "resnet34-v1", *SMALL, "--level", "stage", "--csv", "models.csv",
         "--json", "models.json"],
        ["paper", "--depth", "18", "--csv", "paper.csv", "--json", "paper.json"],
        ["memory", *TINY, "--level", "layer", "--batch-size", "3", "--csv", "memory.csv", "--json", "memory.json"],
        ["report", *TINY, "--bench", str(bench), "--out", "report"],
        ["plot", "--depth", "18", *SMALL, "--out", "plot-blocks.png"],
        ["plot", "resnet18", "resnet34", *SMALL, "--out", "plot-models.png"],
        ["plot", "--bench", str(bench), "--out", "plot-bench.png"],
        ["bench", *TINY, "-b", "1", "-b", "2", "-n", "2", "--warmup", "0", "--device", "cpu",
         "--csv", "bench.csv", "--json", "bench.json"],
    ]


RUNNER = (
    "import json, sys\n"
    "from typer.testing import CliRunner\n"
    "from resnet_inspect.cli import app\n"
    "for args in json.loads(sys.argv[1]):\n"
    "    result = CliRunner().invoke(app, args)\n"
    "    assert result.exit_code == 0, (args, result.output[-2000:])\n"
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The commands run in two processes at once, with different hash seeds; their two folders."""
    from resnet_inspect._tf import keras

    inputs = tmp_path_factory.mktemp("inputs")
    model, bench = inputs / "tiny.keras", inputs / "bench.csv"
    image = keras.Input((8, 8, 3), name="image")
    features = keras.layers.GlobalAveragePooling2D(name="pool")(keras.layers.Conv2D(4, 3, name="conv")(image))
    keras.Model(image, keras.layers.Dense(2, name="logits")(features), name="tiny").save(model)
    bench.write_text(BENCH_CSV)
    folders, children = [], []
    for seed in ("1", "2"):
        folder = tmp_path_factory.mktemp(f"seed{seed}")
        # each its own cache of walks, so that both build and walk every network (not one reading the other's)
        cache = tmp_path_factory.mktemp(f"cache{seed}")
        env = {**os.environ, "PYTHONHASHSEED": seed, "TF_CPP_MIN_LOG_LEVEL": "3", "RESNET_INSPECT_CACHE": str(cache)}
        children.append(subprocess.Popen(
            [sys.executable, "-c", RUNNER, json.dumps(commands(model, bench))],
            cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
        folders.append(folder)
    for child in children:
        _, err = child.communicate(timeout=600)
        assert child.returncode == 0, err[-3000:]
    return folders[0], folders[1]


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_every_export_is_byte_identical(runs: tuple[Path, Path]) -> None:
    first, second = (files_of(folder) for folder in runs)
    measured = {"bench.csv", "bench.json"}
    assert set(first) == set(second)
    expected = {
        "summary.csv", "summary.json", "verify.json", "model.csv", "model.json", "blocks.csv", "blocks.json",
        "models.csv", "models.json", "paper.csv", "paper.json", "memory.csv", "memory.json", "plot-blocks.png",
        "plot-models.png", "plot-bench.png", *measured,
        *(f"report/{name}" for name in ("stages.csv", "blocks.csv", "layers.csv", "report.json", "report.md",
                                        "blocks.png", "memory.png", "latency.png")),
    }
    assert set(first) == expected
    different = [name for name in sorted(expected - measured) if first[name] != second[name]]
    assert different == []


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of each chunk after the 8-byte PNG signature: 4-byte length, 4-byte type, data, CRC."""
    chunks, position = [], 8
    while position < len(data):
        length = int.from_bytes(data[position:position + 4], "big")
        chunks.append((data[position + 4:position + 8], data[position + 8:position + 8 + length]))
        position += 12 + length
    return chunks


def test_no_timestamps_or_paths_of_the_run_in_the_files(runs: tuple[Path, Path]) -> None:
    for name, data in files_of(runs[0]).items():
        if name.endswith(".png"):
            chunks = png_chunks(data)
            assert chunks[-1][0] == b"IEND", name
            assert b"tIME" not in [kind for kind, _ in chunks], name
            texts = b" ".join(body for kind, body in chunks if kind in (b"tEXt", b"iTXt", b"zTXt"))
            assert b"Software" not in texts and b"Date" not in texts, (name, texts)
            continue
        assert str(runs[0]) not in data.decode(), name  # the folder the run happened in appears nowhere


def test_memory_measure_is_opt_in(runs: tuple[Path, Path]) -> None:
    document = json.loads((runs[0] / "memory.json").read_text())
    assert "measured" not in document and "memory" in document


def mask_bench(document: dict) -> dict:
    """The bench JSON with the measured values (timings and the rates made from them) blanked."""
    for row in document["rows"]:
        for column in BENCH_COLUMNS:
            if column not in BENCH_KEYS:
                row[column] = None
    for run in document["runs"]:
        run["times_ms"] = [None] * len(run["times_ms"])
    return document


def test_bench_exports_differ_only_in_what_was_measured(runs: tuple[Path, Path]) -> None:
    first, second = (json.loads((folder / "bench.json").read_text()) for folder in runs)
    assert not RUN_METADATA & set(first["environment"]) and LARGEST_BATCH not in first["environment"]
    assert first["environment"]["memory estimate"].startswith("float32: weights ")
    assert len(first["runs"]) == 2 and all(len(run["times_ms"]) == 2 for run in first["runs"])
    assert json.dumps(mask_bench(first), indent=2) == json.dumps(mask_bench(second), indent=2)
    tables = [list(csv.DictReader((folder / "bench.csv").read_text().splitlines())) for folder in runs]
    assert [[row[k] for k in BENCH_KEYS] for row in tables[0]] == [[row[k] for k in BENCH_KEYS] for row in tables[1]]
    assert [list(row) for row in tables[0]] == [list(BENCH_COLUMNS)] * 2
