"""`resnet-inspect bench`: statistics with an injected clock, peaks from CPU flags, the memory refusal,
the timing loop on a tiny model, Ctrl-C, out of memory, data parallelism on a split CPU, the GPU when present."""

from __future__ import annotations

import csv
import json
import math
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import on_split_cpu
from typer.testing import CliRunner

from resnet_inspect.analysis import budget
from resnet_inspect.analysis.estimate import estimate
from resnet_inspect.analysis.liveness import last_uses, live_elements, peak_live
from resnet_inspect.analysis.records import LayerRecord, ParamSplit
from resnet_inspect.bench import hardware
from resnet_inspect.bench.plan import BENCH_COLUMNS, DeviceKind, DeviceRequest, Precision, make_plan, parse_device
from resnet_inspect.bench.stats import StepsInterrupted, make_result, summarize, time_steps
from resnet_inspect.cli import app
from resnet_inspect.errors import UsageError
from resnet_inspect.model.spec import make_spec

ROOT = Path(__file__).resolve().parent.parent
# A tiny network: two regular blocks of 8 filters on 32x32 inputs (a bench step takes about a millisecond).
TINY_SPEC = {"blocks": (1, 1), "block_kind": "regular", "input_size": 32, "width": 8, "classes": 10}
TINY = ["--blocks", "1,1", "--block-type", "regular", "--input-size", "32", "--width", "8", "--classes", "10"]
QUICK = ["--warmup", "1", "--iterations", "3"]


def run(*args: str):
    return CliRunner().invoke(app, ["bench", *args])


# --- the timing loop and statistics, with an injected clock --------------------------------------


