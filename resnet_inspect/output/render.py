"""Rich rendering of a summary, its TensorFlow cross-check and the paper's table; the console and progress bars.

The tables of ``compare`` and ``memory`` are in :mod:`resnet_inspect.output.compare_tables` and
:mod:`resnet_inspect.output.memory_tables`; the columns of every table in :mod:`resnet_inspect.output.columns`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from resnet_inspect.analysis.crosscheck import ConvCheck, Verification
from resnet_inspect.analysis.flops import CONVENTION_LINE
from resnet_inspect.analysis.paper import PaperRow
from resnet_inspect.analysis.records import Level, Totals, UnitRow, Unsupported, flat
from resnet_inspect.analysis.report import Report
from resnet_inspect.output.columns import SUMMARY_VIEW, UNKNOWN, add_columns, cells, count, giga, signed


def make_console(stderr: bool = False) -> Console:
    """A console that does not wrap wide tables when output is piped or captured."""
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console = Console(stderr=stderr, width=160)
    return console


def make_progress(console: Console) -> Progress:
    """A progress bar drawn only on a terminal (never into a pipe or a file) and cleared when done."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


@contextlib.contextmanager
def build_progress(console: Console, total: int) -> Iterator[Callable[[int, str], None]]:
    """A progress bar while models are built."""
    with make_progress(console) as progress:
        task = progress.add_task("building", total=total)

        def step(done: int, label: str) -> None:
            progress.update(task, completed=done, description=f"building {label}" if label else "built")

        yield step


def summary_table(rows: Sequence[UnitRow], level: Level, title: str | None = None) -> Table:
    table = Table(title=title, header_style="bold")
    add_columns(table, SUMMARY_VIEW, level.value.capitalize())
    for row in rows:
        table.add_row(*cells(SUMMARY_VIEW, flat(row)))
    return table


def totals_text(totals: Totals) -> Text:
    split = totals.split
    text = Text()
    text.append("Total params: ", style="bold")
    text.append(f"{count(totals.params)}  (trainable {count(totals.trainable)}, "
                f"non-trainable {count(totals.non_trainable)})\n")
    text.append("Split: ", style="bold")
    text.append(
        f"weights {count(split.weights)}, biases {count(split.biases)}, BN γ/β {count(split.bn_trainable)}, "
        f"BN μ/σ² {count(split.bn_non_trainable)}"
        + (f", other {count(split.other)}" if split.other else "")
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


def print_unsupported(console: Console, unsupported: Sequence[Unsupported]) -> None:
    for item in unsupported:
        console.print(Text(f"unsupported: {item.name} ({item.layer_type}): {item.reason}", style="yellow"))


def print_report(console: Console, report: Report, level: Level, heading: str) -> None:
    console.print(Text(heading, style="bold"))
    console.print(Text(CONVENTION_LINE, style="dim"))
    console.print(summary_table(report.rows(level), level))
    console.print(totals_text(report.totals))
    print_unsupported(console, report.unsupported)


# --- TensorFlow's profiler beside our counts (summary --verify) ---------------------------------


def conv_check_text(conv: ConvCheck) -> Text:
    """One sentence on the convolution check: exact, or which layers differ."""
    if conv.layers == 0:
        return Text("No conv layers: nothing to compare conv by conv.")
    if conv.exact:
        return Text(
            f"Convolutions agree exactly: TF's conv ops count {count(conv.tf)} FLOPs = 2 x our "
            f"{count(conv.ours // 2)} conv MACs, checked layer by layer over {conv.layers} conv layers.",
            style="green",
        )
    shown = ", ".join(conv.mismatched[:3]) + (" ..." if len(conv.mismatched) > 3 else "")
    return Text(
        f"Convolutions DIFFER: TF counts {count(conv.tf)} FLOPs where 2 x our MACs is {count(conv.ours)}; "
        f"{len(conv.mismatched)} of {conv.layers} conv layers differ ({shown}).",
        style="bold red",
    )


def verification_table(verification: Verification) -> Table:
    table = Table(title="FLOPs: ours beside TensorFlow's profiler, per layer type", header_style="bold")
    table.add_column("Layer type", no_wrap=True)
    table.add_column("Layers", justify="right")
    table.add_column("Ours", justify="right")
    table.add_column("TensorFlow", justify="right")
    table.add_column("TF op kinds")
    table.add_column("TF - ours", justify="right")
    for row in verification.rows:
        ops = ", ".join(f"{op} {count(flops)}" for op, flops in row.tf_ops)
        table.add_row(
            row.layer_type,
            str(row.layers),
            UNKNOWN if row.ours is None else count(row.ours),
            count(row.tf),
            ops,
            "agree" if row.difference == 0 else signed(row.difference),
        )
    ours = verification.ours_total
    table.add_row(
        "Total",
        "",
        UNKNOWN if ours is None else count(ours),
        count(verification.tf_total),
        "",
        signed(None if ours is None else verification.tf_total - ours),
        style="bold",
    )
    return table


def print_verification(console: Console, verification: Verification) -> None:
    console.print(Text(f"TensorFlow cross-check: {verification.method}", style="dim"))
    console.print(verification_table(verification))
    for row in verification.rows:
        if row.note:  # why the two counts differ: a convention, stated once per layer type
            console.print(Text(f"{row.layer_type} ({signed(row.difference)}): {row.note}"))
    console.print(conv_check_text(verification.conv))


# --- the paper's Table 1 (paper) -------------------------------------------------------------------


def paper_table(rows: Sequence[PaperRow]) -> Table:
    table = Table(title="Table 1 of the paper beside our v1 networks (224x224, no conv bias)", header_style="bold")
    table.add_column("Network", no_wrap=True)
    table.add_column("Our MACs", justify="right")
    table.add_column("Paper", justify="right")
    table.add_column("Difference", justify="right")
    table.add_column("Within 2%", justify="center")
    table.add_column("Our trainable params", justify="right")
    table.add_column("Published", justify="right")
    table.add_column("Equal", justify="center")
    for row in rows:
        table.add_row(
            row.name,
            f"{row.macs / 1e9:.3f} G",
            f"{row.paper_macs / 1e9:.1f} G",
            f"{row.difference * 100:+.2f}%",
            "yes" if row.within_tolerance else "NO",
            count(row.trainable),
            count(row.published_params),
            "yes" if row.params_equal else "NO",
        )
    return table


def print_paper(console: Console, rows: Sequence[PaperRow], citation: str, params_source: str) -> None:
    console.print(Text(CONVENTION_LINE, style="dim"))
    console.print(paper_table(rows))
    console.print(Text(f"Paper: {citation}", style="dim"))
    console.print(Text(f"Published parameter counts: {params_source}", style="dim"))
