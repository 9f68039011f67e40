"""Build and walk in one call: the library entry point the commands use (imports TensorFlow)."""

from __future__ import annotations

from resnet_inspect.builder import build_from_spec
from resnet_inspect.records import Report
from resnet_inspect.specs import ResNetSpec
from resnet_inspect.walk import analyze


def inspect_spec(spec: ResNetSpec) -> Report:
    """Build the network of ``spec`` and walk it; the report carries the spec's configuration."""
    return analyze(build_from_spec(spec), config=spec.config())
