"""Regenerate the reference reports under reports/: the six default depths and a few family members.

    python scripts/make_reports.py

Each report is made by the CLI itself (``resnet-inspect report --depth D --out reports/resnetD``, or
``--arch NAME --out reports/NAME`` for a member of the family:
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
# Members of the family as published (resnet-inspect archs), one of each kind of block change.
FAMILY_REPORTS = ("resnet50-v1.5", "resnext50_32x4d", "seresnet50")
# Folder under reports/ -> the network options of its report.
REFERENCES: dict[str, list[str]] = {f"resnet{depth}": ["--depth", str(depth)] for depth in DEPTHS} | {
    name: ["--arch", name] for name in FAMILY_REPORTS
}


def report_commands(name: str, out: Path) -> list[list[str]]:
    """The CLI argument lists that make the reference files of ``name`` (a folder of reports/) in ``out``."""
    return [["report", *REFERENCES[name], "--out", str(out)]]


def main() -> int:
    from typer.testing import CliRunner

    from resnet_inspect.cli import app

    runner = CliRunner()
    for name in REFERENCES:
        for args in report_commands(name, REPORTS / name):
            result = runner.invoke(app, args)
            if result.exit_code != 0:
                sys.stderr.write(result.output)
                return result.exit_code
            print("wrote", " ".join(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
