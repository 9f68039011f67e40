"""The typer application, its error handling and the options shared by several commands.

Commands are thin: parse, call the library, render. Nothing here imports
TensorFlow; commands import the modules that do only once input is valid.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer
from typer.core import TyperGroup
from typer.exceptions import Abort, TyperException

from resnet_inspect.analysis.budget import check_build
from resnet_inspect.bench import hardware
from resnet_inspect.errors import InspectError, UsageError
from resnet_inspect.model.sources import ModelSource, check_safe, parse_source
from resnet_inspect.model.spec import (
    BlockKind,
    DataFormat,
    ResNetSpec,
    Version,
    make_spec,
    parse_blocks,
    parse_input_size,
)

DEBUG_ENV = "RESNET_INSPECT_DEBUG"


def fail(message: str, code: int) -> NoReturn:
    """Print one ``Error: ...`` line on stderr and exit with ``code``."""
    line = " ".join(str(message).split())
    sys.stdout.flush()
    sys.stderr.write(f"Error: {line}\n")
    sys.stderr.flush()
    sys.exit(code)


class _Group(TyperGroup):
    """Turns every failure into one ``Error:`` line and an exit code: 2 usage, 1 runtime, 130 Ctrl-C."""

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
        except KeyboardInterrupt:
            fail("interrupted", 130)
        except MemoryError:  # its message is empty: say what happened
            fail("out of memory (the request needs more memory than this process could get)", 1)
        except Exception as exc:  # an unexpected failure still gets one line, not a traceback
            if os.environ.get(DEBUG_ENV):
                raise
            fail(f"{type(exc).__name__}: {exc} (set {DEBUG_ENV}=1 for the traceback)", 1)
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



def _show_version(value: bool) -> None:
    if value:
        from resnet_inspect import __version__

        sys.stdout.write(f"resnet-inspect {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", help="Show the version and exit.", is_eager=True, callback=_show_version)
    ] = False,
) -> None:
    """Build ResNet variants in Keras and tell exactly what they are: shapes, weights, MACs, FLOPs."""


# --- network options, declared once ----------------------------------------------------------

DepthOpt = Annotated[
    Optional[int],
    typer.Option("--depth", "-d", help="Published depth: 18, 34, 50, 101, 152 or 200 (default 50 without --blocks)."),
]
BlocksOpt = Annotated[
    Optional[str], typer.Option("--blocks", help="Custom layout: blocks per block layer, e.g. 3,4,6,3.")
]
BlockTypeOpt = Annotated[
    Optional[BlockKind],
    typer.Option("--block-type", case_sensitive=False, help="Block kind for a custom layout (default bottleneck)."),
]
InputSizeOpt = Annotated[str, typer.Option("--input-size", help="Input side N or HxW.")]
ClassesOpt = Annotated[int, typer.Option("--classes", help="Number of classes of the dense logits.")]
WidthOpt = Annotated[int, typer.Option("--width", help="Filters of the initial conv (doubled per block layer).")]
BiasOpt = Annotated[bool, typer.Option("--bias/--no-bias", help="Conv2D bias (Keras default, as the seeds).")]
DataFormatOpt = Annotated[DataFormat, typer.Option("--data-format", case_sensitive=False)]
VersionOpt = Annotated[
    Version,
    typer.Option(
        "--arch-version",
        case_sensitive=False,
        help="v2: the seeds' pre-activation ResNet; v1: the paper's original post-activation network.",
    ),
]
ModelOpt = Annotated[
    Optional[str],
    typer.Option(
        "--model",
        "-m",
        help="Inspect another model instead: keras:<Application> (e.g. keras:ResNet50, built with "
        "weights=None) or a .keras / .h5 file (loaded in Keras safe mode).",
    ),
]
UnsafeOpt = Annotated[
    bool,
    typer.Option(
        "--unsafe",
        help="Load a --model file with safe mode off: allows Lambda layers and runs their code. Trusted files only.",
    ),
]
CsvOpt = Annotated[Optional[Path], typer.Option("--csv", help="Write the table as CSV.", dir_okay=True)]
JsonOpt = Annotated[Optional[Path], typer.Option("--json", help="Write the table, totals and config as JSON.")]


def network_spec(
    depth: int | None,
    blocks: str | None,
    block_type: BlockKind | None,
    input_size: str,
    classes: int,
    width: int,
    bias: bool,
    data_format: DataFormat,
    version: Version = Version.V2,
) -> ResNetSpec:
    """Validate the network options into a spec (no TensorFlow), refusing one that cannot be built here
    (:func:`resnet_inspect.analysis.budget.check_build`)."""
    if depth is not None and blocks is not None:
        raise UsageError("give either --depth or --blocks, not both")
    spec = make_spec(
        50 if depth is None and blocks is None else depth,
        blocks=parse_blocks(blocks) if blocks is not None else None,
        block_kind=block_type,
        input_size=parse_input_size(input_size),
        classes=classes,
        width=width,
        use_bias=bias,
        data_format=data_format,
        version=version,
    )
    check_build(spec, hardware.host_free_bytes())
    return spec


# The network options, by parameter name: a --model defines its own network, so they conflict with it,
# except --input-size and --classes, which a keras.applications constructor takes.
NETWORK_PARAMS = ("depth", "blocks", "block_type", "input_size", "classes", "width", "bias", "data_format", "version")
APPLICATION_PARAMS = ("input_size", "classes")


def was_given(ctx: typer.Context, name: str) -> bool:
    """Whether the user set parameter ``name`` (command line or environment) rather than leaving its default."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name != "DEFAULT"  # typer vendors click: compare by name


