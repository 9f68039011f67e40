"""Tables never cut a number or a name: the real CLI in a real terminal (a pty) at 80, 100, 120 and 160 columns.

One process runs every command at every width (TensorFlow is imported once): before each command it sets its
own terminal's size with the TIOCSWINSZ ioctl, as a terminal emulator does when the window is resized. Each
command also writes its JSON export; every number of the export that the table shows is read back from the
terminal text, whole (exactly for a count, within the last printed digit for a figure in a unit), and each
column the table leaves out is named in the note under it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from resnet_inspect.units import BINARY_UNITS, SI_MEGA, compact, si

pty = pytest.importorskip("pty")
fcntl = pytest.importorskip("fcntl")
termios = pytest.importorskip("termios")

WIDTHS = (80, 100, 120, 160)
SMALL = ["--input-size", "32", "--width", "8", "--blocks", "1,1"]
SUMMARY_FIELDS = {"params", "weights", "biases", "bn_trainable", "bn_non_trainable", "macs", "flops",
                  "receptive_field", "jump"}  # fmt: skip
MEMORY_SHOWN = {"activation_bytes", "param_bytes", "bytes_moved", "flops", "arithmetic_intensity",
                "receptive_field", "jump"}  # fmt: skip
MODEL_FIELDS = {"params", "params_diff", "macs", "macs_diff", "flops", "flops_diff"}

# Header (without its unit) -> the export's field; the JSON field names are the CSV columns of the README.
FIELDS = {
    "Params": "params", "Weights": "weights", "Biases": "biases", "BN γ/β": "bn_trainable",
    "BN μ/σ²": "bn_non_trainable", "norm γ/β": "bn_trainable", "norm μ/σ²": "bn_non_trainable",
    "MACs": "macs", "FLOPs": "flops", "RF": "receptive_field", "Jump": "jump",
    "Activations": "activation_bytes", "Moved": "bytes_moved", "FLOPs/image": "flops",
    "FLOPs/byte": "arithmetic_intensity", "Δ params": "params_diff", "Δ MACs": "macs_diff",
    "Δ FLOPs": "flops_diff", "Other": "other", "Trainable": "trainable", "Non-trainable": "non_trainable",
    "Layers": "layers",
}  # fmt: skip
MEMORY_FIELDS = FIELDS | {"Params": "param_bytes"}
MULTIPLIERS = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18} | {
    unit: 1024**i for i, unit in enumerate(BINARY_UNITS)
}
ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]|\x1b\][^\x07]*\x07")
NUMBER = re.compile(r"^([+-]?[\d,]+(?:\.\d+)?)(?: (\S+))?$")

DRIVER = r"""
import fcntl, struct, sys, termios
from resnet_inspect.cli.app import app
for line in sys.stdin.read().splitlines():
    width, *argv = line.split("\t")
    fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 50, int(width), 0, 0))
    print(f"=== {line}", flush=True)
    try:
        app(args=argv, prog_name="resnet-inspect", standalone_mode=False)
    except SystemExit as stop:
        print(f"=== exit {stop.code}", flush=True)
    sys.stdout.flush()
"""


def run_in_terminal(commands: list[tuple[int, list[str]]], tmp: Path) -> dict[str, str]:
    """Each (width, argv) run in one process whose stdout is a pty of that width; the text by command line."""
    master, slave = os.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    script = "\n".join("\t".join([str(w), *argv]) for w, argv in commands)
    with open(tmp / "stderr.txt", "wb") as stderr:  # a pipe, not the terminal: no progress bars in the text
        proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER], stdin=subprocess.PIPE, stdout=slave, stderr=stderr, env=env, cwd=tmp
        )
    os.close(slave)
    proc.stdin.write(script.encode())  # type: ignore[union-attr]
    proc.stdin.close()  # type: ignore[union-attr]
    chunks = []
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=600)
    os.close(master)
    text = ANSI.sub("", b"".join(chunks).decode()).replace("\r", "")
    out: dict[str, str] = {}
    for block in text.split("=== ")[1:]:
        head, _, body = block.partition("\n")
        out[head] = body
    return out


def parse_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """The box tables of ``text``: each one's headers (a header wrapped over lines joined) and body rows."""
    tables: list[tuple[list[str], list[list[str]]]] = []
    for line in text.splitlines():
        if line.startswith("┏"):
            tables.append(([], []))
        elif line.startswith("┃") and tables:
            cells = [c.strip() for c in line.strip("┃").split("┃")]
            headers = tables[-1][0]
            if not headers:
                headers.extend(cells)
            else:
                headers[:] = [f"{h} {c}".strip() for h, c in zip(headers, cells, strict=True)]
        elif line.startswith("│") and tables:
            tables[-1][1].append([c.strip() for c in line.strip("│").split("│")])
    return tables


