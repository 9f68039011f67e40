"""The report bundle: what ``report`` (and ``memory``) show, computed once, and its JSON documents. No TensorFlow.

The files are rendered by :mod:`resnet_inspect.output.report_files`, the Markdown by
:mod:`resnet_inspect.output.report_markdown`. The data carries no timestamps and no paths:
the same command gives byte-identical text files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from resnet_inspect.analysis.measure import Measurement, measure_peak
from resnet_inspect.analysis.memory import Dtype, MemoryRow, MemoryTotals, memory_rows, memory_totals
from resnet_inspect.analysis.records import Level, UnitRow, flat
from resnet_inspect.analysis.report import Report
from resnet_inspect.bench.breakdown import PROFILE_COLUMNS, ProfileRow
from resnet_inspect.bench.hardware import Bandwidth, Roofline
from resnet_inspect.bench.stats import BenchRow
from resnet_inspect.model.spec import ResNetSpec
from resnet_inspect.output.columns import REPORT_COLUMNS
from resnet_inspect.output.payloads import report_payload, roofline_dict, row_dict

CSV_FILES = {Level.STAGE: "stages.csv", Level.BLOCK: "blocks.csv", Level.LAYER: "layers.csv"}
BLOCKS_PNG, MEMORY_PNG, LATENCY_PNG, ROOFLINE_PNG = "blocks.png", "memory.png", "latency.png", "roofline.png"
MARKDOWN, JSON = "report.md", "report.json"
# Every file a bundle may hold (the latency chart only with bench results, the roofline only with --profile).
FILES = (*CSV_FILES.values(), BLOCKS_PNG, MEMORY_PNG, LATENCY_PNG, ROOFLINE_PNG, JSON, MARKDOWN)


@dataclass(frozen=True)
class Profile:
    """A measured profile (``report --profile``): its rows (:class:`resnet_inspect.bench.breakdown.ProfileRow`),
    its roofline (:class:`resnet_inspect.bench.hardware.Roofline`) and the environment lines that say how."""

    rows: tuple[ProfileRow, ...]
    roofline: Roofline
    bandwidth: Bandwidth | None
    environment: tuple[tuple[str, str], ...]
    note: str | None = None  # a traced run's cost of the trace (breakdown.trace_note)


@dataclass(frozen=True)
class Bundle:
    """What a report shows, computed once; rendered to files by :func:`render_files`."""

    heading: str
    report: Report
    units: dict[Level, tuple[UnitRow, ...]]
    memory: dict[Level, tuple[MemoryRow, ...]]
    totals: MemoryTotals
    bench: tuple[BenchRow, ...] = ()
    bench_name: str | None = None
    measured: Measurement | None = None
    profile: Profile | None = None

    @property
    def setting(self) -> str:
        return f"{self.totals.dtype}, batch {self.totals.batch_size}"


def make_bundle(
    report: Report,
    heading: str,
    batch_size: int = 1,
    dtype: Dtype | str = Dtype.FLOAT32,
    bench: Sequence[BenchRow] = (),
    bench_name: str | None = None,
    measured: Measurement | None = None,
) -> Bundle:
    levels = (Level.STAGE, Level.BLOCK, Level.LAYER)
    # A model whose layers follow no block scheme (a --model) has layers only: every level shows them.
    shown = {level: level if report.grouped else Level.LAYER for level in levels}
    return Bundle(
        heading=heading,
        report=report,
        units={level: report.rows(shown[level]) for level in levels},
        memory={level: memory_rows(report, shown[level], batch_size, dtype) for level in levels},
        totals=memory_totals(report, batch_size, dtype),
        bench=tuple(bench),
        bench_name=bench_name,
        measured=measured,
    )


def merged_rows(bundle: Bundle, level: Level) -> list[dict[str, Any]]:
    """The level's rows: the summary columns, then the memory columns (same order as the CSV)."""
    return [
        row_dict(unit) | {key: value for key, value in flat(memory).items() if key != "name"}
        for unit, memory in zip(bundle.units[level], bundle.memory[level], strict=True)
    ]


def with_measurement(bundle: Bundle, spec: ResNetSpec, measure: bool) -> Bundle:
    """The bundle with the measured peak of a forward pass beside its estimate when ``measure``
    (TensorFlow runs in a child process)."""
    if not measure:
        return bundle
    totals = bundle.totals
    measured = measure_peak(spec, totals.batch_size, totals.dtype, totals.inference_peak_bytes)
    return dataclasses.replace(bundle, measured=measured)


def memory_payload(bundle: Bundle, level: Level) -> dict[str, Any]:
    """The summary JSON of ``level`` with the memory columns in its rows, the memory totals and any measurement."""
    document = report_payload(bundle.report, level if bundle.report.grouped else Level.LAYER)
    document["memory"] = dataclasses.asdict(bundle.totals)
    if bundle.measured is not None:
        measured = bundle.measured
        document["measured"] = {**dataclasses.asdict(measured), "difference_bytes": measured.difference_bytes}
    document["columns"] = list(REPORT_COLUMNS)
    document["rows"] = merged_rows(bundle, level)
    return document


def payload(bundle: Bundle) -> dict[str, Any]:
    """``report.json``: the ``memory --json`` document, with one list of rows per level instead of ``rows``."""
    document = memory_payload(bundle, Level.BLOCK)
    del document["level"], document["rows"]
    for level, name in ((Level.STAGE, "stages"), (Level.BLOCK, "blocks"), (Level.LAYER, "layers")):
        document[name] = merged_rows(bundle, level)
    if bundle.bench:
        document["bench"] = {"file": bundle.bench_name, "rows": [dataclasses.asdict(r) for r in bundle.bench]}
    if bundle.profile is not None:
        document["profile"] = {
            "roofline": roofline_dict(bundle.profile.roofline, bundle.profile.bandwidth),
            "columns": list(PROFILE_COLUMNS),
            "rows": [dataclasses.asdict(r) for r in bundle.profile.rows],
        }
    return document