class FakeClock:
    """A clock that only moves when a fake step says how long it took."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def stepper(clock: FakeClock, durations: list[float], calls: list[int]):
    def step() -> None:
        calls.append(1)
        clock.now += durations[len(calls) - 1]

    return step


def test_warmup_is_run_but_not_timed() -> None:
    clock, calls, phases = FakeClock(), [], []
    durations = [5.0, 4.0, 0.010, 0.020, 0.030, 0.040]  # two slow warm-up steps, then four timed
    times = time_steps(
        stepper(clock, durations, calls), warmup=2, iterations=4, clock=clock,
        on_step=lambda phase, done: phases.append((phase, done)),
    )
    assert len(calls) == 6
    assert times == pytest.approx([0.010, 0.020, 0.030, 0.040])
    assert phases == [("warmup", 1), ("warmup", 2), ("timed", 1), ("timed", 2), ("timed", 3), ("timed", 4)]


def test_min_time_stops_once_enough_time_is_timed() -> None:
    clock, calls = FakeClock(), []
    times = time_steps(stepper(clock, [0.3] * 10, calls), warmup=0, iterations=None, min_time=1.0, clock=clock)
    # 0.3 + 0.3 + 0.3 = 0.9 < 1.0; the fourth step reaches 1.2 >= 1.0.
    assert len(times) == 4


def test_min_time_times_at_least_one_step() -> None:
    clock, calls = FakeClock(), []
    times = time_steps(stepper(clock, [7.0], calls), warmup=0, iterations=None, min_time=0.5, clock=clock)
    assert times == pytest.approx([7.0])


def test_ctrl_c_keeps_the_steps_timed_before_it() -> None:
    clock, calls = FakeClock(), []

    def step() -> None:
        calls.append(1)
        if len(calls) == 4:  # the third timed step, after one warm-up
            raise KeyboardInterrupt
        clock.now += 0.5

    with pytest.raises(StepsInterrupted) as caught:
        time_steps(step, warmup=1, iterations=10, clock=clock)
    assert caught.value.times == pytest.approx((0.5, 0.5))
    assert isinstance(caught.value, KeyboardInterrupt)  # uncaught, it still means exit 130


def test_statistics_by_hand() -> None:
    stats = summarize([0.010, 0.020, 0.030, 0.040])
    assert stats.steps == 4
    assert stats.mean_ms == pytest.approx(25.0)
    # Linear interpolation: rank p/100 x (n - 1) between sorted values 10, 20, 30, 40 ms.
    assert stats.p50_ms == pytest.approx(25.0)  # rank 1.5: 20 + 0.5 x 10
    assert stats.p90_ms == pytest.approx(37.0)  # rank 2.7: 30 + 0.7 x 10
    assert stats.p99_ms == pytest.approx(39.7)  # rank 2.97: 30 + 0.97 x 10
    # Sample std: deviations -15, -5, 5, 15 -> (225 + 25 + 25 + 225) / 3.
    assert stats.std_ms == pytest.approx(math.sqrt(500 / 3))
    assert summarize([0.002]).std_ms is None  # one step has no spread


def test_rates_by_hand() -> None:
    # Mean step 40 ms for a batch of 8: 200 images/s; 1e9 FLOPs per image -> 200 GFLOP/s; peak 800 GFLOP/s -> 25 %.
    result = make_result([0.030, 0.050], 8, "CPU:0", Precision.FLOAT32, False, 10**9, 800e9, warmup=2)
    row = result.row
    assert (row.mean_ms, row.images_per_s, row.gflops_per_s, row.pct_of_peak) == (40.0, 200.0, 200.0, 25.0)
    assert result.times_ms == (30.0, 50.0)
    unknown = make_result([0.030], 8, "CPU:0", Precision.FLOAT32, False, None, 800e9, warmup=0)
    assert (unknown.row.gflops_per_s, unknown.row.pct_of_peak) == (None, None)
    no_peak = make_result([0.030], 8, "CPU:0", Precision.FLOAT32, False, 10**9, None, warmup=0)
    assert no_peak.row.pct_of_peak is None


# --- options -------------------------------------------------------------------------------------


def test_plan_defaults_and_parsing() -> None:
    plan = make_plan()
    assert plan.batch_sizes == (1, 32)
    assert plan.precisions == (Precision.FLOAT32,)
    assert (plan.warmup, plan.iterations, plan.min_time) == (3, 20, None)
    assert make_plan(min_time=2.5).iterations is None
    assert make_plan([4, 4, 2]).batch_sizes == (4, 2)
    assert parse_device("GPU:1") == DeviceRequest(DeviceKind.GPU, 1)
    assert parse_device("cpu") == DeviceRequest(DeviceKind.CPU)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-b", "0"], "Error: --batch-size must be a positive integer, got 0\n"),
        (["--device", "tpu"], "Error: --device must be auto, cpu, gpu or gpu:N, got 'tpu'\n"),
        (["--device", "cpu:1"], "Error: --device must be auto, cpu, gpu or gpu:N, got 'cpu:1'\n"),
        (["--iterations", "3", "--min-time", "2"], "Error: --iterations and --min-time cannot both be given: give one\n"),
        (["--iterations", "0"], "Error: --iterations must be a positive integer, got 0\n"),
        (["--min-time", "0"], "Error: --min-time must be a positive number of seconds, got 0.0\n"),
        (["--min-time", "inf"], "Error: --min-time must be a positive number of seconds, got inf\n"),
        (["--warmup", "-1"], "Error: --warmup must be 0 or more, got -1\n"),
        (["--threads", "0"], "Error: --threads must be a positive integer, got 0\n"),
        (["--devices", "all", "--device", "gpu:0"], "Error: --devices all uses every GPU; give --device gpu, not gpu:0\n"),
        (["--depth", "51"], "Error: unknown depth 51; valid depths: 18, 34, 50, 101, 152, 200\n"),
        (["--csv", "/"], "Error: --csv '/' is a folder; give a file path\n"),
    ],
)
def test_usage_errors(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr == message
    assert result.stdout == ""


def test_bad_precision_is_one_line() -> None:
    result = run("--precision", "float64")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: Invalid value for '--precision'")
    assert result.stderr.count("\n") == 1


def test_help_and_usage_errors_do_not_import_tensorflow() -> None:
    code = textwrap.dedent(
        """
        import sys
        from typer.testing import CliRunner
        from resnet_inspect.cli import app
        help = CliRunner().invoke(app, ["bench", "--help"])
        bad = CliRunner().invoke(app, ["bench", "--batch-size", "0"])
        assert help.exit_code == 0 and "--batch-size" in help.stdout, help.output
        assert bad.exit_code == 2, bad.output
        print("tensorflow" in sys.modules)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


# --- CPU and GPU peaks -----------------------------------------------------------------------------

