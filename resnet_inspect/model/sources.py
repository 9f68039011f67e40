"""Where a model comes from: a keras.applications constructor or a saved ``.keras`` / ``.h5`` file.

``--model keras:ResNet50`` builds ``keras.applications.ResNet50(weights=None)``: random weights,
nothing downloaded. ``--model path/to/model.keras`` loads the file with ``safe_mode=True``, which
refuses Lambda layers (their Python code would run); ``unsafe=True`` lifts that for trusted files.

:func:`parse_source` checks the text without TensorFlow, so a bad ``--model`` fails at once: a
``keras:`` name must be one of the constructors the installed keras.applications exports (nothing
is looked up by a name the user typed until then); a file must be a regular ``.keras`` zip
archive or ``.h5`` HDF5 file holding a model configuration, which is read (JSON, never
unpickled) for Lambda layers and for references to code outside Keras before Keras sees it.
:func:`load_model` builds or loads the model and is the one place that imports TensorFlow here;
Keras' own safe mode stays on as the second line of defence.
"""

from __future__ import annotations

import ast
import difflib
import functools
import hashlib
import importlib.util
import inspect
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from resnet_inspect.errors import InspectError, UsageError
from resnet_inspect.files import input_file

KERAS_PREFIX = "keras:"
# What keras.saving.load_model reads in Keras 3 (it tells them apart by these endings).
FILE_SUFFIXES = (".keras", ".h5", ".hdf5")
USAGE = "give keras:<Application> (e.g. keras:ResNet50) or a .keras or .h5 file"
# What a keras.applications constructor's name looks like: ResNet50, EfficientNetV2B0.
APPLICATION_NAME = re.compile(r"[A-Z][A-Za-z0-9]*")
# The module keras.applications' constructors are defined in.
APPLICATIONS_MODULE = "keras.src.applications."
# Layers whose configuration carries Python code to run, and the class name of serialised code itself.
CODE_LAYERS = frozenset({"Lambda", "TFOpLambda", "SlicingOpLambda"})
LAMBDA_CODE = "__lambda__"
# A model configuration is JSON of a few MiB at most (ResNet-152: 0.4 MiB); more is not a model we read.
MAX_CONFIG_BYTES = 64 * 2**20
# The first bytes of every HDF5 file (it may follow a user block of 512, 1024, 2048... bytes).
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class ModelSource:
    """A validated ``--model``: exactly one of ``application`` and ``path`` is set."""

    text: str
    application: str | None = None
    path: Path | None = None
    code_layers: tuple[str, ...] = ()  # names of the file's layers that carry Python code (Lambda)
    objects: int = 0  # objects in the file's configuration: an upper bound on its layers


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
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(APPLICATIONS_MODULE)
        for alias in node.names
        if APPLICATION_NAME.fullmatch(alias.asname or alias.name)
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
        if not APPLICATION_NAME.fullmatch(name) and (known is None or name.lower() not in map(str.lower, known)):
            raise UsageError(
                f"--model {text!r}: {name!r} is not a keras.applications constructor name (letters and digits, "
                "starting with a capital, e.g. ResNet50)"
            )
        if known is not None and name not in known:
            raise _unknown_application(name, known)
        return ModelSource(text, application=name)
    path = Path(text)
    size = input_file(path, f"--model {text!r}", USAGE, " (Keras 3 cannot load SavedModel folders)")
    if not text.endswith(FILE_SUFFIXES):
        raise UsageError(f"--model {text!r} is not a .keras or .h5 file; {USAGE}")
    if size == 0:
        raise InspectError(f"--model {text!r} is an empty file, not a Keras model")
    config = _read_config(path, text)
    return ModelSource(text, path=path, code_layers=_code_layers(config), objects=_objects(config, text))


def _read_config(path: Path, text: str) -> Any:
    """The model configuration a file holds, read as JSON without Keras: a .keras archive's
    ``config.json``, an .h5 file's ``model_config`` attribute."""
    if path.suffix == ".keras":
        raw = _archive_config(path, text)
    else:
        raw = _hdf5_config(path, text)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested deeper than Python parses
        why = _first_line(exc)
        raise InspectError(f"--model {text!r} holds a model configuration that is not JSON: {why}") from None


def _archive_config(path: Path, text: str) -> bytes:
    try:
        with zipfile.ZipFile(path) as archive:
            try:
                info = archive.getinfo("config.json")
            except KeyError:
                raise InspectError(
                    f"--model {text!r} is not a loadable Keras model: a zip archive without the config.json of a "
                    ".keras file"
                ) from None
            if info.file_size > MAX_CONFIG_BYTES:
                raise InspectError(
                    f"--model {text!r}: its config.json is {info.file_size:,} bytes, more than a model configuration "
                    f"({MAX_CONFIG_BYTES:,} at most)"
                )
            return archive.read(info)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError, OSError) as exc:
        # not a zip, a truncated one, an encrypted or unknown compression, an unreadable file
        why = "not a .keras archive (a .keras file is a zip)" if not zipfile.is_zipfile(path) else _first_line(exc)
        raise InspectError(f"--model {text!r} is not a loadable Keras model: {why}") from None


