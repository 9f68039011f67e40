"""Child processes: none runs code from the working directory, and none outlives the command.

Two kinds of child exist: the ``memory``/``report --measure`` process (Python, TensorFlow) and
``nvidia-smi`` (asked for a GPU's free memory).

* A Python child runs isolated (``python -I``: neither the working directory, nor ``PYTHONPATH``,
  nor the user's site-packages is on its ``sys.path``), with the folder this package was imported
  from put first on its path: a ``statistics.py``, a ``numpy.py`` or a ``resnet_inspect/`` folder
  in the working directory is never imported.
* A program is looked up only in the absolute folders of ``PATH``: an empty or relative entry
  (``.``, ``::``) would find a program of the working directory.
* Every child is killed when the command ends: on any exception in the parent (Ctrl-C, a SIGTERM
  handler, a timeout) by :func:`run_child`'s ``finally``, and when the parent dies without running
  it (SIGKILL, SIGTERM's default action) by the kernel: the child asks for ``SIGKILL`` on its
  parent's death (Linux ``prctl(PR_SET_PDEATHSIG)``) before it runs the program. The child also
  gets its own session, so a Ctrl-C on the terminal reaches the parent only, which then ends it.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# The folder holding this package, wherever it was imported from (a checkout, site-packages).
PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


def python_command(module: str, *args: str) -> list[str]:
    """``python -I`` running ``module``'s ``main()`` from this package, never from the working directory."""
    boot = f"import sys; sys.path.insert(0, sys.argv.pop(1)); from {module} import main; main()"
    return [sys.executable, "-I", "-c", boot, PACKAGE_PARENT, *args]


def find_program(name: str) -> str | None:
    """``shutil.which`` over the absolute folders of ``PATH`` only."""
    folders = [folder for folder in os.environ.get("PATH", os.defpath).split(os.pathsep) if os.path.isabs(folder)]
    return shutil.which(name, path=os.pathsep.join(folders)) if folders else None


def _death_signal() -> Callable[[], None] | None:
    """A function for the forked child, before exec: SIGKILL when the parent dies (Linux), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the forked child only calls it
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def die_with_parent() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the request was made
            os._exit(1)

    return die_with_parent


def run_child(
    command: Sequence[str], timeout: float, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` to its end (stdout and stderr captured as text), killed with the parent.

    :class:`subprocess.TimeoutExpired` after ``timeout`` seconds, the child killed."""
    child = subprocess.Popen(
        list(command), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=None if env is None else dict(env), start_new_session=True, preexec_fn=_death_signal(),
    )
    try:
        out, err = child.communicate(timeout=timeout)
        return subprocess.CompletedProcess(child.args, child.returncode, out, err)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
