"""``paper --family``: each family's published parameters and multiply-adds beside ours, one table a section."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from resnet_inspect.analysis.flops import CONVENTION_LINE
from resnet_inspect.analysis.paper import FamilyRow, Section
from resnet_inspect.output.columns import Column, count
from resnet_inspect.output.fit import Sheet, print_sheet
from resnet_inspect.units import UNKNOWN

NOT_PUBLISHED = "-"


def _published_count(value: float | None) -> str:
    if value is None:
        return NOT_PUBLISHED
    return count(int(value)) if float(value).is_integer() and value % 10_000 else f"{value / 1e6:g} M"


def _verdict(value: bool | None) -> str:
    return NOT_PUBLISHED if value is None else ("yes" if value else "NO")


FAMILY_VIEW = (
    Column("name", "Network", text=True, left=True),
    Column("trainable", "Our trainable params", fmt=count, text=True),
    Column("published_params", "Published", fmt=_published_count, text=True),
    Column("params_within", "Agrees", fmt=_verdict, text=True, center=True),
    Column("macs", "Our MACs", fmt=lambda v: UNKNOWN if v is None else f"{v / 1e9:.3f} G", text=True),
    Column("published_macs", "Published", fmt=lambda v: NOT_PUBLISHED if v is None else f"{v / 1e9:g} G",
           text=True),
    Column("macs_within", "Agrees", fmt=_verdict, text=True, center=True),
)


def print_family_sections(console: Console, sections: Sequence[Section], rows: Sequence[FamilyRow]) -> None:
    """One table a section; a row agrees when it is equal (an exact count) or within the rounding of the
    digits the source prints, and says NO otherwise."""
    console.print(Text(CONVENTION_LINE, style="dim"))
    for section in sections:
        mine = tuple(dataclasses.asdict(r) for r in rows if r.section == section.family)
        print_sheet(console, Sheet(FAMILY_VIEW, mine, title=f"{section.family}: {section.source}"))
    console.print(Text(
        "Agrees: equal to an exact published count, or within the rounding of the digits printed "
        "(4.3 G: 4.25 to 4.35 G). Trainable parameters: conv weights, BN gamma and beta, the dense layer "
        "and its bias (no conv bias), at 224x224 (CIFAR: 32x32, 10 classes).",
        style="dim",
    ))