def read_number(cell: str, header_unit: str) -> tuple[float, float]:
    """A cell as (value, half of its last printed digit), in the units of the cell or of its header."""
    match = NUMBER.match(cell)
    assert match, f"not a whole number: {cell!r}"
    digits, unit = match.group(1).replace(",", ""), match.group(2) or header_unit
    scale = MULTIPLIERS[unit]
    decimals = len(digits.partition(".")[2])
    return float(digits) * scale, 0.5 * 10**-decimals * scale


def check_table_text(text: str, rows: list[dict], fields: dict[str, str], expected: set[str], width: int) -> None:
    assert "…" not in text
    for line in text.splitlines():
        assert len(line) <= width, f"{len(line)} > {width}: {line}"
    tables = parse_tables(text)
    assert tables, text
    by_name = {str(row["name"]): row for row in rows}
    shown: set[str] = set()
    for headers, body in tables:
        names = {cells[0] for cells in body}
        if not names & set(by_name):
            continue  # another table of the command (compare's stage tables)
        assert set(by_name) <= names, f"names cut or missing: {sorted(set(by_name) - names)}"
        for cells in body:
            row = by_name[cells[0]]
            for header, cell in zip(headers[1:], cells[1:], strict=True):
                base, _, unit = header.partition(" (")
                if base not in fields or row.get(fields[base]) is None or cell == "—":
                    continue
                shown.add(fields[base])
                value, half = read_number(cell, unit.rstrip(")"))
                exact = row[fields[base]]
                assert abs(value - exact) <= half * 1.000001 + 1e-9, f"{header} of {cells[0]}: {cell} vs {exact}"
    flowing = re.sub(r"\s+", " ", text)  # the note may wrap, even inside a header's name
    notes = " ".join(part.partition("--wide")[0] for part in flowing.split("To fit")[1:])
    named = {field for header, field in fields.items() if header in notes}
    missing = expected - shown - named
    assert not missing, f"columns neither shown nor named in the note: {missing}\n{text}"


@pytest.fixture(scope="module")
def terminal(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path]:
    tmp = tmp_path_factory.mktemp("width")
    commands: list[tuple[int, list[str]]] = []
    for width in WIDTHS:
        for level in ("stage", "block", "layer"):
            commands.append((width, ["summary", *SMALL, "--level", level, "--json", f"s-{level}-{width}.json"]))
        if width < 160:  # ResNet-50's full table is narrower than 160 columns: one build saved
            commands.append((width, ["summary", "--depth", "50", "--level", "stage", "--json", f"d50-{width}.json"]))
        commands.append((width, ["memory", *SMALL, "--json", f"m-{width}.json"]))
        commands.append((width, ["compare", "resnet34", "resnet50", "resnet101", *SMALL[:4],
                                 "--json", f"c-{width}.json"]))  # fmt: skip
    commands.append((80, ["summary", *SMALL, "--level", "layer", "--wide"]))
    return run_in_terminal(commands, tmp), tmp


def output(terminal: tuple[dict[str, str], Path], width: int, *argv: str) -> str:
    texts, _ = terminal
    key = "\t".join([str(width), *argv])
    assert key in texts, f"no output for {key}: {(terminal[1] / 'stderr.txt').read_text()[-2000:]}"
    assert "=== exit" not in texts[key] and "Error" not in texts[key], texts[key]
    return texts[key]


