"""Child processes: no code from the working directory runs in them, and none outlives the command.

Every command that starts a child is tried from a poisoned working directory: ``memory --measure`` and
``report --measure`` (the measuring Python process) and every command that asks nvidia-smi for a GPU's
free memory. The poison writes a marker file; the marker must not appear and the result must be real.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from resnet_inspect.analysis import budget, children
from resnet_inspect.cli import app

TINY = ["--input-size", "32", "--blocks", "1,1", "--width", "8", "--classes", "10"]
FORGED = {"device": "FORGED", "method": "forged", "passes": [123456789, 123456789]}


def poison(folder: Path, marker: Path) -> None:
    """Modules a child would import from its working directory or PYTHONPATH, and a forged package."""
    write = f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\n"
    for name in ("statistics", "numpy", "json", "sitecustomize", "usercustomize", "tensorflow", "psutil"):
        (folder / f"{name}.py").write_text(write)
    package = folder / "resnet_inspect"
    (package / "analysis").mkdir(parents=True)
    (package / "__init__.py").write_text(write)
    forged = f"import sys\ndef main():\n    print({json.dumps(json.dumps(FORGED))})\n"
    (package / "analysis" / "__init__.py").write_text(write)
    (package / "analysis" / "measure.py").write_text(write + forged)
    tool = folder / "nvidia-smi"
    tool.write_text(f"#!/bin/sh\necho nvidia-smi >> {marker}\necho '0, 99999'\n")
    tool.chmod(0o755)


@pytest.fixture
def poisoned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory, PYTHONPATH and PATH ('.', and an empty entry) all lead to the poison."""
    folder, marker = tmp_path / "cwd", tmp_path / "marker"
    folder.mkdir()
    poison(folder, marker)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("PYTHONPATH", str(folder))
    monkeypatch.setenv("PATH", f".{os.pathsep}{os.pathsep}{os.environ.get('PATH', '')}")
    return marker


def test_memory_measure_runs_no_code_from_the_working_directory(poisoned: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.json"
    result = CliRunner().invoke(app, ["memory", *TINY, "--measure", "-b", "2", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert not poisoned.exists(), poisoned.read_text()
    measured = json.loads(out.read_text())["measured"]
    assert measured["device"] in ("CPU:0", "GPU:0") and measured["passes"] != FORGED["passes"]
    assert "first run of the pass" in measured["method"]


def test_report_measure_runs_no_code_from_the_working_directory(poisoned: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", *TINY, "--measure", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert not poisoned.exists(), poisoned.read_text()
    measured = json.loads((out / "report.json").read_text())["measured"]
    assert measured["device"] in ("CPU:0", "GPU:0") and measured["passes"] != FORGED["passes"]
    assert "FORGED" not in (out / "report.md").read_text()


def test_nvidia_smi_is_never_taken_from_the_working_directory(poisoned: Path) -> None:
    """A relative or empty PATH entry would find ./nvidia-smi; only absolute folders are searched."""
    found = children.find_program("nvidia-smi")
    assert found is None or Path(found).parent.is_absolute() and Path(found).parent != Path.cwd()
    free = budget.gpu_free_bytes(0)
    assert not poisoned.exists(), poisoned.read_text()
    assert free != 99999 * 2**20


def test_the_child_is_isolated_and_imports_this_package() -> None:
    command = children.python_command("resnet_inspect.analysis.measure", "x")
    assert command[:3] == [sys.executable, "-I", "-c"] and command[4] == children.PACKAGE_PARENT
    assert Path(children.PACKAGE_PARENT, "resnet_inspect", "analysis", "children.py").is_file()


# --- no child outlives the command --------------------------------------------------------------------

PARENT = """
import sys
from resnet_inspect.analysis.children import run_child
run_child([sys.executable, "-I", "-c", "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); "
           "time.sleep(120)", sys.argv[1]], timeout=300)
"""


def gone(pid: int, within: float = 10.0) -> bool:
    """The process has ended (a zombie waiting for a reaper counts as ended)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def wait_for(path: Path, within: float = 60.0) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError(f"{path} never written")


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL, signal.SIGINT])
def test_a_child_ends_with_its_parent(how: signal.Signals, tmp_path: Path) -> None:
    """SIGTERM's and SIGKILL's default actions run no ``finally``: the kernel ends the child (its death
    signal); SIGINT raises KeyboardInterrupt in the parent, whose ``finally`` kills it."""
    pid_file = tmp_path / "pid"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(pid_file)], cwd=Path(__file__).parent.parent,
                              stderr=subprocess.DEVNULL)
    child = wait_for(pid_file)
    parent.send_signal(how)
    parent.wait(timeout=30)
    assert gone(child), f"the child {child} outlived its parent ({how.name})"


def test_sigterm_to_memory_measure_ends_the_measuring_process(tmp_path: Path) -> None:
    """The issue's case: the real command, SIGTERM while its measuring process runs."""
    command = [sys.executable, "-I", "-m", "resnet_inspect", "memory", *TINY, "--measure"]
    parent = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, measuring = time.monotonic() + 120, None
    while measuring is None and time.monotonic() < deadline and parent.poll() is None:
        kids = psutil.Process(parent.pid).children()
        measuring = next((k for k in kids if "resnet_inspect.analysis.measure" in " ".join(k.cmdline())), None)
        time.sleep(0.1)
    assert measuring is not None, "the measuring process never started"
    parent.send_signal(signal.SIGTERM)
    parent.wait(timeout=30)
    assert gone(measuring.pid), "the measuring process outlived the command"
