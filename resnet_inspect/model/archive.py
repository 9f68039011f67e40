"""A ``--model`` file read once, without Keras: its bytes, its model configuration, what its weights declare.

The bytes read here are the bytes that are scanned and the bytes that are loaded
(:func:`resnet_inspect.model.sources.load_model` writes them to a private folder for Keras), so a
file replaced after the scan is never loaded. Nothing is extracted: a ``.keras`` zip archive is
sized from its members' declared sizes (a member that claims to expand far beyond what it stores,
a decompression bomb, is refused here), an ``.h5`` file from its datasets' declared shapes.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from resnet_inspect.errors import InspectError

# A model configuration is JSON of a few MiB at most (ResNet-152: 0.4 MiB); more is not a model we read.
MAX_CONFIG_BYTES = 64 * 2**20
# The first bytes of every HDF5 file (it may follow a user block of 512, 1024, 2048... bytes).
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# Keras writes archive members stored (1:1); DEFLATE alone reaches about 1032:1, so a member that
# declares more than this many times what it stores was made to expand. Below the floor a ratio
# says nothing worth refusing.
MAX_EXPANSION = 100
BOMB_FLOOR_BYTES = 2**20
# The archive member that holds the weights (Keras 3 writes the .h5 one; .npz is its alternative).
WEIGHTS_MEMBERS = ("model.weights.h5", "model.weights.npz")


@dataclass(frozen=True)
class Contents:
    """What a model file holds, as read once."""

    data: bytes = field(repr=False)
    config: Any
    stored_weights: int  # bytes its weights declare uncompressed: the archive's weights member, the .h5 datasets
    expanded: int  # bytes of every archive member uncompressed (the file's own size for .h5)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def read_model_file(path: Path, text: str) -> Contents:
    """Read ``path`` once and take its configuration and declared sizes from those bytes."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InspectError(f"cannot read --model {text!r}: {exc.strerror or exc}") from None
    except MemoryError:
        raise InspectError(f"--model {text!r} is larger than the memory free to read it") from None
    if not data:
        raise InspectError(f"--model {text!r} is an empty file, not a Keras model")
    if path.suffix == ".keras":
        raw, stored, expanded = _archive(data, text)
    else:
        raw, stored = _hdf5(data, text)
        expanded = len(data)
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested deeper than Python parses
        raise InspectError(
            f"--model {text!r} holds a model configuration that is not JSON: {first_line(exc)}"
        ) from None
    return Contents(data, config, stored, expanded)


def _archive(data: bytes, text: str) -> tuple[bytes, int, int]:
    """config.json, the weights member's declared size and every member's, refusing a decompression bomb."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            for info in members:
                _refuse_bomb(info, text)
            by_name = {info.filename: info for info in members}
            info = by_name.get("config.json")
            if info is None:
                raise InspectError(
                    f"--model {text!r} is not a loadable Keras model: a zip archive without the config.json of a "
                    ".keras file"
                )
            if info.file_size > MAX_CONFIG_BYTES:
                raise InspectError(
                    f"--model {text!r}: its config.json is {info.file_size:,} bytes, more than a model configuration "
                    f"({MAX_CONFIG_BYTES:,} at most)"
                )
            raw = archive.read(info)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError, EOFError, OSError) as exc:
        # not a zip, a truncated one, an encrypted or unknown compression
        zipped = zipfile.is_zipfile(io.BytesIO(data))
        why = first_line(exc) if zipped else "not a .keras archive (a .keras file is a zip)"
        raise InspectError(f"--model {text!r} is not a loadable Keras model: {why}") from None
    stored = sum(by_name[name].file_size for name in WEIGHTS_MEMBERS if name in by_name)
    return raw, stored, sum(info.file_size for info in members)


def _refuse_bomb(info: zipfile.ZipInfo, text: str) -> None:
    if info.file_size > BOMB_FLOOR_BYTES and info.file_size > MAX_EXPANSION * max(info.compress_size, 1):
        ratio = info.file_size / max(info.compress_size, 1)
        raise InspectError(
            f"--model {text!r}: its member {info.filename!r} declares {info.file_size:,} bytes uncompressed from "
            f"{info.compress_size:,} stored ({ratio:,.0f}:1; Keras stores members uncompressed), a decompression "
            "bomb; refused before extraction"
        )


def _is_hdf5(data: bytes) -> bool:
    offset = 0
    while offset + len(HDF5_SIGNATURE) <= len(data):
        if data[offset:offset + len(HDF5_SIGNATURE)] == HDF5_SIGNATURE:
            return True
        offset = 512 if offset == 0 else offset * 2
    return False


def _hdf5(data: bytes, text: str) -> tuple[bytes, int]:
    """The ``model_config`` attribute and the bytes its weight datasets declare (shapes only, nothing read)."""
    if not _is_hdf5(data):
        raise InspectError(f"--model {text!r} is not a loadable Keras model: not an HDF5 file")
    import h5py  # Keras' own HDF5 reader; no TensorFlow

    declared: list[int] = []

    def visit(_: str, item: Any) -> None:
        if isinstance(item, h5py.Dataset):
            declared.append(int(item.size) * item.dtype.itemsize)

    try:
        with h5py.File(io.BytesIO(data), "r") as handle:
            raw = handle.attrs.get("model_config")
            weights = handle.get("model_weights")
            if isinstance(weights, h5py.Group):
                weights.visititems(visit)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:  # truncated or damaged HDF5
        raise InspectError(f"--model {text!r} is not a loadable Keras model: {first_line(exc)}") from None
    if raw is None:
        raise InspectError(
            f"--model {text!r} holds no model configuration (a weights-only file?); save the whole model "
            "with model.save()"
        )
    return (raw if isinstance(raw, bytes) else str(raw).encode()), sum(declared)
