"""Does `resnet-inspect profile` account for the whole forward pass, and what does it cost? Measured in one run.

    python benchmarks/bench_profile.py [--batch 1 --batch 32] [--iterations 20] [--warmup 3] [--rounds 1]
                                       [--depth 18 --depth 50] [--method trace|pieces] [--out F.json]

Prints, from fresh processes of the CLI run one after another in this one run:

1. for each depth and batch: the sum over blocks of the per-block medians / the whole pass's median, both from
   the same `profile` run (goal: within 0.90 to 1.10; the rest is the table's overhead row), and with a trace
   (the default on a CPU) the traced passes' median / the untraced pass's median (what tracing costs);
2. wall time of ``resnet-inspect profile --depth 50`` / wall time of ``resnet-inspect bench --depth 50`` with the
   same batches, warm-up and iterations (goal: <= 3.0), the median over ``--rounds`` alternating pairs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def cli() -> list[str]:
    found = shutil.which("resnet-inspect")
    return [found] if found else [sys.executable, "-m", "resnet_inspect"]


def call(command: list[str]) -> None:
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")


def wall(command: list[str]) -> float:
    start = time.perf_counter()
    call(command)
    return time.perf_counter() - start


def sums(document: dict) -> list[dict]:
    """Per run of a profile JSON: batch, the blocks' summed medians, the whole pass's median and their ratio."""
    found = []
    for batch in sorted({r["batch_size"] for r in document["rows"]}):
        rows = [r for r in document["rows"] if r["batch_size"] == batch]
        blocks = sum(r["p50_ms"] for r in rows if r["type"] not in ("overhead", "whole"))
        whole = next(r["p50_ms"] for r in rows if r["type"] == "whole")
        run = next(r for r in document["runs"] if r["batch_size"] == batch)
        traced = statistics.median(run["traced_ms"]) if run.get("traced_ms") else None
        found.append({"batch": batch, "blocks_ms": blocks, "whole_ms": whole, "ratio": blocks / whole,
                      "method": run.get("method"), "traced_ms": traced})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, action="append")
    parser.add_argument("--depth", type=int, action="append")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--method", choices=("trace", "pieces"), help="profile --method (default: profile's own)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    batches = args.batch or [1, 32]
    depths = args.depth or [18, 50]
    settings = [f"-b{b}" for b in batches] + ["-n", str(args.iterations), "--warmup", str(args.warmup),
                                              "--device", "cpu"]
    method = ["--method", args.method] if args.method else []
    result: dict = {"settings": settings, "sums": {}, "wall_s": {"bench": [], "profile": []}}
    with tempfile.TemporaryDirectory() as folder:
        for depth in depths:
            if depth == 50:
                continue  # timed below, against bench
            out = Path(folder) / f"p{depth}.json"
            call([*cli(), "profile", "--depth", str(depth), *settings, *method, "--json", str(out)])
            result["sums"][f"resnet{depth}"] = sums(json.loads(out.read_text()))
        if 50 in depths:
            for k in range(args.rounds):
                out = Path(folder) / f"p50_{k}.json"
                pair = [("bench", [*cli(), "bench", "--depth", "50", *settings]),
                        ("profile", [*cli(), "profile", "--depth", "50", *settings, *method, "--json", str(out)])]
                for name, command in pair if k % 2 == 0 else reversed(pair):
                    result["wall_s"][name].append(wall(command))
                result["sums"].setdefault("resnet50", []).extend(sums(json.loads(out.read_text())))
    for model, runs in result["sums"].items():
        for run in runs:
            traced = (f"; traced passes {run['traced_ms']:,.2f} ms = {run['traced_ms'] / run['whole_ms']:.3f} of the "
                      "untraced" if run["traced_ms"] is not None else "")
            print(f"{model} batch {run['batch']} ({run['method']}): blocks {run['blocks_ms']:,.2f} ms / whole pass "
                  f"{run['whole_ms']:,.2f} ms = {run['ratio']:.3f} (goal 0.90-1.10){traced}")
    if result["wall_s"]["bench"]:
        bench = statistics.median(result["wall_s"]["bench"])
        profile = statistics.median(result["wall_s"]["profile"])
        result["wall_ratio"] = profile / bench
        print(f"profile --depth 50 {profile:,.1f} s / bench --depth 50 {bench:,.1f} s = {profile / bench:.2f} "
              f"(goal <= 3.0; {' '.join(settings)})")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
