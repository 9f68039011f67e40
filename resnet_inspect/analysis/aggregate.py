"""Aggregation of layer records into blocks, stages and totals. No TensorFlow here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from resnet_inspect.analysis import receptive
from resnet_inspect.analysis.records import LayerRecord, Level, ParamSplit, Totals, UnitRow, Unsupported
from resnet_inspect.errors import UsageError
from resnet_inspect.model import naming

_SUMMED = ("params", "trainable", "non_trainable")


def _sum_known(values: Iterable[int | None]) -> int | None:
    """Sum, or None as soon as one value is unknown: a unit with an unsupported layer has no total."""
    total = 0
    for value in values:
        if value is None:
            return None
        total += value
    return total


def _sums(records: Sequence[LayerRecord]) -> dict[str, int | ParamSplit]:
    """The parameter counts of ``records`` added up: the split and each of :data:`_SUMMED`."""
    return {"split": sum((r.split for r in records), ParamSplit())} | {
        key: sum(getattr(r, key) for r in records) for key in _SUMMED
    }


def _unit(
    name: str,
    type_: str,
    stage: str | None,
    members: Sequence[LayerRecord],
    fields: Mapping[str, receptive.Field | None],
) -> UnitRow:
    # A unit's field is that of its output (its last layer in graph order), as for output_shape.
    receptive_field, jump = receptive.scalar(fields[members[-1].name])
    return UnitRow(
        name=name,
        type=type_,
        stage=stage,
        output_shape=members[-1].output_shape,
        layers=len(members),
        macs=_sum_known(r.macs for r in members),
        flops=_sum_known(r.flops for r in members),
        receptive_field=receptive_field,
        jump=jump,
        **_sums(members),
    )


def _groups(records: Sequence[LayerRecord], key: str) -> dict[str, list[LayerRecord]]:
    """Records grouped by stage or block, in order of first appearance in the graph."""
    groups: dict[str, list[LayerRecord]] = {}
    for record in records:
        groups.setdefault(getattr(record, key), []).append(record)
    return groups


def aggregate(layers: Sequence[LayerRecord], model_name: str, level: Level) -> tuple[UnitRow, ...]:
    """Rows of a model's layers at ``level``: every layer, every block, or every stage."""
    fields = receptive.layer_fields(layers)
    if level is Level.LAYER:
        return tuple(_unit(r.name, r.layer_type, r.stage, [r], fields) for r in layers)
    ungrouped = next((r.name for r in layers if r.stage is None or r.block is None), None)
    if ungrouped is not None:
        raise UsageError(
            f"--level {level.value} is unavailable for {model_name}: its layer names "
            f"(e.g. {ungrouped!r}) follow no known block scheme; use --level layer"
        )
    if level is Level.BLOCK:
        return tuple(
            _unit(block, naming.block_type(block, [m.name for m in members]), members[0].stage, members, fields)
            for block, members in _groups(layers, "block").items()
        )
    return tuple(
        _unit(
            stage,
            naming.stage_type(stage, list(_groups(members, "block")), [m.name for m in members]),
            stage,
            members,
            fields,
        )
        for stage, members in _groups(layers, "stage").items()
    )


def totals(records: Sequence[LayerRecord], unsupported: Sequence[Unsupported]) -> Totals:
    """Whole-model sums; MACs and FLOPs unknown when any layer's are (the ``unsupported`` ones)."""
    return Totals(
        layers=len(records),
        macs=_sum_known(r.macs for r in records),
        flops=_sum_known(r.flops for r in records),
        macs_counted=sum(r.macs or 0 for r in records),
        flops_counted=sum(r.flops or 0 for r in records),
        unsupported=len(unsupported),
        unsupported_types=tuple(sorted({u.layer_type for u in unsupported})),
        **_sums(records),
    )
