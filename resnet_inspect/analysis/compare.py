"""Comparisons: a regular block against a bottleneck block, and model against model. No rendering here.

Blocks are built with the network's own block code (:class:`~resnet_inspect.model.builder.ResNetBuilder`)
and models from specs; both are walked with the same :func:`~resnet_inspect.analysis.walk.analyze` as
``summary``, so every number below comes from built Keras layers.

TensorFlow is imported only inside the functions that build something: parsing
names (and failing on a bad one) stays instant.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from resnet_inspect.analysis.records import Level, Shape, Totals, UnitRow
from resnet_inspect.analysis.report import Report
from resnet_inspect.errors import UsageError
from resnet_inspect.model import naming
from resnet_inspect.model.spec import BLOCK_STRIDES, DEPTHS, BlockKind, DataFormat, ResNetSpec, Version

# Seeds (004): "a regular ResNet block with 64 filters that takes in an input with 64 channels".
DEFAULT_FILTERS = 64
# Seeds (002): after the 7x7/2 conv and the 3x3/2 pool a 224x224 input is 56x56 in block layer 1.
DEFAULT_SIZE = 56
MODEL_PREFIX = "resnet"
_MODEL_RE = re.compile(rf"{MODEL_PREFIX}(\d+)(?:-(.*))?")
CONV_TYPES = ("Conv2D",)


class CompareLevel(str, enum.Enum):
    """Columns of a model comparison: whole models, or whole models plus one group of columns per stage."""

    MODEL = "model"
    STAGE = "stage"


# --- names ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelName:
    """A model named on the command line: ``resnet50`` or ``resnet50-v2``."""

    label: str
    depth: int
    version: Version | None  # None: no suffix, the command's version applies


def block_names() -> tuple[str, ...]:
    return tuple(kind.value for kind in BlockKind)


def model_names() -> tuple[str, ...]:
    return tuple(f"{MODEL_PREFIX}{depth}" for depth in DEPTHS)


def version_names() -> tuple[str, ...]:
    return tuple(version.value for version in Version)


def known_names() -> str:
    """What ``compare`` accepts, for error messages (derived from the tables, never typed in)."""
    suffixes = ", ".join(f"-{v}" for v in version_names())
    return (
        f"blocks: {', '.join(block_names())}; models: {', '.join(model_names())} "
        f"(optionally with a version suffix: {suffixes})"
    )


def parse_model_name(text: str) -> ModelName | None:
    """``resnet50`` / ``resnet50-v1`` -> ModelName; None when ``text`` is not a model name at all."""
    label = text.strip().lower()
    match = _MODEL_RE.fullmatch(label)
    if match is None or int(match.group(1)) not in DEPTHS:
        return None
    version = None
    if match.group(2) is not None:
        try:
            version = Version(match.group(2))
        except ValueError:
            raise UsageError(
                f"unknown version {match.group(2)!r} in {text!r}; known versions: {', '.join(version_names())}"
            ) from None
    return ModelName(label=label, depth=int(match.group(1)), version=version)


@dataclass(frozen=True)
class Selection:
    """What the names ask for: blocks or models, never both."""

    blocks: tuple[BlockKind, ...] = ()
    models: tuple[ModelName, ...] = ()


def parse_names(names: Sequence[str]) -> Selection:
    """Classify two or more names as blocks or models; every mistake is a UsageError."""
    if len(names) < 2:
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


def check_positive(option: str, value: int) -> None:
    if value <= 0:
        raise UsageError(f"{option} must be a positive integer, got {value}")


# --- blocks ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockSetup:
    """One block to build on its own, as the network would build it in block layer 1."""

    kind: BlockKind
    filters: int = DEFAULT_FILTERS
    size: int = DEFAULT_SIZE
    first: bool = False
    use_bias: bool = True
    data_format: DataFormat = DataFormat.CHANNELS_LAST
    version: Version = Version.V2

    def __post_init__(self) -> None:
        check_positive("--filters", self.filters)
        check_positive("--size", self.size)

    @property
    def in_channels(self) -> int:
        # Inside a block layer a block takes the previous block's output: expansion x filters channels
        # (64 for regular, 256 for bottleneck, seeds 004). The first block of block layer 1 takes the
        # stem's output instead, whose width is block layer 1's filters.
        return self.filters if self.first else self.kind.expansion * self.filters

    @property
    def stride(self) -> int:
        return BLOCK_STRIDES[0]  # block layer 1 keeps the map size (seeds: block_strides[0] == 1)

    @property
    def scope(self) -> str:
        return naming.join(naming.stage_scope(0), f"{self.kind.scope}0")

    @property
    def input_shape(self) -> Shape:
        if DataFormat(self.data_format) is DataFormat.CHANNELS_FIRST:
            return (self.in_channels, self.size, self.size)
        return (self.size, self.size, self.in_channels)

    def config(self) -> dict[str, Any]:
        return {
            "block_type": self.kind.value,
            "filters": self.filters,
            "size": self.size,
            "first": self.first,
            "input_shape": list(self.input_shape),
            "use_bias": self.use_bias,
            "data_format": DataFormat(self.data_format).value,
            "arch_version": Version(self.version).value,
        }


def build_block(setup: BlockSetup) -> Any:
    """A Keras model holding exactly one block, made by the same builder calls as the network.

    The builder is the network's for ``setup.version``. The identity block is ``block_fn(kind)(...)``
    without ``shortcut_filters``, as every block after the first in a block layer; ``first`` calls
    ``block_layer`` with one block, which is how the network makes the first block of a block layer
    (with the projection shortcut that version gives it: v2 always, v1 where the shape changes).
    """
    from resnet_inspect._tf import keras
    from resnet_inspect.model.builder import BUILDERS

    builder = BUILDERS[Version(setup.version)](setup.data_format, setup.use_bias)
    inputs = keras.Input(shape=setup.input_shape, name="input")
    if setup.first:
        outputs = builder.block_layer(
            inputs, setup.kind, setup.filters, setup.stride, 1, naming.stage_scope(0)
        )
    else:
        outputs = builder.block_fn(setup.kind)(inputs, setup.filters, setup.stride, setup.scope)
    return keras.Model(inputs, outputs, name=f"{setup.kind.scope}")


@dataclass(frozen=True)
class ConvPart:
    """One convolution of a block, as built."""

    block: str
    part: str
    name: str
    kernel_shape: Shape
    in_channels: int
    out_channels: int
    output_shape: Shape
    weights: int
    biases: int
    macs: int | None
    flops: int | None


@dataclass(frozen=True)
class BlockSide:
    """One walked block: its convolutions and its totals."""

    setup: BlockSetup
    input_shape: Shape
    output_shape: Shape
    in_channels: int
    out_channels: int
    convs: tuple[ConvPart, ...]
    totals: Totals
    report: Report


def _channel_index(data_format: DataFormat | str) -> int:
    return 0 if DataFormat(data_format) is DataFormat.CHANNELS_FIRST else -1


def block_side(setup: BlockSetup, report: Report) -> BlockSide:
    """Read the per-conv breakdown and the totals of one walked block."""
    axis = _channel_index(setup.data_format)
    convs = []
    for record in report.layers:
        if record.layer_type not in CONV_TYPES:
            continue
        config = dict(record.config)
        convs.append(
            ConvPart(
                block=setup.kind.value,
                part=record.name.rsplit(naming.SEP, 1)[-1],
                name=record.name,
                kernel_shape=tuple(config["kernel_size"]),
                in_channels=record.input_shapes[0][axis],
                out_channels=record.output_shape[axis],
                output_shape=record.output_shape,
                weights=record.weights,
                biases=record.biases,
                macs=record.macs,
                flops=record.flops,
            )
        )
    first, last = report.layers[0], report.layers[-1]
    return BlockSide(
        setup=setup,
        input_shape=first.output_shape,
        output_shape=last.output_shape,
        in_channels=first.output_shape[axis],
        out_channels=last.output_shape[axis],
        convs=tuple(convs),
        totals=report.totals,
        report=report,
    )


def compare_blocks(setups: Sequence[BlockSetup]) -> tuple[BlockSide, ...]:
    """Build and walk each block (imports TensorFlow)."""
    from resnet_inspect.analysis.walk import analyze

    return tuple(block_side(s, analyze(build_block(s), config=s.config())) for s in setups)


def ratio(value: int | None, base: int | None) -> float | None:
    """value / base, None when either is unknown or the base is 0."""
    if value is None or base is None or base == 0:
        return None
    return value / base


def difference(value: int | None, base: int | None) -> int | None:
    if value is None or base is None:
        return None
    return value - base


# --- models ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelEntry:
    """One model of a comparison: the name it was asked by, its spec and its walked report."""

    label: str
    spec: ResNetSpec
    report: Report


# Totals compared against the first model, as ``<key>_diff`` and ``<key>_ratio``.
COMPARED = ("params", "macs", "flops")


@dataclass(frozen=True)
class ModelRow:
    """One model in a comparison: its totals, and their differences from (and ratios to) the first model's."""

    name: str
    version: str
    block_type: str
    blocks: tuple[int, ...]
    output_shape: Shape
    features_shape: Shape
    totals: Totals
    diff: dict[str, int | None]
    ratio: dict[str, float | None]
    stages: tuple[UnitRow, ...]