def cpuinfo(
    vendor: str, family: int, model: int, flags: str, mhz: str = "2000.000", name: str = "Test CPU",
    core_ids: tuple[int, ...] = (0,),
) -> str:
    """/proc/cpuinfo text: one block per logical CPU, ``core_ids`` giving each one's physical core."""
    return "\n".join(
        f"processor\t: {n}\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: {model}\n"
        f"model name\t: {name}\nphysical id\t: 0\ncore id\t\t: {core}\ncpu MHz\t\t: {mhz}\nflags\t\t: {flags}\n"
        for n, core in enumerate(core_ids)
    )


# Three logical CPUs; CPUs 0 and 1 are SMT siblings of core 0.
INTEL_SPR = cpuinfo(
    "GenuineIntel", 6, 143, "fpu sse sse2 avx avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile", "3800.000",
    "Intel(R) Xeon(R) Platinum 8480+ @ 2.00GHz", core_ids=(0, 0, 1),
)


def test_cpuinfo_counts_physical_cores_and_prefers_the_nominal_clock() -> None:
    cpu = hardware.parse_cpuinfo(INTEL_SPR)
    assert (cpu.cores, cpu.logical) == (2, 3)  # CPUs 0 and 1 are SMT siblings of core 0
    assert (cpu.clock_mhz, cpu.clock_source) == (2000.0, "nominal clock in the model name")
    assert hardware.parse_cpuinfo(INTEL_SPR, affinity=[0, 1]).cores == 1
    with_freq = hardware.parse_cpuinfo(INTEL_SPR, max_freq_khz={0: 3_800_000, 1: 3_800_000, 2: 3_800_000})
    assert (with_freq.clock_mhz, with_freq.clock_source) == (3800.0, "cpufreq cpuinfo_max_freq")


def test_cpu_peaks_from_flags_by_hand() -> None:
    cpu = hardware.parse_cpuinfo(INTEL_SPR)
    # AVX-512 with FMA: 16 fp32 lanes x 2 FLOPs per FMA x 2 FMA pipes = 64 FLOP/cycle;
    # 2 cores x 2.0 GHz x 64 = 256 GFLOP/s.
    assert hardware.cpu_peak(cpu, "float32").flops == pytest.approx(2 * 2.0e9 * 64)
    assert hardware.cpu_peak(cpu, "float32", threads=1).flops == pytest.approx(1 * 2.0e9 * 64)
    # AMX-BF16: 1024 FLOP/cycle per core.
    assert hardware.cpu_peak(cpu, "bfloat16").flops == pytest.approx(2 * 2.0e9 * 1024)
    # No AVX512_FP16/AMX-FP16: float16 runs at the float32 rate.
    assert hardware.cpu_peak(cpu, "float16").flops == pytest.approx(2 * 2.0e9 * 64)
    zen3 = hardware.parse_cpuinfo(cpuinfo("AuthenticAMD", 25, 1, "sse sse2 avx avx2 fma", "2445.412", "AMD EPYC"))
    # AVX2 with FMA: 8 lanes x 2 x 2 = 32 FLOP/cycle; 1 core x 2.445412 GHz x 32.
    assert hardware.cpu_peak(zen3, "float32").flops == pytest.approx(2.445412e9 * 32)
    assert zen3.clock_source == "/proc/cpuinfo cpu MHz"
    zen1 = hardware.parse_cpuinfo(cpuinfo("AuthenticAMD", 23, 1, "sse sse2 avx avx2 fma"))
    assert hardware.cpu_flops_per_cycle(zen1)[0] == 4 * 2 * 2  # 256-bit AVX split over 128-bit pipes
    zen4 = hardware.parse_cpuinfo(cpuinfo("AuthenticAMD", 25, 17, "sse sse2 avx avx2 fma avx512f avx512_bf16"))
    assert hardware.cpu_flops_per_cycle(zen4)[0] == 8 * 2 * 2  # AVX-512 on 256-bit pipes
    assert hardware.cpu_flops_per_cycle(zen4, "bfloat16")[0] == 8 * 4 * 2  # 2 bf16 pairs per fp32 lane
    sandy = hardware.parse_cpuinfo(cpuinfo("GenuineIntel", 6, 42, "sse sse2 avx"))
    assert hardware.cpu_flops_per_cycle(sandy)[0] == 8 * 2  # one add and one multiply pipe
    arm = hardware.parse_cpuinfo("processor\t: 0\nFeatures\t: fp asimd\nBogoMIPS\t: 50.00\n")
    assert hardware.cpu_peak(arm) is None  # no x86 flags, no clock: unknown, not guessed


