"""Build and walk in one call: the library entry points the commands use (imports TensorFlow)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from resnet_inspect import naming
from resnet_inspect._tf import keras
from resnet_inspect.builder import build_from_spec
from resnet_inspect.records import Report
from resnet_inspect.specs import ResNetSpec
from resnet_inspect.walk import analyze


def inspect_spec(spec: ResNetSpec) -> Report:
    """Build the network of ``spec`` and walk it; the report carries the spec's configuration."""
    return analyze(build_from_spec(spec), config=spec.config())


def inspect_model(model: keras.Model, config: Mapping[str, Any] | None = None) -> Report:
    """Walk any Keras functional model, grouping its layers by the naming scheme that fits it.

    The seeds' names and keras.applications ResNet names give stages and blocks; other models
    get the layer level only (``report.grouped`` is False).
    """
    scheme = naming.grouping_for(layer.name for layer in model.layers)
    report = analyze(model, config=config, grouping=scheme)
    if report.grouped:
        return report
    consumers: dict[str, list[str]] = {}
    for record in report.layers:
        for producer in record.inputs:
            consumers.setdefault(producer, []).append(record.name)
    groups = naming.adopt_orphans({r.name: scheme(r.name) for r in report.layers}, consumers)
    layers = tuple(
        dataclasses.replace(r, stage=g.stage, block=g.block) if (g := groups[r.name]) is not None else r
        for r in report.layers
    )
    return dataclasses.replace(report, layers=layers)
