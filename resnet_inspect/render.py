"""Rich rendering of reports. The only module that formats for the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from resnet_inspect.export import format_shape
from resnet_inspect.records import Level, Report, Totals, UnitRow

CONVENTION_LINE = (
    "MACs = multiply-accumulates of conv/dense layers (the ResNet paper's \"FLOPs\"); "
    "FLOPs = every floating-point operation, a multiply-add counts 2. Batch of 1."
)
UNKNOWN = "?"


def make_console(stderr: bool = False) -> Console:
    """A console that does not wrap wide tables when output is piped or captured."""
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console = Console(stderr=stderr, width=160)
    return console


def count(value: int) -> str:
    return f"{value:,}"


def giga(value: int | None) -> str:
    return UNKNOWN if value is None else f"{value / 1e9:.2f} G"


def mega(value: int | None) -> str:
    return UNKNOWN if value is None else f"{value / 1e6:,.1f}"


def summary_table(rows: Sequence[UnitRow], level: Level, title: str | None = None) -> Table:
    table = Table(title=title, header_style="bold")
    table.add_column(level.value.capitalize(), no_wrap=True)
    table.add_column("Type", no_wrap=True)
    table.add_column("Output shape", justify="right", no_wrap=True)
    table.add_column("Params", justify="right")
    table.add_column("Weights", justify="right")
    table.add_column("Biases", justify="right")
    table.add_column("BN γ/β", justify="right")
    table.add_column("BN μ/σ²", justify="right")
    table.add_column("MACs (M)", justify="right")
    table.add_column("FLOPs (M)", justify="right")
    for row in rows:
        table.add_row(
            row.name,
            row.type,
            format_shape(row.output_shape),
            count(row.params),
            count(row.weights),
            count(row.biases),
            count(row.bn_trainable),
            count(row.bn_non_trainable),
            mega(row.macs),
            mega(row.flops),
        )
    return table


def totals_text(totals: Totals) -> Text:
    text = Text()
    text.append("Total params: ", style="bold")
    text.append(f"{count(totals.params)}  (trainable {count(totals.trainable)}, "
                f"non-trainable {count(totals.non_trainable)})\n")
    text.append("Split: ", style="bold")
    text.append(
        f"weights {count(totals.weights)}, biases {count(totals.biases)}, BN γ/β {count(totals.bn_trainable)}, "
        f"BN μ/σ² {count(totals.bn_non_trainable)}"
        + (f", other {count(totals.other)}" if totals.other else "")
        + "\n"
    )
    text.append("MACs: ", style="bold")
    text.append(giga(totals.macs))
    text.append("   FLOPs: ", style="bold")
    text.append(giga(totals.flops))
    text.append(f"   layers: {totals.layers}")
    if totals.unsupported:
        text.append(
            f"\nFLOPs unknown: {totals.unsupported} unsupported layer(s); the supported ones count "
            f"{giga(totals.macs_counted)} MACs, {giga(totals.flops_counted)} FLOPs",
            style="yellow",
        )
    return text


def print_report(console: Console, report: Report, level: Level, heading: str) -> None:
    console.print(Text(heading, style="bold"))
    console.print(Text(CONVENTION_LINE, style="dim"))
    console.print(summary_table(report.rows(level), level))
    console.print(totals_text(report.totals))
    for item in report.unsupported:
        console.print(Text(f"unsupported: {item.name} ({item.layer_type}): {item.reason}", style="yellow"))