def _hdf5_config(path: Path, text: str) -> bytes:
    try:
        with path.open("rb") as handle:
            head = handle.read(len(HDF5_SIGNATURE))
    except OSError as exc:
        raise InspectError(f"cannot read --model {text!r}: {exc.strerror or exc}") from None
    import h5py  # Keras' own HDF5 reader; no TensorFlow

    if head != HDF5_SIGNATURE and not h5py.is_hdf5(str(path)):
        raise InspectError(f"--model {text!r} is not a loadable Keras model: not an HDF5 file")
    try:
        with h5py.File(path, "r") as handle:
            raw = handle.attrs.get("model_config")
    except (OSError, ValueError, KeyError, RuntimeError) as exc:  # truncated or damaged HDF5
        raise InspectError(f"--model {text!r} is not a loadable Keras model: {_first_line(exc)}") from None
    if raw is None:
        raise InspectError(
            f"--model {text!r} holds no model configuration (a weights-only file?); save the whole model "
            "with model.save()"
        )
    return raw if isinstance(raw, bytes) else str(raw).encode()


def _nodes(config: Any) -> list[dict[str, Any]]:
    """Every JSON object of a configuration, walked without recursion (a file may nest deeply)."""
    found, stack = [], [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _code_layers(config: Any) -> tuple[str, ...]:
    """Names of the layers in ``config`` that carry Python code; "?" for serialised code found elsewhere."""
    nodes = _nodes(config)
    names = {_layer_name(n) for n in nodes if n.get("class_name") in CODE_LAYERS}
    if not names and any(n.get("class_name") == LAMBDA_CODE for n in nodes):
        names = {"?"}
    return tuple(sorted(names))


def _layer_name(node: dict[str, Any]) -> str:
    inner = node.get("config")
    return str(node.get("name") or (inner.get("name") if isinstance(inner, dict) else None) or "?")


def _objects(config: Any, text: str) -> int:
    """How many objects the configuration names (layers, initialisers...); refuses code from outside Keras."""
    nodes = [n for n in _nodes(config) if "class_name" in n]
    for node in nodes:
        module = node.get("module")
        if isinstance(module, str) and module.split(".")[0] != "keras":
            raise UsageError(
                f"--model {text!r} refers to code outside Keras ({node.get('class_name')!r} from module "
                f"{module!r}); only Keras layers are loaded"
            )
    return len(nodes)


def check_safe(source: ModelSource, unsafe: bool) -> None:
    """Refuse, before Keras is loaded, a file with Lambda layers unless ``unsafe``."""
    if source.code_layers and not unsafe:
        raise UsageError(_lambda_refused(source))


def _lambda_refused(source: ModelSource) -> str:
    return (
        f"--model {source.text!r} holds a Lambda layer (arbitrary Python code) and safe mode refuses to load it; "
        "pass --unsafe if you trust the file"
    )


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
    from resnet_inspect._tf import tf

    name = str(source.application)
    constructor = getattr(keras.applications, name, None) if APPLICATION_NAME.fullmatch(name) else None
    # A constructor is a function defined in keras.applications' own modules; anything else the
    # attribute might be (a submodule, a class, a re-exported helper) is refused.
    if not inspect.isfunction(constructor) or not constructor.__module__.startswith(APPLICATIONS_MODULE):
        raise _unknown_application(name, application_names() or ())
    kwargs: dict[str, Any] = {"weights": None}  # random weights: nothing is downloaded
    if input_size is not None:
        # keras.applications build channels_last unless the Keras config says otherwise.
        channels_first = keras.config.image_data_format() == "channels_first"
        kwargs["input_shape"] = (3, *input_size) if channels_first else (*input_size, 3)
    if classes is not None:
        kwargs["classes"] = classes
    given = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    try:
        model = constructor(**kwargs)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"keras.applications.{name}({given}) refused: {_first_line(exc)}") from None
    except (MemoryError, tf.errors.ResourceExhaustedError) as exc:
        raise InspectError(f"keras.applications.{name}({given}) ran out of memory: {_first_line(exc)}") from None
    config: dict[str, Any] = {"name": model.name, "source": source.text, "application": name, "weights": None}
    if input_size is not None:
        config["input_size"] = list(input_size)
    if classes is not None:
        config["classes"] = classes
    return model, config


def _load_file(keras: Any, source: ModelSource, unsafe: bool) -> tuple[Any, dict[str, Any]]:
    from resnet_inspect.model.builder import recursion_room

    path = source.path
    assert path is not None
    try:
        with recursion_room(source.objects):  # Keras maps the loaded graph recursively, as when building
            model = keras.saving.load_model(path, compile=False, safe_mode=not unsafe)
    except Exception as exc:  # Keras raises many kinds (ValueError, OSError, KeyError, zipfile errors...)
        message = _first_line(exc)
        if "safe_mode" in str(exc) or "Lambda" in str(exc):
            raise UsageError(_lambda_refused(source)) from None
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
    check_safe(source, unsafe)
    from resnet_inspect._tf import keras  # TensorFlow is loaded only once the source is valid

    if source.application is not None:
        return _build_application(keras, source, input_size, classes)
    return _load_file(keras, source, unsafe)


def describe(model: Any, source: ModelSource) -> str:
    """A heading for a report on a --model: its name, where it came from, its input shape."""
    origin = f"keras.applications.{source.application}(weights=None)" if source.application else repr(source.text)
    shapes = ", ".join("x".join(str(d) for d in tensor.shape[1:]) for tensor in model.inputs)
    return f"{model.name} from {origin}, input {shapes}"
