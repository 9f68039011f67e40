"""How fast is `resnet-inspect summary --depth 50` next to a plain Keras script? Measured in one run.

    python benchmarks/bench_summary.py [--repeats 3]

Prints two figures:

1. ratio = wall time of ``resnet-inspect summary --depth 50`` / wall time of a plain
   Keras script (import keras, build ResNet-50, ``model.summary()``), medians of
   interleaved runs as fresh processes (goal: <= 1.0);
2. the share of our wall time spent outside TensorFlow's import and the model
   build, i.e. what the tool itself adds (walk, aggregation, rendering, CLI;
   goal: <= 10%), from phase timings taken inside one process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

PLAIN_KERAS = "import keras\nkeras.applications.ResNet50(weights=None).summary()\n"

# Our CLI's phases, timed inside one fresh process, the way `summary` runs them.
PHASES = r"""
import io, json, time
t0 = time.perf_counter()
from resnet_inspect.cli import app  # typer, rich, the CLI modules: no TensorFlow yet
from resnet_inspect.model.spec import make_spec
spec = make_spec(50)
t1 = time.perf_counter()
import resnet_inspect._tf  # TensorFlow + Keras
t2 = time.perf_counter()
from resnet_inspect.model.builder import build_from_spec
model = build_from_spec(spec)
t3 = time.perf_counter()
from resnet_inspect.analysis.walk import analyze
from resnet_inspect.analysis.records import Level
from resnet_inspect.output.render import print_report
from rich.console import Console
report = analyze(model, config=spec.config())
t4 = time.perf_counter()
print_report(Console(file=io.StringIO(), width=160), report, Level.BLOCK, spec.describe())
t5 = time.perf_counter()
print(json.dumps({"cli_import": t1 - t0, "tf_import": t2 - t1, "build": t3 - t2, "walk": t4 - t3,
                  "render": t5 - t4}), flush=True)
import os
os._exit(0)  # as the CLI's entry point does once TensorFlow is loaded (see resnet_inspect.cli.main)
"""


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    exe = shutil.which("resnet-inspect")
    ours_cmd = [exe] if exe else [sys.executable, "-m", "resnet_inspect"]
    ours_cmd += ["summary", "--depth", "50"]
    keras_cmd = [sys.executable, "-c", PLAIN_KERAS]

    wall(keras_cmd)  # warm the file cache once for both
    ours, plain, phases, phase_walls = [], [], [], []
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits both alike
        ours.append(wall(ours_cmd))
        plain.append(wall(keras_cmd))
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", PHASES], check=True, capture_output=True, text=True).stdout
        phase_walls.append(time.perf_counter() - start)
        phases.append(json.loads(out.strip().splitlines()[-1]))

    ours_m, plain_m = statistics.median(ours), statistics.median(plain)
    print(f"resnet-inspect summary --depth 50 : median {ours_m:.2f} s  ({', '.join(f'{t:.2f}' for t in ours)})")
    print(f"plain Keras ResNet50 + summary()  : median {plain_m:.2f} s  ({', '.join(f'{t:.2f}' for t in plain)})")
    print(f"ratio ours / plain Keras          : {ours_m / plain_m:.2f}  (goal <= 1.0)")

    median = {k: statistics.median(p[k] for p in phases) for k in phases[0]}
    total = statistics.median(phase_walls)  # includes interpreter start-up and exit
    outside = total - median["tf_import"] - median["build"]
    print("phases (median, s): " + ", ".join(f"{k} {v:.3f}" for k, v in median.items())
          + f", process total {total:.2f}")
    print(f"share outside TensorFlow import and model build: {outside / total:.1%}  (goal <= 10%)")

    return 0


if __name__ == "__main__":
    sys.exit(main())
