"""The cache of walks: a network's :class:`Report` (and its heading) stored once, read back without TensorFlow.

A walk of a network the tool builds itself (a spec: ``--depth``, ``--blocks``, ``--arch``, a model name of
``compare``) or of a ``--model`` (a keras.applications constructor and its options, or a file by the hash
of its bytes) is stored under a key made of everything that decides it (:func:`key_material`):

* what was walked, as the caller names it: ``kind`` and ``identity``. For a spec the identity is every
  field of the spec (:func:`spec_identity`, the one place a build becomes a key), read generically, so
  that a field added to :class:`~resnet_inspect.model.spec.ResNetSpec` enters the key by itself;
* the versions of the tool (its version and a digest of its source files, so an edited checkout never
  reads a walk of its former self), of TensorFlow and Keras (read from the installed distributions,
  without importing them), of Python, and of this file format.

An entry is ``<cache>/walks/<sha256 of the key>.json``: the key itself, the heading and the report, as
JSON (never pickle: an entry is untrusted input, so reading one can only yield data). An entry is used
only if it parses, carries exactly the expected key, and decodes field by field into the types the
records declare; anything else (corrupt, truncated, hostile, from another version) is a miss: the walk is
rebuilt and the entry written again. Entries are written atomically (a temporary file renamed over the
entry), and the folder is kept under :data:`MAX_BYTES` by removing the entries least recently used (a hit
refreshes its entry's time). The cache is best effort: a folder that cannot be read or written makes every
run a miss, never an error.

The folder: ``RESNET_INSPECT_CACHE`` if set, else the user's cache folder (``platformdirs``: on Linux
``$XDG_CACHE_HOME/resnet-inspect`` or ``~/.cache/resnet-inspect``). ``--no-cache`` (:func:`set_enabled`)
neither reads nor writes it.

Nothing here imports TensorFlow, Keras, numpy or pandas: a cached walk answers without them.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import json
import os
import platform
import sys
import tempfile
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from resnet_inspect.analysis.report import Report

CACHE_ENV = "RESNET_INSPECT_CACHE"
FORMAT = 1  # of an entry; a change of the encoding below changes it
MAX_BYTES = 64 * 2**20  # the folder's bound; at ~0.3 MiB a ResNet-50 walk, a few hundred networks
APP_NAME = "resnet-inspect"
# The distributions that can provide ``import tensorflow``, in the order they are looked for.
TENSORFLOW_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tensorflow-intel", "tf-nightly")

_enabled = True


def set_enabled(enabled: bool) -> None:
    """Turn the cache on or off for this process (``--no-cache``)."""
    global _enabled
    _enabled = enabled


def cache_dir() -> Path:
    """The cache folder: ``RESNET_INSPECT_CACHE``, else the user's cache folder for the tool."""
    moved = os.environ.get(CACHE_ENV, "").strip()
    if moved:
        return Path(moved).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def walks_dir() -> Path:
    return cache_dir() / "walks"


def _distribution_version(module: str, names: tuple[str, ...]) -> str | None:
    from importlib import metadata

    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    loaded = sys.modules.get(module)  # installed some other way: the module's own word, if it is loaded
    return getattr(loaded, "__version__", None)


def library_versions() -> dict[str, str | None]:
    """TensorFlow's and Keras' versions as installed (their distributions' metadata), without importing them."""
    return {
        "tensorflow": _distribution_version("tensorflow", TENSORFLOW_DISTRIBUTIONS),
        "keras": _distribution_version("keras", ("keras", "keras-nightly")),
    }


_SOURCE_DIGEST: str | None = None


def source_digest() -> str:
    """A digest of the tool's own source files (every ``.py`` of the package, by path and content)."""
    global _SOURCE_DIGEST
    if _SOURCE_DIGEST is None:
        root = Path(__file__).resolve().parent.parent
        digest = hashlib.sha256()
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
        _SOURCE_DIGEST = digest.hexdigest()
    return _SOURCE_DIGEST


