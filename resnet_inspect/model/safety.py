"""What in a model configuration would run code as Keras loads it, decided from what Keras resolves.

Two passes over the same parsed configuration (never a second read of the file):

* :func:`prescan`, without TensorFlow, for what needs no resolution: serialised Python code
  (``"class_name": "__lambda__"``, which only a Lambda layer writes) and objects from modules
  outside Keras, which Keras never imports. It lets the command line refuse those at once.
* :func:`resolve`, once Keras is loaded and before any layer exists: every object of the
  configuration (nested models and wrappers, shared objects, functions) is resolved to its class
  or function with Keras' own lookup (``serialization_lib._retrieve_class_or_fn``, the function
  ``deserialize_keras_object`` calls, or the legacy HDF5 tables), so every spelling Keras accepts
  (``layers.Lambda`` in module ``keras``, ``keras.layers.Lambda``, a ``keras.src`` module path, a
  registered name) resolves to the same class. A class that runs user code (Lambda, TFSMLayer,
  wrappers of foreign modules), a class or function defined outside Keras, a function that is not
  one of Keras' built-ins (activations, losses, metrics, ops...) or an object Keras cannot
  resolve is a :class:`Finding`.

The top-level ``compile_config`` is skipped by both: models are loaded with ``compile=False``,
which discards it before Keras reads it; a nested model's compile configuration is scanned.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from resnet_inspect.model.archive import first_line

# Objects Keras decodes as data, never as a class or function.
DATA_CLASSES = frozenset({"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__"})
# The class name of serialised Python code (python_utils.func_dump, written by Lambda layers).
LAMBDA_CODE = "__lambda__"
LAMBDA_RUNS = "arbitrary Python code"
# keras.layers classes whose instances run code the configuration points to: (name, what it runs).
CODE_CLASSES = (
    ("Lambda", LAMBDA_RUNS),
    ("TFSMLayer", "loads the SavedModel at {filepath!r} and runs its graph"),
    ("TorchModuleWrapper", "runs the PyTorch module it wraps"),
    ("JaxLayer", "runs the JAX function it wraps"),
    ("FlaxLayer", "runs the Flax module it wraps"),
)
# Public keras namespaces whose functions a configuration may name (Keras' BUILTIN_MODULES and ops).
FUNCTION_NAMESPACES = frozenset(
    {"activations", "constraints", "initializers", "losses", "metrics", "optimizers", "regularizers", "ops"}
)


@dataclass(frozen=True)
class Finding:
    """Something in the configuration that would run code: ``a Lambda layer 'double' (arbitrary Python code)``."""

    kind: str
    name: str
    runs: str

    def __str__(self) -> str:
        article = "an" if self.kind[0].lower() in "aeiou" else "a"
        return f"{article} {self.kind} {self.name!r} ({self.runs})"


def lambda_layer(name: str) -> Finding:
    """A Lambda layer: what serialised Python code (``__lambda__``) in a configuration belongs to."""
    return Finding("Lambda layer", name, LAMBDA_RUNS)


def nodes(config: Any) -> Iterator[tuple[dict[str, Any], str]]:
    """Every JSON object of the configuration with the name of the object it sits in, walked without
    recursion (a file may nest deeply), the top-level ``compile_config`` left out."""
    top = {k: v for k, v in config.items() if k != "compile_config"} if isinstance(config, dict) else config
    stack: list[tuple[Any, str]] = [(top, "?")]
    while stack:
        item, owner = stack.pop()
        if isinstance(item, dict):
            yield item, owner
            owner = _name(item) or owner
            stack.extend((value, owner) for value in item.values())
        elif isinstance(item, list):
            stack.extend((value, owner) for value in item)


def _name(node: dict[str, Any]) -> str | None:
    inner = node.get("config")
    name = node.get("name") or (inner.get("name") if isinstance(inner, dict) else None)
    return str(name) if name else None


def outside_keras(node: dict[str, Any]) -> str | None:
    """The module of an object Keras would look for outside Keras, or None.

    A function of module ``builtins`` is how Keras names its own built-in functions; it is resolved.
    """
    module = node.get("module")
    if not isinstance(module, str) or module.split(".")[0] == "keras":
        return None
    if node.get("class_name") == "function" and module == "builtins":
        return None
    return module


def prescan(config: Any) -> tuple[Finding, ...]:
    """Serialised Python code in the configuration, found without Keras."""
    found = {
        lambda_layer(owner)
        for node, owner in nodes(config)
        if node.get("class_name") == LAMBDA_CODE
    }
    return tuple(sorted(found, key=str))


def resolve(config: Any, legacy: bool) -> tuple[Finding, ...]:
    """Every object of ``config`` resolved as Keras would resolve it, and what among them runs code.

    ``legacy``: an .h5 configuration, whose objects Keras looks up by class name in its layer tables.
    Imports Keras (TensorFlow); creates no layer.
    """
    from resnet_inspect._tf import keras  # it quiets TensorFlow before Keras loads it

    object_registration = keras.src.saving.object_registration

    registry = object_registration.GLOBAL_CUSTOM_OBJECTS
    found: set[Finding] = set()
    for node, owner in nodes(config):
        class_name = node.get("class_name")
        if not isinstance(class_name, str) or class_name in DATA_CLASSES:
            continue
        if class_name == LAMBDA_CODE:
            found.add(lambda_layer(owner))
            continue
        try:
            target = _lookup(node, legacy)
        except Exception as exc:  # Keras raises ValueError, TypeError, ImportError... for what it cannot load
            found.add(Finding("unknown object", class_name, f"Keras cannot resolve it: {first_line(exc)[:200]}"))
            continue
        finding = _judge(target, node, owner)
        if finding is not None:
            found.add(finding)
    # A bare string (an activation's name) resolves to a registered custom object too.
    for item in {item for item in _strings(config) if item in registry}:
        finding = _judge(registry[item], {"class_name": item}, item)
        if finding is not None:
            found.add(finding)
    return tuple(sorted(found, key=str))


def _strings(config: Any) -> Iterator[str]:
    for node, _ in nodes(config):
        yield from (value for value in node.values() if isinstance(value, str))


def _lookup(node: dict[str, Any], legacy: bool) -> Any:
    """The class or function Keras' deserialisation would reach for ``node``."""
    from keras.src import api_export
    from keras.src.saving import object_registration, serialization_lib

    class_name = node["class_name"]
    inner = node.get("config")
    registered = node.get("registered_name", class_name)
    if class_name == "__typespec__":
        name, kind = node.get("spec_name"), "class"
    elif class_name == "function":
        name, kind = inner, "function"
    else:
        name, kind = class_name, "class"
    if not isinstance(name, str):
        raise TypeError(f"a {kind} named by {type(name).__name__}")
    for key in (registered, class_name, name):
        custom = object_registration.get_registered_object(key) if isinstance(key, str) else None
        if custom is not None:
            return custom
    module = node.get("module")
    if module:
        return serialization_lib._retrieve_class_or_fn(
            name, registered, module, obj_type=kind, full_config=node, custom_objects={}
        )
    if legacy:
        from keras.src import layers, models

        table = {**vars(layers), "Functional": models.Functional, "Model": models.Model,
                 "Sequential": models.Sequential}
        if name in table:
            return table[name]
    for namespace in ("layers", "models", *sorted(FUNCTION_NAMESPACES)):
        target = api_export.get_symbol_from_name(f"keras.{namespace}.{name}")
        if target is not None:
            return target
    raise TypeError(f"no Keras class or function is called {name!r}")


