"""keras.applications: parameters equal ``count_params()``, MACs complete and near the published counts.

A representative subset runs here (the full list of constructors: benchmarks/applications_sweep.py).
"""

from __future__ import annotations

import pytest

# Published multiply-adds at 224x224: VGG16 15.47 G, MobileNetV2 300 M (Sandler et al.), ResNet50 3.86 G.
PUBLISHED = {"VGG16": 15.47e9, "MobileNetV2": 0.300e9, "ResNet50": 3.86e9}


def _walk(name: str, **kwargs: object) -> tuple[object, object]:
    from resnet_inspect._tf import keras
    from resnet_inspect.analysis.inspection import inspect_model

    model = getattr(keras.applications, name)(weights=None, **kwargs)
    return model, inspect_model(model)


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_published_macs_within_two_percent_and_params_equal(name: str) -> None:
    model, report = _walk(name)
    totals = report.totals
    assert totals.params == model.count_params()
    assert totals.macs is not None and not report.unsupported
    assert abs(totals.macs / PUBLISHED[name] - 1) < 0.02, totals.macs


@pytest.mark.parametrize(
    ("name", "side", "types"),
    [
        ("MobileNetV3Small", 32, {"ops.Add", "ops.Multiply", "Rescaling"}),  # hard-swish written as ops
        ("ConvNeXtTiny", 32, {"LayerScale", "LayerNormalization"}),
        ("EfficientNetB0", 32, {"Normalization", "Multiply"}),
    ],
)
def test_constructors_are_complete_and_params_equal(name: str, side: int, types: set[str]) -> None:
    model, report = _walk(name, input_shape=(side, side, 3))
    assert report.totals.params == model.count_params()
    assert report.unsupported == () and report.totals.macs is not None
    assert types <= {r.layer_type for r in report.layers}


def test_dynamic_application_names_the_input_size_option() -> None:
    _, report = _walk("MobileNetV3Small")  # built for any input size: (None, None, 3)
    assert report.notes and "--input-size" in report.notes[0]
    assert report.totals.macs is None
