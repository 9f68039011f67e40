"""A table that fits the console without cutting a number or a name.

Rich shortens a cell that does not fit its column to ``9,…``; here a table never reaches that point. It is
printed whole when it fits; otherwise it gives way in the order of the columns' declarations
(:mod:`resnet_inspect.output.columns`):

1. compact units: every column that has one shows three significant digits and a unit in each cell;
2. fewer columns: the columns with a ``drop`` priority go, highest first, one at a time;
3. folded: the remaining columns are split into parts, each a table of its own that repeats the key columns
   (the names), and a name that alone is wider than the console wraps onto further lines.

A dim line under the table says what gave way and how to see the whole (``--wide``, or the CSV/JSON exports).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rich import box as boxes
from rich.console import Console
from rich.table import Table
from rich.text import Text

from resnet_inspect.output.columns import Column

# The width of a console that imposes none (a pipe, a file, --wide): every table prints at its natural width.
UNLIMITED = 10_000


@dataclass(frozen=True)
class Sheet:
    """A table before it is fitted: ``columns`` over ``rows`` (values by field, a ``str`` value shown as it is).

    ``key`` leading columns name a row and are repeated in every part of a folded table; ``headers`` overrides
    a column's title by field (the level: Stage, Block...); ``styles``/``sections`` are per row.
    """

    columns: tuple[Column, ...]
    rows: tuple[Mapping[str, Any], ...]
    title: str | None = None
    key: int = 1
    headers: Mapping[str, str] = field(default_factory=dict)
    styles: tuple[str | None, ...] = ()
    sections: tuple[bool, ...] = ()
    box: boxes.Box = boxes.HEAVY_HEAD
    caption: str | None = None


def _cell(column: Column, fmt: Any, value: Any) -> str:
    return value if isinstance(value, str) and not column.text else fmt(value)


def build(sheet: Sheet, columns: Sequence[Column], compact: bool = False, fold_key: bool = False) -> Table:
    """A rich table of ``columns`` of ``sheet``; ``fold_key`` lets the key columns wrap (whole characters)."""
    table = Table(title=sheet.title, header_style="bold", box=sheet.box, caption=sheet.caption, caption_justify="left")
    formats = []
    for column in columns:
        values = [row[column.field] for row in sheet.rows if not isinstance(row[column.field], str)]
        title, fmt = column.shown(values, compact)
        formats.append(fmt)
        keyed = fold_key and column in sheet.columns[: sheet.key]
        table.add_column(
            sheet.headers.get(column.field, title),
            justify="center" if column.center else "left" if column.left else "right",
            no_wrap=not keyed,
            overflow="fold",
        )
    for i, row in enumerate(sheet.rows):
        table.add_row(
            *[_cell(c, f, row[c.field]) for c, f in zip(columns, formats, strict=True)],
            style=sheet.styles[i] if sheet.styles else None,
            end_section=bool(sheet.sections and sheet.sections[i]),
        )
    return table


def natural_width(console: Console, table: Table) -> int:
    return console.measure(table, options=console.options.update_width(UNLIMITED)).maximum


def _folded(console: Console, sheet: Sheet, columns: Sequence[Column], width: int, compact: bool) -> list[Table]:
    """The columns after the key, in parts that each fit ``width`` beside the key columns."""
    key, rest = list(columns[: sheet.key]), list(columns[sheet.key :])
    parts: list[list[Column]] = []
    for column in rest:
        if parts and natural_width(console, build(sheet, key + parts[-1] + [column], compact)) <= width:
            parts[-1].append(column)
        else:
            parts.append([column])
    tables = []
    for i, part in enumerate(parts, 1):
        title = f"{sheet.title} ({i}/{len(parts)})" if sheet.title else f"Part {i}/{len(parts)}"
        numbered = replace(sheet, title=title)
        table = build(numbered, key + part, compact)
        tables.append(table if natural_width(console, table) <= width else build(numbered, key + part, compact, True))
    return tables


def fit(console: Console, sheet: Sheet, width: int) -> tuple[list[Table], str]:
    """The tables that show ``sheet`` within ``width`` columns, and a note on what gave way ('' if nothing)."""
    columns = list(sheet.columns)
    tables = [build(sheet, columns)]
    if natural_width(console, tables[0]) <= width:
        return tables, ""
    compact = any(c.compacts for c in columns)
    order = sorted((c for c in columns if c.drop), key=lambda c: -c.drop)  # stable: declared order among equals
    dropped: list[Column] = []
    tables = [build(sheet, columns, compact)]
    while natural_width(console, tables[0]) > width and order:
        dropped.append(order.pop(0))
        columns.remove(dropped[-1])
        tables = [build(sheet, columns, compact)]
    gave = ["3-digit k/M/G units"] if compact else []
    if dropped:
        gave.append("without " + ", ".join(sheet.headers.get(c.field, c.header) or c.field for c in dropped))
    if natural_width(console, tables[0]) > width:
        tables = _folded(console, sheet, columns, width, compact)
        gave.append(f"in {len(tables)} parts")
    return tables, f"To fit {width} columns: {'; '.join(gave)}. --wide shows the full table."


def print_sheet(console: Console, sheet: Sheet) -> None:
    """Print ``sheet`` fitted to the console's width, and what gave way, if anything."""
    tables, note = fit(console, sheet, console.width)
    for table in tables:
        console.print(table)
    if note:
        console.print(Text(note, style="dim"))
