"""Bad numbers and hostile outputs (issue 11, items 8 and 9).

Numbers: a number too long for Python's int conversion, a batch whose byte counts pass 2**63, an absurd
value in a bench CSV: one ``Error:`` line and exit 2, nothing written, or the exact numbers written.
Outputs: a symbolic link written through, the process's own streams refused, a report folder that holds
exactly its run's files, CSV cells that a spreadsheet would run neutralised, Markdown that input text cannot
inject into, PNGs that no matplotlibrc changes, and a bench chart whose size does not grow with the settings.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from resnet_inspect.bench.plan import BENCH_COLUMNS
from resnet_inspect.cli import app

# Keras' saving code calls np.array(x, copy=False) on its variables, which numpy 2 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")

TINY = ["--input-size", "32", "--blocks", "1,1", "--width", "8"]
BIG = "9" * 5000  # past Python's int-string limit (4300 digits)
GOOD_ROW = ["1", "CPU:0", "float32", "false", "10.0", "9.9", "10.7", "10.8", "0.7", "100.0", "30.0", "19.2"]


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def one_error(result, code: int) -> str:
    """The single ``Error:`` line of a refused command (exit ``code``, nothing on stdout)."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def write_bench(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(BENCH_COLUMNS)
        writer.writerows(rows)
    return path


# --- item 8: bad numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input-size", BIG], "Error: --input-size has a number of 5,000 digits; no count of a network comes near\n"),
        (["--input-size", f"32x{BIG}"],
         "Error: --input-size has a number of 5,000 digits; no count of a network comes near\n"),
        (["--blocks", f"1,{BIG}"], "Error: --blocks has a number of 5,000 digits; no count of a network comes near\n"),
        (["--blocks", f"1,{BIG}x"],
         f"Error: --blocks must be comma-separated positive integers such as 3,4,6,3, got '1,{'9' * 37}... "
         "(5,003 characters)\n"),
    ],
    ids=["input-size", "input-size-hxw", "blocks", "blocks-not-a-number"],
)
def test_a_number_past_pythons_digit_limit_is_one_usage_line(args: list[str], message: str) -> None:
    """Python's "Exceeds the limit (4300 digits) ... sys.set_int_max_str_digits()" never reaches the user,
    nor a 5,000-character echo of the value."""
    error = one_error(run("summary", *args), 2)
    assert error == message
    assert "set_int_max_str_digits" not in error and len(error) < 200


