"""``resnet-inspect paper``: the paper's Table 1 (MACs at 224x224) beside our v1 networks."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from resnet_inspect.analysis.paper import (
    CITATION,
    PAPER_GMACS,
    PAPER_INPUT_SIZE,
    PARAMS_SOURCE,
    SECTIONS,
    TOLERANCE,
    Section,
    family_row,
    family_sections,
    paper_depths,
    paper_row,
    paper_spec,
)
from resnet_inspect.cli.app import command
from resnet_inspect.cli.options import Outputs
from resnet_inspect.errors import UsageError

PaperDepthOpt = Annotated[
    Optional[list[int]],
    typer.Option(
        "--depth",
        "-d",
        help=f"A depth of Table 1 ({', '.join(str(d) for d in PAPER_GMACS)}); repeat for several (default: all).",
    ),
]


FamilyOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--family",
        "-f",
        help=f"Instead of Table 1: a family's published figures beside ours ({', '.join(SECTIONS)} or all); "
        "repeat for several.",
    ),
]


@command
def paper(depth: PaperDepthOpt = None, family: FamilyOpt = None, *, outputs: Outputs) -> None:
    if family:
        if depth:
            raise UsageError("--depth picks rows of Table 1; give it or --family, not both")
        sections = family_sections(family)
        outputs.check()
        paper_families(sections, outputs)
        return
    depths = paper_depths(depth or [])
    outputs.check()

    from resnet_inspect.analysis.flops import CONVENTION
    from resnet_inspect.analysis.inspection import inspect_spec  # imports TensorFlow
    from resnet_inspect.output.export import write_csv, write_json
    from resnet_inspect.output.payloads import versions
    from resnet_inspect.output.render import make_console, print_paper

    rows = [paper_row(d, inspect_spec(paper_spec(d))) for d in depths]
    print_paper(make_console(wide=outputs.wide), rows, CITATION, PARAMS_SOURCE)
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


def paper_families(sections: tuple[Section, ...], outputs: Outputs) -> None:
    """Build each member of ``sections`` as published, walk it, and set it beside its source's figures."""
    import dataclasses

    from resnet_inspect.analysis.flops import CONVENTION
    from resnet_inspect.analysis.inspection import inspect_spec  # imports TensorFlow
    from resnet_inspect.model.family import member_spec
    from resnet_inspect.output.export import write_csv, write_json
    from resnet_inspect.output.paper_tables import print_family_sections
    from resnet_inspect.output.payloads import versions
    from resnet_inspect.output.render import make_console

    rows = [family_row(s, p, inspect_spec(member_spec(p.name))) for s in sections for p in s.rows]
    print_family_sections(make_console(wide=outputs.wide), sections, rows)
    if outputs.csv is not None:
        write_csv(outputs.csv, rows)
    if outputs.json is not None:
        write_json(outputs.json, {
            "sections": [{"family": s.family, "source": s.source} for s in sections],
            "convention": CONVENTION,
            "versions": versions(),
            "rows": [dataclasses.asdict(r) for r in rows],
        })
