"""Comparisons: a regular block against a bottleneck block, and model against model. No rendering here.

Blocks are built with the network's own block code (:func:`~resnet_inspect.model.topology.one_block`,
the same topology that builds the network and that the estimate records) and models from specs; both
are walked with the same :func:`~resnet_inspect.analysis.walk.analyze` as ``summary``, so every number
below comes from built Keras layers.

TensorFlow is imported only inside the functions that build something: parsing names
(:mod:`resnet_inspect.analysis.compare_names`, re-exported here) and failing on a bad one stays instant.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from resnet_inspect.analysis.compare_names import (  # noqa: F401  (the command's names, re-exported)
    MODEL_PREFIX,
    ModelName,
    Selection,
    block_names,
    known_names,
    model_names,
    parse_model_name,
    parse_names,
    unknown_model,
    version_names,
)
from resnet_inspect.analysis.memory import MemoryTotals, memory_totals
from resnet_inspect.analysis.records import Level, Shape, Totals, UnitRow
from resnet_inspect.analysis.report import Report
from resnet_inspect.errors import InspectError, UsageError
from resnet_inspect.model import naming
from resnet_inspect.model.design import Design
from resnet_inspect.model.spec import BlockKind, DataFormat, ResNetSpec, Version, check_positive
from resnet_inspect.model.topology import block_scope, channel_index, map_shape

# Seeds (004): "a regular ResNet block with 64 filters that takes in an input with 64 channels".
DEFAULT_FILTERS = 64
# Seeds (002): after the 7x7/2 conv and the 3x3/2 pool a 224x224 input is 56x56 in block layer 1.
DEFAULT_SIZE = 56
CONV_TYPES = ("Conv2D",)
# The knobs a block comparison takes (the others shape a whole network: stem, downsampling shortcut).
BLOCK_KNOBS = ("groups", "width_per_group", "width_multiplier", "se_ratio")


class CompareLevel(str, enum.Enum):
    """Columns of a model comparison: whole models, or whole models plus one group of columns per stage."""

    MODEL = "model"
    STAGE = "stage"


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
    # ResNeXt / Wide ResNet / SE knobs (resnet_inspect.model.design); width per group is read at 64 filters
    groups: int = 1
    width_per_group: int | None = None
    width_multiplier: int = 1
    se_ratio: int | None = None

    def __post_init__(self) -> None:
        check_positive("filters", self.filters)
        check_positive("size", self.size)
        if self.kind is BlockKind.BOTTLENECK:
            self.design.inner_width(self.filters)  # refused here if the groups do not divide it

    @property
    def design(self) -> Design:
        """The knobs as the block code reads them; the stride placement is the version's (a stride-1 block)."""
        return Design(**{k: getattr(self, k) for k in BLOCK_KNOBS})

    def knobs(self) -> dict[str, Any]:
        """The knobs set, by name (none for the seeds' blocks, whose configuration stays as it was)."""
        plain = BlockSetup(self.kind)
        return {k: getattr(self, k) for k in BLOCK_KNOBS if getattr(self, k) != getattr(plain, k)}

    @property
    def in_channels(self) -> int:
        # Inside a block layer a block takes the previous block's output: expansion x filters channels
        # (64 for regular, 256 for bottleneck, as the seeds say of their block layer 1). The first block of
        # block layer 1 takes the stem's output instead, whose width is block layer 1's filters.
        return self.filters if self.first else self.kind.expansion * self.filters

    @property
    def scope(self) -> str:
        return block_scope(naming.stage_scope(0), self.kind, 0)

    @property
    def input_shape(self) -> Shape:
        return map_shape(self.data_format, self.size, self.size, self.in_channels)

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
            **self.knobs(),
        }


def build_block(setup: BlockSetup) -> Any:
    """A Keras model holding exactly one block, made by the network's own block code.

    :func:`~resnet_inspect.model.topology.one_block` with the family of ``setup.version``: the identity
    block is ``block_fn(kind)`` without a projection, as every block after the first in a block layer;
    ``first`` goes through ``block_layer`` with one block, which is how the network makes the first block
    of a block layer (with the projection that version gives it: v2 always, v1 where the shape changes).
    The estimate records the same call (:func:`~resnet_inspect.analysis.estimate.estimate_block`).
    """
    from resnet_inspect._tf import keras
    from resnet_inspect.model.builder import KerasOps
    from resnet_inspect.model.topology import one_block

    inputs, outputs = one_block(
        KerasOps(setup.data_format), setup.kind, setup.filters, setup.input_shape, setup.first,
        Version(setup.version), setup.use_bias, setup.design,
    )
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


def block_side(setup: BlockSetup, report: Report) -> BlockSide:
    """Read the per-conv breakdown and the totals of one walked block."""
    axis = channel_index(setup.data_format)
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
                weights=record.split.weights,
                biases=record.split.biases,
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
    """One model of a comparison: the name it was asked by, its spec (None for a ``--model``) and its
    walked report."""

    label: str
    spec: ResNetSpec | None
    report: Report


