"""Command-line interface: ``resnet-inspect``. Each command lives in its own module."""

from __future__ import annotations

import os
import sys

from resnet_inspect.cli.app import app


def main() -> None:
    """Console-script entry point.

    Once TensorFlow is loaded, interpreter teardown (destroying TensorFlow's
    modules and graphs) can take longer than the walk and the rendering
    together. Every output is complete by then (files are fsynced and renamed,
    streams are flushed here), so the process ends with
    os._exit and skips that teardown.
    """
    try:
        app()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    if "tensorflow" in sys.modules:
        os._exit(code)
    sys.exit(code)


__all__ = ["app", "main"]
