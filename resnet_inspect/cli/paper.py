"""``resnet-inspect paper``: the paper's Table 1 (MACs at 224x224) beside our v1 networks."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from resnet_inspect.analysis.paper import (
    CITATION,
    PAPER_GMACS,
    PAPER_INPUT_SIZE,
    PARAMS_SOURCE,
    TOLERANCE,
    paper_depths,
    paper_row,
    paper_spec,
)
from resnet_inspect.cli.app import command
from resnet_inspect.cli.options import Outputs

PaperDepthOpt = Annotated[
    Optional[list[int]],
    typer.Option(
        "--depth",
        "-d",
        help=f"A depth of Table 1 ({', '.join(str(d) for d in PAPER_GMACS)}); repeat for several (default: all).",
    ),
]


@command
def paper(depth: PaperDepthOpt = None, *, outputs: Outputs) -> None:
    depths = paper_depths(depth or [])
    outputs.check()

    from resnet_inspect.analysis.flops import CONVENTION
    from resnet_inspect.analysis.inspection import inspect_spec  # imports TensorFlow
    from resnet_inspect.output.export import write_csv, write_json
    from resnet_inspect.output.payloads import versions
    from resnet_inspect.output.render import make_console, print_paper

    rows = [paper_row(d, inspect_spec(paper_spec(d))) for d in depths]
    print_paper(make_console(), rows, CITATION, PARAMS_SOURCE)
    if outputs.csv is not None:
        write_csv(outputs.csv, rows)
    if outputs.json is not None:
        import dataclasses

        write_json(
            outputs.json,
            {
                "citation": CITATION,
                "params_source": PARAMS_SOURCE,
                "input_size": [PAPER_INPUT_SIZE, PAPER_INPUT_SIZE],
                "tolerance": TOLERANCE,
                "convention": CONVENTION,
                "versions": versions(),
                "rows": [dataclasses.asdict(r) for r in rows],
            },
        )
