"""Every command on any model: memory, report and plot take --model as summary does (CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from resnet_inspect.cli import app


def run(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small functional text model (token ids: a 1-D input) and a model of any input size, as files."""
    from resnet_inspect._tf import keras

    folder = tmp_path_factory.mktemp("any")
    ids = keras.Input((10,), dtype="int32")
    text = keras.Model(ids, keras.layers.Dense(1)(keras.layers.LSTM(16)(keras.layers.Embedding(100, 8)(ids))))
    text.save(folder / "text.keras")
    image = keras.Input((None, None, 3))
    keras.Model(image, keras.layers.Conv2D(2, 3)(image), name="anysize").save(folder / "anysize.keras")
    return {"text": folder / "text.keras", "anysize": folder / "anysize.keras"}


def test_summary_of_a_one_dimensional_input_model_does_not_crash(models: dict[str, Path]) -> None:
    result = run("summary", "--model", str(models["text"]))
    assert result.exit_code == 0, result.output
    assert "LSTM" in result.stdout and "Embedding" in result.stdout


def test_summary_of_a_model_of_any_input_size_names_the_option(models: dict[str, Path]) -> None:
    result = run("summary", "--model", str(models["anysize"]))
    assert result.exit_code == 0, result.output
    assert "takes inputs of unknown size (None, None, 3)" in result.stderr and "--input-size" in result.stderr
    assert "(1 layer of type Conv2D unknown)" in result.stdout


def test_memory_takes_a_model(models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "memory.json"
    result = run("memory", "--model", str(models["text"]), "--json", str(out))
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    # The LSTM's parameters: 4 gates x 16 units x (8 + 16) + 4 x 16 biases, with the embedding's and dense's.
    assert document["totals"]["params"] == 100 * 8 + 4 * 16 * 24 + 64 + 17


def test_memory_of_a_model_is_not_measured(models: dict[str, Path]) -> None:
    result = run("memory", "--model", str(models["text"]), "--measure")
    assert result.exit_code == 2
    assert "a --model is not measured" in result.stderr


def test_report_and_plot_take_a_model(models: dict[str, Path], tmp_path: Path) -> None:
    result = run("report", "--model", str(models["text"]), "--out", str(tmp_path / "report"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report" / "report.md").is_file()
    result = run("plot", "--model", str(models["text"]), "--out", str(tmp_path / "layers.png"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "layers.png").stat().st_size > 0


def test_compare_takes_models(models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "compare.json"
    result = run(
        "compare", "resnet18", "--input-size", "32", "--width", "8", "--model", str(models["text"]), "--json", str(out)
    )
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert [m["label"] for m in document["models"]] == ["resnet18", str(models["text"])]
    assert document["rows"][1]["params"] == 100 * 8 + 4 * 16 * 24 + 64 + 17


def test_compare_of_blocks_refuses_a_model(models: dict[str, Path]) -> None:
    result = run("compare", "regular", "bottleneck", "--model", str(models["text"]))
    assert result.exit_code == 2
    assert "--model applies to model comparisons, not to blocks" in result.stderr
