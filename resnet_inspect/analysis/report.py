"""The result of a walk: a model's layer records, with their rows at every level and their totals."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from resnet_inspect.analysis.aggregate import aggregate, totals
from resnet_inspect.analysis.frame import rows_frame
from resnet_inspect.analysis.records import LayerRecord, Level, Totals, UnitRow, Unsupported


@dataclass(frozen=True)
class Report:
    """The result of :func:`resnet_inspect.analyze`: the model's layers and where they belong."""

    model_name: str
    layers: tuple[LayerRecord, ...]
    unsupported: tuple[Unsupported, ...]
    config: tuple[tuple[str, Any], ...] = field(default=())
    # What a reader must know to read the numbers (e.g. an input of unknown size), one sentence each.
    notes: tuple[str, ...] = field(default=())

    def rows(self, level: Level | str = Level.BLOCK) -> tuple[UnitRow, ...]:
        # Computed once per level: a report is immutable, and a comparison asks for its rows many times.
        memo = self.__dict__.setdefault("_rows", {})
        level = Level(level)
        if level not in memo:
            memo[level] = aggregate(self.layers, self.model_name, level)
        return memo[level]

    def to_frame(self, level: Level | str = Level.BLOCK) -> Any:
        """The rows at ``level`` as a pandas DataFrame, with the columns of the CSV export (``summary --csv``):
        shapes as '56x56x256', counts as nullable integers (an unknown MAC count is ``<NA>``, never 0)."""
        return rows_frame(self.rows(level))

    @functools.cached_property
    def totals(self) -> Totals:
        return totals(self.layers, self.unsupported)

    @property
    def grouped(self) -> bool:
        """True when every layer has a stage and block, so block and stage levels exist."""
        return all(r.stage is not None and r.block is not None for r in self.layers)

    def layer(self, name: str) -> LayerRecord:
        for record in self.layers:
            if record.name == name:
                return record
        raise KeyError(name)
