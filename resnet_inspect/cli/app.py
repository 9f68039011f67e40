"""The typer application, its error handling and the options shared by several commands.

Commands are thin: parse, call the library, render. Nothing here imports
TensorFlow; commands import the modules that do only once input is valid.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer
from typer.core import TyperGroup
from typer.exceptions import Abort, TyperException

from resnet_inspect.errors import InspectError, UsageError
from resnet_inspect.specs import BlockKind, DataFormat, ResNetSpec, make_spec, parse_blocks, parse_input_size

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
) -> ResNetSpec:
    """Validate the network options into a spec (no TensorFlow)."""
    if depth is not None and blocks is not None:
        raise UsageError("give either --depth or --blocks, not both")
    return make_spec(
        50 if depth is None and blocks is None else depth,
        blocks=parse_blocks(blocks) if blocks is not None else None,
        block_kind=block_type,
        input_size=parse_input_size(input_size),
        classes=classes,
        width=width,
        use_bias=bias,
        data_format=data_format,
    )