def _judge(target: Any, node: dict[str, Any], owner: str) -> Finding | None:
    """A finding when ``target`` (resolved from ``node``) runs code beyond Keras' own built-ins."""
    import keras
    from keras.src import api_export

    label = _name(node) or owner
    inner = node.get("config") if isinstance(node.get("config"), dict) else {}
    if isinstance(target, type):
        for class_name, runs in CODE_CLASSES:
            base = getattr(keras.layers, class_name, None)
            if isinstance(base, type) and issubclass(target, base):
                if class_name == "Lambda":
                    return lambda_layer(label)
                return Finding(class_name, label, runs.format(filepath=str(inner.get("filepath", "?"))))
        if _module_root(target) != "keras":
            return Finding("custom object", f"{target.__module__}.{target.__qualname__}", "its Python code would run")
        return None
    if callable(target):
        public = api_export.get_name_from_symbol(target) or ""
        parts = public.split(".")
        if _module_root(target) == "keras" and len(parts) > 2 and parts[1] in FUNCTION_NAMESPACES:
            return None
        where = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', '?')}"
        return Finding("function", where, "Python code outside Keras' built-in functions")
    return Finding("unknown object", str(node.get("class_name")), f"resolves to a {type(target).__name__}")


def _module_root(target: Any) -> str:
    return str(getattr(target, "__module__", "") or "").split(".")[0]


def listing(findings: tuple[Finding, ...]) -> str:
    """``a Lambda layer 'double' (arbitrary Python code) and a TFSMLayer 'sm' (...)``."""
    words = [str(f) for f in findings]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
