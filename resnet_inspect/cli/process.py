"""The process around a command: standard streams that cannot end the run, signals that end it cleanly.

``resnet-inspect`` (the console script and ``python -m resnet_inspect``) runs
:func:`resnet_inspect.cli.main`, which calls :func:`install` before anything else loads:

- holds a closed descriptor 0, 1 or 2 (``>&-``, ``2>&-``) with ``/dev/null``: otherwise the next file
  the run opens (a report's temporary) would take its number and receive the table or the messages;
- wraps ``sys.stdout`` and ``sys.stderr`` so that a write that fails (a reader that closed the pipe,
  ``| head -1``; a full disk) never ends the run: the stream is pointed at ``/dev/null`` (the Python
  documentation's advice for SIGPIPE, so the rest of the buffer and the final flush go nowhere) and
  the run goes on to write its files. SIGPIPE stays ignored, as Python sets it, so a closed reader is
  an error of the write (EPIPE), never a silent death before the files are written. A closed reader
  is not an error of the run (exit 0); any other failure of stdout is reported once the files are
  written (exit 1);
- turns SIGINT (Ctrl-C) and SIGTERM into exceptions raised wherever the program is, so every
  ``finally`` runs (a report's temporaries are removed, a ``--measure`` child is killed by
  :func:`subprocess.run`) and the run ends with exactly one line, ``Error: interrupted`` (exit 130)
  or ``Error: terminated`` (exit 143, 128 + SIGTERM, as a shell reports a process SIGTERM ended).
  Only the first signal raises: later ones, while the run unwinds or prints its error, are ignored,
  so the clean-up is never cut short.

The package root and this module import nothing heavy, so the handlers are in place within the
interpreter's own start-up; a signal before that (a few tens of milliseconds) gets Python's default.
"""

from __future__ import annotations

import os
import signal
import sys

TYPE_CHECKING = False  # not typing's: importing typing would widen the window before the handlers
if TYPE_CHECKING:
    from types import FrameType
    from typing import Any, NoReturn, TextIO

INTERRUPTED = ("interrupted", 130)
TERMINATED = ("terminated", 143)

# The first signal received (None: none yet), whether an Error line was printed, whether the process is
# ending (signals ignored from then on).
_received: int | None = None
_said = False
_ending = False


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that whatever handles an interruption (a clean-up, a sweep that keeps
    its complete runs) handles it too; only the message and the exit code differ."""


def interruption() -> tuple[str, int]:
    """The word and exit code of the interruption under way: ("terminated", 143) after SIGTERM,
    otherwise ("interrupted", 130) (Ctrl-C, or a KeyboardInterrupt raised without a signal)."""
    return TERMINATED if _received == signal.SIGTERM else INTERRUPTED


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _received
    if _received is not None or _ending:
        return  # already unwinding, or already ending: let the clean-up finish
    _received = signum
    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def fail(message: str, code: int) -> NoReturn:
    """Print one ``Error: ...`` line on stderr and exit with ``code``; signals are ignored from here on.

    After a signal every failure is the interruption (an import cut short may surface as another
    error): its line and code replace ``message`` unless ``code`` already is an interruption's."""
    global _said
    stop_signals()
    if _received is not None and code not in (INTERRUPTED[1], TERMINATED[1]):
        message, code = interruption()
    _said = True
    line = " ".join(str(message).split())
    sys.stdout.flush()
    sys.stderr.write(f"Error: {line}\n")
    sys.stderr.flush()
    sys.exit(code)


class _Stream:
    """A standard stream whose failed write or flush sends the rest to ``/dev/null`` instead of raising."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.failure: OSError | None = None

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            self._lost(exc)
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            self._lost(exc)

    def _lost(self, exc: OSError) -> None:
        if self.failure is None:
            self.failure = exc
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, self._stream.fileno())
        finally:
            os.close(null)
        try:
            self._stream.flush()  # what was buffered goes to /dev/null now
        except OSError:
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _hold_standard_fds() -> None:
    """Open ``/dev/null`` on each of descriptors 0, 1 and 2 that is closed."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def _guard_streams() -> None:
    _hold_standard_fds()
    if sys.stdout is None:  # Python found descriptor 1 closed at start-up
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the process's stdout, never closed
    if sys.stderr is None:
        sys.stderr = open(2, "w", errors="backslashreplace", closefd=False)  # noqa: SIM115
    sys.stdout = _Stream(sys.stdout)  # type: ignore[assignment]
    sys.stderr = _Stream(sys.stderr)  # type: ignore[assignment]


def install() -> None:
    """Signal handlers first, then the standard streams; the first thing the console script does."""
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    _guard_streams()


def stop_signals() -> None:
    """From here on a signal changes nothing: the process is ending."""
    global _ending
    _ending = True


def _stdout_failure() -> OSError | None:
    """How writing stdout failed, unless the reader merely went away (EPIPE: not an error of the run)."""
    failure = getattr(sys.stdout, "failure", None)
    return None if failure is None or isinstance(failure, BrokenPipeError) else failure


def finish(code: int, interrupted: bool) -> int:
    """The exit code, once what was not said yet is said: an interruption (``interrupted``: one escaped
    the application's own handling), or a stdout that failed on a run that otherwise succeeded."""
    stop_signals()
    try:
        if (interrupted or _received is not None) and not _said:
            fail(*interruption())
        failure = _stdout_failure()
        if code == 0 and failure is not None:
            fail(f"could not write to standard output: {failure.strerror or failure}", 1)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return code


def end(code: int) -> NoReturn:
    """Flush the streams and exit with ``code``.

    Once TensorFlow is loaded, interpreter teardown (destroying TensorFlow's modules and graphs) can take
    longer than the walk and the rendering together. Every output is complete by then (files are fsynced
    and renamed, streams are flushed here), so the process ends with os._exit and skips that teardown.
    So does a run a signal ended: after a Ctrl-C cut into TensorFlow's import, the interpreter's own exit
    was seen to end the process by SIGINT (status -2) rather than with ``code``.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    if "tensorflow" in sys.modules or _received is not None:
        os._exit(code)
    sys.exit(code)
