"""The typer application: its commands, loaded on demand, and its error handling.

Commands are thin: parse, call the library, render. Each lives in ``cli/<name>.py`` (or :data:`MODULES`) and registers
with :func:`command`, which expands its option groups (:mod:`resnet_inspect.cli.groups`, declared in
:mod:`resnet_inspect.cli.options`) and gives it the tool's ``--version``. The root lists the
commands from :data:`COMMANDS` and imports a command's module only to run it or show its help,
so ``resnet-inspect --help`` loads none of them. Nothing here imports TensorFlow; commands import
the modules that do only once input is valid.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup
from typer.exceptions import Abort, TyperException

from resnet_inspect.cli.groups import Command, NamingCommand, VersionOpt, expand
from resnet_inspect.cli.process import fail, interruption
from resnet_inspect.errors import InspectError

# Every command, in the order --help lists them, with the one line it says about itself there
# (and atop its own --help). The command itself is cli/<name>.py.
COMMANDS = {
    "archs": "Every network --arch and compare take (resnet50d, resnext50_32x4d, resnet56, ...): family, source, "
    "knobs.",
    "bench": "Forward-pass latency and throughput: mean/p50/p90/p99 step time, images/s, GFLOP/s, % of peak.",
    "compare": "Compare blocks (regular bottleneck) or models (resnet18 resnet34 resnet50 ...) side by side.",
    "memory": "Memory per unit (activations, parameters), inference peak, training memory, FLOPs/byte, "
    "receptive field.",
    "paper": "The paper's Table 1 MACs (and the published parameter counts) beside our v1 networks.",
    "plot": "Charts as PNG: per-block params and FLOPs (--depth ...), params vs MACs (model names), or --bench "
    "results.",
    "profile": "Where the forward pass's time goes: p50/p90 per block or stage beside FLOPs, GFLOP/s, share, "
    "FLOPs/byte and roofline bound.",
    "report": "Write layers/blocks/stages CSV, report.json, report.md and its charts (PNG) into --out.",
    "summary": "Per-stage, per-block or per-layer output shapes, parameters, MACs and FLOPs.",
}
# A command whose name is a module of the standard library lives in a module named otherwise.
MODULES = {"profile": "profiling"}
# The commands registered so far (their modules imported), by name.
_REGISTERED: dict[str, typer.Typer] = {}

DEBUG_ENV = "RESNET_INSPECT_DEBUG"


class _Group(TyperGroup):
    """Loads a command when it is asked for, and turns every failure into one ``Error:`` line and an
    exit code: 2 usage, 1 runtime, 130 Ctrl-C (143 SIGTERM)."""

    _listing = False

    def list_commands(self, ctx: typer.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: typer.Context, name: str) -> Any:
        if name not in COMMANDS:
            return None
        if name in self.commands:
            return self.commands[name]
        if self._listing:  # the root's --help: the name and its line are enough
            return TyperCommand(name, help=COMMANDS[name])
        importlib.import_module(f"resnet_inspect.cli.{MODULES.get(name, name)}")
        self.commands[name] = typer.main.get_command(_REGISTERED[name])
        return self.commands[name]

    def format_help(self, ctx: typer.Context, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except TyperException as exc:  # typer's usage errors (exit_code 2) and other CLI errors
            if not exc.format_message():  # no arguments at all: the help was shown
                sys.exit(exc.exit_code)
            fail(exc.format_message(), exc.exit_code)
        except Abort:
            fail("aborted", 130)
        except InspectError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:  # typer turns one into exit 130 without a word; one that escapes it
            fail(*interruption())
        except MemoryError:  # its message is empty: say what happened
            fail("out of memory (the request needs more memory than this process could get)", 1)
        except Exception as exc:  # an unexpected failure still gets one line, not a traceback
            if os.environ.get(DEBUG_ENV):
                raise
            fail(f"{type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for the traceback)", 1)
        if rv == 130:  # typer's answer to a KeyboardInterrupt (Ctrl-C, or SIGTERM: see cli/process.py)
            fail(*interruption())
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=_Group,
    name="resnet-inspect",
    help="Build ResNet variants in Keras and tell exactly what they are: shapes, weights, MACs, FLOPs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(version: VersionOpt = False) -> None:
    """Build ResNet variants in Keras and tell exactly what they are: shapes, weights, MACs, FLOPs."""


def command(func: Command) -> Command:
    """Register ``func`` as the command of its name (a key of :data:`COMMANDS`): its option groups
    expanded, and ``--version`` as the root has it."""
    name = func.__name__
    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    single.command(name, help=COMMANDS[name], cls=NamingCommand)(expand(func))
    _REGISTERED[name] = single
    return func
