"""resnet-inspect: build ResNet variants in Keras and tell exactly what they are.

Public API (TensorFlow is imported only when a model is built or walked)::

    from resnet_inspect import build_resnet, analyze
    report = analyze(build_resnet(50))
    report.totals.params, report.totals.macs
    report.rows("block")
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "build_resnet": "resnet_inspect.model.builder",
    "build_from_spec": "resnet_inspect.model.builder",
    "analyze": "resnet_inspect.analysis.walk",
    # Lazy too, so that the console script reaches its signal handlers before anything heavy loads.
    "Level": "resnet_inspect.analysis.records",
    "Report": "resnet_inspect.analysis.report",
    "make_spec": "resnet_inspect.model.spec",
}

__all__ = ["__version__", "analyze", "build_from_spec", "build_resnet", "make_spec", "Report", "Level"]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'resnet_inspect' has no attribute {name!r}")
