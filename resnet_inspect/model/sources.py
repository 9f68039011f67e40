"""Where a model comes from: a keras.applications constructor or a saved ``.keras`` / ``.h5`` file.

``--model keras:ResNet50`` builds ``keras.applications.ResNet50(weights=None)``: random weights,
nothing downloaded. ``--model path/to/model.keras`` loads the file in safe mode, which refuses
anything that would run code (:mod:`resnet_inspect.model.safety`: Lambda layers, TFSMLayer,
objects from outside Keras); ``unsafe=True`` lifts that for trusted files.

:func:`parse_source` checks the text without TensorFlow, so a bad ``--model`` fails at once: a
``keras:`` name must be one of the constructors the installed keras.applications exports (nothing
is looked up by a name the user typed until then); a file must be a regular ``.keras`` zip
archive or ``.h5`` HDF5 file holding a model configuration. The file is read once
(:mod:`resnet_inspect.model.archive`); its configuration (JSON, never unpickled) is scanned for
serialised code and modules outside Keras. :func:`load_model` then resolves every object of it
with Keras, sizes it (:mod:`resnet_inspect.model.sizing`) and loads those same bytes; it is the one
place that imports TensorFlow here. Keras' own safe mode stays on as the last line of defence.
"""

from __future__ import annotations

import ast
import difflib
import functools
import hashlib
import importlib.util
import inspect
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resnet_inspect.errors import InspectError, UsageError
from resnet_inspect.files import input_file
from resnet_inspect.model import safety, sizing
from resnet_inspect.model.archive import Contents, first_line, read_model_file

KERAS_PREFIX = "keras:"
# What keras.saving.load_model reads in Keras 3 (it tells them apart by these endings).
FILE_SUFFIXES = (".keras", ".h5", ".hdf5")
USAGE = "give keras:<Application> (e.g. keras:ResNet50) or a .keras or .h5 file"
# What a keras.applications constructor's name looks like: ResNet50, EfficientNetV2B0.
APPLICATION_NAME = re.compile(r"[A-Z][A-Za-z0-9]*")
# The module keras.applications' constructors are defined in.
APPLICATIONS_MODULE = "keras.src.applications."
@dataclass(frozen=True)
class ModelSource:
    """A validated ``--model``: exactly one of ``application`` and ``path`` is set.

    A file is read once: ``contents`` holds its bytes, which are scanned and are what Keras loads.
    """

    text: str
    application: str | None = None
    path: Path | None = None
    code_layers: tuple[str, ...] = ()  # layers with serialised Python code, found without Keras (Lambda)
    objects: int = 0  # objects in the file's configuration: an upper bound on its layers
    contents: Contents | None = field(default=None, repr=False, compare=False)


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
    contents = read_model_file(path, text)
    return ModelSource(text, path=path, code_layers=_code_layers(contents.config),
                       objects=_objects(contents.config, text), contents=contents)


def _code_layers(config: Any) -> tuple[str, ...]:
    """Names of the layers in ``config`` that carry serialised Python code, found without Keras."""
    return tuple(sorted({finding.name for finding in safety.prescan(config)}))


def _objects(config: Any, text: str) -> int:
    """How many objects the configuration names (layers, initialisers...); refuses code from outside Keras."""
    count = 0
    for node, _ in safety.nodes(config):
        if "class_name" not in node:
            continue
        count += 1
        module = safety.outside_keras(node)
        if module is not None:
            raise UsageError(
                f"--model {text!r} refers to code outside Keras ({node.get('class_name')!r} from module "
                f"{module!r}); only Keras layers are loaded"
            )
    return count


def check_safe(source: ModelSource, unsafe: bool) -> None:
    """Refuse, before Keras is loaded, a file with serialised Python code unless ``unsafe``.

    What needs Keras to resolve is refused by :func:`load_model`, before any layer is created.
    """
    if source.code_layers and not unsafe:
        raise UsageError(_refused(source, tuple(safety.lambda_layer(name) for name in source.code_layers)))


def _refused(source: ModelSource, findings: tuple[safety.Finding, ...]) -> str:
    return (
        f"--model {source.text!r} holds {safety.listing(findings)} and safe mode refuses to load it; "
        "pass --unsafe if you trust the file"
    )


def findings(source: ModelSource) -> tuple[safety.Finding, ...]:
    """What in a model file runs code as it loads, resolved by Keras (imports TensorFlow); () for keras:."""
    if source.contents is None:
        return ()
    return safety.resolve(source.contents.config, legacy=source.path is not None and source.path.suffix != ".keras")