def given_options(ctx: typer.Context, names: Iterable[str]) -> list[str]:
    """The options among the parameters ``names`` that the user set, as they are spelled."""
    wanted = set(names)
    return [
        "/".join(param.opts + param.secondary_opts)
        for param in ctx.command.params
        if param.name in wanted and was_given(ctx, param.name)
    ]


def network_or_model(
    ctx: typer.Context,
    model: str | None,
    unsafe: bool,
    depth: int | None,
    blocks: str | None,
    block_type: BlockKind | None,
    input_size: str,
    classes: int,
    width: int,
    bias: bool,
    data_format: DataFormat,
    version: Version,
) -> tuple[ResNetSpec | None, ModelSource | None, dict[str, Any]]:
    """Validate the network options, or ``--model`` and what goes with it (no TensorFlow).

    Returns ``(spec, None, {})`` for a network to build, ``(None, source, load options)`` for a --model;
    :func:`resnet_inspect.analysis.inspection.open_model` takes them.
    """
    if model is None:
        if unsafe:
            raise UsageError("--unsafe applies to a --model file")
        return network_spec(depth, blocks, block_type, input_size, classes, width, bias, data_format, version), None, {}
    source, options = model_source(ctx, model, unsafe, input_size, classes)
    return None, source, options


def model_source(
    ctx: typer.Context, model: str, unsafe: bool, input_size: str, classes: int
) -> tuple[ModelSource, dict[str, Any]]:
    """Validate ``--model`` and the options given with it (no TensorFlow).

    Returns the source and the keyword arguments for :func:`resnet_inspect.model.sources.load_model`.
    """
    source = parse_source(model)
    allowed = APPLICATION_PARAMS if source.application is not None else ()
    conflicts = given_options(ctx, [n for n in NETWORK_PARAMS if n not in allowed])
    if conflicts:
        takes = "; keras:<Application> takes --input-size and --classes" if source.application is None else ""
        raise UsageError(f"{conflicts[0]} cannot be combined with --model: the model defines its own network{takes}")
    if unsafe and source.path is None:
        raise UsageError(f"--unsafe applies to a model file, not to {model}")
    check_safe(source, unsafe)  # a Lambda layer is refused here, before Keras is loaded
    options: dict[str, Any] = {}
    if was_given(ctx, "input_size"):
        options["input_size"] = parse_input_size(input_size)
    if was_given(ctx, "classes"):
        if classes <= 0:
            raise UsageError(f"--classes must be a positive integer, got {classes}")
        options["classes"] = classes
    return source, options
