"""The process around a command (resnet_inspect/cli/process.py, resnet_inspect/_tf.py): a broken or closed
stdout loses no export, Ctrl-C and SIGTERM end a run with one line and nothing left behind, and stderr holds
only the tool's own lines whatever TF_CPP_MIN_LOG_LEVEL says.

Pipes, closed descriptors and signals need real processes: each test starts the CLI as one (several at
once where they are independent), on a network of two tiny blocks.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from resnet_inspect.cli import process

TINY = ["--blocks", "1,1", "--width", "8", "--input-size", "32", "--classes", "10"]
TINY_SPEC = {"blocks": (1, 1), "width": 8, "input_size": 32, "classes": 10}
CLI = [sys.executable, "-m", "resnet_inspect"]
TF_LOGS_ENV = "RESNET_INSPECT_TF_LOGS"  # the documented switch (README, Robustness)
TIMEOUT = 300


def environment(**extra: str) -> dict[str, str]:
    """The test's environment, TensorFlow's logs left to the tool, and ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != TF_LOGS_ENV}
    return {**env, **extra}


def start(args: list[str], *, stdout: int = subprocess.DEVNULL, env: dict[str, str] | None = None,
          shell_redirect: str = "") -> subprocess.Popen[str]:
    """The CLI as a process of its own session (a group to signal as a terminal would); ``shell_redirect``
    (``>&-``, ``2>&-``) is applied by a shell that then becomes the CLI."""
    command = [*CLI, *args]
    if shell_redirect:
        command = ["sh", "-c", f'exec "$0" "$@" {shell_redirect}', *command]
    return subprocess.Popen(command, stdout=stdout, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env=env or environment())


