"""Rows as a pandas DataFrame: the one table behind every CSV export and :meth:`Report.to_frame`.

pandas is imported only when a frame is made, so that ``--help`` never loads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from resnet_inspect.analysis.records import flat


def format_shape(shape: Sequence[int]) -> str:
    return "x".join(str(d) for d in shape)


def rows_frame(rows: Sequence[Any], columns: Sequence[str] | None = None) -> Any:
    """A pandas DataFrame of rows (dataclasses or mappings); shapes as '56x56x256', unknown counts as empty cells.

    A dataclass row is flattened by :func:`resnet_inspect.analysis.records.flat` (its parameter split
    spelled out as ``weights``, ``biases``, ...); without ``columns``, the first row's keys in order.
    """
    import pandas as pd

    records = [dict(r) if isinstance(r, Mapping) else flat(r) for r in rows]
    names = list(columns or records[0].keys())
    data: dict[str, Any] = {}
    for column in names:
        values = [record.get(column) for record in records]
        if column.endswith("shape"):
            data[column] = [format_shape(v) for v in values]
        elif all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in values):
            # Built from the Python ints: letting pandas infer would turn a column of ints with one
            # unknown (None) into floats, and 231211008 into 231211008.0.
            data[column] = pd.array(values, dtype="Int64")
        else:
            data[column] = values
    return pd.DataFrame(data, columns=names)