def model_specs(
    models: Sequence[ModelName], spec_for: Callable[[int], ResNetSpec]
) -> tuple[tuple[str, ResNetSpec], ...]:
    """(label, spec) for each name: ``spec_for(depth)`` applies the command's options, a suffix its version."""
    resolved: list[tuple[str, ResNetSpec]] = []
    for model in models:
        spec = spec_for(model.depth)
        if model.version is not None:
            spec = dataclasses.replace(spec, version=model.version)
        for label, other in resolved:
            if other == spec:
                raise UsageError(f"{label!r} and {model.label!r} are the same network; name each once")
        resolved.append((model.label, spec))
    return tuple(resolved)


def build_models(
    entries: Sequence[tuple[str, ResNetSpec]], progress: Callable[[int, str], None] | None = None
) -> tuple[ModelEntry, ...]:
    """Build and walk each model in turn (imports TensorFlow).

    ``progress(done, label)`` is called before each build, and once more with ``done == len(entries)``.
    """
    from resnet_inspect.analysis.inspection import inspect_spec

    built = []
    for done, (label, spec) in enumerate(entries):
        if progress is not None:
            progress(done, label)
        built.append(ModelEntry(label, spec, inspect_spec(spec)))
    if progress is not None:
        progress(len(entries), "")
    return tuple(built)


