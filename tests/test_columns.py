"""The columns declared once (resnet_inspect.output.columns) and the parameter split as one value."""

from __future__ import annotations

import dataclasses

from resnet_inspect.analysis.memory import MemoryRow
from resnet_inspect.analysis.records import SPLIT_FIELDS, ParamSplit, Totals, UnitRow, flat, flat_fields
from resnet_inspect.bench.plan import BENCH_COLUMNS
from resnet_inspect.output import columns


def test_every_exported_field_has_one_column() -> None:
    """A new field of a row needs its Column (header, unit, format) before any table can show it."""
    exported = set(flat_fields(UnitRow)) | set(flat_fields(MemoryRow))
    assert exported == set(columns.UNIT)
    for view in (columns.SUMMARY_VIEW, columns.MEMORY_VIEW, columns.MARKDOWN_VIEW, columns.SPLIT_VIEW):
        assert {c.field for c in view} <= exported
    assert set(columns.BENCH) == set(BENCH_COLUMNS) | {"steps"}  # steps: how many were timed, from the result
    assert {c.field for c in columns.LATENCY_VIEW} <= set(BENCH_COLUMNS)


def test_the_exports_spell_the_split_out_where_it_sits() -> None:
    assert columns.SUMMARY_COLUMNS[:10] == (
        "name", "type", "stage", "output_shape", "layers", "weights", "biases", "bn_trainable", "bn_non_trainable",
        "other",
    )  # fmt: skip
    assert columns.REPORT_COLUMNS[len(columns.SUMMARY_COLUMNS):] == (
        "activation_bytes", "param_bytes", "bytes_moved", "arithmetic_intensity",
    )  # fmt: skip
    totals = Totals(
        layers=3, params=21, trainable=17, non_trainable=4, split=ParamSplit(10, 5, 2, 4, 0), macs=None, flops=7,
        macs_counted=6, flops_counted=7, unsupported=1,
    )  # fmt: skip
    data = flat(totals)
    assert tuple(data) == flat_fields(Totals)
    assert [data[key] for key in SPLIT_FIELDS] == [10, 5, 2, 4, 0]
    assert "split" not in data and data["macs"] is None


def test_split_adds_up() -> None:
    a, b = ParamSplit(weights=9, biases=3), ParamSplit(bn_trainable=4, bn_non_trainable=4, other=1)
    assert a + b == ParamSplit(9, 3, 4, 4, 1)
    assert (a + b).total == 9 + 3 + 4 + 4 + 1
    assert ParamSplit().total == 0
    assert tuple(f.name for f in dataclasses.fields(ParamSplit)) == SPLIT_FIELDS


def test_headers_and_formats() -> None:
    unit = columns.UNIT
    assert [c.title for c in columns.SUMMARY_VIEW[3:]] == [
        "Params", "Weights", "Biases", "norm γ/β", "norm μ/σ²", "MACs (M)", "FLOPs (M)", "RF", "Jump",
    ]  # fmt: skip
    # Markdown lower-cases a header's first letter, but not an acronym's.
    assert [c.md_title for c in columns.MARKDOWN_VIEW[1:]] == [
        "type", "output shape", "params", "MACs (M)", "FLOPs (M)", "activations (MiB)", "FLOPs/byte", "RF", "jump",
    ]  # fmt: skip
    assert unit["macs"].fmt(231_211_008) == "231.2" and unit["macs"].fmt(None) == "?"
    assert unit["params"].fmt(11_689_512) == "11,689,512"
    assert unit["activation_bytes"].fmt(3 * 2**20 // 2) == "1.5"
    assert unit["output_shape"].fmt((56, 56, 256)) == "56x56x256"
    assert unit["receptive_field"].fmt(None) == "?" and unit["arithmetic_intensity"].fmt(26.25) == "26.2"


def test_bench_formats() -> None:
    bench = columns.BENCH
    assert bench["mean_ms"].fmt(12_345.678) == "12,345.68" and bench["std_ms"].fmt(None) == "?"
    assert bench["gflops_per_s"].fmt(None) == ""  # an unknown peak leaves the rate empty on the console
    assert [c.md_title for c in columns.LATENCY_VIEW] == [
        "batch", "device", "precision", "XLA", "mean ms", "p50 ms", "p90 ms", "p99 ms", "images/s", "GFLOP/s",
        "% of peak",
    ]  # fmt: skip
    assert [c.fmt(None) for c in columns.LATENCY_VIEW[-3:]] == ["?", "?", "?"]


def test_markdown_table_of_columns() -> None:
    rows = [{"name": "stem", "type": "stem", "output_shape": [8, 8, 64], "params": 9_472, "macs": None}]
    view = columns.pick(columns.UNIT, "name", "type", "output_shape", "params", "macs")
    assert columns.md_columns_table(view, rows, "stage").splitlines() == [
        "| stage | type | output shape | params | MACs (M) |",
        "| --- | --- | ---: | ---: | ---: |",
        "| `stem` | stem | 8x8x64 | 9,472 | ? |",
    ]