@pytest.mark.parametrize("width", WIDTHS)
def test_every_number_and_name_whole_in_a_terminal(terminal: tuple[dict[str, str], Path], width: int) -> None:
    """summary at each level (and ResNet-50's stages), memory and compare of three models: every figure of
    the JSON export that a table shows is there whole, every row's name is whole, no '…', no line wider
    than the terminal, and a column left out is named under its table."""
    _, tmp = terminal
    for level in ("stage", "block", "layer"):
        name = f"s-{level}-{width}.json"
        text = output(terminal, width, "summary", *SMALL, "--level", level, "--json", name)
        check_table_text(text, json.loads((tmp / name).read_text())["rows"], FIELDS, SUMMARY_FIELDS, width)
    if width < 160:
        text = output(terminal, width, "summary", "--depth", "50", "--level", "stage", "--json", f"d50-{width}.json")
        rows = json.loads((tmp / f"d50-{width}.json").read_text())["rows"]
        check_table_text(text, rows, FIELDS, SUMMARY_FIELDS, width)
    text = output(terminal, width, "memory", *SMALL, "--json", f"m-{width}.json")
    check_table_text(text, json.loads((tmp / f"m-{width}.json").read_text())["rows"], MEMORY_FIELDS,
                     MEMORY_SHOWN, width)  # fmt: skip
    text = output(terminal, width, "compare", "resnet34", "resnet50", "resnet101", *SMALL[:4],
                  "--json", f"c-{width}.json")  # fmt: skip
    check_table_text(text, json.loads((tmp / f"c-{width}.json").read_text())["rows"], FIELDS, MODEL_FIELDS, width)


def test_wide_prints_every_column_in_a_narrow_terminal(terminal: tuple[dict[str, str], Path]) -> None:
    text = output(terminal, 80, "summary", *SMALL, "--level", "layer", "--wide")
    headers = {FIELDS.get(h.partition(" (")[0]) for h in parse_tables(text)[0][0]}
    assert SUMMARY_FIELDS <= headers and "…" not in text and "To fit" not in text
    assert max(len(line) for line in text.splitlines()) > 80


def test_totals_line_takes_the_unit_of_its_size(terminal: tuple[dict[str, str], Path]) -> None:
    """A tiny network's MACs are not '0.00 G': the figure has a whole digit before the point, in its unit."""
    _, tmp = terminal
    text = output(terminal, 80, "summary", *SMALL, "--level", "stage", "--json", "s-stage-80.json")
    totals = json.loads((tmp / "s-stage-80.json").read_text())["totals"]
    for label, field in (("MACs", "macs"), ("FLOPs", "flops")):
        match = re.search(rf"{label}: ([\d.,]+) ?(\w?)\b", text)
        assert match, text
        value, half = read_number(" ".join(filter(None, match.groups())), "")
        assert 1 <= float(match.group(1).replace(",", "")) < 1000
        assert abs(value - totals[field]) <= half


# --- the unit choice, by hand ---------------------------------------------------------------------------


def test_si_picks_the_unit_of_the_size() -> None:
    # --input-size 99999999 gave "MACs: 814560000000.00 G": 814,560,000,000 G = 8.1456e20 = 814.56 E
    assert si(814_560_000_000 * 10**9) == "814.56 E"
    assert si(4_089_184_256) == "4.09 G"  # ResNet-50's MACs, as the README shows them
    assert si(1_234_567) == "1.23 M" and si(12) == "12" and si(0) == "0"
    assert si(999_999) == "1.00 M"  # rounding up to 1000 k moves to the next unit


def test_compact_keeps_three_significant_digits() -> None:
    assert compact(25_621_352) == "25.6 M" and compact(9_472) == "9.47 k" and compact(218_240) == "218 k"
    assert compact(64) == "64" and compact(-15_360, signed=True) == "-15.4 k" and compact(3, signed=True) == "+3"
    assert compact(999_600) == "1.00 M"
    assert compact(4000, BINARY_UNITS, 1024) == "3.91 KiB"  # 4000 / 1024 = 3.906
    assert compact(160.2 * 2**20, BINARY_UNITS, 1024) == "160 MiB"


def test_a_column_unit_fits_its_values() -> None:
    # ResNet-50's stage MACs, 2.0 M to 1,464.3 M: M as the README shows them
    index = SI_MEGA.pick([118_013_952, 1_464_336_384, 2_049_000])
    assert SI_MEGA.names[index] == "M" and SI_MEGA.fixed(index)(1_464_336_384) == "1,464.3"
    # a tiny network (the largest 500,000): k, not 0.5 M; a huge input: T, not 24,000,000 M
    assert SI_MEGA.names[SI_MEGA.pick([500_000, 1_000])] == "k"
    assert SI_MEGA.names[SI_MEGA.pick([2.4e13])] == "T"
    # a value too small for one decimal keeps two significant digits instead of printing 0.0
    assert SI_MEGA.fixed(2)(3_800) == "0.0038" and SI_MEGA.fixed(2)(0) == "0.0"
