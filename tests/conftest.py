"""Shared fixtures: built models and reports are cached per session (building is the slow part)."""

from __future__ import annotations

import functools
import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@functools.cache
def built(depth: int | None = 50, **options):
    """(spec, model, report) for a network; cached so each is built once per test session."""
    from resnet_inspect.analysis.walk import analyze
    from resnet_inspect.model.builder import build_from_spec
    from resnet_inspect.model.spec import make_spec

    spec = make_spec(depth, **options)
    model = build_from_spec(spec)
    return spec, model, analyze(model, config=spec.config())


@pytest.fixture(scope="session")
def build():
    """``build(depth, **make_spec options) -> (spec, model, report)``, cached for the session."""
    return built
