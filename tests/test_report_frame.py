"""`Report.to_frame(level)`: the CSV export's table as a pandas DataFrame, checked against the export read back
with pandas and against Keras' own parameter counts."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from resnet_inspect.cli import app

SMALL = {"input_size": 32, "width": 8}
SMALL_ARGS = ["--depth", "18", "--input-size", "32", "--width", "8"]


@pytest.mark.parametrize("level", ["stage", "block", "layer"])
def test_frame_is_the_csv_export(build, tmp_path: Path, level: str) -> None:
    _, _, report = build(18, **SMALL)
    path = tmp_path / f"{level}.csv"
    result = CliRunner().invoke(app, ["summary", *SMALL_ARGS, "--level", level, "--csv", str(path)])
    assert result.exit_code == 0, result.output
    exported = pd.read_csv(path)
    frame = report.to_frame(level)
    assert list(frame.columns) == list(exported.columns)
    assert len(frame) == len(exported) == len(report.rows(level))
    pd.testing.assert_frame_equal(frame, exported, check_dtype=False)


@pytest.mark.parametrize("level", ["stage", "block", "layer"])
def test_frame_counts_every_parameter_of_the_model(build, level: str) -> None:
    _, model, report = build(18, **SMALL)
    frame = report.to_frame(level)
    assert int(frame["params"].sum()) == model.count_params()
    # The split adds up row by row, and its weights column is every kernel Keras holds.
    split = frame[["weights", "biases", "bn_trainable", "bn_non_trainable", "other"]].sum(axis=1)
    assert (split == frame["params"]).all()
    kernels = sum(math.prod(v.shape) for v in model.weights if v.path.endswith("kernel"))
    assert int(frame["weights"].sum()) == kernels
    gammas_betas = sum(math.prod(v.shape) for v in model.weights if v.path.endswith(("gamma", "beta")))
    assert int(frame["bn_trainable"].sum()) == gammas_betas


def test_unknown_costs_stay_unknown_in_the_frame() -> None:
    """A layer without a FLOP handler (a ConvLSTM1D) has no MACs: <NA> in the frame, never 0; a layer norm's
    γ/β is split like a batch norm's."""
    from resnet_inspect._tf import keras
    from resnet_inspect.analysis.walk import analyze

    inputs = keras.Input((4, 6))
    x = keras.layers.Dense(5, name="dense")(inputs)
    x = keras.layers.LayerNormalization(name="norm")(x)
    x = keras.layers.Reshape((4, 5, 1), name="reshape")(x)
    x = keras.layers.ConvLSTM1D(2, 3, padding="same", name="recurrent")(x)
    report = analyze(keras.Model(inputs, x, name="tiny"))
    frame = report.to_frame("layer").set_index("name")
    assert frame.loc["dense", "macs"] == 4 * 6 * 5
    assert pd.isna(frame.loc["recurrent", "macs"]) and pd.isna(frame.loc["recurrent", "flops"])
    assert frame["macs"].dtype == "Int64"  # not floats, because of the unknown
    assert report.totals.macs is None and [u.layer_type for u in report.unsupported] == ["ConvLSTM1D"]
    assert (frame.loc["norm", "bn_trainable"], frame.loc["norm", "other"]) == (5 + 5, 0)
    assert (frame.loc["dense", "weights"], frame.loc["dense", "biases"]) == (6 * 5, 5)


def test_frame_refuses_a_level_the_model_lacks() -> None:
    from resnet_inspect._tf import keras
    from resnet_inspect.analysis.walk import analyze
    from resnet_inspect.errors import UsageError

    inputs = keras.Input((3,))
    report = analyze(keras.Model(inputs, keras.layers.Dense(2, name="d")(inputs)))
    with pytest.raises(UsageError, match="--level block is unavailable"):
        report.to_frame("block")
