"""Command-line interface: ``resnet-inspect``. Each command lives in its own module."""

from __future__ import annotations

from resnet_inspect.cli import summary  # noqa: F401  (registers the command)
from resnet_inspect.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
