"""The reference reports under reports/ are exactly what the tool produces now.

Text files (CSV, JSON, Markdown) must match byte for byte, except the record of
the TensorFlow/Keras/Python versions that made them (so that a clean clone with
newer releases still checks every number); PNGs must exist, be PNGs and have the
same pixel size.
"""

from __future__ import annotations

import importlib.util
import json
import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from resnet_inspect.cli import app

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("make_reports", ROOT / "scripts" / "make_reports.py")
make_reports = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_reports)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
VERSIONS_HEADING = "## Versions\n\n"


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which a valid PNG has first."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG file"
    assert data[12:16] == b"IHDR", "a PNG starts with its IHDR chunk"
    return struct.unpack(">II", data[16:24])


def with_versions_of(text: str, name: str, produced: str) -> str:
    """``text`` with its versions record replaced by the one in ``produced`` (same file, this environment)."""
    if name.endswith(".json"):
        document = json.loads(text)
        document["versions"] = json.loads(produced)["versions"]
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if name.endswith(".md") and VERSIONS_HEADING in text:
        return text.split(VERSIONS_HEADING)[0] + VERSIONS_HEADING + produced.split(VERSIONS_HEADING)[1]
    return text


@pytest.fixture
def cached_builds(monkeypatch: pytest.MonkeyPatch, build) -> None:
    """Let the CLI reuse the session's built models (building all six depths again would double the time)."""
    import resnet_inspect.analysis.inspection as inspect_module

    real = inspect_module.inspect_spec

    def inspect_spec(spec):
        cached_spec, _, report = build(spec.depth)
        return report if cached_spec == spec else real(spec)

    monkeypatch.setattr(inspect_module, "inspect_spec", inspect_spec)


@pytest.mark.parametrize("name", list(make_reports.REFERENCES))
def test_reference_reports_are_current(name: str, tmp_path: Path, cached_builds: None) -> None:
    reference = ROOT / "reports" / name
    for args in make_reports.report_commands(name, tmp_path):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    produced = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert {p.suffix for p in produced} == {".csv", ".json", ".md", ".png"}, produced
    expected_files = sorted(p.relative_to(reference) for p in reference.rglob("*") if p.is_file())
    assert produced == expected_files, "the reference folder has other files: run python scripts/make_reports.py"
    for rel in produced:
        expected, got = reference / rel, tmp_path / rel
        if rel.suffix == ".png":
            assert png_size(got.read_bytes()) == png_size(expected.read_bytes()), f"{expected}: another pixel size"
            continue
        text = with_versions_of(expected.read_text(encoding="utf-8"), rel.name, got.read_text(encoding="utf-8"))
        assert got.read_text(encoding="utf-8") == text, (
            f"{expected} differs from what the tool produces: review, then run python scripts/make_reports.py"
        )
