"""`resnet-inspect summary` through typer's CliRunner (exact codes and messages) and once end to end."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_model import hand_params
from typer.testing import CliRunner

from resnet_inspect.cli import app

SMALL = ["--depth", "18", "--input-size", "32"]


def run(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["summary", "--depth", "51"], "Error: unknown depth 51; valid depths: 18, 34, 50, 101, 152, 200\n"),
        (["summary", "--blocks", "3,x,6"],
         "Error: --blocks must be comma-separated positive integers such as 3,4,6,3, got '3,x,6'\n"),
        (["summary", "--blocks", "3,0,6,3"], "Error: --blocks needs positive block counts, e.g. 3,4,6,3\n"),
        (["summary", "--blocks", ""],
         "Error: --blocks must be comma-separated positive integers such as 3,4,6,3, got ''\n"),
        (["summary", "--depth", "50", "--blocks", "3,4,6,3"], "Error: give either --depth or --blocks, not both\n"),
        (["summary", "--classes", "0"], "Error: --classes must be a positive integer, got 0\n"),
        (["summary", "--width", "-8"], "Error: --width must be a positive integer, got -8\n"),
        (["summary", "--input-size", "0"], "Error: --input-size must be positive, got '0'\n"),
        (["summary", "--input-size", "big"], "Error: --input-size must be N or HxW (e.g. 224 or 192x256), got 'big'\n"),
        (["summary", "--input-size", "16"],
         "Error: input 16x16 is too small for this network: it downsamples by 32, so the minimum input size is 32x32\n"),
        (["summary", "--input-size", "224x31"],
         "Error: input 224x31 is too small for this network: it downsamples by 32, so the minimum input size is 32x32\n"),
    ],
)
def test_usage_errors_are_one_line_exit_2(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr == message
    assert result.stdout == ""


def test_typer_usage_errors_are_one_line_too() -> None:
    result = run("summary", "--depth", "fifty")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Invalid value for '--depth'")
    assert result.stderr.count("\n") == 1
    result = run("summary", "--level", "everything")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Invalid value for '--level'")
    assert result.stderr.count("\n") == 1
    result = run("nonsense")
    assert result.exit_code == 2
    assert result.stderr == "Error: No such command 'nonsense'.\n"


def test_output_path_errors(tmp_path: Path) -> None:
    result = run("summary", *SMALL, "--csv", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr == f"Error: --csv '{tmp_path}' is a folder; give a file path\n"
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    result = run("summary", *SMALL, "--json", str(blocker / "out.json"))
    assert result.exit_code == 2
    assert result.stderr == f"Error: --json '{blocker / 'out.json'}': '{blocker}' is not a folder\n"
    result = run("summary", *SMALL, "--csv", "/proc/resnet_inspect_test.csv")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot write --csv '/proc/resnet_inspect_test.csv'")
    assert result.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_summary_prints_header_convention_table_and_totals(build) -> None:
    _, model, _ = build(18, input_size=32)
    result = run("summary", *SMALL)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("resnet18 v2 (pre-activation), regular blocks 2-2-2-2, input 32x32x3")
    assert "MACs = multiply-accumulates" in out and "a multiply-add counts 2" in out
    assert "block_layer4.regular_block1" in out
    assert f"Total params: {model.count_params():,}" in out


def test_exports_have_fixed_columns_and_are_deterministic(tmp_path: Path, build) -> None:
    _, model, report = build(18, input_size=32)
    paths = []
    for attempt in range(2):
        c, j = tmp_path / f"run{attempt}" / "s.csv", tmp_path / f"run{attempt}" / "s.json"
        result = run("summary", *SMALL, "--level", "stage", "--csv", str(c), "--json", str(j))
        assert result.exit_code == 0, result.output
        paths.append((c, j))
    assert paths[0][0].read_bytes() == paths[1][0].read_bytes()
    assert paths[0][1].read_bytes() == paths[1][1].read_bytes()
    rows = list(csv.DictReader(paths[0][0].open()))
    assert list(rows[0])[:10] == ["name", "type", "stage", "output_shape", "layers", "weights", "biases",
                                  "bn_trainable", "bn_non_trainable", "other"]
    assert {"params", "macs", "flops"} <= set(rows[0])
    assert [r["name"] for r in rows] == ["stem", "block_layer1", "block_layer2", "block_layer3", "block_layer4", "head"]
    assert sum(int(r["params"]) for r in rows) == model.count_params()
    assert rows[0]["output_shape"] == "8x8x64"
    doc = json.loads(paths[0][1].read_text())
    assert doc["totals"]["params"] == model.count_params()
    assert doc["config"]["depth"] == 18 and doc["config"]["input_size"] == [32, 32]
    assert set(doc["versions"]) == {"resnet_inspect", "tensorflow", "keras", "python"}
    assert doc["unsupported"] == []
    assert "multiply-add is 2" in doc["convention"]["flops"]
    assert [r["params"] for r in doc["rows"]] == [int(r["params"]) for r in rows]
    assert not [p for p in tmp_path.rglob("*.tmp")]
    umask = os.umask(0)
    os.umask(umask)
    assert paths[0][0].stat().st_mode & 0o777 == 0o666 & ~umask  # an ordinary file, not mkstemp's 0600


def test_export_is_atomic_and_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    from resnet_inspect.errors import InspectError
    from resnet_inspect.output.export import write_atomic

    target = tmp_path / "report.csv"
    target.write_text("old complete report\n")

    def half_then_fail(handle) -> None:
        handle.write("half of a new rep")
        raise OSError(28, "No space left on device")

    with pytest.raises(InspectError, match="No space left on device"):
        write_atomic(target, half_then_fail)
    assert target.read_text() == "old complete report\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.csv"]


def test_help_and_usage_errors_do_not_import_tensorflow() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from resnet_inspect.cli import app\n"
        "r = CliRunner().invoke(app, ['summary', '--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "r = CliRunner().invoke(app, ['summary', '--depth', '7'])\n"
        "assert r.exit_code == 2, r.output\n"
        "r = CliRunner().invoke(app, ['summary', '--csv', '/'])\n"
        "assert r.exit_code == 2, r.output\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'pandas')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_end_to_end_console_script(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("resnet-inspect")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "resnet_inspect"]
    out = tmp_path / "blocks.json"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([*command, "summary", *SMALL, "--json", str(out)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # TensorFlow's start-up chatter is kept off the user's terminal
    params = hand_params(18)  # ResNet-18's parameter count does not depend on the input size
    assert f"Total params: {params:,}" in done.stdout
    assert json.loads(out.read_text())["totals"]["params"] == params
    bad = subprocess.run([*command, "summary", "--depth", "3"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr == "Error: unknown depth 3; valid depths: 18, 34, 50, 101, 152, 200\n"