def unsafe_warning(source: ModelSource) -> str:
    """What the CLI says before loading a file with safe mode off: what was found and what will run."""
    found = findings(source)
    if not found:
        return f"Warning: --unsafe: safe mode is off for {source.text!r}; it holds no code that Keras would run"
    return (
        f"Warning: --unsafe: {source.text!r} holds {safety.listing(found)}; it runs as the model loads; "
        "use it only on files you trust"
    )


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
        raise UsageError(f"keras.applications.{name}({given}) refused: {first_line(exc)}") from None
    except (MemoryError, tf.errors.ResourceExhaustedError) as exc:
        raise InspectError(f"keras.applications.{name}({given}) ran out of memory: {first_line(exc)}") from None
    config: dict[str, Any] = {"name": model.name, "source": source.text, "application": name, "weights": None}
    if input_size is not None:
        config["input_size"] = list(input_size)
    if classes is not None:
        config["classes"] = classes
    return model, config


def _load_file(keras: Any, source: ModelSource, unsafe: bool) -> tuple[Any, dict[str, Any]]:
    """Load the bytes that were scanned, from a private folder (mkdtemp: only this user can enter it)."""
    from resnet_inspect.model.builder import recursion_room

    path, contents = source.path, source.contents
    assert path is not None and contents is not None
    folder = Path(tempfile.mkdtemp(prefix="resnet-inspect-model-"))
    try:
        private = folder / ("model.keras" if path.suffix == ".keras" else "model.h5")
        with private.open("xb") as handle:
            handle.write(contents.data)
        with recursion_room(source.objects):  # Keras maps the loaded graph recursively, as when building
            model = keras.saving.load_model(private, compile=False, safe_mode=not unsafe)
    except OSError as exc:
        raise InspectError(f"cannot load --model {source.text!r}: {exc.strerror or first_line(exc)}") from None
    except Exception as exc:  # Keras raises many kinds (ValueError, KeyError, zipfile errors...)
        if "safe_mode" in str(exc) or "Lambda" in str(exc):
            found = safety.prescan(contents.config) or (safety.lambda_layer("?"),)
            raise UsageError(_refused(source, found)) from None
        raise InspectError(f"--model {source.text!r} is not a loadable Keras model: {first_line(exc)}") from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if not isinstance(model, keras.Model):
        raise InspectError(f"--model {source.text!r} holds a {type(model).__name__}, not a Keras model")
    digest = hashlib.sha256(contents.data).hexdigest()
    config = {"name": model.name, "source": source.text, "sha256": digest, "safe_mode": not unsafe}
    return model, config


def load_model(
    source: str | ModelSource,
    unsafe: bool = False,
    *,
    input_size: tuple[int, int] | None = None,
    classes: int | None = None,
    admit: Callable[[sizing.Footprint], None] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Build or load the model of ``--model`` and a JSON-friendly description of where it came from.

    ``input_size`` and ``classes`` apply to keras.applications constructors only. A file is
    resolved by Keras (:func:`findings`: refused unless ``unsafe``), sized from its configuration
    (:func:`resnet_inspect.model.sizing.footprint`) and handed to ``admit`` (which raises to refuse
    it: the memory budget) before Keras allocates its weights. Errors are :class:`UsageError` (bad
    name, code in safe mode) or :class:`InspectError` (a file that does not load, or does not fit),
    each one line.
    """
    if isinstance(source, str) or (source.path is not None and source.contents is None):
        source = parse_source(source if isinstance(source, str) else source.text)
    if source.path is not None and (input_size is not None or classes is not None):
        raise UsageError("--input-size and --classes apply to keras:<Application> models, not to a model file")
    check_safe(source, unsafe)
    from resnet_inspect._tf import keras  # TensorFlow is loaded only once the source is valid

    if source.application is not None:
        return _build_application(keras, source, input_size, classes)
    found = findings(source)
    if found and not unsafe:
        raise UsageError(_refused(source, found))
    legacy = source.path.suffix != ".keras"
    size = sizing.footprint(source.contents, source.text, legacy=legacy, unsafe=unsafe)
    if admit is not None:
        admit(size)
    return _load_file(keras, source, unsafe)


def describe(model: Any, source: ModelSource) -> str:
    """A heading for a report on a --model: its name, where it came from, its input shape."""
    origin = f"keras.applications.{source.application}(weights=None)" if source.application else repr(source.text)
    shapes = ", ".join("x".join(str(d) for d in tensor.shape[1:]) for tensor in model.inputs)
    return f"{model.name} from {origin}, input {shapes}"