def finish(child: subprocess.Popen[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) once ``child`` ends."""
    out, err = child.communicate(timeout=TIMEOUT)
    return child.returncode, out or "", err


def wait_for(child: subprocess.Popen[str], ready: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert child.poll() is None, f"the CLI ended before {what}: {child.stderr.read() if child.stderr else ''}"
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.01)


def broken_pipe() -> int:
    """The write end of a pipe whose reader is gone (``| head -0``, or ``| head -1`` once its line came)."""
    read, write = os.pipe()
    os.close(read)
    return write


def children(pid: int) -> list[int]:
    found = []
    for task in os.listdir(f"/proc/{pid}/task"):
        found += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
    return found


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# --- item 3: no export is lost -------------------------------------------------------------------


def test_a_reader_that_leaves_loses_no_export(tmp_path: Path, build) -> None:
    """``summary ... --csv --json | head -1`` and ``bench ... --csv | head -1``: every file, complete, and exit 0
    (the reader leaving is no error of the run; bench keeps its finished measurement)."""
    pipes = [broken_pipe(), broken_pipe()]
    summary = start(["summary", *TINY, "--level", "layer", "--csv", str(tmp_path / "a.csv"),
                     "--json", str(tmp_path / "a.json")], stdout=pipes[0], env=environment(TF_CPP_MIN_LOG_LEVEL="3"))
    bench = start(["bench", *TINY, "-b", "2", "-n", "3", "--warmup", "1", "--csv", str(tmp_path / "b.csv")],
                  stdout=pipes[1])
    for pipe in pipes:
        os.close(pipe)
    assert finish(summary)[::2] == (0, "")
    assert finish(bench)[::2] == (0, "")
    _, model, _ = build(None, **TINY_SPEC)
    assert json.loads((tmp_path / "a.json").read_text())["totals"]["params"] == model.count_params()
    with (tmp_path / "a.csv").open() as handle:
        assert sum(int(row["params"]) for row in csv.DictReader(handle)) == model.count_params()
    with (tmp_path / "b.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["batch_size"] for row in rows] == ["2"]
    assert float(rows[0]["mean_ms"]) > 0


def test_closed_or_failing_standard_streams_give_no_traceback(tmp_path: Path) -> None:
    """``>&- 2>&-``: the run completes and nothing else takes descriptor 1 or 2 (the table would land in the
    report's temporary); a stdout that fails otherwise (``/dev/full``) is one line and exit 1, the files written."""
    closed = start(["summary", *TINY, "--json", str(tmp_path / "closed.json")], shell_redirect=">&- 2>&-")
    with open("/dev/full", "w") as full:
        full_stdout = start(["summary", *TINY, "--json", str(tmp_path / "full.json")], stdout=full.fileno())
    assert finish(closed)[0] == 0
    assert finish(full_stdout) == (1, "", "Error: could not write to standard output: No space left on device\n")
    written = [json.loads((tmp_path / f"{name}.json").read_text()) for name in ("closed", "full")]
    assert written[0] == written[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["closed.json", "full.json"]


# --- item 4: Ctrl-C and SIGTERM ------------------------------------------------------------------


def signal_mask(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def test_ctrl_c_as_the_cli_loads() -> None:
    """Ctrl-C the moment the tool's handlers are in place (before typer and the commands load)."""
    child = start(["summary", *TINY])
    catches_sigterm = 1 << (signal.SIGTERM - 1)
    wait_for(child, lambda: signal_mask(child.pid, "SigCgt") & catches_sigterm != 0, "the signal handlers", 20)
    os.killpg(child.pid, signal.SIGINT)
    assert finish(child) == (130, "", "Error: interrupted\n")


def test_ctrl_c_during_the_tensorflow_import() -> None:
    """No traceback and none of TensorFlow's start-up lines: exactly one ``Error: interrupted``."""
    child = start(["summary", *TINY, "--no-cache"])  # a walk read from the cache would not load TensorFlow
    wait_for(child, lambda: "libtensorflow" in Path(f"/proc/{child.pid}/maps").read_text(), "TensorFlow loading")
    os.killpg(child.pid, signal.SIGINT)
    assert finish(child) == (130, "", "Error: interrupted\n")


def test_ctrl_c_and_sigterm_during_measure_end_the_child() -> None:
    """Ctrl-C on the terminal (the whole process group) and SIGTERM to the command alone, while the
    ``--measure`` child runs: one line, exit 130 or 143, and no child left."""
    runs = {sig: start(["memory", *TINY, "--measure"]) for sig in (signal.SIGINT, signal.SIGTERM)}
    kids = {}
    for sig, child in runs.items():
        wait_for(child, lambda c=child: bool(children(c.pid)), "the measuring child")
        kids[sig] = children(child.pid)
        if sig == signal.SIGINT:
            os.killpg(child.pid, sig)
        else:
            child.send_signal(sig)
    assert finish(runs[signal.SIGINT]) == (130, "", "Error: interrupted\n")
    assert finish(runs[signal.SIGTERM]) == (143, "", "Error: terminated\n")
    deadline = time.monotonic() + 10
    while any(running(pid) for pids in kids.values() for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pids in kids.values() for pid in pids if running(pid)] == []


def test_sigterm_during_the_write_leaves_no_temporary(tmp_path: Path) -> None:
    """A ``report`` terminated with every file on disk as a temporary: they are removed, nothing is renamed."""
    out = tmp_path / "bundle"
    child = start(["report", *TINY, "--out", str(out)], env=environment(RESNET_INSPECT_WRITE_DELAY="60"))
    wait_for(child, lambda: out.is_dir() and len([p for p in out.iterdir() if p.name.endswith(".tmp")]) >= 3,
             "the temporaries")
    time.sleep(0.5)  # the last temporaries are fsynced before the pause
    child.send_signal(signal.SIGTERM)
    assert finish(child) == (143, "", "Error: terminated\n")
    assert list(out.iterdir()) == []


def test_after_a_signal_every_failure_is_the_interruption(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """An import cut short by SIGTERM may surface as another error: the one line still says terminated."""
    monkeypatch.setattr(process, "_received", signal.SIGTERM)
    with pytest.raises(SystemExit) as stop:
        process.fail("ImportError: cannot import name 'pywrap' (set RESNET_INSPECT_DEBUG=1 for the traceback)", 1)
    assert stop.value.code == 143
    assert capsys.readouterr().err == "Error: terminated\n"


# --- item 10: a quiet stderr ---------------------------------------------------------------------


def test_stderr_holds_only_the_tools_lines_whatever_tf_cpp_min_log_level_says() -> None:
    """TF_CPP_MIN_LOG_LEVEL=3, which absl's start-up notices ignore, and verbose logging asked for: an empty
    stderr (0 is silenced the same way); RESNET_INSPECT_TF_LOGS=1 lets TensorFlow's logs through."""
    runs = {
        # --no-cache: TensorFlow must load (a walk read from the cache would not load it)
        "3": start(["summary", *TINY, "--no-cache"], env=environment(TF_CPP_MIN_LOG_LEVEL="3", TF_CPP_MAX_VLOG_LEVEL="1")),
        "logs": start(["summary", *TINY, "--no-cache"], env=environment(TF_CPP_MIN_LOG_LEVEL="0", **{TF_LOGS_ENV: "1"})),
    }
    done = {name: finish(child) for name, child in runs.items()}
    assert done["3"][::2] == (0, "")
    code, _, err = done["logs"]
    assert code == 0 and err != "" and "Error:" not in err
