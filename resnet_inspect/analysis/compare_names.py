"""The names ``compare`` takes: blocks (``regular``, ``bottleneck``) or models (``resnet50``, ``resnet50-v1``).

Plain parsing from the spec tables, no TensorFlow: a bad name fails at once, and the
list of known names in every message is derived from the tables, never typed in.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from resnet_inspect.errors import UsageError
from resnet_inspect.model.family import MEMBERS, lookup
from resnet_inspect.model.spec import DEPTHS, BlockKind, Version

MODEL_PREFIX = "resnet"
_MODEL_RE = re.compile(rf"{MODEL_PREFIX}(\d+)(?:-(.*))?")


@dataclass(frozen=True)
class ModelName:
    """A model named on the command line: ``resnet50`` or ``resnet50-v2``."""

    label: str
    depth: int | None
    version: Version | None  # None: no suffix, the command's version applies
    arch: str | None = None  # a family member as published (resnext50_32x4d): its own spec, options on top


def block_names() -> tuple[str, ...]:
    return tuple(kind.value for kind in BlockKind)


def model_names() -> tuple[str, ...]:
    return tuple(f"{MODEL_PREFIX}{depth}" for depth in DEPTHS)


def version_names() -> tuple[str, ...]:
    return tuple(version.value for version in Version)


def family_names() -> tuple[str, ...]:
    """The family's published members (resnet50-v1.5, resnext50_32x4d, ...): every name with its own spec."""
    return tuple(name for name, member in MEMBERS.items() if member.spec.arch is not None)


def known_names() -> str:
    """What ``compare`` accepts, for error messages (derived from the tables, never typed in)."""
    suffixes = ", ".join(f"-{v}" for v in version_names())
    return (
        f"blocks: {', '.join(block_names())}; models: {', '.join(model_names())} "
        f"(optionally with a version suffix: {suffixes}); the family (`resnet-inspect archs`): "
        f"{', '.join(family_names())}"
    )


def unknown_model(name: str) -> UsageError:
    """The error for a name that names no model (``plot``, and ``compare`` beside ``--model``)."""
    suffixes = ", ".join(f"-{v}" for v in version_names())
    return UsageError(
        f"unknown model name {name!r}; known models: {', '.join(model_names())}, optionally with a version "
        f"suffix ({suffixes}); the family (`resnet-inspect archs`): {', '.join(family_names())}"
    )


def parse_model_name(text: str) -> ModelName | None:
    """``resnet50`` / ``resnet50-v1`` / ``resnext50_32x4d`` -> ModelName; None when ``text`` names no model."""
    label = text.strip().lower()
    member = lookup(label)
    if member is not None and member.spec.arch is not None:
        return ModelName(label=label, depth=member.spec.depth, version=None, arch=member.name)
    match = _MODEL_RE.fullmatch(label)
    if match is None or int(match.group(1)) not in DEPTHS:
        return None
    version = None
    if match.group(2) is not None:
        try:
            version = Version(match.group(2))
        except ValueError:
            members = [name for name in family_names() if name.startswith(f"{MODEL_PREFIX}{match.group(1)}-")]
            also = f" (and the family's {', '.join(members)}: `resnet-inspect archs`)" if members else ""
            raise UsageError(
                f"unknown version {match.group(2)!r} in {text!r}; known versions: {', '.join(version_names())}"
                f"{also}"
            ) from None
    return ModelName(label=label, depth=int(match.group(1)), version=version)


@dataclass(frozen=True)
class Selection:
    """What the names ask for: blocks or models, never both."""

    blocks: tuple[BlockKind, ...] = ()
    models: tuple[ModelName, ...] = ()


def parse_names(names: Sequence[str], others: int = 0) -> Selection:
    """Classify two or more names as blocks or models; every mistake is a UsageError.

    ``others`` models are given besides the names (``--model``): they count towards the two."""
    if len(names) + others < 2:
        got = f"got only {names[0]!r}" if names else "got none"
        raise UsageError(
            f"compare needs at least two names, e.g. 'regular bottleneck' or 'resnet34 resnet50'; {got}"
        )
    blocks: list[BlockKind] = []
    models: list[ModelName] = []
    for name in names:
        key = name.strip().lower()
        if key in block_names():
            blocks.append(BlockKind(key))
            continue
        model = parse_model_name(name)
        if model is None:
            raise UsageError(f"unknown name {name!r}; known {known_names()}")
        models.append(model)
    if blocks and models:
        raise UsageError(
            f"cannot mix blocks ({', '.join(k.value for k in blocks)}) with models "
            f"({', '.join(m.label for m in models)}): compare blocks with blocks, or models with models"
        )
    labels = [k.value for k in blocks] + [m.label for m in models]
    for label in labels:
        if labels.count(label) > 1:
            raise UsageError(f"{label!r} is named twice; name each block or model once")
    return Selection(blocks=tuple(blocks), models=tuple(models))
