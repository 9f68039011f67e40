"""The report bundle's files: CSV and JSON tables, the Markdown report and its charts, in one folder.

Everything is computed and rendered in memory first, then the files are written
atomically (:mod:`resnet_inspect.output.export`), so a failure while making the
report leaves no file half-written.

A report folder holds exactly the files of the run that wrote it: a folder that holds anything
else is refused before any work (:func:`check_report_folder`), so no file of the user's is ever
replaced or removed, and a report file of an earlier run that this run does not write (the
``latency.png`` of an earlier ``--bench``) is removed once the new files are in place.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from resnet_inspect.analysis.records import Level
from resnet_inspect.bench.results import series
from resnet_inspect.errors import InspectError, UsageError
from resnet_inspect.output import charts
from resnet_inspect.output.bundle import (
    BLOCKS_PNG,
    CSV_FILES,
    FILES,
    JSON,
    LATENCY_PNG,
    MARKDOWN,
    MEMORY_PNG,
    ROOFLINE_PNG,
    Bundle,
    merged_rows,
    payload,
)
from resnet_inspect.output.columns import REPORT_COLUMNS
from resnet_inspect.output.export import TEMP_SUFFIX, csv_text, write_files_atomic
from resnet_inspect.output.report_markdown import markdown


def render_files(bundle: Bundle) -> dict[str, bytes]:
    """Every file of the bundle by name, rendered in memory."""
    files: dict[str, bytes] = {}
    for level, name in CSV_FILES.items():
        files[name] = csv_text(merged_rows(bundle, level), REPORT_COLUMNS).encode()
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
    if bundle.profile is not None:
        files[ROOFLINE_PNG] = charts.png_bytes(
            charts.roofline_figure(name, [bundle.profile.rows],
                                  [(bundle.profile.rows[0].precision, bundle.profile.roofline)])
        )
    files[JSON] = (json.dumps(payload(bundle), indent=2, ensure_ascii=False) + "\n").encode()
    files[MARKDOWN] = markdown(bundle).encode()
    return files


# The temporary of a report file (export's ``.<name>.<random>.tmp``), left by a killed run.
_TEMPORARY = re.compile(r"\.(" + "|".join(re.escape(name) for name in FILES) + r")\..+" + re.escape(TEMP_SUFFIX))
SHOWN_FOREIGN = 3


def check_report_folder(out: Path, option: str = "--out") -> None:
    """Refuse, before any work, a folder that holds anything but report files (and their temporaries):
    a report folder holds exactly the files of its run, and nothing of the user's is touched."""
    try:
        names = sorted(entry.name for entry in os.scandir(out)) if out.is_dir() else []
    except OSError as exc:
        raise UsageError(f"{option} {str(out)!r}: {exc.strerror or exc}") from None
    foreign = [name for name in names if name not in FILES and not _TEMPORARY.fullmatch(name)]
    if foreign:
        shown = ", ".join(repr(name) for name in foreign[:SHOWN_FOREIGN])
        more = f" and {len(foreign) - SHOWN_FOREIGN} more" if len(foreign) > SHOWN_FOREIGN else ""
        raise UsageError(
            f"{option} {str(out)!r} holds files that are not part of a report ({shown}{more}); give a new or "
            f"empty folder, or the folder of an earlier report (it holds only {', '.join(FILES)})"
        )


def write_bundle(bundle: Bundle, out: Path) -> list[Path]:
    """Render everything, then write the files into ``out`` (created if missing) as one: every file's
    data reaches disk before any existing file is replaced (:func:`resnet_inspect.output.export.write_files_atomic`).
    A report file of an earlier run that this one does not write is removed afterwards."""
    files = render_files(bundle)
    written = write_files_atomic(out, files)
    for name in FILES:
        if name not in files:
            try:
                (out / name).unlink(missing_ok=True)
            except OSError as exc:
                raise InspectError(f"cannot remove the earlier {str(out / name)!r}: {exc.strerror or exc}") from None
    return written
