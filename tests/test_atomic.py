"""Atomic output: a report killed mid-write leaves no partial file, and an existing report is replaced
only once the new one is complete.

The kill tests run the real CLI in a child process with ``RESNET_INSPECT_WRITE_DELAY`` (the test hook
of :mod:`resnet_inspect.output.export`): the child pauses once its new data is on disk in a temporary file and
before anything is renamed; the test waits for that temporary, then SIGKILLs the child.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from resnet_inspect.errors import InspectError, UsageError
from resnet_inspect.output.export import WRITE_DELAY_ENV, atomic_open, write_atomic, write_files_atomic

TINY = ["--input-size", "32", "--blocks", "1,1", "--width", "8", "--classes", "10"]
TEMPORARY = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")  # .<name>.<random>.tmp, as mkstemp names them


def run_until_paused(args: list[str], folder: Path, temporaries: int = 1, timeout: float = 120) -> None:
    """Run ``resnet-inspect args`` until it has written ``temporaries`` temporary files into ``folder``
    and paused before renaming them, then kill it with SIGKILL."""
    env = {**os.environ, WRITE_DELAY_ENV: "60", "TF_CPP_MIN_LOG_LEVEL": "3"}
    child = subprocess.Popen([sys.executable, "-m", "resnet_inspect", *args], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while len([p for p in folder.iterdir() if TEMPORARY.match(p.name) and p.stat().st_size]) < temporaries:
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            assert time.monotonic() < deadline, "the child never reached its write"
            time.sleep(0.05)
        time.sleep(0.5)  # the data is fsynced before the pause; let the child reach it
        assert child.poll() is None, "the child finished before it was killed"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    """Files other than ``keep`` that are not named as temporaries."""
    return sorted(p.name for p in folder.iterdir() if p.name not in keep and not TEMPORARY.match(p.name))


def test_killed_summary_keeps_the_old_report(tmp_path: Path) -> None:
    old = tmp_path / "table.csv"
    old.write_text("name,params\nthe old report,1\n")
    run_until_paused(["summary", *TINY, "--csv", str(old)], tmp_path)
    assert old.read_text() == "name,params\nthe old report,1\n"
    assert leftovers(tmp_path, {"table.csv"}) == []
    temporaries = [p for p in tmp_path.iterdir() if TEMPORARY.match(p.name)]
    assert len(temporaries) == 1 and temporaries[0].name.startswith(".table.csv.")


def test_killed_summary_leaves_no_report(tmp_path: Path) -> None:
    run_until_paused(["summary", *TINY, "--json", str(tmp_path / "table.json")], tmp_path)
    assert not (tmp_path / "table.json").exists()
    assert leftovers(tmp_path, set()) == []


def test_killed_report_keeps_every_old_file(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    done = subprocess.run([sys.executable, "-m", "resnet_inspect", "report", *TINY, "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # Another batch size changes the memory figures of every table: a new bundle, killed once all its
    # files are on disk as temporaries and before the first rename.
    run_until_paused(["report", *TINY, "--batch-size", "2", "--out", str(out)], out, temporaries=len(before))
    assert {p.name: p.read_bytes() for p in out.iterdir() if not TEMPORARY.match(p.name)} == before


def test_a_report_is_replaced_once_complete(tmp_path: Path) -> None:
    target = tmp_path / "table.csv"
    target.write_text("old\n")
    env = {**os.environ, WRITE_DELAY_ENV: "0.2", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "resnet_inspect", "summary", *TINY, "--csv", str(target)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert target.read_text().startswith("name,type,stage,output_shape,")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


# --- the writer itself ----------------------------------------------------------------------------------


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    target.write_text("old\n")

    def half_then_fail(handle) -> None:
        handle.write("{\"half\": ")
        raise RuntimeError("the renderer failed")

    with pytest.raises(RuntimeError):
        write_atomic(target, half_then_fail)
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_a_symlink_is_written_through(tmp_path: Path) -> None:
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    with atomic_open(link) as handle:
        handle.write("new\n")
    assert link.is_symlink() and real.read_text() == "new\n"


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_a_device_is_never_replaced(device: str) -> None:
    with pytest.raises(UsageError, match="is not a regular file"), atomic_open(Path(device)) as handle:
        handle.write("x")
    assert not Path(device).is_file()


def test_several_files_are_written_as_one(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("old a\n")
    (tmp_path / "b.csv").mkdir()  # the second destination cannot be replaced: nothing is written
    with pytest.raises(UsageError, match="is a folder"):
        write_files_atomic(tmp_path, {"a.csv": b"new a\n", "b.csv": b"new b\n"})
    assert (tmp_path / "a.csv").read_text() == "old a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv"]
    written = write_files_atomic(tmp_path / "new", {"a.csv": b"A\n", "c.md": b"C\n"})
    assert [p.read_bytes() for p in written] == [b"A\n", b"C\n"]


def test_a_rename_that_fails_removes_every_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a.csv").write_text("old a\n")
    calls = []

    def refuse(src: str, dst: str) -> None:
        calls.append(dst)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(InspectError, match="No space left on device"):
        write_files_atomic(tmp_path, {"a.csv": b"new a\n", "b.csv": b"new b\n"})
    assert len(calls) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]
    assert (tmp_path / "a.csv").read_text() == "old a\n"
