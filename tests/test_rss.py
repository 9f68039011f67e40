"""The memory estimates against the peak resident set size of real runs, and a measurement one can believe.

* Each estimate that refuses work (:mod:`resnet_inspect.analysis.budget`) is compared with the peak
  resident set size the kernel reports for the same command run in a fresh process (``ru_maxrss`` of
  ``wait4``): within [0.8, 1.25] (``benchmarks/bench_memory_estimate.py`` prints more cases).
* In a real memory cgroup, the largest batch the refusal advises is accepted and runs (skipped where
  this process cannot make a cgroup).
* ``--measure`` measures the first run of the pass in a fresh process: plausible for ResNet-50 at
  224x224 at two batch sizes, growing with the batch; an implausible figure is said to be.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from resnet_inspect.analysis import budget
from resnet_inspect.analysis.estimate import estimate
from resnet_inspect.analysis.measure import Measurement, measure_peak, plausibility
from resnet_inspect.model.spec import make_spec

ROOT = Path(__file__).resolve().parent.parent
COMMAND = [sys.executable, "-I", "-m", "resnet_inspect"]


# The kernel carries a process's peak resident size across exec from the memory it had before (for a
# child of pytest, pytest's own several GiB), so each command starts from this small launcher, which
# reports the peak of its own child: a fresh process whose peak is the command's.
LAUNCHER = (
    "import os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "print(usage.ru_maxrss)\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def start(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-I", "-c", LAUNCHER, *COMMAND, *args], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def peak_rss(child: subprocess.Popen[bytes]) -> int:
    """The command's peak resident bytes, from the kernel when it ends (it must exit 0)."""
    out, err = child.communicate(timeout=600)
    assert child.returncode == 0, err.decode()[-1000:]
    return int(out) * 1024  # kB on Linux


def test_estimates_bound_the_peak_resident_size_of_real_runs() -> None:
    """A small build (the runtime dominates), a big dense head (an inspection build: its 51 M weights are
    never allocated) and a bench batch (the weights and activations count), run side by side in fresh
    processes (the summaries with --no-cache: a cached walk builds nothing)."""
    tiny = make_spec(None, blocks=(1, 1), input_size=32, width=8, classes=10)
    dense = make_spec(18, input_size=32, classes=100_000)  # 51 M parameters in the logits alone
    resnet18 = make_spec(18)
    cases = {
        "summary tiny": (["summary", "--blocks", "1,1", "--input-size", "32", "--width", "8", "--classes", "10", "--no-cache"],
                         budget.inspect_need(estimate(tiny)).bytes),
        "summary dense head": (["summary", "--depth", "18", "--input-size", "32", "--classes", "100000", "--no-cache"],
                               budget.inspect_need(estimate(dense)).bytes),
        "bench resnet18 batch 16": (["bench", "--depth", "18", "-b", "16", "--device", "cpu", "--warmup", "0",
                                     "-n", "1"],
                                    budget.batch_cost("float32", "float32", estimate(resnet18)).need(16, False).bytes),
    }
    children = {name: start(args) for name, (args, _) in cases.items()}
    ratios = {name: cases[name][1] / peak_rss(child) for name, child in children.items()}
    assert all(0.8 <= ratio <= 1.25 for ratio in ratios.values()), ratios


# --- a request accepted runs in a cgroup of the limit read -----------------------------------------------

LIMIT = 1200 * 2**20


def make_cgroup(name: str) -> tuple[Path, str] | None:
    """A child memory cgroup of this process's own, limited to :data:`LIMIT` (v2, else v1); None if not allowed."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists():
            folder, limit_file = Path("/sys/fs/cgroup", path.lstrip("/"), name), "memory.max"
        elif "memory" in controllers.split(","):
            folder, limit_file = Path("/sys/fs/cgroup/memory", path.lstrip("/"), name), "memory.limit_in_bytes"
        else:
            continue
        try:
            folder.mkdir()
            (folder / limit_file).write_text(str(LIMIT))
            return folder, limit_file
        except OSError:
            if folder.exists():
                folder.rmdir()
    return None


def in_cgroup(folder: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    script = f"echo $$ > {shlex.quote(str(folder / 'cgroup.procs'))} && exec {shlex.join([*COMMAND, *args])}"
    return subprocess.run(["sh", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_the_largest_batch_said_to_fit_runs_in_a_cgroup_of_that_limit() -> None:
    made = make_cgroup(f"resnet-inspect-test-{os.getpid()}")
    if made is None:
        pytest.skip("this process cannot make a memory cgroup (needs root and a writable cgroup hierarchy)")
    folder, _ = made
    try:
        bench = ["bench", "--depth", "18", "--device", "cpu", "--warmup", "0", "-n", "1"]
        refused = in_cgroup(folder, [*bench, "-b", "100000"])
        assert refused.returncode == 1, refused.stderr
        match = re.search(r"has (\S+) (MiB|GiB) free; the largest batch that fits is (\d+)$", refused.stderr.strip())
        assert match, refused.stderr
        free = float(match.group(1).replace(",", "")) * (2**20 if match.group(2) == "MiB" else 2**30)
        # the limit the cgroup sets, read through its files: the room under it plus what the process holds
        # already (a need counts the whole process), part of which (shared libraries) another cgroup pays for
        assert LIMIT - 200 * 2**20 <= free <= LIMIT + 200 * 2**20, free
        largest = int(match.group(3))
        assert largest > 0
        ran = in_cgroup(folder, [*bench, "-b", str(largest)])
        assert ran.returncode == 0, (largest, ran.returncode, ran.stderr[-2000:])
    finally:
        for _ in range(50):  # the kernel lets a cgroup go once its last process has been reaped
            try:
                folder.rmdir()
                break
            except OSError:
                os.sched_yield()


# --- a measurement one can believe -----------------------------------------------------------------------


def test_the_first_pass_is_measured_at_two_batch_sizes() -> None:
    """ResNet-50 at 224x224, batches 2 and 8, each in a fresh process: both plausible against the liveness
    estimate, and the rise grows with the batch about as the estimate does per image."""
    spec = make_spec(50)
    per_image = 3 * 56 * 56 * 256 * 4  # the peak by hand: conv3, shortcut and add of block_layer1's first block
    with ThreadPoolExecutor(2) as pool:
        small, large = pool.map(lambda b: measure_peak(spec, b, "float32", b * per_image), (2, 8))
    for measured in (small, large):
        assert measured.note is None, measured
        assert 0.5 <= measured.ratio <= 2, measured
    slope = (large.peak_bytes - small.peak_bytes) / 6
    assert 0.5 <= slope / per_image <= 2, (slope, per_image)


def test_an_implausible_measurement_is_said_to_be() -> None:
    """The figure from the issue: a 10.1 MiB rise against a 294.0 MiB estimate is not printed as a fact."""
    from resnet_inspect.output.memory_tables import measured_text

    rise, estimated = int(10.1 * 2**20), int(294.0 * 2**20)
    note = plausibility(rise, estimated)
    assert note is not None and note.startswith("implausible: 0.03x the estimate")
    text = measured_text(Measurement("CPU:0", "m", rise, estimated, (rise, rise), note))
    assert text.startswith("not reliable on CPU:0: ") and "implausible" in text
    assert plausibility(estimated, estimated) is None and plausibility(2 * estimated + 1, estimated) is not None
    assert plausibility(0, estimated) is not None and plausibility(1, 0) is not None
    plausible = measured_text(Measurement("CPU:0", "m", estimated, estimated, (estimated, rise)))
    assert plausible.startswith("294.0 MiB on CPU:0 (first run of the pass; a warm run: 10.1 MiB)")
