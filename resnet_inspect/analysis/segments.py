"""The forward pass cut at block boundaries: which layers each block runs, which tensors enter and leave it,
and the bytes it moves. No TensorFlow here.

``profile`` (:mod:`resnet_inspect.bench.pieces`) runs each segment as its own compiled function, in graph
order, each fed the tensors the segments before it produced: the real forward pass, cut where blocks meet.
What a segment reads is the output of a layer outside it (the model's input for the stem); what it writes is
the output of each of its layers that a later layer reads, or that is an output of the model.

Arithmetic intensity of a segment = FLOPs / bytes, where bytes = (its parameters + the elements of the
tensors it reads + the elements of the tensors it writes) x the element size of the compute dtype: every
weight and every boundary tensor moved once, what stays inside the block (fused or cached) not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from resnet_inspect.analysis.records import LayerRecord, Level, UnitRow
from resnet_inspect.analysis.report import Report
from resnet_inspect.errors import UsageError

# The layer type of a model's input: not run by any segment, its tensor is fed to the first one.
INPUT_TYPE = "InputLayer"


@dataclass(frozen=True)
class Segment:
    """One block of the forward pass: its row (MACs and FLOPs of the walk), its layers and its boundary."""

    row: UnitRow
    layers: tuple[str, ...]  # the records it runs, in graph order
    reads: tuple[str, ...]  # records outside it whose outputs it reads (an input layer: the model's input)
    writes: tuple[str, ...]  # its records whose outputs are read after it, or are outputs of the model
    read_elements: int  # per image
    write_elements: int  # per image

    @property
    def name(self) -> str:
        return self.row.name

    def bytes_moved(self, batch_size: int, element_bytes: int) -> int:
        """Weights + boundary tensors in and out, at ``element_bytes`` per element (see the module docstring)."""
        return (self.row.params + (self.read_elements + self.write_elements) * batch_size) * element_bytes


def _elements(record: LayerRecord) -> int:
    return math.prod(record.output_shape)


def segments(report: Report, level: Level = Level.BLOCK) -> tuple[Segment, ...]:
    """The blocks (or stages) of ``report`` as segments of the forward pass, in graph order.

    A model without a block level (its layer names follow no block scheme), a unit whose layers are not
    contiguous in graph order, or a layer whose producer is unknown cannot be cut: a usage error."""
    if level is Level.LAYER:
        raise ValueError("segments are blocks or stages")
    if not report.grouped:
        raise UsageError(f"{report.model_name} has no block level (its layer names follow no known block "
                         "scheme); profile times blocks")
    by_name = {record.name: record for record in report.layers}
    readers: dict[str, list[str]] = {}
    for record in report.layers:
        for producer in record.inputs:
            readers.setdefault(producer, []).append(record.name)
    rows = {row.name: row for row in report.rows(level)}
    members: dict[str, list[LayerRecord]] = {}
    order: list[str] = []
    for record in report.layers:
        if record.layer_type == INPUT_TYPE:
            continue
        block = str(record.block if level is Level.BLOCK else record.stage)
        if block in members and order[-1] != block:
            raise UsageError(f"{report.model_name}: {level.value} {block!r} is not contiguous in graph order "
                             f"({record.name!r} comes after {order[-1]!r}); profile cannot cut the pass there")
        if block not in members:
            members[block] = []
            order.append(block)
        members[block].append(record)
    found = []
    for block in order:
        inside = {r.name for r in members[block]}
        reads = list(dict.fromkeys(p for r in members[block] for p in r.inputs if p not in inside))
        unknown = [p for p in reads if p not in by_name]
        if unknown:
            raise UsageError(f"{report.model_name}: {level.value} {block!r} reads a tensor of unknown origin; "
                             "profile cannot cut the pass there")
        writes = [r.name for r in members[block]
                  if any(reader not in inside for reader in readers.get(r.name, ())) or r.name not in readers]
        found.append(Segment(
            row=rows[block],
            layers=tuple(r.name for r in members[block]),
            reads=tuple(reads),
            writes=tuple(writes),
            read_elements=sum(_elements(by_name[p]) for p in reads),
            write_elements=sum(_elements(by_name[w]) for w in writes),
        ))
    return tuple(found)