def test_native_half_precision_units() -> None:
    spr = hardware.parse_cpuinfo(INTEL_SPR)
    zen3 = hardware.parse_cpuinfo(cpuinfo("AuthenticAMD", 25, 1, "sse sse2 avx avx2 fma f16c"))
    assert (hardware.cpu_native(spr, "bfloat16"), hardware.cpu_native(spr, "float16")) == (True, False)
    assert (hardware.cpu_native(zen3, "bfloat16"), hardware.cpu_native(zen3, "float16")) == (False, False)
    assert hardware.cpu_native(zen3, "float32")


def test_no_clock_means_no_peak() -> None:
    cpu = hardware.parse_cpuinfo(cpuinfo("AuthenticAMD", 25, 1, "sse avx avx2 fma", mhz="unknown"))
    assert cpu.clock_mhz is None
    assert hardware.cpu_peak(cpu) is None


def test_this_machine_flags_match_lscpu() -> None:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True) if os.path.exists("/usr/bin/lscpu") else None
    if lscpu is None or lscpu.returncode != 0:
        pytest.skip("lscpu is not available")
    line = next((ln for ln in lscpu.stdout.splitlines() if ln.startswith("Flags:")), None)
    if line is None:
        pytest.skip("lscpu shows no flags here")
    cpu = hardware.read_cpu()
    assert cpu.flags == frozenset(line.split(":", 1)[1].split())
    assert cpu.logical == len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("name", "dtype", "tf32", "tflops"),
    [
        ("NVIDIA H100 80GB HBM3", "float32", True, 494.7),
        ("NVIDIA H100 80GB HBM3", "float32", False, 67.0),
        ("NVIDIA H100 80GB HBM3", "bfloat16", True, 989.4),
        ("NVIDIA H100 PCIe", "float16", True, 756.5),
        ("NVIDIA H200", "bfloat16", True, 989.4),
        ("NVIDIA A100-SXM4-40GB", "float32", True, 156.0),
        ("NVIDIA A10", "float16", True, 125.0),
        ("Tesla V100-SXM2-16GB", "float32", True, 15.7),  # no TF32 before Ampere
        ("Tesla V100-SXM2-16GB", "bfloat16", True, None),  # no bf16 tensor cores
        ("Tesla T4", "float16", True, 65.0),
        ("NVIDIA H100 NVL", "float32", True, None),
        ("NVIDIA GeForce RTX 3090", "float32", True, None),
    ],
)
def test_gpu_peak_table(name: str, dtype: str, tf32: bool, tflops: float | None) -> None:
    found = hardware.gpu_peak(name, dtype, tf32)
    assert (found.flops if found else None) == (pytest.approx(tflops * 1e12) if tflops else None)


# --- memory estimate -------------------------------------------------------------------------------


def record(name: str, shape: tuple[int, ...], *inputs: str) -> LayerRecord:
    return LayerRecord(
        name=name, stage=None, block=None, layer_type="X", inputs=inputs, input_shapes=(), output_shape=shape,
        config=(), split=ParamSplit(), params=0, trainable=0,
        non_trainable=0, macs=0, flops=0,
    )


def test_live_set_keeps_the_shortcut_alive() -> None:
    # input(10) -> a(20) -> b(30) -> add(a, b)(20) -> out(5): `a` waits for the add across b.
    layers = [
        record("input", (10,)),
        record("a", (4, 5), "input"),
        record("b", (30,), "a"),
        record("add", (20,), "a", "b"),
        record("out", (5,), "add"),
    ]
    assert last_uses(layers) == [1, 3, 3, 4, 4]
    # Step by step: input 10; input+a 30; a+b 50; a+b+add 70; add+out 25.
    assert live_elements(layers) == [10, 30, 50, 70, 25]
    peak = peak_live(layers)
    assert (peak.elements, peak.at_layer, peak.alive) == (70, "add", ("a", "b", "add"))


