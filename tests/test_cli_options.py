"""The command line's shared options: declared once, named by field in the library and by option on the
command line, ``--version`` wherever it is given, and a fast start (no heavy import for help or usage errors)."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from resnet_inspect.analysis.compare import BlockSetup
from resnet_inspect.analysis.memory import memory_totals
from resnet_inspect.bench.plan import make_plan
from resnet_inspect.cli import app
from resnet_inspect.cli.app import COMMANDS, MODULES
from resnet_inspect.errors import FieldError
from resnet_inspect.model.spec import BlockKind, ResNetSpec, make_spec, parse_blocks, parse_input_size

HEAVY = ("numpy", "pandas", "matplotlib", "tensorflow")
VERSION = f"resnet-inspect {importlib.metadata.version('resnet-inspect')}\n"
NETWORK_COMMANDS = ("summary", "bench", "profile", "memory", "plot", "report")
NETWORK = ("--depth", "--blocks", "--block-type", "--input-size", "--classes", "--width", "--bias", "--data-format",
           "--arch-version")


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def params_of(name: str) -> dict[str, object]:
    """The click parameters of command ``name``, by their first option (``--depth``)."""
    group = typer.main.get_command(app)
    command = group.get_command(typer.Context(group), name)
    return {p.opts[0]: p for p in command.params}


def declaration(param) -> tuple:
    return (param.name, tuple(param.opts), tuple(param.secondary_opts), param.default, param.help, param.metavar,
            str(param.display_type), param.required, param.is_flag)


# --- --version, wherever it is given ----------------------------------------------------------------


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_prints_the_tool_version(name: str) -> None:
    result = run(name, "--version")
    assert (result.exit_code, result.stdout, result.stderr) == (0, VERSION, "")


@pytest.mark.parametrize(
    "args",
    [["summary", "--depth", "abc", "--version"], ["plot", "--version"], ["report", "--version", "--depth", "7"],
     ["summary", "--arch-version", "v1", "--version"], ["--version"]],
)
def test_version_answers_before_any_other_option_is_checked(args: list[str]) -> None:
    """--version is eager: a missing --out or a bad value beside it does not stop it."""
    result = run(*args)
    assert (result.exit_code, result.stdout, result.stderr) == (0, VERSION, "")


def test_arch_version_is_the_network_option() -> None:
    assert run("summary", "--arch-version").stderr == "Error: Option '--arch-version' requires an argument.\n"


# --- the network options, declared once --------------------------------------------------------------


def test_the_network_options_are_the_same_on_every_command() -> None:
    first = params_of(NETWORK_COMMANDS[0])
    for name in NETWORK_COMMANDS[1:]:
        params = params_of(name)
        assert [declaration(params[o]) for o in NETWORK] == [declaration(first[o]) for o in NETWORK], name
    # compare takes model names, each with its depth: the six options that hold for any depth, alike
    compare = params_of("compare")
    wide = [o for o in NETWORK if o in compare]
    assert wide == ["--input-size", "--classes", "--width", "--bias", "--data-format", "--arch-version"]
    assert [declaration(compare[o]) for o in wide] == [declaration(first[o]) for o in wide]


def test_every_spec_field_is_set_by_an_option_of_the_same_name() -> None:
    """So a library error about a field names the option that sets it."""
    by_name = {p.name: p for p in params_of("summary").values()}
    for spec_field in dataclasses.fields(ResNetSpec):
        if spec_field.name == "changed":  # derived: what the options changed on top of --arch
            continue
        assert spec_field.name in by_name, spec_field.name
    assert {f: by_name[f].opts[0] for f in ("blocks", "block_kind", "input_size", "use_bias", "version")} == {
        "blocks": "--blocks", "block_kind": "--block-type", "input_size": "--input-size", "use_bias": "--bias",
        "version": "--arch-version"}


# A bad value through the Python API (its message names the field) and through the command line (the option).
FIELD_ERRORS = [
    (lambda: make_spec(18, classes=0), "classes", "must be a positive integer, got 0", ["--classes", "0"]),
    (lambda: make_spec(18, width=-8), "width", "must be a positive integer, got -8", ["--width", "-8"]),
    (lambda: make_spec(None, blocks=(3, 0)), "blocks", "needs positive block counts, e.g. 3,4,6,3",
     ["--blocks", "3,0"]),
    (lambda: make_spec(None, blocks=(1,) * 7), "blocks", "takes at most 6 block layers, got 7",
     ["--blocks", "1,1,1,1,1,1,1"]),
    (lambda: parse_blocks("3,x"), "blocks", "must be comma-separated positive integers such as 3,4,6,3, got '3,x'",
     ["--blocks", "3,x"]),
    (lambda: parse_input_size("big"), "input_size", "must be N or HxW (e.g. 224 or 192x256), got 'big'",
     ["--input-size", "big"]),
    (lambda: parse_input_size("224x0"), "input_size", "must be positive, got '224x0'", ["--input-size", "224x0"]),
    (lambda: make_spec(18, input_size=(0, 64)), "input_size", "must be a positive integer, got 0", None),
]


# The same rule for the library behind one command: (call, field, the Python message, command line, its message).
COMMAND_FIELD_ERRORS = [
    (lambda: make_plan([4, 0]), "batch_size", "batch_size must be a positive integer, got 0",
     ["bench", "--depth", "18", "--batch-size", "0"], "--batch-size must be a positive integer, got 0"),
    (lambda: make_plan(iterations=3, min_time=2.0), "iterations",
     "iterations and min_time cannot both be given: give one",
     ["bench", "--iterations", "3", "--min-time", "2"], "--iterations and --min-time cannot both be given: give one"),
    (lambda: make_plan(device="tpu"), "device", "device must be auto, cpu, gpu or gpu:N, got 'tpu'",
     ["bench", "--device", "tpu"], "--device must be auto, cpu, gpu or gpu:N, got 'tpu'"),
    (lambda: make_plan(warmup=-1), "warmup", "warmup must be 0 or more, got -1",
     ["bench", "--warmup", "-1"], "--warmup must be 0 or more, got -1"),
    (lambda: BlockSetup(BlockKind.REGULAR, filters=0), "filters", "filters must be a positive integer, got 0",
     ["compare", "regular", "bottleneck", "--filters", "0"], "--filters must be a positive integer, got 0"),
    (lambda: memory_totals(None, 0), "batch_size", "batch_size must be a positive integer, got 0",  # type: ignore
     ["memory", "--depth", "18", "--batch-size", "0"], "--batch-size must be a positive integer, got 0"),
]


@pytest.mark.parametrize(("call", "field", "message", "args", "cli_message"), COMMAND_FIELD_ERRORS)
def test_library_errors_behind_commands_name_fields(call, field: str, message: str, args, cli_message: str) -> None:
    with pytest.raises(FieldError) as caught:
        call()
    assert (str(caught.value), caught.value.field) == (message, field)
    result = run(*args)
    assert (result.exit_code, result.stderr) == (2, f"Error: {cli_message}\n")


@pytest.mark.parametrize(("call", "field", "problem", "args"), FIELD_ERRORS)
def test_library_errors_name_the_field_and_the_cli_the_option(call, field: str, problem: str, args) -> None:
    with pytest.raises(FieldError) as caught:
        call()
    assert (str(caught.value), caught.value.field) == (f"{field} {problem}", field)
    assert "--" not in str(caught.value)
    if args is not None:
        for command in NETWORK_COMMANDS:
            extra = ["--out", "x.png"] if command in ("plot", "report") else []
            result = run(command, *args, *extra)
            assert (result.exit_code, result.stderr) == (2, f"Error: {args[0]} {problem}\n"), command


def test_build_resnet_from_python_does_not_talk_about_options() -> None:
    from resnet_inspect import build_resnet

    with pytest.raises(FieldError, match=r"^classes must be a positive integer, got 0$"):
        build_resnet(18, classes=0)


# --- commands loaded on demand ------------------------------------------------------------------------


def test_the_command_table_is_the_cli_modules() -> None:
    folder = Path(__file__).resolve().parent.parent / "resnet_inspect" / "cli"
    shared = {"__init__", "app", "groups", "options", "process"}
    assert sorted(MODULES.get(name, name) for name in COMMANDS) == sorted(
        p.stem for p in folder.glob("*.py") if p.stem not in shared)
    group = typer.main.get_command(app)
    for name, line in COMMANDS.items():
        command = group.get_command(typer.Context(group), name)
        assert (command.name, command.help) == (name, line)


# --- fast start: help and usage errors import none of the heavy libraries ---------------------------------

# One usage error per command, refused before anything is built.
USAGE_ERRORS = {
    "summary": ["summary", "--depth", "51"],
    "compare": ["compare", "regular"],
    "bench": ["bench", "--blocks", "1,1", "--input-size", "32", "--device", "tpu"],
    "memory": ["memory", "--blocks", "1,1", "--input-size", "32", "--batch-size", "0"],
    "plot": ["plot", "resnet51", "--out", "c.png"],
    "profile": ["profile", "--level", "layer"],
    "report": ["report", "--depth", "18"],
    "paper": ["paper", "--depth", "7"],
}
RUNNER = """
import contextlib, io, json, sys
from resnet_inspect.cli import app
found = []
for args in json.loads(sys.stdin.read()):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            app(args)
            code = 0
        except SystemExit as exc:
            code = exc.code
    heavy = [m for m in HEAVY if m in sys.modules]
    commands = sorted(m.rsplit(".", 1)[1] for m in sys.modules if m.rsplit(".", 1)[-1] in COMMANDS
                      and m.startswith("resnet_inspect.cli."))
    found.append([args, code, (out.getvalue() + err.getvalue()).strip().splitlines()[:1], heavy, commands])
print(json.dumps(found))
"""


def test_help_and_usage_errors_import_nothing_heavy() -> None:
    cases = [["--help"], [], *([name, "--help"] for name in COMMANDS), *USAGE_ERRORS.values(), ["nonsense"]]
    code = f"HEAVY = {HEAVY!r}\nCOMMANDS = {sorted(COMMANDS)!r}\n{RUNNER}"
    done = subprocess.run([sys.executable, "-c", code], input=json.dumps(cases), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout)
    assert [r[0] for r in results] == cases
    for args, exit_code, first_line, heavy, _ in results:
        assert heavy == [], (args, heavy)
        if args in USAGE_ERRORS.values() or args == ["nonsense"]:
            assert exit_code == 2 and first_line[0].startswith("Error: "), (args, exit_code, first_line)
        else:
            assert exit_code in (0, None) or (args == [] and exit_code == 2), (args, exit_code)
            assert "Usage:" in first_line[0] or first_line == [], (args, first_line)
    # The root's --help lists the commands without importing any of them; a command's --help, its own.
    assert results[0][4] == results[1][4] == []
    assert results[2][4] == [sorted(COMMANDS)[0]]
