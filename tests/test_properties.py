"""Property tests (hypothesis) over the option space of summary, compare and bench.

For any generated command line the result is either exit 0 with the expected output (and every file
asked for, complete), or exit 1 or 2 with exactly one ``Error: `` line on stderr; never a traceback,
never a file left half-written or a temporary left behind. Option values are drawn from good values
(tiny networks, so the cases that build are fast), bad ones (wrong types, empty, negative, zero, huge,
unknown names, folders, devices, /proc) and arbitrary text. The host is said to have 256 MiB free, so a
request that would take minutes to build (--blocks 1000,1000,1000,1000) is refused, as a real machine
would refuse a larger one.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_hostile import make_files
from typer.testing import CliRunner

from resnet_inspect.analysis import budget
from resnet_inspect.cli import app

FREE = budget.TF_RUNTIME_BYTES + budget.FORWARD_BYTES + 256 * 2**20  # TensorFlow and 256 MiB for the work
EXAMPLES = {"summary": 60, "compare": 60, "bench": 40}
# How many examples ran, by command and outcome (read by test_examples_ran, last in this file).
RAN: dict[str, dict[int, int]] = {}

# Values a user might type; "{tmp}" is a fresh folder per example, "{files}" the hostile files.
JUNK = ["", " ", "-1", "0", "abc", "99999999999999999999", "1e9", "nan", "{tmp}", "/proc/x", "\u00e9\u00e8", "--"]
SIZES = ["32", "40x32", "33", "16", "0", "-1", "x", "32x", "10000000000", "224"]
OUTPUTS = ["{tmp}/out.csv", "{tmp}/new/dir/out.json", "{tmp}", "/dev/null", "/proc/out.csv", "-", "",
           "{files}/plain.txt/x", "{tmp}/same"]
NETWORK = {
    "--depth": ["18", "34", "0", "-1", "51", "abc", "", "18.5", "99999999999999999999"],
    "--blocks": ["1,1", "1", "2,1", "1,1,1", "", "0", "1,-1", "a", "1,1,1,1,1,1,1", "99999999999999999999",
                 "1000,1000,1000,1000", "300"],
    "--block-type": ["regular", "bottleneck", "REGULAR", "foo", ""],
    "--input-size": SIZES,
    "--classes": ["10", "1", "0", "-5", "abc", "1000000000"],
    "--width": ["8", "4", "0", "-1", "1000000000", "w"],
    "--data-format": ["channels_last", "channels_first", "CHANNELS_FIRST", "nchw"],
    "--arch-version": ["v1", "v2", "V1", "v3"],
    "--csv": OUTPUTS,
    "--json": OUTPUTS,
}
FLAGS = {"--bias": [], "--no-bias": []}
OPTIONS = {
    "summary": {
        **NETWORK,
        "--level": ["stage", "block", "layer", "model", ""],
        "--model": ["{files}/tiny.keras", "{files}/tiny.h5", "{files}/lambda.keras", "{files}/text.keras",
                    "{files}/fifo.keras", "keras:os.system", "keras:Nope", "keras:", "missing.keras", ""],
    },
    "compare": {
        **{k: NETWORK[k] for k in ("--input-size", "--classes", "--width", "--data-format", "--arch-version", "--csv",
                                   "--json")},
        "--filters": ["8", "4", "0", "-2", "1000000000000", "x"],
        "--size": ["8", "14", "0", "-3", "10000000000", "y"],
        "--level": ["model", "stage", "block", ""],
    },
    "bench": {
        **NETWORK,
        "--batch-size": ["1", "2", "0", "-1", "1000000000", "b"],
        "--device": ["cpu", "auto", "gpu:0", "tpu", "", "cpu:1"],
        "--devices": ["one", "all", "many"],
        "--precision": ["float32", "mixed_bfloat16", "float64", ""],
        "--warmup": ["0", "1", "-1", "99999999999999999999"],
        "--iterations": ["1", "2", "0", "10000000"],
        "--min-time": ["0.01", "0", "-1", "nan", "1e300"],
        "--threads": ["1", "0", "100000"],
        "--model": ["{files}/tiny.keras", "{files}/lambda.h5", "keras:imagenet_utils", ""],
    },
}
FLAG_OPTIONS = {"summary": {**FLAGS, "--unsafe": [], "--verify": []}, "compare": {**FLAGS, "--first": []},
                "bench": {**FLAGS, "--xla": [], "--unsafe": []}}
NAMES = ["regular", "bottleneck", "resnet18", "resnet34", "resnet18-v1", "resnet34-v2", "resnet50x", "", "foo"]
PAIRS = [["regular", "bottleneck"], ["bottleneck", "regular"], ["resnet18", "resnet34"], ["resnet18-v1", "resnet18"],
         ["resnet34-v1", "resnet18-v2", "resnet18-v1"]]
# The tiny network a command line starts from (options given later replace these), so what builds is fast.
TINY = ["--input-size", "32", "--width", "8", "--classes", "10"]
BASE = {"summary": TINY, "bench": [*TINY, "-n", "1", "--warmup", "0", "-b", "1"]}
BLOCK_BASE, MODEL_BASE = ["--filters", "8", "--size", "8"], TINY
# What stdout shows when a command succeeds.
SHOWN = {"summary": "Total params:", "compare": "MACs", "bench": "step times in ms"}


@st.composite
def command_lines(draw: st.DrawFn, command: str) -> list[str]:
    options, flags = OPTIONS[command], FLAG_OPTIONS[command]
    chosen = draw(st.lists(st.sampled_from(sorted(options) + sorted(flags)), max_size=5))
    args: list[str] = []
    for option in chosen:
        if option in flags:
            args.append(option)
        else:
            args += [option, draw(st.sampled_from(options[option]) | st.sampled_from(JUNK) | st.text(max_size=8))]
    if command == "compare":
        names = draw(st.sampled_from(PAIRS) | st.lists(st.sampled_from(NAMES) | st.text(max_size=6), max_size=4))
        base = BLOCK_BASE if set(names) <= {"regular", "bottleneck"} else MODEL_BASE
        return [command, *names, *base, *args]
    if "--model" in chosen:  # a model defines its network: the base options would only conflict
        return [command, *args]
    base = BASE[command] if "--depth" in chosen or "--blocks" in chosen else [*BASE[command], "--blocks", "1,1"]
    return [command, *base, *args]


def fill(args: list[str], tmp: Path, files: Path) -> list[str]:
    return [a.replace("{tmp}", str(tmp)).replace("{files}", str(files)) for a in args]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def outputs_asked(args: list[str]) -> dict[str, str]:
    """The last value of --csv and --json (typer keeps the last of a repeated option)."""
    asked = {}
    for i, arg in enumerate(args[:-1]):
        if arg in ("--csv", "--json"):
            asked[arg] = args[i + 1]
    return asked


@contextlib.contextmanager
def working_folder(folder: Path) -> Iterator[None]:
    """Run in ``folder``, so that an output named by a relative path (--csv abc) lands there."""
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def check(command: str, args: list[str], files: Path) -> None:
    with tempfile.TemporaryDirectory() as name, working_folder(Path(name)):
        tmp = Path(name)
        (tmp / "same").write_text("an existing report\n")
        line = fill(args, tmp, files)
        before_tmp, before_files = snapshot(tmp), snapshot(files)
        result = CliRunner().invoke(app, line)
        RAN.setdefault(command, {}).setdefault(result.exit_code, 0)
        RAN[command][result.exit_code] += 1
        assert "Traceback" not in result.output, line
        lines = result.stderr.splitlines()
        errors = [entry for entry in lines if entry.startswith("Error: ")]
        after_tmp = snapshot(tmp)
        assert not [p for p in after_tmp if p.endswith(".tmp")], (line, "a temporary was left")
        assert snapshot(files) == before_files, line  # inputs are never touched
        assert result.exit_code in (0, 1, 2), (line, result.exit_code, result.output)
        # stderr carries one error, or notes and warnings that go with a success (--unsafe, a model's level)
        assert all(entry.startswith(("Error: ", "Warning: ", "note: ")) for entry in lines), (line, lines)
        if result.exit_code != 0:
            assert len(errors) == 1 and lines[-1] == errors[0], (line, result.stderr)
            assert after_tmp == before_tmp, (line, "a file was written")
            if result.exit_code == 2:
                assert result.stdout == "", line
            return
        assert errors == [], line
        assert SHOWN[command] in result.stdout, (line, result.stdout[-500:])
        for option, value in outputs_asked(line).items():
            written = tmp / value  # a relative path is in the working folder, an absolute one stays as it is
            text = written.read_text()  # complete: it parses
            if option == "--json":
                assert json.loads(text)["columns"]
            else:
                rows = list(csv.reader(text.splitlines()))
                assert len(rows) >= 2 and all(len(r) == len(rows[0]) for r in rows), line


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_files(tmp_path_factory.mktemp("files"))["plain.txt"].parent


@pytest.fixture
def small_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "host_free_bytes", lambda: FREE)
    monkeypatch.setattr(budget, "gpu_free_bytes", lambda index=0: None)


def property_test(command: str) -> Callable[..., None]:
    @settings(
        max_examples=EXAMPLES[command],
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(args=command_lines(command))
    def test(args: list[str], hostile: Path, small_host: None) -> None:
        check(command, args, hostile)

    test.__name__ = f"test_{command}_any_command_line"
    return test


test_summary_any_command_line = property_test("summary")
test_compare_any_command_line = property_test("compare")
test_bench_any_command_line = property_test("bench")


def test_examples_ran() -> None:
    """The figures for the closing note: examples per command and outcome (exit code)."""
    if set(RAN) != set(EXAMPLES):
        pytest.skip("run with the property tests above")
    for command, outcomes in RAN.items():
        assert sum(outcomes.values()) >= EXAMPLES[command] // 2, (command, outcomes)
    print("hypothesis examples:", json.dumps(RAN, sort_keys=True))