def test_cli_refuses_a_batch_beyond_free_memory(monkeypatch: pytest.MonkeyPatch, build) -> None:
    _, model, _ = build(None, **TINY_SPEC)
    # What bench holds whatever the batch (TensorFlow, its forward pass, the inspected model), and 4 MiB:
    # room to build the tiny model (checked first, see resnet_inspect.analysis.budget), not for the batch.
    fixed = budget.batch_cost("float32", "float32", estimate(make_spec(None, **TINY_SPEC))).host_bytes
    free = fixed + 4 * 2**20
    monkeypatch.setattr(budget, "host_free_bytes", lambda: free)
    # Peak live set by hand: the 32x32x3 input (3,072) and its 3-pixel padding for the 7x7/2 conv,
    # 38x38x3 (4,332), are alive together, and the pass holds one more buffer of the largest (4,332):
    # 11,736 elements x 4 B per image.
    per_image = (32 * 32 * 3 + 2 * 38 * 38 * 3) * 4
    weights = model.count_params() * 4
    fits = (free - fixed - weights) // per_image
    result = run(*TINY, "-b", "1", "-b", str(fits + 1))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: batch {fits + 1} (float32) needs an estimated ")
    assert result.stderr.endswith(f"free; the largest batch that fits is {fits}\n")


# --- the timing loop on a tiny model ---------------------------------------------------------------


def test_cli_bench_table_csv_and_json(tmp_path: Path, build) -> None:
    _, _, report = build(None, **TINY_SPEC)
    out_csv, out_json = tmp_path / "bench.csv", tmp_path / "bench.json"
    result = run(*TINY, *QUICK, "-b", "1", "-b", "4", "--device", "cpu", "--csv", str(out_csv),
                 "--json", str(out_json))
    assert result.exit_code == 0, result.output
    assert "Images/s" in result.stdout and "peak float32" in result.stdout
    with out_csv.open() as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == BENCH_COLUMNS
        rows = list(reader)
    assert [(r["batch_size"], r["device"], r["precision"], r["xla"]) for r in rows] == [
        ("1", "CPU:0", "float32", "False"),
        ("4", "CPU:0", "float32", "False"),
    ]
    payload = json.loads(out_json.read_text())
    assert payload["columns"] == list(BENCH_COLUMNS)
    assert payload["flops_per_image"] == report.totals.flops
    for row, run_ in zip(payload["rows"], payload["runs"], strict=True):
        assert run_["steps"] == 3 and run_["warmup"] == 1 and len(run_["times_ms"]) == 3
        times = run_["times_ms"]
        # Recomputed from the kept step times with the standard library.
        assert row["mean_ms"] == pytest.approx(statistics.fmean(times), abs=1e-3)
        assert row["p50_ms"] == pytest.approx(statistics.median(times), abs=1e-3)
        assert row["std_ms"] == pytest.approx(statistics.stdev(times), abs=1e-3)
        mean_s = statistics.fmean(times) / 1e3
        assert row["images_per_s"] == pytest.approx(row["batch_size"] / mean_s, rel=1e-3)
        assert row["gflops_per_s"] == pytest.approx(report.totals.flops * row["batch_size"] / mean_s / 1e9, rel=1e-3)
        if row["pct_of_peak"] is not None:
            peak = hardware.cpu_peak(hardware.read_cpu(), "float32")
            assert row["pct_of_peak"] == pytest.approx(100 * row["gflops_per_s"] * 1e9 / peak.flops, rel=1e-3)


def test_every_step_runs_the_model_once(build) -> None:
    """A counter inside the model, incremented by each forward pass, sees warm-up + timed steps exactly."""
    from resnet_inspect._tf import keras, tf
    from resnet_inspect.bench import run as core

    class Counter(keras.layers.Layer):
        def build(self, input_shape) -> None:
            self.calls = self.add_weight(shape=(), initializer="zeros", trainable=False, dtype="int64", name="calls")

        def call(self, x):
            self.calls.assign_add(tf.constant(1, dtype="int64"))
            return x

    counters = []

    def build_model():
        inputs = keras.Input((8,))
        counter = Counter()
        counters.append(counter)
        return keras.Model(inputs, keras.layers.Dense(2)(counter(inputs)))

    plan = make_plan([2, 3], device="cpu", warmup=2, iterations=5)
    target = core.resolve_target(plan.device, False)
    results = core.run_sweep(plan, build_model, target, flops_per_image=None)
    assert [r.row.batch_size for r in results] == [2, 3]
    assert int(counters[0].calls.numpy()) == 2 * (2 + 5)  # two batch sizes, one model per precision
    assert all(r.row.gflops_per_s is None and r.row.pct_of_peak is None for r in results)  # FLOPs unknown


