"""Rich rendering of a summary, its TensorFlow cross-check and the paper's table; the console and progress bars.

The tables of ``compare`` and ``memory`` are in :mod:`resnet_inspect.output.compare_tables` and
:mod:`resnet_inspect.output.memory_tables`; the columns of every table in :mod:`resnet_inspect.output.columns`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from resnet_inspect.analysis.crosscheck import ConvCheck, Verification
from resnet_inspect.analysis.flops import CONVENTION_LINE
from resnet_inspect.analysis.paper import PaperRow
from resnet_inspect.analysis.records import Level, Totals, UnitRow, Unsupported, flat
from resnet_inspect.analysis.report import Report
from resnet_inspect.output.columns import PAPER_VIEW, SUMMARY_VIEW, VERIFY_VIEW, count, signed
from resnet_inspect.output.fit import UNLIMITED, Sheet, print_sheet
from resnet_inspect.units import si


def make_console(stderr: bool = False, wide: bool = False) -> Console:
    """The console whose width every table fits (:mod:`resnet_inspect.output.fit`).

    A terminal: its width, or ``COLUMNS`` when set. A pipe or a file: ``COLUMNS`` when set, else no limit
    (every table whole, at its natural width, lines as long as they need). ``wide`` (``--wide``): no limit
    even on a terminal, whose lines then run over.
    """
    console = Console(stderr=stderr)
    columns = os.environ.get("COLUMNS", "")
    if wide or not (console.is_terminal or columns.isdigit()):
        console = Console(stderr=stderr, width=UNLIMITED)
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


def summary_sheet(rows: Sequence[UnitRow], level: Level) -> Sheet:
    return Sheet(SUMMARY_VIEW, tuple(flat(row) for row in rows), headers={"name": level.value.capitalize()})


def bounded(value: int | None, counted: int, totals: Totals) -> str:
    """A total, or when layers are unsupported a lower bound that names them: '≥ X (N layers of types T unknown)'."""
    if value is not None:
        return si(value)
    layers = f"{totals.unsupported} layer{'s' if totals.unsupported > 1 else ''}"
    types = f"type{'s' if len(totals.unsupported_types) > 1 else ''} {', '.join(totals.unsupported_types)}"
    return f"≥ {si(counted)} ({layers} of {types} unknown)"


def totals_text(totals: Totals) -> Text:
    split = totals.split
    text = Text()
    text.append("Total params: ", style="bold")
    text.append(f"{count(totals.params)}  (trainable {count(totals.trainable)}, "
                f"non-trainable {count(totals.non_trainable)})\n")
    text.append("Split: ", style="bold")
    text.append(
        f"weights {count(split.weights)}, biases {count(split.biases)}, norm γ/β {count(split.bn_trainable)}, "
        f"norm μ/σ² {count(split.bn_non_trainable)}"
        + (f", other {count(split.other)}" if split.other else "")
        + "\n"
    )
    text.append("MACs: ", style="bold")
    text.append(bounded(totals.macs, totals.macs_counted, totals))
    text.append("\nFLOPs: " if totals.unsupported else "   FLOPs: ", style="bold")
    text.append(bounded(totals.flops, totals.flops_counted, totals))
    text.append(f"   layers: {totals.layers}")
    return text


def print_unsupported(console: Console, unsupported: Sequence[Unsupported]) -> None:
    for item in unsupported:
        console.print(Text(f"unsupported: {item.name} ({item.layer_type}): {item.reason}", style="yellow"))


def print_report(console: Console, report: Report, level: Level, heading: str) -> None:
    console.print(Text(heading, style="bold"))
    console.print(Text(CONVENTION_LINE, style="dim"))
    print_sheet(console, summary_sheet(report.rows(level), level))
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


def verification_sheet(verification: Verification) -> Sheet:
    rows = [
        {
            "layer_type": row.layer_type,
            "layers": str(row.layers),
            "ours": row.ours,
            "tf": row.tf,
            "tf_ops": ", ".join(f"{op} {count(flops)}" for op, flops in row.tf_ops),
            "difference": "agree" if row.difference == 0 else signed(row.difference),
        }
        for row in verification.rows
    ]
    ours = verification.ours_total
    rows.append({
        "layer_type": "Total",
        "layers": "",
        "ours": ours,
        "tf": verification.tf_total,
        "tf_ops": "",
        "difference": signed(None if ours is None else verification.tf_total - ours),
    })  # fmt: skip
    return Sheet(
        VERIFY_VIEW,
        tuple(rows),
        title="FLOPs: ours beside TensorFlow's profiler, per layer type",
        styles=(None,) * len(verification.rows) + ("bold",),
    )


def print_verification(console: Console, verification: Verification) -> None:
    console.print(Text(f"TensorFlow cross-check: {verification.method}", style="dim"))
    print_sheet(console, verification_sheet(verification))
    for row in verification.rows:
        if row.note:  # why the two counts differ: a convention, stated once per layer type
            console.print(Text(f"{row.layer_type} ({signed(row.difference)}): {row.note}"))
    console.print(conv_check_text(verification.conv))


# --- the paper's Table 1 (paper) -------------------------------------------------------------------


def paper_sheet(rows: Sequence[PaperRow]) -> Sheet:
    return Sheet(
        PAPER_VIEW,
        tuple(dataclasses.asdict(row) for row in rows),
        title="Table 1 of the paper beside our v1 networks (224x224, no conv bias)",
    )


def print_paper(console: Console, rows: Sequence[PaperRow], citation: str, params_source: str) -> None:
    console.print(Text(CONVENTION_LINE, style="dim"))
    print_sheet(console, paper_sheet(rows))
    console.print(Text(f"Paper: {citation}", style="dim"))
    console.print(Text(f"Published parameter counts: {params_source}", style="dim"))
