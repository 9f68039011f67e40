"""Cold and warm answers against a plain Keras script, as fresh processes, measured in one run (issue 15).

    python benchmarks/bench_cold_warm.py [--repeats 5]

Contenders, each a fresh process, interleaved in rounds (the order rotating) so that drift in the
machine's load hits all alike; the median of each is taken:

* plain Keras: ``import keras; keras.applications.ResNet50(weights=None).summary()``;
* cold ``resnet-inspect summary --depth 50`` and ``--depth 152``: an empty cache folder each run
  (``RESNET_INSPECT_CACHE``), so TensorFlow loads, the network is built and walked, and the walk stored;
* warm ``summary --depth 50`` and ``compare resnet18 resnet34 resnet50 resnet101 resnet152 resnet200``:
  the cache filled once beforehand (not timed).

Prints each median (and its runs), each ratio to plain Keras beside its goal (cold 50: <= 0.55, cold 152:
<= 0.5, warm: <= 0.12), and the load average before and after (other jobs on the machine slow every
contender, not always alike).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

PLAIN_KERAS = "import keras\nkeras.applications.ResNet50(weights=None).summary()\n"
COMPARE = ["compare", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnet200"]
# name -> (arguments of resnet-inspect, cold?, goal as a ratio to plain Keras)
OURS = {
    "cold summary --depth 50": (["summary", "--depth", "50"], True, 0.55),
    "cold summary --depth 152": (["summary", "--depth", "152"], True, 0.5),
    "warm summary --depth 50": (["summary", "--depth", "50"], False, 0.12),
    "warm compare resnet18 ... resnet200": (COMPARE, False, 0.12),
}


def wall(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    exe = shutil.which("resnet-inspect")
    ours_cmd = [exe] if exe else [sys.executable, "-m", "resnet_inspect"]
    base = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-cold-warm-") as scratch:
        warm_env = {**base, "RESNET_INSPECT_CACHE": os.path.join(scratch, "warm")}
        contenders = {"plain Keras ResNet50 + summary()": lambda: wall([sys.executable, "-c", PLAIN_KERAS], base)}
        for name, (ours_args, cold, _) in OURS.items():
            if cold:

                def run(ours_args: list[str] = ours_args) -> float:
                    folder = tempfile.mkdtemp(dir=scratch)  # empty: nothing cached
                    try:
                        return wall(ours_cmd + ours_args, {**base, "RESNET_INSPECT_CACHE": folder})
                    finally:
                        shutil.rmtree(folder)

            else:
                wall(ours_cmd + ours_args, warm_env)  # fill the cache (and warm the file cache), not timed

                def run(ours_args: list[str] = ours_args) -> float:
                    return wall(ours_cmd + ours_args, warm_env)

            contenders[name] = run
        times: dict[str, list[float]] = {name: [] for name in contenders}
        names = list(contenders)
        for round_ in range(args.repeats):
            for i in range(len(names)):
                name = names[(i + round_) % len(names)]
                times[name].append(contenders[name]())
    load_after = os.getloadavg()

    medians = {name: statistics.median(t) for name, t in times.items()}
    plain = medians[names[0]]
    width = max(map(len, names))
    print(f"medians of {args.repeats} fresh processes each (s), interleaved; {os.cpu_count()} CPUs")
    for name in names:
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        line = f"{name:<{width}} : {medians[name]:6.2f}  ({runs})"
        if name in OURS:
            goal = OURS[name][2]
            ratio = medians[name] / plain
            line += f"  ratio {ratio:.3f} (goal <= {goal}: {'met' if ratio <= goal else 'NOT met'})"
        print(line)
    print("load average (1, 5, 15 min) before: " + ", ".join(f"{x:.2f}" for x in load_before)
          + "; after: " + ", ".join(f"{x:.2f}" for x in load_after))
    return 0


if __name__ == "__main__":
    sys.exit(main())
