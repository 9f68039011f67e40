"""`memory`, `plot` and `report` through typer's CliRunner: files, numbers, exact errors."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from test_reports import png_size
from typer.testing import CliRunner

from resnet_inspect.bench.plan import BENCH_COLUMNS
from resnet_inspect.cli import app
from resnet_inspect.model.family import MEMBERS

SMALL = ["--depth", "18", "--input-size", "32"]
BUNDLE = ["blocks.csv", "blocks.png", "layers.csv", "memory.png", "report.json", "report.md", "stages.csv"]


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def write_bench(path: Path, columns=BENCH_COLUMNS, rows=None) -> Path:
    """A bench CSV as `bench --csv` writes it: two settings, three batch sizes."""
    rows = rows or [
        [1, "CPU:0", "float32", False, 10.0, 9.9, 10.7, 10.8, 0.7, 100.0, 30.0, 19.2],
        [4, "CPU:0", "float32", False, 16.8, 16.8, 17.5, 17.7, 0.8, 238.5, 71.6, 45.7],
        [16, "CPU:0", "float32", False, 42.0, 39.9, 46.5, 47.3, 4.0, 380.6, 114.2, ""],
        [1, "CPU:0", "mixed_bfloat16", True, 8.0, 7.9, 8.7, 8.8, "", 125.0, 37.5, ""],
        [16, "CPU:0", "mixed_bfloat16", True, 30.0, 29.9, 31.5, 32.3, 1.0, 533.3, 160.0, ""],
    ]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row[BENCH_COLUMNS.index(c)] for c in columns])
    return path


def assert_png(path: Path) -> tuple[int, int]:
    width, height = png_size(path.read_bytes())
    assert width > 300 and height > 200
    return width, height


# --- memory ----------------------------------------------------------------------------------------


def test_memory_table_and_exports_match_the_model(tmp_path: Path, build) -> None:
    _, model, _ = build(18, input_size=32)
    c, j = tmp_path / "m.csv", tmp_path / "m.json"
    result = run("memory", *SMALL, "--level", "stage", "--batch-size", "4", "--csv", str(c), "--json", str(j))
    assert result.exit_code == 0, result.output
    assert "Inference peak (estimate):" in result.stdout and "Training activation memory:" in result.stdout
    assert "Measured" not in result.stdout  # only with --measure
    rows = list(csv.DictReader(c.open()))
    assert [r["name"] for r in rows] == ["stem", "block_layer1", "block_layer2", "block_layer3", "block_layer4", "head"]
    # every layer's output at batch 4, float32, from the Keras model itself
    stem = [layer for layer in model.layers if layer.name == "input" or layer.name.startswith("stem.")]
    assert int(rows[0]["activation_bytes"]) == sum(math.prod(la.output.shape[1:]) for la in stem) * 4 * 4
    assert sum(int(r["param_bytes"]) for r in rows) == model.count_params() * 4
    doc = json.loads(j.read_text())
    assert doc["memory"]["batch_size"] == 4 and doc["memory"]["dtype"] == "float32"
    assert doc["memory"]["param_bytes"] == model.count_params() * 4
    assert [r["receptive_field"] for r in doc["rows"]] == [int(r["receptive_field"]) for r in rows]
    assert {"jump", "arithmetic_intensity", "bytes_moved"} <= set(doc["rows"][0])
    assert "measured" not in doc


def test_memory_measure_shows_the_measured_peak(tmp_path: Path) -> None:
    j = tmp_path / "m.json"
    result = run("memory", *SMALL, "--batch-size", "8", "--measure", "--json", str(j))
    assert result.exit_code == 0, result.output
    assert "Measured peak:" in result.stdout
    measured = json.loads(j.read_text())["measured"]
    # the first run of the pass in a fresh process, then a warm run (whose rise the allocator may hide)
    assert measured["peak_bytes"] > 0 and len(measured["passes"]) == 2
    assert measured["peak_bytes"] == measured["passes"][0]
    assert measured["estimate_bytes"] == json.loads(j.read_text())["memory"]["inference_peak_bytes"]
    assert measured["difference_bytes"] == measured["peak_bytes"] - measured["estimate_bytes"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["memory", "--batch-size", "0"], "Error: --batch-size must be a positive integer, got 0\n"),
        (["report", "--out", "x", "--batch-size", "-3"], "Error: --batch-size must be a positive integer, got -3\n"),
        (["plot", "--out", "chart.jpg"], "Error: --out 'chart.jpg' must name a .png file\n"),
        (["plot", "resnet18", "--depth", "50", "--out", "a.png"],
         "Error: --depth/-d cannot be used with model names: each name gives its depth (and version, e.g. resnet50-v1)\n"),
        (["plot", "resnet18", "--bench", "b.csv", "--out", "a.png"], "Error: give model names or --bench, not both\n"),
        (["plot", "--bench", "b.csv", "--input-size", "64", "--out", "a.png"],
         "Error: --input-size cannot be used with --bench: the chart shows the bench file as it is\n"),
        (["plot", "resnet19", "--out", "a.png"],
         "Error: unknown model name 'resnet19'; known models: resnet18, resnet34, resnet50, resnet101, resnet152, "
         "resnet200, optionally with a version suffix (-v1, -v2); the family (`resnet-inspect archs`): "
         + ", ".join(name for name in MEMBERS if MEMBERS[name].spec.arch is not None) + "\n"),
        (["plot", "resnet18", "resnet18", "--out", "a.png"],
         "Error: 'resnet18' and 'resnet18' are the same network; name each once\n"),
        (["plot", "--bench", "missing.csv", "--out", "a.png"], "Error: --bench 'missing.csv': no such file; give the CSV file written by resnet-inspect bench --csv\n"),
        (["report", "--depth", "51", "--out", "x"], "Error: unknown depth 51; valid depths: 18, 34, 50, 101, 152, 200\n"),
    ],
)
def test_usage_errors_are_one_line_exit_2(args: list[str], message: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr == message
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_missing_out_and_bad_dtype_are_typer_errors() -> None:
    for command in ("plot", "report"):
        result = run(command, *SMALL)
        assert result.exit_code == 2
        assert result.stderr == "Error: Missing option '--out' / '-o'.\n"
    result = run("memory", "--dtype", "int8")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Invalid value for '--dtype'") and result.stderr.count("\n") == 1


def test_bad_bench_files_are_refused(tmp_path: Path) -> None:
    missing = write_bench(tmp_path / "missing.csv", columns=[c for c in BENCH_COLUMNS if c not in ("p99_ms", "xla")])
    result = run("plot", "--bench", str(missing), "--out", str(tmp_path / "a.png"))
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: --bench '{missing}' lacks the column(s) xla, p99_ms; a bench CSV (resnet-inspect bench --csv) "
        f"has {', '.join(BENCH_COLUMNS)}\n"
    )
    bad = write_bench(tmp_path / "bad.csv", rows=[[1, "CPU:0", "float32", False, "fast", 1, 1, 1, 1, 1, 1, 1]])
    result = run("report", *SMALL, "--bench", str(bad), "--out", str(tmp_path / "r"))
    assert result.exit_code == 2
    assert result.stderr == f"Error: --bench '{bad}' line 2: mean_ms must be a number, got 'fast'\n"
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = run("plot", "--bench", str(empty), "--out", str(tmp_path / "a.png"))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: --bench '{empty}' is not a CSV table") and result.stderr.count("\n") == 1
    header_only = tmp_path / "header.csv"
    header_only.write_text(",".join(BENCH_COLUMNS) + "\n")
    result = run("plot", "--bench", str(header_only), "--out", str(tmp_path / "a.png"))
    assert result.stderr == f"Error: --bench '{header_only}' has no rows\n"
    assert not list(tmp_path.glob("*.png")) and not (tmp_path / "r").exists()


def test_output_errors(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    result = run("report", *SMALL, "--out", str(blocker))
    assert result.exit_code == 2
    assert result.stderr == f"Error: --out '{blocker}' is a file; give a folder\n"
    result = run("report", *SMALL, "--out", str(blocker / "sub"))
    assert result.exit_code == 2
    assert result.stderr == f"Error: --out '{blocker / 'sub'}': '{blocker}' is not a folder\n"
    result = run("report", *SMALL, "--out", "/proc/resnet_inspect_report")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot write --out '/proc/resnet_inspect_report'")
    assert result.stderr.count("\n") == 1
    result = run("plot", *SMALL, "--out", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr == f"Error: --out '{tmp_path}' must name a .png file\n"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


def test_usage_errors_do_not_import_tensorflow() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from resnet_inspect.cli import app\n"
        "for args in (['plot', '--help'], ['report', '--help'], ['memory', '--help'],\n"
        "             ['plot', '--out', 'x.txt'], ['plot', 'resnet7', '--out', 'x.png'],\n"
        "             ['report', '--out', '/dev/null'], ['memory', '--batch-size', '0']):\n"
        "    r = CliRunner().invoke(app, args)\n"
        "    assert r.exit_code == (0 if '--help' in args else 2), (args, r.output)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'pandas', 'matplotlib')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- plot ------------------------------------------------------------------------------------------


def test_every_chart_command_writes_a_png(tmp_path: Path) -> None:
    blocks, models, bench = tmp_path / "blocks.png", tmp_path / "deep" / "models.png", tmp_path / "bench.png"
    result = run("plot", *SMALL, "--out", str(blocks))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"wrote {blocks}\n"
    result = run("plot", "resnet18", "resnet34", "resnet18-v1", "--input-size", "32", "--out", str(models))
    assert result.exit_code == 0, result.output
    result = run("plot", "--bench", str(write_bench(tmp_path / "b.csv")), "--out", str(bench))
    assert result.exit_code == 0, result.output
    sizes = [assert_png(p) for p in (blocks, models, bench)]
    assert len(set(sizes)) == 3  # three different charts
    assert not list(tmp_path.rglob("*.tmp"))


def test_block_chart_grows_with_the_blocks(tmp_path: Path) -> None:
    result = run("plot", "--blocks", "1,1", "--input-size", "32", "--out", str(tmp_path / "a.png"))
    assert result.exit_code == 0, result.output
    result = run("plot", "--blocks", "9,9,9,9", "--input-size", "32", "--out", str(tmp_path / "b.png"))
    assert result.exit_code == 0, result.output
    (wa, _), (wb, _) = assert_png(tmp_path / "a.png"), assert_png(tmp_path / "b.png")
    assert wb > wa  # 38 blocks need more room than 4


# --- report ----------------------------------------------------------------------------------------


def test_report_bundle(tmp_path: Path, build) -> None:
    _, model, report = build(18, input_size=32)
    out = tmp_path / "r18"
    result = run("report", *SMALL, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == BUNDLE
    for png in ("blocks.png", "memory.png"):
        assert_png(out / png)
    layers = list(csv.DictReader((out / "layers.csv").open()))
    assert len(layers) == len(model.layers)
    assert sum(int(r["params"]) for r in layers) == model.count_params()
    blocks = list(csv.DictReader((out / "blocks.csv").open()))
    assert blocks[-2]["name"] == "block_layer4.regular_block1"
    # ResNet-18 by hand (tests/test_receptive.py): 435, jump 32, whatever the input size
    assert (blocks[-2]["receptive_field"], blocks[-2]["jump"]) == ("435", "32")
    doc = json.loads((out / "report.json").read_text())
    assert doc["totals"]["params"] == model.count_params()
    assert [r["name"] for r in doc["stages"]][-1] == "head"
    assert all({"receptive_field", "jump"} <= set(r) for r in doc["blocks"] + doc["layers"] + doc["stages"])
    md = (out / "report.md").read_text()
    for heading in ("## Configuration", "## FLOP convention", "## Stages", "## Blocks", "## Memory",
                    "## Receptive field", "## Charts"):  # fmt: skip
        assert heading in md, heading
    assert "![Parameters and FLOPs per block](blocks.png)" in md
    assert "a multiply-add is 2" in md
    assert "## Latency" not in md
    assert f"| params | {model.count_params():,} " in md


def test_report_is_deterministic_and_bench_adds_latency(tmp_path: Path) -> None:
    bench = write_bench(tmp_path / "bench.csv")
    for name in ("a", "b"):
        result = run("report", *SMALL, "--bench", str(bench), "--out", str(tmp_path / name))
        assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted([*BUNDLE, "latency.png"])
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    md = (tmp_path / "a" / "report.md").read_text()
    assert "## Latency" in md and "![Latency and throughput against batch size](latency.png)" in md
    assert "| 16 | CPU:0 | float32 | off | 42.00 | 39.90 | 46.50 | 47.30 | 380.6 | 114.2 | ? |" in md
    doc = json.loads((tmp_path / "a" / "report.json").read_text())
    assert doc["bench"]["file"] == "bench.csv" and len(doc["bench"]["rows"]) == 5
    assert doc["bench"]["rows"][3]["std_ms"] is None and doc["bench"]["rows"][3]["xla"] is True