def test_mixed_precision_builds_in_the_compute_dtype() -> None:
    from resnet_inspect._tf import keras
    from resnet_inspect.bench import run as core
    from resnet_inspect.model.builder import build_from_spec
    from resnet_inspect.model.spec import make_spec

    spec = make_spec(None, **TINY_SPEC)
    target = core.resolve_target(DeviceRequest(DeviceKind.CPU), False)
    before = keras.mixed_precision.global_policy().name
    model = core.build_on(lambda: build_from_spec(spec), Precision.MIXED_BFLOAT16, target, None)
    assert model.get_layer("stem.conv_initial").compute_dtype == "bfloat16"
    assert model.get_layer("stem.conv_initial").kernel.dtype == "float32"
    assert keras.mixed_precision.global_policy().name == before
    with pytest.raises(UsageError, match="computes in float32"):
        core.build_on(lambda: keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, dtype="float32")]),
                      Precision.MIXED_FLOAT16, target, None)


def test_xla_and_two_precisions() -> None:
    result = run(*TINY, "--warmup", "1", "--iterations", "2", "-b", "2", "--xla",
                 "--precision", "float32", "--precision", "mixed_bfloat16")
    assert result.exit_code == 0, result.output
    assert "on (jit_compile=True)" in result.stdout
    assert "mixed_bfloat16" in result.stdout


def test_ctrl_c_prints_what_was_measured_and_exits_130(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from resnet_inspect.output.bench_tables import BenchProgress

    original = BenchProgress.on_step

    def interrupt_second_run(self, phase: str, done: int) -> None:
        if self.label.startswith("run 2/") and phase == "timed" and done == 2:
            raise KeyboardInterrupt
        original(self, phase, done)

    monkeypatch.setattr(BenchProgress, "on_step", interrupt_second_run)
    out_csv = tmp_path / "bench.csv"
    result = run(*TINY, "--warmup", "0", "--iterations", "4", "-b", "1", "-b", "2", "-b", "4",
                 "--csv", str(out_csv))
    assert result.exit_code == 130
    assert result.stderr == "Error: interrupted: 1 of 3 runs complete; nothing was written\n"
    lines = [ln for ln in result.stdout.splitlines() if "CPU:0" in ln and "float32" in ln]
    assert len(lines) == 2  # the complete run and the interrupted one; batch 4 never started
    assert "2 (interrupted)" in lines[1]
    assert not out_csv.exists()  # exports are written for a complete sweep only


def test_out_of_memory_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from resnet_inspect._tf import tf
    from resnet_inspect.bench import run as core

    def exhausted(*args, **kwargs):
        def step() -> None:
            raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[4,16,16,8]\nmore")

        return step

    monkeypatch.setattr(core, "single_step", exhausted)
    result = run(*TINY, *QUICK, "-b", "4")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: out of memory on CPU:0 at batch 4 (float32): OOM when allocating tensor with shape[4,16,16,8]; "
        "try a smaller --batch-size\n"
    )


def test_no_gpu_is_a_clear_error() -> None:
    from resnet_inspect._tf import tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    result = run(*TINY, "--device", "gpu")
    assert result.exit_code == 2
    assert result.stderr == "Error: --device gpu: TensorFlow sees no GPU on this machine; use --device cpu\n"


def test_gpu_path(tmp_path: Path) -> None:
    from resnet_inspect._tf import tf

    if not tf.config.list_physical_devices("GPU"):
        pytest.skip("no GPU visible to TensorFlow")
    out_json = tmp_path / "bench.json"
    result = run(*TINY, *QUICK, "-b", "2", "--device", "gpu:0", "--precision", "float32",
                 "--precision", "mixed_float16", "--json", str(out_json))
    assert result.exit_code == 0, result.output
    payload = json.loads(out_json.read_text())
    assert [r["device"] for r in payload["rows"]] == ["GPU:0", "GPU:0"]
    assert all(r["images_per_s"] > 0 for r in payload["rows"])


# --- data parallel on a CPU split into logical devices (a fresh process: the split precedes TF's start) ---


