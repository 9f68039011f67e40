"""The memory estimates that refuse work beside the peak resident set size of the work, measured.

Every case runs the real command in a fresh, isolated process (``python -I -m resnet_inspect ...``)
and reads that process's peak resident set size from the kernel (``ru_maxrss`` of ``wait4``).
The estimate is the :class:`~resnet_inspect.analysis.budget.Need` the command compares with the
free memory before it builds anything: ``summary`` the inspection build's need (no values drawn),
``bench -b N`` the need of batch N. The ratio estimate / measured should be at least 1 (a request
accepted runs in that much memory) and not far above (a request that would fit is not refused);
tests/test_rss.py checks a few of these cases within [0.8, 1.25].

    python benchmarks/bench_memory_estimate.py           # ResNet-18/50, v1/v2, batches 1, 16, 64
    python benchmarks/bench_memory_estimate.py --quick   # one network, two batches

Each case stays under about 2.5 GiB; the whole run takes a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from resnet_inspect.analysis import budget
from resnet_inspect.analysis.estimate import estimate
from resnet_inspect.model.spec import make_spec


def peak_rss(args: list[str]) -> int:
    """Peak resident bytes of ``python -I -m resnet_inspect *args``, run to its end (must exit 0)."""
    child = subprocess.Popen([sys.executable, "-I", "-m", "resnet_inspect", *args],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    error = child.stderr.read().decode() if child.stderr else ""
    if status != 0:
        raise SystemExit(f"{' '.join(args)} failed ({status}): {error[-500:]}")
    return usage.ru_maxrss * 1024  # kB on Linux


def build_case(depth: int, version: str, size: int = 224, classes: int = 1000) -> tuple[str, int, list[str]]:
    spec = make_spec(depth, version=version, input_size=size, classes=classes)
    args = ["summary", "--depth", str(depth), "--arch-version", version, "--input-size", str(size),
            "--classes", str(classes), "--level", "stage", "--no-cache"]  # a cached walk builds nothing
    label = f"summary {spec.name} {version} {size}px {classes:,} classes"
    return label, budget.inspect_need(estimate(spec)).bytes, args  # what summary checks: no values drawn


def bench_case(depth: int, version: str, batch: int) -> tuple[str, int, list[str]]:
    spec = make_spec(depth, version=version)
    cost = budget.batch_cost("float32", "float32", estimate(spec))
    args = ["bench", "--depth", str(depth), "--arch-version", version, "-b", str(batch), "--device", "cpu",
            "--warmup", "1", "--iterations", "2"]
    return f"bench {spec.name} {version} 224px batch {batch}", cost.need(batch, per_device=False).bytes, args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="ResNet-18 v2 only, batches 1 and 32")
    quick = parser.parse_args().quick
    cases = [build_case(18, "v2"), build_case(18, "v2", 32, 150_000)]
    if quick:
        cases += [bench_case(18, "v2", b) for b in (1, 32)]
    else:
        cases += [build_case(50, "v2"), build_case(50, "v1")]
        cases += [bench_case(d, v, b) for d in (18, 50) for v in ("v1", "v2") for b in (1, 16, 64)]
    print(f"{'case':<52} {'estimate MiB':>12} {'measured MiB':>12} {'ratio':>6}")
    for label, estimated, args in cases:
        measured = peak_rss(args)
        print(f"{label:<52} {estimated / 2**20:>12,.1f} {measured / 2**20:>12,.1f} {estimated / measured:>6.2f}",
              flush=True)


if __name__ == "__main__":
    main()
