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

TensorFlow's import also executes every module of its public API (``tensorflow._api.v2.*``: ``tf.compat.v1``,
``tf.distribute``, ``tf.data``, ``tf.raw_ops``, ``tf.feature_column`` and some 320 more) and the ``tf.keras``
shim, most of which a walk never touches: about a second here. While TensorFlow loads, those modules are
created lazily (:class:`_LazyApi`, lazy loading as the standard library's ``importlib.util.LazyLoader`` does
it from Python 3.12.3 on): each one runs its code on the first read of one of its attributes
(``tf.distribute.MirroredStrategy`` in ``bench``), and is then the module it always was. TensorFlow's core
(its C++ runtime, ops, dtypes, eager context) loads as before.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import sys
import tempfile
import threading
import types
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


# Modules created lazily while TensorFlow loads (prefixes): its public API modules and the tf.keras shim.
# (TensorFlow's own packages cannot be: their modules import each other's submodules, which needs them loaded.)
LAZY_API = ("tensorflow._api.v2.", "keras._tf_keras")


# What the import system sets on a module before its code runs: read without loading it (inspect.getmodule()
# reads every loaded module's __file__, which would load them all).
_METADATA = frozenset({"__name__", "__file__", "__spec__", "__loader__", "__package__", "__path__", "__cached__"})


class _LazyModule(types.ModuleType):
    """A module whose code has not run yet: the first read of any attribute runs it (:class:`_LazyLoader`).

    As the standard library's lazy module from Python 3.12.3 on (3.10 and 3.11 switch the class before
    the code has run, so a second thread could read a half-made module): one lock per module, the load
    done once, reads from the loading thread itself (its own code, circular imports) answered from what
    has run so far; the import system's own attributes (:data:`_METADATA`) are read without a load. After a
    load the bindings of TensorFlow's top-level names are put back
    (:func:`_rebind`): an API module's code may import a TensorFlow package of the same name
    (``tensorflow.distribute``), which rebinds ``tf.distribute`` to that package."""

    def __getattribute__(self, attr: str) -> object:
        if attr in _METADATA:  # set by the import system, not by the module's code: no load
            return types.ModuleType.__getattribute__(self, attr)
        spec = object.__getattribute__(self, "__spec__")
        state = spec.loader_state
        with state["lock"]:
            if object.__getattribute__(self, "__class__") is _LazyModule and not state["loading"]:
                state["loading"] = True
                namespace = types.ModuleType.__getattribute__(self, "__dict__")
                # What was set on the module before it ran (its submodules, as they were imported) is set
                # again after, as it would have been in an eager load.
                before = state["dict"]
                updated = {k: v for k, v in namespace.items() if k not in before or v is not before[k]}
                try:
                    with _native_logs_held(f"{spec.name} loaded"):  # it may load a library that logs (the profiler)
                        spec.loader.exec_module(self)
                except BaseException:
                    state["loading"] = False  # the next read tries again, and fails as loudly
                    raise
                namespace.update(updated)
                object.__setattr__(self, "__class__", types.ModuleType)
                _rebind()
        return types.ModuleType.__getattribute__(self, attr)

    def __delattr__(self, attr: str) -> None:
        self.__getattribute__(attr)  # loads
        delattr(self, attr)


class _LazyLoader(importlib.abc.Loader):
    """Wraps a module's own loader: the module is created as usual, its code runs on first use."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__spec__.loader = self.loader  # type: ignore[union-attr]
        module.__loader__ = self.loader
        module.__spec__.loader_state = {  # type: ignore[union-attr]
            "dict": module.__dict__.copy(), "lock": threading.RLock(), "loading": False,
        }
        module.__class__ = _LazyModule


class _LazyApi(importlib.abc.MetaPathFinder):
    """A finder that gives the modules under ``prefixes`` a lazy loader: found as usual, executed on first use."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        self.prefixes = prefixes

    def find_spec(self, name: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if not name.startswith(self.prefixes):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)  # type: ignore[arg-type]
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _LazyLoader(spec.loader)
        return spec


# TensorFlow's top-level names bound to lazy modules when it had loaded: (namespace, name, module).
_BINDINGS: list[tuple[dict[str, object], str, object]] = []


def _rebind() -> None:
    for namespace, name, module in _BINDINGS:
        if namespace.get(name) is not module:
            namespace[name] = module


def _record_bindings(package: object) -> None:
    namespace = vars(package)
    # type(), not isinstance(): reading a lazy module's __class__ would load it.
    _BINDINGS.extend((namespace, name, value) for name, value in namespace.items() if type(value) is _LazyModule)


@contextlib.contextmanager
def _finding(finder: importlib.abc.MetaPathFinder) -> Iterator[None]:
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


@contextlib.contextmanager
def _deferring() -> Iterator[None]:
    """Inside the block, the :data:`DEFERRED` packages that are not loaded yet are not importable, and the
    :data:`LAZY_API` modules not loaded yet are created lazily."""
    packages = tuple(name for name in DEFERRED if name not in sys.modules)
    with contextlib.ExitStack() as stack:
        if "tensorflow" not in sys.modules:
            stack.enter_context(_finding(_LazyApi(LAZY_API)))
        if packages:
            stack.enter_context(_finding(_Deferred(packages)))
        yield


def _quiet_import() -> tuple[object, object]:
    with _deferring():
        return _import()


@contextlib.contextmanager
def _native_logs_held(what: str) -> Iterator[None]:
    """Descriptor 2 captured inside the block (unless the user asked for TensorFlow's logs): a native library
    loading there writes its logs to the capture, which an exception leaving the block carries as a note."""
    if tf_logs_wanted():
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except Exception as exc:
            # Not printed: a failure is one line. The traceback (RESNET_INSPECT_DEBUG=1) shows the logs.
            # A Ctrl-C that cuts the import short can surface as another error: nothing shows then.
            if hasattr(exc, "add_note"):  # Python 3.11+
                capture.seek(0)
                exc.add_note(f"TensorFlow's logs while {what}:\n" + capture.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _import() -> tuple[object, object]:
    if not tf_logs_wanted():
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        for name in _VERBOSE_ENV:
            os.environ.pop(name, None)
    with _native_logs_held("it loaded"):
        import keras
        import tensorflow as tf

        if not tf_logs_wanted():
            tf.config.list_physical_devices()  # device initialisation logs its CUDA probe here
    return keras, tf


keras, tf = _quiet_import()
_record_bindings(tf)

__all__ = ["TF_LOGS_ENV", "keras", "tf", "tf_logs_wanted"]
