"""Does it fit: the dtype table, a need's arithmetic by hand, the free-memory readers on fake cgroup trees,
one refusal message for every kind of work, and the largest batch that fits against the refusal."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from resnet_inspect.analysis import budget, cgroups
from resnet_inspect.analysis.budget import (
    FORWARD_BYTES,
    KERAS_LAYER_BYTES,
    TF_RUNTIME_BYTES,
    BatchCost,
    Dtype,
    Limit,
    Need,
)
from resnet_inspect.analysis.estimate import Estimate
from resnet_inspect.bench.plan import Precision
from resnet_inspect.cli import app
from resnet_inspect.errors import InspectError, UsageError
from resnet_inspect.model.spec import make_spec

TINY = ["--input-size", "32", "--blocks", "1,1", "--width", "8", "--classes", "10"]
TINY_SPEC = {"blocks": (1, 1), "input_size": 32, "width": 8, "classes": 10}
# The tiny network's activation peak per image: its 32x32x3 input and the 38x38x3 padded copy the 7x7/2
# conv reads are alive together (tests/test_estimate.py checks the same peak on a smaller network).
TINY_PEAK = 32 * 32 * 3 + 38 * 38 * 3
# ... and its largest layer output is that padded copy: a forward pass holds one more buffer of its size per image.
TINY_LARGEST = 38 * 38 * 3
# The one refusal format, whatever the work.
REFUSAL = re.compile(
    r"Error: (?P<what>.+) needs an estimated (?P<total>\S+ \S+) \((?P<parts>.+)\) but (?P<where>.+) has "
    r"(?P<free>\S+ \S+) free; (?P<advice>.+)\n"
)


def human(size: int) -> str:
    """Binary units as the messages write them: TiB and GiB with 2 decimals, MiB and KiB with 1."""
    for unit, scale, digits in (("TiB", 2**40, 2), ("GiB", 2**30, 2), ("MiB", 2**20, 1), ("KiB", 2**10, 1)):
        if size >= scale:
            return f"{size / scale:,.{digits}f} {unit}"
    return f"{size:,} B"


# --- the one dtype table -------------------------------------------------------------------------------


def test_dtype_table_matches_numpy_itemsizes() -> None:
    import ml_dtypes  # numpy has no bfloat16; TensorFlow's own dtype package does
    import numpy as np

    for dtype in Dtype:
        kind = ml_dtypes.bfloat16 if dtype is Dtype.BFLOAT16 else dtype.value
        assert dtype.bytes == np.dtype(kind).itemsize, dtype
    for precision in Precision:  # every bench policy computes in a dtype of the table
        assert Dtype(precision.compute_dtype).value == precision.compute_dtype


def test_policy_bytes_by_hand() -> None:
    assert budget.policy_bytes("float32") == (4, 4)
    assert budget.policy_bytes("float32", converts=True) == (4, 4)  # float32 has nothing to convert
    # float32 variables plus a bfloat16 cast copy: 4 + 2 B per parameter; activations 2 B.
    assert budget.policy_bytes(Dtype.BFLOAT16) == (6, 2)
    # without bfloat16 units the CPU kernels also hold a float32 copy of each element: 2 + 4 B
    assert budget.policy_bytes(Precision.MIXED_FLOAT16.compute_dtype, converts=True) == (6, 6)


# --- need, limit, the refusal ----------------------------------------------------------------------------


def test_need_adds_up_its_labelled_parts() -> None:
    need = Need("building x", (("float32 weights", 3 * 2**40), ("layers", 5 * 2**20), ("nothing", 0)))
    assert need.bytes == 3 * 2**40 + 5 * 2**20
    assert need.derivation == "float32 weights 3.00 TiB + layers 5.0 MiB"  # a part of 0 bytes is left out
    with pytest.raises(InspectError) as info:
        budget.check_fits(need, Limit(16 * 2**30, "the host"))
    assert str(info.value) == (
        "building x needs an estimated 3.00 TiB (float32 weights 3.00 TiB + layers 5.0 MiB) but the host has "
        "16.00 GiB free; refused before building"
    )
    budget.check_fits(need, Limit(None, "the host"))  # unknown free memory lets it through
    budget.check_fits(need, Limit(need.bytes, "the host"))  # exactly the free memory fits
    with pytest.raises(InspectError):
        budget.check_fits(need, Limit(need.bytes - 1, "the host"))


def test_check_build_refuses_untouchable_tensors_and_huge_networks() -> None:
    with pytest.raises(UsageError, match=r"at input 10000000000x10000000000 has a tensor of [\d,]+ elements; "
                                         r"TensorFlow indexes at most 2\*\*63 - 1"):
        budget.check_build(make_spec(None, blocks=(1, 1), input_size=10**10, width=8), Limit(None, "the host"))
    # ResNet-50's 25,621,352 parameters with its 2048 x 1000 + 1000 logits replaced by 2048 x 10**9 + 10**9
    logits = 2048 * 10**9 + 10**9
    params = 25_621_352 - (2048 * 1000 + 1000) + logits
    with pytest.raises(InspectError) as info:
        budget.check_build(make_spec(50, classes=10**9), Limit(64 * 2**30, "the host"))
    # the runtime, the weights, two initializer copies of the logits' (the largest layer), the layer objects
    total = TF_RUNTIME_BYTES + 4 * params + 2 * 4 * logits + 176 * KERAS_LAYER_BYTES
    assert str(info.value) == (
        f"building resnet50 ({params:,} parameters) needs an estimated {human(total)} (TensorFlow runtime "
        f"{human(TF_RUNTIME_BYTES)} + float32 weights 7.45 TiB + initializer copies of the largest layer 14.91 TiB + "
        "176 Keras layers 14.6 MiB) but the host has 64.00 GiB free; refused before building"
    )
    assert f"{params * 4 / 2**40:.2f}" == "7.45" and f"{176 * KERAS_LAYER_BYTES / 2**20:.1f}" == "14.6"
    assert f"{8 * logits / 2**40:.2f}" == "14.91"
    assert budget.check_build(make_spec(50), Limit(2**40, "the host")).params == 25_621_352


def test_bench_batch_refusal_by_hand() -> None:
    found = Estimate("x", params=500, layers=3, peak_elements=800, peak_layer="a", largest_tensor=200,
                     largest_layer_params=100)
    # the runtime and its forward pass, the inspected float32 model (500 x 4 B weights, 2 x 100 x 4 B
    # initializer copies, 3 layer objects), and the 3 layer objects of the model built again for the policy
    fixed = TF_RUNTIME_BYTES + FORWARD_BYTES + 2000 + 800 + 6 * KERAS_LAYER_BYTES
    cost = budget.batch_cost("float32", Dtype.FLOAT32, found)
    # 500 x 4 B; (800 alive + one buffer of the largest output, 200) x 4 B per image
    assert (cost.weights_bytes, cost.per_image_bytes, cost.host_bytes) == (2000, 4000, fixed)
    mixed = budget.batch_cost("mixed_bfloat16", "bfloat16", found, replicas=2)
    assert (mixed.weights_bytes, mixed.per_image_bytes) == (3000, 2000)  # 500 x (4 + 2) B, 1000 x 2 B
    assert mixed.need(8, per_device=False).bytes == fixed + 2 * 3000 + 8 * 2000  # both replicas in one memory
    assert mixed.need(8, per_device=True).bytes == 3000 + 4 * 2000  # one replica, half the batch; no host part
    assert mixed.need(7, per_device=True).bytes == 3000 + 4 * 2000  # the larger share of an odd batch
    host = Limit(fixed + 100_000, "the host")
    # (100,000 - 2,000) // 4,000 = 24 images; shared by two replicas: (100,000 - 6,000) // 2,000 = 47 -> 46
    assert budget.largest_batch(cost, host) == 24 and budget.largest_batch(mixed, host) == 46
    budget.check_batches([cost], [24], host)
    with pytest.raises(InspectError) as caught:
        budget.check_batches([cost], [1, 25], host)
    assert str(caught.value) == (
        f"batch 25 (float32) needs an estimated {human(fixed + 102_000)} (TensorFlow and the inspected model "
        f"{human(fixed)} + weights 2.0 KiB + activations 97.7 KiB) but the host has {human(fixed + 100_000)} free; "
        "the largest batch that fits is 24"
    )
    with pytest.raises(InspectError, match="; not even one image fits$"):
        budget.check_batches([cost], [1], Limit(fixed + 5_000, "the host"))
    with pytest.raises(InspectError, match="; not even one image per replica fits$"):
        budget.check_batches([mixed], [2], Limit(4_999, "GPU:0+GPU:1 (A100)", per_device=True))  # 3,000 + 2,000
    assert budget.largest_batch(cost, Limit(None, "the host")) is None


@settings(max_examples=300, deadline=None, database=None)
@given(
    weights=st.integers(0, 10**7),
    per_image=st.integers(1, 10**6),
    replicas=st.integers(1, 4),
    per_device=st.booleans(),
    free=st.integers(0, 10**10),
    fixed=st.integers(0, 10**9),
)
def test_largest_batch_fits_and_one_more_is_refused(
    weights: int, per_image: int, replicas: int, per_device: bool, free: int, fixed: int
) -> None:
    cost, limit = BatchCost("float32", weights, per_image, replicas, fixed), Limit(free, "the host", per_device)
    largest = budget.largest_batch(cost, limit)
    # by hand: the fixed host part, all replicas' weights and the batch in a shared memory; per device, one
    # replica's weights and its share of the batch; rounded down to a multiple of the replicas
    if per_device:
        by_hand = max(0, (free - weights) // per_image * replicas)
    else:
        by_hand = max(0, (free - fixed - replicas * weights) // per_image // replicas * replicas)
    assert largest == by_hand
    if largest:
        budget.check_batches([cost], [largest], limit)
    with pytest.raises(InspectError) as refused:
        budget.check_batches([cost], [largest + replicas], limit)
    assert str(refused.value).endswith(f"the largest batch that fits is {largest}" if largest else "fits")


# --- one message for each kind of work, through the commands --------------------------------------------


def keras_size(build, **options) -> tuple[int, int, int]:
    """(parameters, layers, parameters of the largest layer) as Keras counts them."""
    _, model, _ = build(None, **options)
    return model.count_params(), len(model.layers), max(layer.count_params() for layer in model.layers)


def build_parts(params: int, layers: int, largest: int, dtype_bytes: int = 4, dtype: str = "float32") -> list:
    return [(f"{dtype} weights", dtype_bytes * params), ("initializer copies of the largest layer",
            2 * dtype_bytes * largest), (f"{layers} Keras layers", layers * KERAS_LAYER_BYTES)]


def run(monkeypatch: pytest.MonkeyPatch, free: int, *args: str):
    monkeypatch.setattr(budget, "host_free_bytes", lambda: free)
    monkeypatch.setattr(budget, "gpu_free_bytes", lambda index=0: None)
    return CliRunner().invoke(app, list(args))


def refused(result, what: str, parts: list[tuple[str, int]], free: int, advice: str) -> None:
    assert result.exit_code == 1 and result.stdout == ""
    total = sum(size for _, size in parts)
    derivation = " + ".join(f"{label} {human(size)}" for label, size in parts)
    assert result.stderr == (
        f"Error: {what} needs an estimated {human(total)} ({derivation}) but the host has {human(free)} free; "
        f"{advice}\n"
    )
    assert REFUSAL.fullmatch(result.stderr)


def test_building_a_network_is_refused(monkeypatch: pytest.MonkeyPatch, build) -> None:
    params, layers, largest = keras_size(build, **TINY_SPEC)
    result = run(monkeypatch, 1000, "summary", *TINY)
    parts = [("TensorFlow runtime", TF_RUNTIME_BYTES), *build_parts(params, layers, largest)]
    refused(result, f"building resnet-bottleneck-1-1 ({params:,} parameters)", parts, 1000, "refused before building")


def test_building_a_compared_block_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from resnet_inspect.analysis.compare import BlockSetup, build_block
    from resnet_inspect.model.spec import BlockKind

    model = build_block(BlockSetup(BlockKind.REGULAR, filters=8, size=8))
    params, layers = model.count_params(), len(model.layers)
    largest = max(layer.count_params() for layer in model.layers)
    result = run(monkeypatch, 1000, "compare", "regular", "bottleneck", "--filters", "8", "--size", "8")
    parts = [("TensorFlow runtime", TF_RUNTIME_BYTES), *build_parts(params, layers, largest)]
    refused(result, f"building a regular block of 8 filters ({params:,} parameters)", parts, 1000,
            "refused before building")


def test_measuring_a_forward_pass_is_refused(monkeypatch: pytest.MonkeyPatch, build) -> None:
    """Two processes at once: this one with its float32 model, and the measuring one with its runtime,
    its float16 model and the forward pass."""
    params, layers, largest = keras_size(build, **TINY_SPEC)
    this = TF_RUNTIME_BYTES + sum(size for _, size in build_parts(params, layers, largest))
    free = this + 2**20  # the network builds, its forward pass does not fit
    result = run(monkeypatch, free, "memory", *TINY, "--measure", "-b", "1000", "--dtype", "float16")
    parts = [("this process", this),
             ("measuring process: TensorFlow runtime and forward pass", TF_RUNTIME_BYTES + FORWARD_BYTES),
             *build_parts(params, layers, largest, 2, "float16"),
             ("activations of batch 1000", 1000 * (TINY_PEAK + TINY_LARGEST) * 2)]
    refused(result, "--measure on resnet-bottleneck-1-1", parts, free, "refused before building")


def test_a_bench_batch_is_refused_with_the_largest_that_fits(monkeypatch: pytest.MonkeyPatch, build) -> None:
    params, layers, largest = keras_size(build, **TINY_SPEC)
    # the runtime and its forward pass, the inspected model, and the layers of the model built again
    fixed = TF_RUNTIME_BYTES + FORWARD_BYTES + 4 * params + 8 * largest + 2 * layers * KERAS_LAYER_BYTES
    free = fixed + 4 * params + 2**20
    per_image = (TINY_PEAK + TINY_LARGEST) * 4
    fits = (free - fixed - 4 * params) // per_image
    result = run(monkeypatch, free, "bench", *TINY, "-b", str(fits), "-b", str(fits + 1))
    parts = [("TensorFlow and the inspected model", fixed), ("weights", 4 * params),
             ("activations", (fits + 1) * per_image)]
    refused(result, f"batch {fits + 1} (float32)", parts, free, f"the largest batch that fits is {fits}")


# --- the limit: cgroup files, psutil, nvidia-smi ------------------------------------------------------------


def cgroup_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: str, files: dict[str, str]) -> None:
    """A fake /proc/self/cgroup and /sys/fs/cgroup: ``files`` maps a path under the root to its text."""
    proc = tmp_path / "cgroup"
    proc.write_text(lines)
    for name, text in files.items():
        path = tmp_path / "sys" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    monkeypatch.setattr(cgroups, "PROC_CGROUP", proc)
    monkeypatch.setattr(cgroups, "CGROUP_ROOT", tmp_path / "sys")


def test_cgroup_v2_limit_the_tightest_of_the_cgroup_and_its_parents(tmp_path: Path, monkeypatch) -> None:
    cgroup_tree(tmp_path, monkeypatch, "0::/box/app\n", {
        "box/app/memory.max": "1000000", "box/app/memory.current": "250000",  # 750,000 left
        "box/memory.max": "600000", "box/memory.current": "500000",  # the container: 100,000 left
        "memory.max": "max", "memory.current": "900000",  # no limit at the root
    })
    assert cgroups.free_bytes() == 100_000
    cgroup_tree(tmp_path, monkeypatch, "0::/box/app\n", {"box/memory.max": "max", "box/app/memory.max": "max"})
    assert cgroups.free_bytes() is None
    cgroup_tree(tmp_path, monkeypatch, "0::/box/app\n", {"box/app/memory.max": "1000", "box/app/memory.current": "5000"})
    assert cgroups.free_bytes() == 0  # over its limit already: nothing left, never negative


def test_cgroup_v1_limit_and_the_smaller_of_v1_and_v2(tmp_path: Path, monkeypatch) -> None:
    lines = "5:cpu,cpuacct:/x\n4:memory:/docker/abc\n0::/\n"
    cgroup_tree(tmp_path, monkeypatch, lines, {
        "memory/docker/abc/memory.limit_in_bytes": "9223372036854771712",  # v1's "no limit"
        "memory/docker/abc/memory.usage_in_bytes": "3129344",
    })
    assert cgroups.free_bytes() is None
    cgroup_tree(tmp_path, monkeypatch, lines, {
        "memory/docker/abc/memory.limit_in_bytes": str(2**30),
        "memory/docker/abc/memory.usage_in_bytes": str(2**28),
        "memory.max": str(2**31), "memory.current": "0",  # a looser v2 limit at the root
    })
    assert cgroups.free_bytes() == 2**30 - 2**28
    monkeypatch.setattr(cgroups, "PROC_CGROUP", tmp_path / "absent")
    assert cgroups.free_bytes() is None


def test_host_free_is_psutil_available_or_less_under_a_cgroup(tmp_path: Path, monkeypatch) -> None:
    """Plus what this process holds already: a need counts the whole process."""
    import psutil

    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=8 * 2**30))
    held = SimpleNamespace(memory_info=lambda: SimpleNamespace(rss=5 * 2**20))
    monkeypatch.setattr(psutil, "Process", lambda: held)
    cgroup_tree(tmp_path, monkeypatch, "0::/a\n", {"a/memory.max": str(2**30), "a/memory.current": "0"})
    assert budget.host_free_bytes() == 2**30 + 5 * 2**20
    assert budget.host_limit() == Limit(2**30 + 5 * 2**20, "the host")
    cgroup_tree(tmp_path, monkeypatch, "0::/a\n", {"a/memory.max": str(16 * 2**30), "a/memory.current": "0"})
    assert budget.host_free_bytes() == 8 * 2**30 + 5 * 2**20


def test_cgroup_page_cache_the_kernel_reclaims_is_room(tmp_path: Path, monkeypatch) -> None:
    """usage - inactive_file is the working set: inactive page cache is dropped before anything is killed."""
    cgroup_tree(tmp_path, monkeypatch, "0::/a\n", {"a/memory.max": "1000000", "a/memory.current": "900000",
                                                   "a/memory.stat": "anon 500000\nfile 400000\ninactive_file 300000"})
    assert cgroups.free_bytes() == 1_000_000 - 900_000 + 300_000
    lines = "4:memory:/box\n"
    cgroup_tree(tmp_path, monkeypatch, lines, {
        "memory/box/memory.limit_in_bytes": "1000000", "memory/box/memory.usage_in_bytes": "900000",
        "memory/box/memory.stat": "inactive_file 10\ntotal_inactive_file 200000",  # v1: the hierarchy's figure
    })
    assert cgroups.free_bytes() == 300_000


def test_gpu_free_memory_from_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    answer = "0, 81000\n1, 40000\n"
    monkeypatch.setattr(budget.children, "find_program", lambda name: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(
        budget.children, "run_child",
        lambda command, timeout, env=None: subprocess.CompletedProcess(command, 0, stdout=answer, stderr=""),
    )
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert budget.gpu_free_bytes(0) == 40000 * 2**20  # TensorFlow's GPU:0 is physical GPU 1
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert budget.gpu_free_bytes(0) == 40000 * 2**20  # order unknown: the smaller figure, to be safe
    assert budget.gpu_limit(0) == Limit(40000 * 2**20, "GPU 0 (nvidia-smi)", per_device=True)
    monkeypatch.setattr(budget.children, "find_program", lambda name: None)
    assert budget.gpu_free_bytes(0) is None and budget.gpu_limit(0) is None


def test_budget_imports_neither_tensorflow_nor_numpy() -> None:
    code = ("import sys\nimport resnet_inspect.analysis.budget\n"
            "print(sorted({'tensorflow', 'numpy', 'psutil'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
