"""Where a model comes from: a keras.applications constructor or a saved ``.keras`` / ``.h5`` file.

``--model keras:ResNet50`` builds ``keras.applications.ResNet50(weights=None)``: random weights,
nothing downloaded. ``--model path/to/model.keras`` loads the file with ``safe_mode=True``, which
refuses Lambda layers (their Python code would run); ``unsafe=True`` lifts that for trusted files.

:func:`parse_source` checks the text without TensorFlow, so a bad ``--model`` fails at once;
:func:`load_model` builds or loads the model and is the one place that imports TensorFlow here.
"""

from __future__ import annotations

import ast
import difflib
import functools
import hashlib
import importlib.util
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resnet_inspect.errors import InspectError, UsageError

KERAS_PREFIX = "keras:"
# What keras.saving.load_model reads in Keras 3 (it tells them apart by these endings).
FILE_SUFFIXES = (".keras", ".h5", ".hdf5")
USAGE = "give keras:<Application> (e.g. keras:ResNet50) or a .keras or .h5 file"


@dataclass(frozen=True)
class ModelSource:
    """A validated ``--model``: exactly one of ``application`` and ``path`` is set."""

    text: str
    application: str | None = None
    path: Path | None = None


@functools.cache
def application_names() -> tuple[str, ...] | None:
    """The constructors keras.applications exports, read from the installed Keras without importing it.

    Keras 3 generates ``keras/applications/__init__.py`` as a list of ``from ... import X as X``
    lines; the constructors are the capitalised names (the lower-case ones are submodules).
    None when that file cannot be read: the name is then checked once Keras is loaded.
    """
    spec = importlib.util.find_spec("keras")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    init = Path(next(iter(spec.submodule_search_locations))) / "applications" / "__init__.py"
    try:
        tree = ast.parse(init.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    names = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if (alias.asname or alias.name)[:1].isupper()
    }
    return tuple(sorted(names)) or None


def _unknown_application(name: str, known: tuple[str, ...]) -> UsageError:
    by_lower = {k.lower(): k for k in known}
    close = [by_lower[name.lower()]] if name.lower() in by_lower else difflib.get_close_matches(name, known, n=3)
    alternatives = ", ".join(close[:-1]) + " or " + close[-1] if len(close) > 1 else "".join(close)
    hint = f"did you mean {alternatives}?" if close else f"available: {', '.join(known)}"
    return UsageError(f"unknown keras.applications model {name!r}; {hint}")


def parse_source(text: str) -> ModelSource:
    """Validate ``--model`` without TensorFlow: a known application name, or an existing model file."""
    if not text.strip():
        raise UsageError(f"--model needs a value: {USAGE}")
    if text.startswith(KERAS_PREFIX):
        name = text[len(KERAS_PREFIX):]
        if not name:
            raise UsageError(f"--model {text!r} names no application: {USAGE}")
        known = application_names()
        if known is not None and name not in known:
            raise _unknown_application(name, known)
        return ModelSource(text, application=name)
    path = Path(text)
    if not path.exists():
        raise UsageError(f"--model {text!r}: no such file; {USAGE}")
    if path.is_dir():
        raise UsageError(f"--model {text!r} is a folder; {USAGE} (Keras 3 cannot load SavedModel folders)")
    if not text.endswith(FILE_SUFFIXES):
        raise UsageError(f"--model {text!r} is not a .keras or .h5 file; {USAGE}")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InspectError(f"cannot read --model {text!r}: {exc.strerror or exc}") from None
    if size == 0:
        raise InspectError(f"--model {text!r} is an empty file, not a Keras model")
    return ModelSource(text, path=path)


def unsafe_warning(source: ModelSource) -> str:
    """What the CLI says before loading a file with safe mode off."""
    return (
        f"Warning: --unsafe: Lambda layers in {source.text!r} run their Python code as the model loads; "
        "use it only on files you trust"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _build_application(
    keras: Any, source: ModelSource, input_size: tuple[int, int] | None, classes: int | None
) -> tuple[Any, dict[str, Any]]:
    name = source.application
    constructor = getattr(keras.applications, str(name), None)
    if not callable(constructor) or not str(name)[:1].isupper():
        raise _unknown_application(str(name), application_names() or ())
    kwargs: dict[str, Any] = {"weights": None}  # random weights: nothing is downloaded
    if input_size is not None:
        # keras.applications build channels_last unless the Keras config says otherwise.
        channels_first = keras.config.image_data_format() == "channels_first"
        kwargs["input_shape"] = (3, *input_size) if channels_first else (*input_size, 3)
    if classes is not None:
        kwargs["classes"] = classes
    try:
        model = constructor(**kwargs)
    except (ValueError, TypeError) as exc:
        given = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise UsageError(f"keras.applications.{name}({given}) refused: {_first_line(exc)}") from None
    config: dict[str, Any] = {"name": model.name, "source": source.text, "application": name, "weights": None}
    if input_size is not None:
        config["input_size"] = list(input_size)
    if classes is not None:
        config["classes"] = classes
    return model, config


def _load_file(keras: Any, source: ModelSource, unsafe: bool) -> tuple[Any, dict[str, Any]]:
    path = source.path
    assert path is not None
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=not unsafe)
    except Exception as exc:  # Keras raises many kinds (ValueError, OSError, KeyError, zipfile errors...)
        message = _first_line(exc)
        if "safe_mode" in str(exc) or "Lambda" in str(exc):
            raise UsageError(
                f"--model {source.text!r} holds a Lambda layer (arbitrary Python code) and safe mode refuses "
                "to load it; pass --unsafe if you trust the file"
            ) from None
        if path.suffix == ".keras" and not zipfile.is_zipfile(path):
            message = "not a .keras archive (a .keras file is a zip)"
        raise InspectError(f"--model {source.text!r} is not a loadable Keras model: {message}") from None
    if not isinstance(model, keras.Model):
        raise InspectError(f"--model {source.text!r} holds a {type(model).__name__}, not a Keras model")
    config = {"name": model.name, "source": source.text, "sha256": _sha256(path), "safe_mode": not unsafe}
    return model, config


def load_model(
    source: str | ModelSource,
    unsafe: bool = False,
    *,
    input_size: tuple[int, int] | None = None,
    classes: int | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Build or load the model of ``--model`` and a JSON-friendly description of where it came from.

    ``input_size`` and ``classes`` apply to keras.applications constructors only. Errors are
    :class:`UsageError` (bad name, Lambda layer in safe mode) or :class:`InspectError` (a file that
    does not load), each one line.
    """
    source = source if isinstance(source, ModelSource) else parse_source(source)
    if source.path is not None and (input_size is not None or classes is not None):
        raise UsageError("--input-size and --classes apply to keras:<Application> models, not to a model file")
    from resnet_inspect._tf import keras  # TensorFlow is loaded only once the source is valid

    if source.application is not None:
        return _build_application(keras, source, input_size, classes)
    return _load_file(keras, source, unsafe)


def describe(model: Any, source: ModelSource) -> str:
    """A heading for a report on a --model: its name, where it came from, its input shape."""
    origin = f"keras.applications.{source.application}(weights=None)" if source.application else repr(source.text)
    shapes = ", ".join("x".join(str(d) for d in tensor.shape[1:]) for tensor in model.inputs)
    return f"{model.name} from {origin}, input {shapes}"
