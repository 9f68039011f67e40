"""Build and walk in one call: the library entry points the commands use (imports TensorFlow)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from resnet_inspect._tf import keras
from resnet_inspect.analysis.budget import check_model_file
from resnet_inspect.analysis.report import Report
from resnet_inspect.analysis.walk import analyze
from resnet_inspect.model import naming
from resnet_inspect.model.builder import build_from_spec
from resnet_inspect.model.fold import fold_batch_norms
from resnet_inspect.model.sources import ModelSource, describe, load_model, unsafe_warning
from resnet_inspect.model.spec import ResNetSpec


def inspect_spec(spec: ResNetSpec, fold_bn: bool = False) -> Report:
    """Build the network of ``spec`` and walk it; the report carries the spec's configuration. As built,
    an inspection build (no initial values); with ``fold_bn`` its BNs folded, which reads their values."""
    if not fold_bn:
        return analyze(build_from_spec(spec, initialize=False), config=spec.config())
    model, config, _ = deploy(build_from_spec(spec), spec.config(), spec.describe())
    return inspect_model(model, config)


# The key of the configuration that records what --fold-bn did (resnet_inspect.model.fold.Folding.config).
FOLD_KEY = "fold_bn"


def deploy(model: keras.Model, config: Mapping[str, Any], heading: str) -> tuple[keras.Model, dict[str, Any], str]:
    """The deployed network (``--fold-bn``): ``model`` with its BNs folded into the convolutions before them
    (:func:`resnet_inspect.model.fold.fold_batch_norms`); the configuration records the fold, the heading says it."""
    folding = fold_batch_norms(model)
    return folding.model, {**config, FOLD_KEY: folding.config()}, f"{heading}; {folding.summary()}"


def fold_notes(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The BNs --fold-bn left, each with its reason (none without --fold-bn)."""
    record = config.get(FOLD_KEY)
    if not record:
        return ()
    notes = [f"--fold-bn: {kept['bn']} not folded: {kept['reason']}" for kept in record["not_folded"]]
    notes += [f"--fold-bn: {name} is a nested Sequential model; its BatchNormalization layers were not folded"
              for name in record["nested_not_examined"]]
    return tuple(notes)


def open_model(
    spec: ResNetSpec | None,
    source: ModelSource | None = None,
    unsafe: bool = False,
    load_options: Mapping[str, Any] | None = None,
    warn: Callable[[str], None] | None = None,
    initialize: bool = True,
    fold_bn: bool = False,
) -> tuple[keras.Model, dict[str, Any], str]:
    """The model a command works on, its configuration and a heading: the spec's network, or the ``--model``;
    with ``fold_bn`` its deployed form (:func:`deploy`).

    ``warn`` receives the safe-mode warning before a file is loaded with ``unsafe``. ``initialize=False``
    builds the spec's network for walking only (:func:`resnet_inspect.model.builder.build_from_spec`).
    """
    if source is None:
        if spec is None:
            raise ValueError("open_model needs a spec or a source")
        # folding reads the BN statistics and kernels: the network is built with values then
        opened = build_from_spec(spec, initialize or fold_bn), spec.config(), spec.describe()
    else:
        if unsafe and warn is not None:
            warn(unsafe_warning(source))
        model, config = load_model(source, unsafe, admit=check_model_file, **(load_options or {}))
        opened = model, config, describe(model, source)
    return deploy(*opened) if fold_bn else opened


def all_layer_names(model: keras.Model) -> list[str]:
    """The names of the model's layers and of the layers of every model nested in it."""
    names: list[str] = []
    for layer in model.layers:
        names.append(layer.name)
        if isinstance(layer, keras.Model):
            names.extend(all_layer_names(layer))
    return names


def inspect_model(model: keras.Model, config: Mapping[str, Any] | None = None) -> Report:
    """Walk any Keras functional model, grouping its layers by the naming scheme that fits it.

    The seeds' names and keras.applications ResNet names give stages and blocks, also for a ResNet
    nested in the model (the outer layers join its stem and head); other models get the layer level
    only (``report.grouped`` is False).
    """
    scheme = naming.grouping_for(all_layer_names(model))
    report = analyze(model, config=config, grouping=scheme)
    if config is not None and fold_notes(config):
        report = dataclasses.replace(report, notes=report.notes + fold_notes(config))
    if report.grouped:
        return report
    consumers: dict[str, list[str]] = {}
    for record in report.layers:
        for producer in record.inputs:
            consumers.setdefault(producer, []).append(record.name)
    groups = naming.adopt_orphans({r.name: scheme(r.name) for r in report.layers}, consumers)
    groups = naming.frame_outer([r.name for r in report.layers], groups)
    layers = tuple(
        dataclasses.replace(r, stage=g.stage, block=g.block) if (g := groups[r.name]) is not None else r
        for r in report.layers
    )
    return dataclasses.replace(report, layers=layers)