def _plain(value: Any) -> Any:
    """A JSON value for a spec field: enums by value, tuples as lists, dataclasses (the design) field by field."""
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def spec_identity(spec: Any, fold_bn: bool = False) -> dict[str, Any]:
    """What decides the build of ``spec``: every field of the spec, read generically, and ``fold_bn``
    (--fold-bn, a transformation of the built model). The one place a build becomes a cache key: a
    build option added as a spec field enters by itself; one kept outside the spec must be added here."""
    return {"spec_type": type(spec).__name__, "spec": _plain(spec), "fold_bn": fold_bn}


def keras_settings() -> dict[str, Any]:
    """The Keras settings a build follows besides its arguments (``image_data_format``, ``floatx``, ``epsilon``,
    the backend), as Keras reads them: ``$KERAS_HOME/keras.json`` (else ``~/.keras/keras.json``) and
    ``KERAS_BACKEND``; read without importing Keras. An unreadable file counts as its bytes' absence."""
    folder = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    try:
        text = (folder / "keras.json").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = None
    return {"keras.json": text, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND")}


def key_material(kind: str, identity: Mapping[str, Any]) -> dict[str, Any]:
    """Everything an entry's walk depends on: what was walked and the versions of everything that walked it."""
    from resnet_inspect import __version__

    return {
        "format": FORMAT,
        "kind": kind,
        "identity": _plain(dict(identity)),
        "keras_settings": keras_settings(),  # a keras.applications model follows image_data_format, for one
        "versions": {
            "resnet_inspect": __version__,
            "source": source_digest(),
            **library_versions(),
            "python": platform.python_version(),
        },
    }


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def entry_path(material: Mapping[str, Any]) -> Path:
    return walks_dir() / f"{hashlib.sha256(_canonical(material).encode()).hexdigest()}.json"


# ---- the encoding: records as JSON, decoded strictly by the types their dataclasses declare


class CorruptEntry(ValueError):
    """An entry that does not decode into the records' declared types."""


def encode(value: Any) -> Any:
    """A record (dataclass) as JSON data: fields by name, tuples as lists; other values as they are."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [encode(v) for v in value]
    return value


def decode(hint: Any, data: Any) -> Any:
    """``data`` as a value of type ``hint`` (a record dataclass, a tuple type, a union, int, str, ...), or
    CorruptEntry. ``Any`` takes plain JSON data as it is (a layer's configuration, already JSON when walked)."""
    return _decoder(hint)(data)


Decoder = Callable[[Any], Any]


def _exactly(kind: type) -> Decoder:
    def check(data: Any) -> Any:
        if type(data) is not kind:  # not isinstance: a bool is no int here
            raise CorruptEntry(f"expected {kind.__name__}, got {type(data).__name__}")
        return data

    return check


def _listed(data: Any) -> list[Any]:
    if type(data) is not list:
        raise CorruptEntry(f"expected a list, got {type(data).__name__}")
    return data


@functools.cache
def _decoder(hint: Any) -> Decoder:
    """The decoder of ``hint``, made once per type from the declared types (typing is read once, not per value)."""
    if hint is Any:
        return lambda data: data
    if hint is type(None) or hint in (int, str, bool, float):
        return _exactly(hint)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        arms = [_decoder(arm) for arm in typing.get_args(hint) if arm is not type(None)]
        optional = type(None) in typing.get_args(hint)

        def union(data: Any) -> Any:
            if data is None and optional:
                return None
            errors = []
            for arm in arms:
                try:
                    return arm(data)
                except CorruptEntry as exc:
                    errors.append(str(exc))
            raise CorruptEntry("; ".join(errors) or "expected null")

        return union
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            item = _decoder(args[0])
            return lambda data: tuple(map(item, _listed(data)))
        items = [_decoder(arg) for arg in args]

        def fixed(data: Any) -> tuple[Any, ...]:
            if len(_listed(data)) != len(items):
                raise CorruptEntry(f"expected {len(items)} items, got {len(data)}")
            return tuple(decode_item(value) for decode_item, value in zip(items, data, strict=True))

        return fixed
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        fields = [(f.name, _decoder(hints[f.name])) for f in dataclasses.fields(hint)]
        names = {name for name, _ in fields}

        def record(data: Any) -> Any:
            if type(data) is not dict or data.keys() != names:
                raise CorruptEntry(f"expected the fields of {hint.__name__}")
            return hint(**{name: field(data[name]) for name, field in fields})

        return record
    raise CorruptEntry(f"no decoding for {hint!r}")


# ---- the store


@dataclasses.dataclass(frozen=True)
class Walked:
    """What a command needs of a walk: the report, and the heading over it."""

    report: Report
    heading: str


def read(material: Mapping[str, Any]) -> Walked | None:
    """The entry of ``material``, or None: missing, unreadable, corrupt, too large or for another key."""
    path = entry_path(material)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            return None
        document = json.loads(data)
        if not isinstance(document, dict) or document.get("key") != _plain(dict(material)):
            return None
        walked = Walked(decode(Report, document.get("report")), decode(str, document.get("heading")))
        os.utime(path)  # recently used: the last to be evicted
        return walked
    except (OSError, ValueError, TypeError, RecursionError):  # CorruptEntry and JSONDecodeError are ValueErrors
        return None


def write(material: Mapping[str, Any], walked: Walked, max_bytes: int = MAX_BYTES) -> bool:
    """Store ``walked`` under ``material``, atomically, then evict down to ``max_bytes``. False when the
    walk does not survive the encoding unchanged (it is then not stored: a cached answer must be the
    answer), is larger than the bound, or the folder cannot be written."""
    try:
        text = json.dumps(
            {"key": _plain(dict(material)), "heading": walked.heading, "report": encode(walked.report)},
            separators=(",", ":"), ensure_ascii=True, allow_nan=False,
        )
        if len(text) > max_bytes or decode(Report, json.loads(text)["report"]) != walked.report:
            return False
    except (ValueError, TypeError, RecursionError):
        return False
    path = entry_path(material)
    try:
        _write_atomic(path, text.encode())
        evict(path.parent, max_bytes, keep=path)
    except OSError:
        return False
    return True


def _write_atomic(path: Path, data: bytes) -> None:
    """A temporary beside ``path``, renamed over it: a reader sees the old entry or the new one, whole.
    Not fsynced (a cache entry that a crash empties is a miss, rebuilt), and failures are the caller's
    to ignore: the reports' writer (:func:`resnet_inspect.output.export.atomic_open`) fsyncs and turns a
    failure into the user's error, and this layer comes before output."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def evict(folder: Path, max_bytes: int, keep: Path | None = None) -> None:
    """Remove the least recently used entries of ``folder`` until the rest take at most ``max_bytes``."""
    entries = []
    for path in folder.glob("*.json"):
        try:
            stat = path.stat()
        except OSError:
            continue
        entries.append((stat.st_mtime_ns, path.name, stat.st_size, path))
    total = sum(size for _, _, size, _ in entries)
    for _, _, size, path in sorted(entries):
        if total <= max_bytes:
            break
        if path == keep:
            continue
        path.unlink(missing_ok=True)
        total -= size


def walked(kind: str, identity: Mapping[str, Any], walk: Callable[[], Walked]) -> Walked:
    """The cached walk of ``identity``, or ``walk()`` (then stored); ``walk()`` alone with the cache off."""
    if not _enabled:
        return walk()
    material = key_material(kind, identity)
    found = read(material)
    if found is not None:
        return found
    fresh = walk()
    write(material, fresh)
    return fresh


def spec_report(spec: Any, fold_bn: bool = False) -> Report:
    """The walk of ``spec`` as :func:`resnet_inspect.analysis.inspection.inspect_spec` gives it, cached."""

    def walk() -> Walked:
        from resnet_inspect.analysis.inspection import inspect_spec  # imports TensorFlow

        return Walked(inspect_spec(spec, fold_bn), "")

    return walked("inspect_spec", spec_identity(spec, fold_bn), walk).report
