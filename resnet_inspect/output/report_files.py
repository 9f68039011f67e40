"""The report bundle's files: CSV and JSON tables, the Markdown report and its charts, in one folder.

Everything is computed and rendered in memory first, then the files are written
atomically (:mod:`resnet_inspect.output.export`), so a failure while making the
report leaves no file half-written.
"""

from __future__ import annotations

import json
from pathlib import Path

from resnet_inspect.analysis.frame import rows_frame
from resnet_inspect.analysis.records import Level
from resnet_inspect.bench.results import series
from resnet_inspect.output import charts
from resnet_inspect.output.bundle import (
    BLOCKS_PNG,
    CSV_FILES,
    JSON,
    LATENCY_PNG,
    MARKDOWN,
    MEMORY_PNG,
    Bundle,
    merged_rows,
    payload,
)
from resnet_inspect.output.columns import REPORT_COLUMNS
from resnet_inspect.output.export import write_files_atomic
from resnet_inspect.output.report_markdown import markdown


def render_files(bundle: Bundle) -> dict[str, bytes]:
    """Every file of the bundle by name, rendered in memory."""
    files: dict[str, bytes] = {}
    for level, name in CSV_FILES.items():
        frame = rows_frame(merged_rows(bundle, level), REPORT_COLUMNS)
        files[name] = frame.to_csv(index=False, lineterminator="\n").encode()
    blocks = bundle.units[Level.BLOCK]
    name = bundle.report.model_name
    files[BLOCKS_PNG] = charts.png_bytes(charts.block_chart(blocks, f"{name}: parameters and FLOPs per block"))
    files[MEMORY_PNG] = charts.png_bytes(
        charts.memory_chart(
            blocks,
            [m.activation_bytes for m in bundle.memory[Level.BLOCK]],
            bundle.setting,
            f"{name}: activation memory and receptive field per block",
        )
    )
    if bundle.bench:
        files[LATENCY_PNG] = charts.png_bytes(
            charts.bench_chart(series(bundle.bench), f"{bundle.bench_name}: latency and throughput")
        )
    files[JSON] = (json.dumps(payload(bundle), indent=2, ensure_ascii=False) + "\n").encode()
    files[MARKDOWN] = markdown(bundle).encode()
    return files


def write_bundle(bundle: Bundle, out: Path) -> list[Path]:
    """Render everything, then write the files into ``out`` (created if missing) as one: every file's
    data reaches disk before any existing file is replaced (:func:`resnet_inspect.output.export.write_files_atomic`)."""
    return write_files_atomic(out, render_files(bundle))
