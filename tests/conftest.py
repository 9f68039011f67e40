"""Shared fixtures: built models and reports are cached per session (building is the slow part).

The tool's own cache of walks (``resnet_inspect.analysis.cache``) points at a folder made for this session
(``RESNET_INSPECT_CACHE``, inherited by the commands tests run as processes): a command that walks a network
an earlier test walked reads the walk back, and no run ever reads what a previous run left (nor the user's
cache). A test of the build itself passes ``--no-cache`` or a folder of its own.
"""

from __future__ import annotations

import functools
import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture(scope="session", autouse=True)
def walk_cache(tmp_path_factory: pytest.TempPathFactory):
    """The session's own, empty cache of walks."""
    from resnet_inspect.analysis.cache import CACHE_ENV

    folder = tmp_path_factory.mktemp("walk-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(folder))
        yield folder


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


def on_split_cpu(*invocations: list[str]) -> list[tuple[int, str, str]]:
    """Run each ``resnet-inspect`` argument list through typer's CliRunner in a fresh process whose CPU is split
    into two logical devices (the split must come before TensorFlow starts): (exit code, stdout, stderr) each."""
    import json
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    code = textwrap.dedent(
        f"""
        import json
        from resnet_inspect._tf import tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from typer.testing import CliRunner
        from resnet_inspect.cli import app
        results = [CliRunner().invoke(app, args) for args in {list(invocations)!r}]
        print(json.dumps([[r.exit_code, r.stdout, r.stderr] for r in results]))
        """
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, env=env, check=True)
    return [tuple(r) for r in json.loads(out.stdout.strip().splitlines()[-1])]
