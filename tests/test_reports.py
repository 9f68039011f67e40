"""The reference reports under reports/ are exactly what the tool produces now."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from typer.testing import CliRunner

from resnet_inspect.cli import app
from resnet_inspect.specs import DEPTHS

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("make_reports", ROOT / "scripts" / "make_reports.py")
make_reports = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_reports)


@pytest.mark.parametrize("depth", list(DEPTHS))
def test_reference_reports_are_current(depth: int, tmp_path: Path) -> None:
    reference = ROOT / "reports" / f"resnet{depth}"
    for args in make_reports.report_commands(depth, tmp_path):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    produced = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert produced, "the report commands wrote nothing"
    for rel in produced:
        expected = reference / rel
        assert expected.exists(), f"{expected} is missing: run python scripts/make_reports.py"
        assert (tmp_path / rel).read_bytes() == expected.read_bytes(), (
            f"{expected} differs from what the tool produces: review, then run python scripts/make_reports.py"
        )
