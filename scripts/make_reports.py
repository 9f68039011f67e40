"""Regenerate the reference reports under reports/ for the six default depths.

    python scripts/make_reports.py

Each report is made by the CLI itself (``resnet-inspect report --depth D --out reports/resnetD``:
stages/blocks/layers CSV, report.json, report.md and its PNG charts), so the files are
exactly what a user gets. tests/test_reports.py fails when they differ from what the tool
now produces (text files byte for byte, PNGs by existence and pixel size): rerun this
script on purpose after a change that is meant to alter them, and review the diff.
"""

from __future__ import annotations

import sys
from pathlib import Path

from resnet_inspect.model.spec import DEPTHS

REPORTS = Path(__file__).resolve().parent.parent / "reports"


def report_commands(depth: int, out: Path) -> list[list[str]]:
    """The CLI argument lists that make the reference files of one depth inside ``out``."""
    return [["report", "--depth", str(depth), "--out", str(out)]]


def main() -> int:
    from typer.testing import CliRunner

    from resnet_inspect.cli import app

    runner = CliRunner()
    for depth in DEPTHS:
        for args in report_commands(depth, REPORTS / f"resnet{depth}"):
            result = runner.invoke(app, args)
            if result.exit_code != 0:
                sys.stderr.write(result.output)
                return result.exit_code
            print("wrote", " ".join(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