def test_memory_csv_of_a_batch_past_64_bits_is_written_whole(tmp_path: Path) -> None:
    """The byte counts of batch 10**16 pass 2**63 - 1; the CSV holds them exactly, as the JSON does, rather
    than a table printed and then an OverflowError with no CSV."""
    batch = 10**16
    table, document = tmp_path / "m.csv", tmp_path / "m.json"
    result = run("memory", *TINY, "--level", "layer", "-b", str(batch), "--csv", str(table), "--json", str(document))
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(table.open()))
    for row in rows:  # hand arithmetic: batch x elements of the output x 4 bytes (float32)
        elements = math.prod(int(d) for d in row["output_shape"].split("x"))
        assert int(row["activation_bytes"]) == batch * elements * 4, row["name"]
    assert max(int(row["activation_bytes"]) for row in rows) > 2**63
    assert [int(r["activation_bytes"]) for r in rows] == [r["activation_bytes"] for r in json.loads(
        document.read_text())["rows"]]


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("batch_size", "1e300", "batch_size must be a whole number from 1 to 2**63 - 1, got '1e300'"),
        ("batch_size", "1e20", "batch_size must be a whole number from 1 to 2**63 - 1, got '1e20'"),
        ("batch_size", "inf", "batch_size must be a whole number from 1 to 2**63 - 1, got 'inf'"),
        ("batch_size", "nan", "batch_size must be a whole number from 1 to 2**63 - 1, got 'nan'"),
        ("batch_size", "-4", "batch_size must be a whole number from 1 to 2**63 - 1, got '-4'"),
        ("batch_size", "9223372036854775808", "batch_size must be a whole number from 1 to 2**63 - 1, got "
                                              "'9223372036854775808'"),
        ("batch_size", BIG, "batch_size must be a whole number from 1 to 2**63 - 1, got "
                            f"'{'9' * 39}... (5,000 characters)"),
        ("mean_ms", "1e300", "mean_ms must be a number from 0 to 1e+15, got '1e300'"),
        ("p99_ms", "1e20", "p99_ms must be a number from 0 to 1e+15, got '1e20'"),
        ("images_per_s", "-1", "images_per_s must be a number from 0 to 1e+15, got '-1'"),
        ("std_ms", "nan", "std_ms must be a number from 0 to 1e+15, got 'nan'"),
        ("pct_of_peak", "inf", "pct_of_peak must be a number from 0 to 1e+15, got 'inf'"),
    ],
)
def test_an_absurd_number_in_a_bench_csv_is_one_usage_line(tmp_path: Path, column: str, value: str,
                                                           problem: str) -> None:
    """plot --bench and report --bench: exit 2, one line naming the line and column, nothing written."""
    row = list(GOOD_ROW)
    row[BENCH_COLUMNS.index(column)] = value
    bench = write_bench(tmp_path / "bench.csv", [GOOD_ROW, row])
    out = tmp_path / "chart.png"
    assert one_error(run("plot", "--bench", str(bench), "--out", str(out)), 2) == (
        f"Error: --bench '{bench}' line 3: {problem}\n"
    )
    report = tmp_path / "report"
    one_error(run("report", *TINY, "--bench", str(bench), "--out", str(report)), 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.csv"]


# --- item 9: outputs ------------------------------------------------------------------------------


def test_a_csv_symlink_to_another_folder_is_written_through(tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    target = tmp_path / "other" / "table.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(Path("other") / "table.csv")
    result = run("summary", *TINY, "--csv", str(link))
    assert result.exit_code == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(Path("other") / "table.csv")
    lines = target.read_text().splitlines()
    assert lines[0].startswith("name,") and lines[-1].startswith("head,")
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["table.csv"]  # no temporary left


@pytest.mark.parametrize("path", ["/dev/stdout", "/dev/stderr", "/dev/fd/1", "/proc/self/fd/2"])
@pytest.mark.parametrize("option", ["--csv", "--json"])
def test_an_output_that_is_a_stream_of_the_process_is_refused_before_any_work(option: str, path: str) -> None:
    assert one_error(run("summary", *TINY, option, path), 2) == (
        f"Error: {option} '{path}' is an open file descriptor of this process (standard output, standard error, "
        "a pipe), not a file; reports are written to files: give a file path\n"
    )


def test_an_output_that_is_the_file_stdout_goes_to_is_refused(tmp_path: Path) -> None:
    """A real process with its stdout redirected to the --csv file: renaming a report over it would send
    the table into a nameless file."""
    out = tmp_path / "out.txt"
    with out.open("w") as stdout:
        done = subprocess.run([sys.executable, "-m", "resnet_inspect", "summary", *TINY, "--csv", str(out)],
                              stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == (
        f"Error: --csv '{out}' is the file this process's standard output goes to; give another file path\n"
    )


def test_a_report_folder_holds_exactly_the_files_of_its_run(tmp_path: Path) -> None:
    """latency.png of an earlier report --bench is removed by a report without --bench."""
    bench = write_bench(tmp_path / "bench.csv", [GOOD_ROW, ["4", *GOOD_ROW[1:]]])
    out = tmp_path / "report"
    assert run("report", *TINY, "--bench", str(bench), "--out", str(out)).exit_code == 0
    assert (out / "latency.png").exists()
    result = run("report", *TINY, "--out", str(out))
    assert result.exit_code == 0, result.stderr
    written = result.stdout.split(": ", 1)[1].strip().split(", ")
    assert sorted(p.name for p in out.iterdir()) == sorted(written)
    assert "latency.png" not in written and "## Latency" not in (out / "report.md").read_text()


def test_a_folder_with_other_files_is_refused_and_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "notes"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    (out / "blocks.csv").write_text("an earlier report's\n")
    error = one_error(run("report", *TINY, "--out", str(out)), 2)
    assert error == (
        f"Error: --out '{out}' holds files that are not part of a report ('notes.txt'); give a new or empty "
        "folder, or the folder of an earlier report (it holds only stages.csv, blocks.csv, layers.csv, blocks.png, "
        "memory.png, latency.png, roofline.png, report.json, report.md)\n"
    )
    assert {p.name: p.read_text() for p in out.iterdir()} == {
        "notes.txt": "mine\n", "blocks.csv": "an earlier report's\n"}


@pytest.fixture(scope="module")
def named_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A .keras model whose layer names a spreadsheet would run as formulas (one is a number)."""
    import keras

    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(2, name="=HYPERLINK(1)"), keras.layers.Dense(2, name="@SUM(1)"),
         keras.layers.Dense(2, name="+1+2"), keras.layers.Dense(2, name="-2+3"), keras.layers.Dense(2, name="-3"),
         keras.layers.Dense(2, name="\tx"), keras.layers.Dense(2, name="\rx"), keras.layers.Dense(2, name="plain")],
        name="named",
    )
    path = tmp_path_factory.mktemp("named") / "named.keras"
    model.save(path)
    return path


def test_csv_cells_that_would_be_formulas_are_neutralised(named_model: Path, tmp_path: Path) -> None:
    """OWASP CSV injection: a cell starting with = + - @ tab or CR gets a leading quote; a number (-3)
    stays a number, and so do the numeric columns."""
    table = tmp_path / "t.csv"
    result = run("summary", "--model", str(named_model), "--level", "layer", "--csv", str(table))
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(table.open(newline="")))
    assert [r["name"] for r in rows[1:]] == [
        "'=HYPERLINK(1)", "'@SUM(1)", "'+1+2", "'-2+3", "-3", "'\tx", "'\rx", "plain"]
    assert [int(r["params"]) for r in rows[1:]] == [10, 6, 6, 6, 6, 6, 6, 6]  # 4*2+2, then 2*2+2: by hand


def test_csv_cell_keeps_numbers() -> None:
    from resnet_inspect.output.export import csv_cell

    assert [csv_cell(v) for v in (-3, -2.5, "-3", "-2.5e3", "+7", True, None, 2**70)] == [
        -3, -2.5, "-3", "-2.5e3", "+7", True, None, str(2**70)]
    assert [csv_cell(v) for v in ("=1", "-x", "@a", "\t1", "\r1", "+1+1", "a=1")] == [
        "'=1", "'-x", "'@a", "'\t1", "'\r1", "'+1+1", "a=1"]


def _markdown_tokens(text: str) -> list:
    from markdown_it import MarkdownIt

    tokens = []
    for token in MarkdownIt("commonmark").enable("table").parse(text):
        tokens.append(token)
        tokens.extend(token.children or [])
    return tokens


def test_text_from_a_bench_csv_never_injects_markdown(tmp_path: Path) -> None:
    """A device name with a newline and a heading, HTML, a link and a code span, and a file name with
    Markdown in it: report.md parses (markdown-it, CommonMark + tables) to the same headings, no HTML, no
    link, and the text shown as written."""
    device = "CPU:0\n# INJECTED <img src=x onerror=alert(1)> [click](http://e.x) `code` *bold* |pipe"
    bench = write_bench(tmp_path / "[evil](x) #h.csv", [[*GOOD_ROW[:1], device, *GOOD_ROW[2:]],
                                                        ["4", device, *GOOD_ROW[2:]]])
    out = tmp_path / "r"
    assert run("report", *TINY, "--bench", str(bench), "--out", str(out)).exit_code == 0
    markdown = (out / "report.md").read_text()
    clean = tmp_path / "clean"
    plain = write_bench(tmp_path / "plain.csv", [GOOD_ROW, ["4", *GOOD_ROW[1:]]])
    assert run("report", *TINY, "--bench", str(plain), "--out", str(clean)).exit_code == 0
    tokens, reference = _markdown_tokens(markdown), _markdown_tokens((clean / "report.md").read_text())
    headings = [t.content for t, o in zip(tokens[1:], tokens, strict=False) if o.type == "heading_open"]
    assert headings == [t.content for t, o in zip(reference[1:], reference, strict=False) if o.type == "heading_open"]
    assert not [t for t in tokens if t.type in ("html_inline", "html_block")]
    links = [t.attrs["href"] for t in tokens if t.type == "link_open"]
    assert links == [t.attrs["href"] for t in reference if t.type == "link_open"]  # the report's own tables
    assert [t.attrs["src"] for t in tokens if t.type == "image"] == ["blocks.png", "memory.png", "latency.png"]
    shown = "".join(t.content for t in tokens if t.type == "text")
    assert "CPU:0\\n# INJECTED <img src=x onerror=alert(1)> [click](http://e.x) `code` *bold*" in shown
    assert "[evil](x) #h.csv" in shown


def test_a_dollar_in_a_device_name_is_text_not_mathtext(tmp_path: Path) -> None:
    bench = write_bench(tmp_path / "b.csv", [[*GOOD_ROW[:1], "$\\frac{$", *GOOD_ROW[2:]]])
    result = run("plot", "--bench", str(bench), "--out", str(tmp_path / "b.png"))
    assert result.exit_code == 0, result.stderr


def _bench_png() -> bytes:
    from resnet_inspect.bench.stats import BenchRow
    from resnet_inspect.output import charts

    rows = [BenchRow(b, "CPU:0", "float32", False, 2.0 * b, 1.9 * b, 2.1 * b, 2.2 * b, 0.1, 500.0, None, None)
            for b in (1, 2, 4)]
    return charts.png_bytes(charts.bench_chart([("CPU:0 float32", rows)], "pinned"))


# What a matplotlibrc might change: every one reaches the PNG file unless the charts pin it.
HOSTILE_RC = {"lines.linewidth": 7, "savefig.dpi": 37, "axes.facecolor": "red", "font.size": 19,
              "figure.facecolor": "blue", "axes.prop_cycle": "cycler('color', ['k'])", "savefig.transparent": True}


def test_rc_settings_do_not_change_the_png() -> None:
    import matplotlib

    plain = _bench_png()
    rc = {**HOSTILE_RC, "axes.prop_cycle": matplotlib.cycler(color=["k"])}
    with matplotlib.rc_context(rc):
        assert _bench_png() == plain


def test_a_matplotlibrc_in_the_cwd_or_the_config_does_not_change_the_png(tmp_path: Path) -> None:
    """A real process: matplotlib reads ./matplotlibrc and $MPLCONFIGDIR/matplotlibrc when imported."""
    rc_text = "".join(f"{key}: {value}\n" for key, value in HOSTILE_RC.items())
    (tmp_path / "matplotlibrc").write_text(rc_text)
    config = tmp_path / "config"
    config.mkdir()
    (config / "matplotlibrc").write_text(rc_text.replace("red", "green"))
    code = ("import hashlib, sys; sys.path.insert(0, sys.argv[1]); import test_hostile_outputs as t; "
            "import matplotlib; assert matplotlib.rcParams['savefig.dpi'] == 37; "
            "print(hashlib.sha256(t._bench_png()).hexdigest())")
    done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)], cwd=tmp_path,
                          env={**os.environ, "MPLCONFIGDIR": str(config)}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == hashlib.sha256(_bench_png()).hexdigest()


def test_the_bench_chart_does_not_grow_with_the_settings() -> None:
    """500 settings draw as many lines as 10 (one per colour of the cycle), and the legend names 12 and
    counts the rest: the drawing is linear in the rows (the time at the 16 MiB cap:
    benchmarks/bench_plot_bench.py)."""
    from resnet_inspect.bench.stats import BenchRow
    from resnet_inspect.output import charts

    def chart(settings: int):
        series = [(f"dev{i} float32", [BenchRow(b, f"dev{i}", "float32", False, 1.0 + i, 1.0, 2.0 + i, 3.0 + i, None,
                                                100.0, None, None) for b in (1, 8)]) for i in range(settings)]
        return charts.bench_chart(series, "many")

    few, many = chart(10), chart(500)
    for small, large in zip(few.axes, many.axes, strict=True):
        assert len(large.lines) == len(small.lines) == 10
        assert len(large.patches) == len(small.patches)
    legend = [t.get_text() for t in many.axes[1].get_legend().get_texts()]
    assert legend[:12] == [f"dev{i} float32" for i in range(12)] and legend[12:] == ["... and 488 more settings"]