def _features_shape(stages: Sequence[UnitRow]) -> Shape:
    """Output of the last block layer: the map the head pools (the seeds' 7x7x512 or 7x7x2048 at 224)."""
    body = [row for row in stages if row.name not in (naming.STEM, naming.HEAD)]
    return body[-1].output_shape if body else stages[-1].output_shape


def compare_models(entries: Sequence[ModelEntry]) -> tuple[ModelRow, ...]:
    """One row per model; differences and ratios are against the first model."""
    base = entries[0].report.totals
    rows = []
    for entry in entries:
        totals = entry.report.totals
        stages = entry.report.rows(Level.STAGE)
        rows.append(
            ModelRow(
                name=entry.label,
                version=entry.spec.version.value,
                block_type=entry.spec.block_kind.value,
                blocks=entry.spec.blocks,
                output_shape=entry.report.layers[-1].output_shape,
                features_shape=_features_shape(stages),
                totals=totals,
                diff={key: difference(getattr(totals, key), getattr(base, key)) for key in COMPARED},
                ratio={key: ratio(getattr(totals, key), getattr(base, key)) for key in COMPARED},
                stages=stages,
            )
        )
    return tuple(rows)


def stage_names(rows: Sequence[ModelRow]) -> list[str]:
    """Every stage of every model, in order of first appearance."""
    names: list[str] = []
    for row in rows:
        for stage in row.stages:
            if stage.name not in names:
                names.append(stage.name)
    return names


# --- JSON documents (plain data, fixed key order, no timestamps) -------------------------------------