# Totals compared against the first model, as ``<key>_diff`` and ``<key>_ratio``.
COMPARED = ("params", "macs", "flops")


@dataclass(frozen=True)
class ModelRow:
    """One model in a comparison: its walked entry, and its totals' differences from (and ratios to) the
    first model's. Everything else is read off the entry."""

    entry: ModelEntry
    diff: dict[str, int | None]
    ratio: dict[str, float | None]

    @property
    def name(self) -> str:
        return self.entry.label

    @property
    def version(self) -> str:
        return self.entry.spec.version.value if self.entry.spec is not None else "-"

    @property
    def block_type(self) -> str:
        return self.entry.spec.block_kind.value if self.entry.spec is not None else "-"

    @property
    def blocks(self) -> tuple[int, ...]:
        return self.entry.spec.blocks if self.entry.spec is not None else ()

    @property
    def totals(self) -> Totals:
        return self.entry.report.totals

    @property
    def output_shape(self) -> Shape:
        return self.entry.report.layers[-1].output_shape

    @property
    def stages(self) -> tuple[UnitRow, ...]:
        report = self.entry.report  # a --model without stages: its layers
        return report.rows(Level.STAGE if report.grouped else Level.LAYER)

    @property
    def features(self) -> UnitRow:
        """The last block layer: the map the head pools (the seeds' 7x7x512 or 7x7x2048 at 224)."""
        body = [row for row in self.stages if row.name not in (naming.STEM, naming.HEAD)]
        return body[-1] if body else self.stages[-1]

    @property
    def features_shape(self) -> Shape:
        return self.features.output_shape

    @property
    def memory(self) -> MemoryTotals | None:
        """Activation memory of one float32 image (the liveness peak of inference, every output, what
        training keeps); None for a model whose shapes are dynamic."""
        try:
            return memory_totals(self.entry.report)
        except InspectError:
            return None

    def memory_fields(self) -> dict[str, int | None]:
        """The activation memory and the features map's receptive field, as compare shows and exports them."""
        memory = self.memory
        return {
            "inference_peak_bytes": None if memory is None else memory.inference_peak_bytes,
            "activation_bytes": None if memory is None else memory.activation_bytes,
            "training_activation_bytes": None if memory is None else memory.training_activation_bytes,
            "receptive_field": self.features.receptive_field,
            "jump": self.features.jump,
        }


def model_specs(
    models: Sequence[ModelName],
    spec_for: Callable[[int], ResNetSpec],
    member_for: Callable[[str], ResNetSpec] | None = None,
) -> tuple[tuple[str, ResNetSpec], ...]:
    """(label, spec) for each name: ``spec_for(depth)`` applies the command's options, a suffix its version;
    a family member is ``member_for(name)``: as published, the options given on top (default: none)."""
    from resnet_inspect.model.family import member_spec

    resolved: list[tuple[str, ResNetSpec]] = []
    for model in models:
        if model.arch is not None:
            spec = (member_for or member_spec)(model.arch)
        else:
            spec = spec_for(model.depth)  # type: ignore[arg-type]  # a name without arch has a depth
        if model.version is not None:
            spec = dataclasses.replace(spec, version=model.version)
        for label, other in resolved:
            if other == spec:
                raise UsageError(f"{label!r} and {model.label!r} are the same network; name each once")
        resolved.append((model.label, spec))
    return tuple(resolved)


def build_models(
    entries: Sequence[tuple[str, ResNetSpec]],
    progress: Callable[[int, str], None] | None = None,
    fold_bn: bool = False,
) -> tuple[ModelEntry, ...]:
    """Build and walk each model in turn (imports TensorFlow), or read its walk from the cache of walks
    (:mod:`resnet_inspect.analysis.cache`); with ``fold_bn`` its deployed form.

    ``progress(done, label)`` is called before each build, and once more with ``done == len(entries)``.
    """
    from resnet_inspect.analysis.cache import spec_report

    built = []
    for done, (label, spec) in enumerate(entries):
        if progress is not None:
            progress(done, label)
        built.append(ModelEntry(label, spec, spec_report(spec, fold_bn)))
    if progress is not None:
        progress(len(entries), "")
    return tuple(built)


def compare_models(entries: Sequence[ModelEntry]) -> tuple[ModelRow, ...]:
    """One row per model; differences and ratios are against the first model."""
    base = entries[0].report.totals
    return tuple(
        ModelRow(
            entry,
            diff={key: difference(getattr(entry.report.totals, key), getattr(base, key)) for key in COMPARED},
            ratio={key: ratio(getattr(entry.report.totals, key), getattr(base, key)) for key in COMPARED},
        )
        for entry in entries
    )


def stage_names(rows: Sequence[ModelRow]) -> list[str]:
    """Every stage of every model, in order of first appearance."""
    names: list[str] = []
    for row in rows:
        for stage in row.stages:
            if stage.name not in names:
                names.append(stage.name)
    return names
