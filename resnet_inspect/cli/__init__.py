"""Command-line interface: ``resnet-inspect``. Each command lives in its own module.

:func:`main` (the console script) installs the signal handlers and guards the standard streams
(:mod:`resnet_inspect.cli.process`, which imports nothing heavy) before typer and the commands load,
so a Ctrl-C while they load is handled like any other. ``app``, the typer application, is therefore
loaded when first asked for (``from resnet_inspect.cli import app``).
"""

from __future__ import annotations

import sys
import types

from resnet_inspect.cli import process


class _Package(types.ModuleType):
    @property
    def app(self) -> object:
        from resnet_inspect.cli.app import app

        return app

    @app.setter
    def app(self, value: object) -> None:
        """Loading the submodule ``resnet_inspect.cli.app`` records it here; ``app`` stays the application
        (the submodule is reached by ``from resnet_inspect.cli.app import ...``)."""


sys.modules[__name__].__class__ = _Package


def _run() -> int:
    """Run the application; its exit code."""
    try:
        from resnet_inspect.cli.app import app

        app()
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)


def main() -> None:
    """Console-script entry point: the application inside the process guards of :mod:`~resnet_inspect.cli.process`."""
    code, interrupted = 1, False
    try:
        try:
            process.install()
            code = _run()
        except KeyboardInterrupt:  # a signal outside the application's own handling (e.g. while it loads)
            interrupted = True
    finally:
        process.stop_signals()
    process.end(process.finish(code, interrupted))


__all__ = ["app", "main"]
