"""The one place TensorFlow and Keras are imported, quietly.

Only the modules that need TensorFlow (builder, walk, bench) import this one,
so ``resnet-inspect --help`` and usage errors never pay for TensorFlow.

TensorFlow's C++ logs (absl's "All log messages before absl::InitializeLog()",
the CUDA probe on a machine without a GPU, oneDNN and CPU feature notes) are
written straight to file descriptor 2, below Python, and some of them whatever
``TF_CPP_MIN_LOG_LEVEL`` says. So stderr holds only the tool's own lines, whatever
the environment holds: ``TF_CPP_MIN_LOG_LEVEL`` is set to 3 (a failure reaches the
user as the tool's one ``Error:`` line, not as TensorFlow's log), the verbose-log
variables are dropped, and descriptor 2 is captured while TensorFlow loads and initialises its
devices; if loading fails, the capture is a note of the exception (its traceback shows
with ``RESNET_INSPECT_DEBUG=1``). ``RESNET_INSPECT_TF_LOGS=1`` leaves the environment and
stderr alone, for TensorFlow's logs.

Keras' import tries ``import pandas`` (to accept DataFrames in ``fit``) and ``import matplotlib.pyplot``
(for its image-gallery plots) only because they are installed: about a second that no command here
needs from Keras. While Keras loads, those imports are answered "not installed" (:class:`_Deferred`),
so Keras goes on without them; once it has loaded they import as usual, when a command needs them
(pandas for a CSV, matplotlib for a chart). A module already imported before is left as it is.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import os
import sys
import tempfile
from collections.abc import Iterator

TF_LOGS_ENV = "RESNET_INSPECT_TF_LOGS"
# TensorFlow's verbose logs, which TF_CPP_MIN_LOG_LEVEL does not silence.
_VERBOSE_ENV = ("TF_CPP_MAX_VLOG_LEVEL", "TF_CPP_VMODULE", "TF_CPP_VLOG_FILENAME")


def tf_logs_wanted() -> bool:
    """Whether the user asked for TensorFlow's own logs (``RESNET_INSPECT_TF_LOGS`` set, and not to 0)."""
    return os.environ.get(TF_LOGS_ENV, "").strip() not in ("", "0")


# Packages Keras imports only if they are there, for features this tool does not use through Keras.
DEFERRED = ("pandas", "matplotlib")


class _Deferred(importlib.abc.MetaPathFinder):
    """A finder that answers "not installed" for ``packages`` (and their submodules)."""

    def __init__(self, packages: tuple[str, ...]) -> None:
        self.packages = packages

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.split(".")[0] in self.packages:
            raise ModuleNotFoundError(f"{name} is deferred while Keras loads", name=name)
        return None


@contextlib.contextmanager
def _deferring() -> Iterator[None]:
    """The :data:`DEFERRED` packages that are not loaded yet are not importable inside the block."""
    packages = tuple(name for name in DEFERRED if name not in sys.modules)
    if not packages:
        yield
        return
    finder = _Deferred(packages)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


def _quiet_import() -> tuple[object, object]:
    with _deferring():
        return _import()


def _import() -> tuple[object, object]:
    if tf_logs_wanted():
        import keras
        import tensorflow as tf

        return keras, tf
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    for name in _VERBOSE_ENV:
        os.environ.pop(name, None)
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import keras
            import tensorflow as tf

            tf.config.list_physical_devices()  # device initialisation logs its CUDA probe here
        except Exception as exc:
            # Not printed: a failure is one line. The traceback (RESNET_INSPECT_DEBUG=1) shows the logs.
            # A Ctrl-C that cuts the import short can surface as another error: nothing shows then.
            if hasattr(exc, "add_note"):  # Python 3.11+
                capture.seek(0)
                exc.add_note("TensorFlow's logs while it loaded:\n" + capture.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return keras, tf


keras, tf = _quiet_import()

__all__ = ["TF_LOGS_ENV", "keras", "tf", "tf_logs_wanted"]