def test_devices_all_on_a_split_cpu(tmp_path: Path) -> None:
    out_json = tmp_path / "bench.json"
    (odd_code, _, odd_err), (ok_code, ok_out, _) = on_split_cpu(
        ["bench", *TINY, "--devices", "all", "-b", "3", "-n", "2", "--threads", "1"],
        ["bench", *TINY, "--devices", "all", "-b", "4", "-n", "2", "--warmup", "1", "--threads", "1", "--xla", "--json",
         str(out_json)],
    )
    assert (odd_code, odd_err) == (2, "Error: --batch-size 3 does not split evenly over 2 devices\n")
    assert ok_code == 0, ok_out
    payload = json.loads(out_json.read_text())
    assert payload["environment"]["intra-op threads"] == "1"
    assert payload["environment"]["replicas"] == "2 (MirroredStrategy)"
    [row] = payload["rows"]
    assert (row["device"], row["batch_size"], row["xla"]) == ("CPU:0+CPU:1", 4, True)
    assert payload["runs"][0]["replicas"] == 2
    # The aggregate throughput: the whole batch of 4 over the mean step.
    assert row["images_per_s"] == pytest.approx(4 / (statistics.fmean(payload["runs"][0]["times_ms"]) / 1e3), rel=1e-3)


# --- --model ---------------------------------------------------------------------------------------


def test_model_option_times_a_keras_application(tmp_path: Path) -> None:
    out_json = tmp_path / "bench.json"
    result = run("--model", "keras:ResNet50", "--input-size", "32", "--classes", "10", "-b", "2",
                 "--warmup", "0", "--iterations", "1", "--json", str(out_json))
    assert result.exit_code == 0, result.output
    assert "resnet50 from keras.applications.ResNet50(weights=None), input 32x32x3" in result.stdout
    payload = json.loads(out_json.read_text())
    assert payload["model"] == "resnet50"
    assert payload["config"]["application"] == "ResNet50"
    assert [r["batch_size"] for r in payload["rows"]] == [2]


def test_model_file_keeps_its_dtype(tmp_path: Path) -> None:
    from resnet_inspect._tf import keras

    path = tmp_path / "tiny.keras"
    inputs = keras.Input((8, 8, 3))
    keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)), name="tiny").save(path)
    result = run("--model", str(path), "--precision", "mixed_float16")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: --precision applies to built networks and keras:<Application> models; "
        f"{str(path)!r} computes in the dtype it was saved with\n"
    )
    result = run("--model", str(path), "-b", "3", "--warmup", "0", "--iterations", "2")
    assert result.exit_code == 0, result.output
    assert "tiny from" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--unsafe"], "Error: --unsafe applies to a --model file\n"),
        (["--model", "keras:ResNet50", "--depth", "50"],
         "Error: --depth/-d cannot be combined with --model: the model defines its own network\n"),
    ],
)
def test_model_usage_errors(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr == message


def test_version_v1_network() -> None:
    result = run(*TINY, "--arch-version", "v1", "-b", "1", "--warmup", "0", "--iterations", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("resnet-regular-1-1-v1 (post-activation)")


# --- the GPU side without a GPU: peaks of a target -------------------------------------------------


def test_gpu_target_peak_sums_its_devices() -> None:
    from resnet_inspect.bench import run as core

    cpu = hardware.parse_cpuinfo(INTEL_SPR)
    one = core.Target("GPU", ("/device:GPU:0",), ("NVIDIA A100-SXM4-40GB",), cpu)
    two = core.Target("GPU", ("/device:GPU:0", "/device:GPU:1"), ("NVIDIA A100-SXM4-40GB",) * 2, cpu)
    # TensorFlow allows TF32 by default: the A100's TF32 tensor-core peak, 156 TFLOP/s, per GPU.
    assert core.peak(one, Precision.FLOAT32, None).flops == pytest.approx(156e12)
    assert core.peak(two, Precision.MIXED_BFLOAT16, None).flops == pytest.approx(2 * 312e12)
    assert two.label == "GPU:0+GPU:1"
    unknown = core.Target("GPU", ("/device:GPU:0",), ("NVIDIA GeForce RTX 3090",), cpu)
    assert core.peak(unknown, Precision.FLOAT32, None) is None


def test_a_model_of_any_size_is_told_how_to_give_one() -> None:
    """A keras.applications model built for any input size cannot be timed as it is: the one line names the option."""
    result = CliRunner().invoke(app, ["bench", "--model", "keras:MobileNetV3Small", "--classes", "10", "-b", "1",
                                      "-n", "1", "--warmup", "0"])
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: bench needs a fixed input shape; MobileNetV3Small takes (None, None, None, 3): give --input-size "
        "(a keras:<Application> takes it) or a model saved with a fixed input shape\n"
    )
