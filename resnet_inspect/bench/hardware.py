"""What the machine can compute: CPU model, flags and clock, peak FLOP/s of CPUs and GPUs. No TensorFlow here.

Free memory is read by :mod:`resnet_inspect.analysis.budget`.

Peak FLOP/s count a fused multiply-add as 2 FLOPs, as the reports do.

CPU peak = cores x clock x FLOPs per cycle per core, where FLOPs per cycle
come from the instruction-set flags of ``/proc/cpuinfo``:

* float32 lanes of the widest vector unit: AVX-512 16, AVX/AVX2 8, SSE 4;
* with FMA, 2 FLOPs per lane per instruction and 2 FMA pipes per core (every
  x86 core with FMA since Haswell and Zen 2); without FMA, one add pipe and one
  multiply pipe: 2 FLOPs per lane per cycle;
* two AMD exceptions where the datapath is narrower than the instructions:
  Zen and Zen+ (family 0x17, model < 0x30) run 256-bit AVX as two 128-bit
  halves, Zen 4 (family 0x19 with AVX-512) runs AVX-512 on 256-bit pipes;
* bfloat16: AMX-BF16 tiles do 1024 FLOPs per cycle per core (Intel: 8x the
  AVX-512 BF16 rate); AVX512_BF16 dot products 2 bf16 products per float32 lane;
  without either, bfloat16 is converted and computed as float32 (float32 peak);
* float16: AMX-FP16 1024, AVX512_FP16 32 lanes; else float32 peak.

Intel parts with a single AVX-512 FMA unit (some Xeon Bronze/Silver) have half
the AVX-512 figure: the peak is an upper bound. The clock is, in order of
preference, the cpufreq maximum, the nominal clock in the model name
("@ 2.40GHz"), or the kernel's "cpu MHz" (on a VM usually the TSC rate, which is
the nominal clock); when none is known the peak is unknown, not guessed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
CPUFREQ_MAX = "/sys/devices/system/cpu/cpu{n}/cpufreq/cpuinfo_max_freq"

# Compute dtypes as named by Keras policies.
FLOAT32, FLOAT16, BFLOAT16 = "float32", "float16", "bfloat16"


@dataclass(frozen=True)
class CpuInfo:
    """The CPUs this process may run on."""

    model: str
    vendor: str
    family: int | None
    model_number: int | None
    flags: frozenset[str]
    cores: int  # physical cores among the CPUs in the affinity mask
    logical: int  # logical CPUs in the affinity mask
    clock_mhz: float | None
    clock_source: str | None

    @property
    def vector_isa(self) -> str:
        """The widest float vector extension, and matrix extensions, as a short label."""
        parts = []
        if "avx512f" in self.flags:
            parts.append("AVX-512")
        elif "avx2" in self.flags:
            parts.append("AVX2")
        elif "avx" in self.flags:
            parts.append("AVX")
        elif "sse2" in self.flags:
            parts.append("SSE2")
        if "fma" in self.flags:
            parts.append("FMA")
        for flag, label in (("avx512_bf16", "AVX512_BF16"), ("avx512_fp16", "AVX512_FP16"),
                            ("amx_bf16", "AMX-BF16"), ("amx_fp16", "AMX-FP16")):
            if flag in self.flags:
                parts.append(label)
        return "+".join(parts) if parts else "unknown"


def _blocks(text: str) -> list[dict[str, str]]:
    """/proc/cpuinfo as one dict per logical CPU."""
    blocks = []
    for chunk in re.split(r"\n\s*\n", text.strip()):
        entry = {}
        for line in chunk.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                entry[key.strip()] = value.strip()
        if entry:
            blocks.append(entry)
    return blocks


def _int(value: str | None) -> int | None:
    try:
        return int(value, 0) if value is not None else None
    except ValueError:
        return None


def parse_cpuinfo(
    text: str,
    affinity: Iterable[int] | None = None,
    max_freq_khz: Mapping[int, int] | None = None,
) -> CpuInfo:
    """Parse /proc/cpuinfo text for the logical CPUs in ``affinity`` (all when None).

    ``max_freq_khz`` maps a logical CPU to its cpufreq maximum, when the kernel exposes it.
    """
    blocks = _blocks(text)
    allowed = set(affinity) if affinity is not None else None
    chosen = [b for b in blocks if allowed is None or _int(b.get("processor")) in allowed] or blocks
    if not chosen:
        return CpuInfo("unknown", "unknown", None, None, frozenset(), os.cpu_count() or 1,
                       os.cpu_count() or 1, None, None)
    first = chosen[0]
    # One physical core per (package, core id); SMT siblings share one.
    cores = {(b.get("physical id"), b.get("core id")) for b in chosen if "core id" in b}
    model = first.get("model name") or first.get("Processor") or first.get("cpu model") or "unknown"
    clock, source = None, None
    freqs = [max_freq_khz[n] for n in (_int(b.get("processor")) for b in chosen)
             if max_freq_khz and n in max_freq_khz]
    nominal = re.search(r"@\s*([\d.]+)\s*GHz", model)
    if freqs:
        clock, source = min(freqs) / 1e3, "cpufreq cpuinfo_max_freq"  # kHz -> MHz
    elif nominal:
        clock, source = float(nominal.group(1)) * 1e3, "nominal clock in the model name"
    elif first.get("cpu MHz"):
        try:
            clock, source = float(first["cpu MHz"]), "/proc/cpuinfo cpu MHz"
        except ValueError:
            pass
    return CpuInfo(
        model=model,
        vendor=first.get("vendor_id", "unknown"),
        family=_int(first.get("cpu family")),
        model_number=_int(first.get("model")),
        flags=frozenset(first.get("flags", "").split()),
        cores=len(cores) if cores else len(chosen),
        logical=len(chosen),
        clock_mhz=clock,
        clock_source=source,
    )


def read_cpu() -> CpuInfo:
    """This machine's CPUs, restricted to the process's affinity mask."""
    try:
        text = CPUINFO.read_text()
    except OSError:
        text = ""
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    freqs = {}
    for n in affinity or range(os.cpu_count() or 1):
        try:
            freqs[n] = int(Path(CPUFREQ_MAX.format(n=n)).read_text().strip())
        except (OSError, ValueError):
            pass
    return parse_cpuinfo(text, affinity, freqs)


@dataclass(frozen=True)
class Peak:
    """A peak rate and how it was derived."""

    flops: float  # FLOP/s
    derivation: str


def cpu_flops_per_cycle(cpu: CpuInfo, dtype: str = FLOAT32) -> tuple[int, str] | None:
    """FLOPs per cycle per core for ``dtype``, and why; None if the flags do not say (not x86)."""
    flags = cpu.flags
    amd = cpu.vendor == "AuthenticAMD"
    if dtype == BFLOAT16:
        if "amx_bf16" in flags:
            return 1024, "AMX-BF16 tiles: 1024 bf16 FLOP/cycle"
        if "avx512_bf16" in flags:
            width = 8 if amd and cpu.family == 0x19 else 16  # Zen 4: 256-bit pipes
            # Each float32 lane dot-products 2 bf16 pairs (4 FLOPs) per instruction, 2 pipes.
            return width * 4 * 2, f"AVX512_BF16: {width} lanes x 2 bf16 pairs x 2 (FMA) x 2 pipes"
    if dtype == FLOAT16:
        if "amx_fp16" in flags:
            return 1024, "AMX-FP16 tiles: 1024 fp16 FLOP/cycle"
        if "avx512_fp16" in flags:
            return 32 * 2 * 2, "AVX512_FP16: 32 fp16 lanes x 2 (FMA) x 2 pipes"
    if "avx512f" in flags:
        lanes, isa = 16, "AVX-512 (512-bit)"
        if amd and cpu.family == 0x19:
            lanes, isa = 8, "AVX-512 on Zen 4's 256-bit pipes"
    elif "avx" in flags:
        lanes, isa = 8, f"{'AVX2' if 'avx2' in flags else 'AVX'} (256-bit)"
        if amd and cpu.family == 0x17 and (cpu.model_number or 0) < 0x30:
            lanes, isa = 4, "AVX on Zen/Zen+ 128-bit pipes"
    elif "sse" in flags or "sse2" in flags:
        lanes, isa = 4, "SSE (128-bit)"
    else:
        return None
    fallback = "" if dtype == FLOAT32 else f"; {dtype} computed as float32 (no native {dtype} units)"
    if "fma" in flags or "avx512f" in flags:
        # lanes x 2 FLOPs per FMA x 2 FMA pipes.
        return lanes * 2 * 2, f"{isa}: {lanes} fp32 lanes x 2 (FMA) x 2 FMA pipes{fallback}"
    # One add pipe and one multiply pipe, each one lane-wide op per cycle.
    return lanes * 2, f"{isa}: {lanes} fp32 lanes x (1 add + 1 mul){fallback}"


def cpu_native(cpu: CpuInfo, dtype: str) -> bool:
    """Whether the CPU has units for ``dtype`` (else its kernels convert to float32 and back)."""
    if dtype == BFLOAT16:
        return bool({"amx_bf16", "avx512_bf16"} & cpu.flags)
    if dtype == FLOAT16:
        return bool({"amx_fp16", "avx512_fp16"} & cpu.flags)
    return True


def cpu_peak(cpu: CpuInfo, dtype: str = FLOAT32, threads: int | None = None) -> Peak | None:
    """Peak FLOP/s of the cores the run uses (``threads`` caps them); None when unknown."""
    per_cycle = cpu_flops_per_cycle(cpu, dtype)
    if per_cycle is None or cpu.clock_mhz is None:
        return None
    flops, why = per_cycle
    cores = min(cpu.cores, threads) if threads else cpu.cores
    ghz = cpu.clock_mhz / 1e3
    # cores x cycles per second x FLOPs per cycle.
    peak = cores * ghz * 1e9 * flops
    return Peak(
        peak,
        f"{cores} core(s) x {ghz:.3f} GHz ({cpu.clock_source}) x {flops} FLOP/cycle [{why}] "
        f"= {peak / 1e9:,.1f} GFLOP/s",
    )


# --- GPUs: dense (no sparsity) peak TFLOP/s from NVIDIA's data sheets ---------------------------


@dataclass(frozen=True)
class GpuPeaks:
    """Peak TFLOP/s of one GPU model: CUDA-core float32, and tensor-core tf32/fp16/bf16 (dense)."""

    label: str
    fp32: float
    tf32: float | None
    fp16: float | None
    bf16: float | None


# Matched against TensorFlow's device name in order (the first match wins), e.g. "NVIDIA H100 80GB HBM3".
GPU_PEAKS: tuple[tuple[str, GpuPeaks], ...] = (
    (r"H100.*(PCIe|PCI-E)", GpuPeaks("H100 PCIe", 51.2, 378.0, 756.5, 756.5)),
    (r"H100(?!.*NVL)", GpuPeaks("H100 SXM", 67.0, 494.7, 989.4, 989.4)),
    (r"H200(?!.*NVL)", GpuPeaks("H200 SXM", 67.0, 494.7, 989.4, 989.4)),
    (r"A100", GpuPeaks("A100", 19.5, 156.0, 312.0, 312.0)),
    (r"L40S", GpuPeaks("L40S", 91.6, 183.0, 362.05, 362.05)),
    (r"\bL4\b", GpuPeaks("L4", 30.3, 60.0, 121.0, 121.0)),
    (r"\bA10\b", GpuPeaks("A10", 31.2, 62.5, 125.0, 125.0)),
    (r"V100.*(PCIe|PCIE)", GpuPeaks("V100 PCIe", 14.0, None, 112.0, None)),
    (r"V100", GpuPeaks("V100 SXM2", 15.7, None, 125.0, None)),
    (r"\bT4\b", GpuPeaks("T4", 8.1, None, 65.0, None)),
)


def gpu_peak(device_name: str, dtype: str = FLOAT32, tf32: bool = True) -> Peak | None:
    """Peak FLOP/s of a GPU by name; float32 uses TF32 tensor cores when TensorFlow allows them
    (its default on Ampere and later). None for a GPU not in the table or a dtype it lacks."""
    peaks = next((p for pattern, p in GPU_PEAKS if re.search(pattern, device_name, flags=re.IGNORECASE)), None)
    if peaks is None:
        return None
    if dtype == FLOAT32:
        value, kind = (peaks.tf32, "TF32 tensor cores") if tf32 and peaks.tf32 else (peaks.fp32, "FP32")
    elif dtype == FLOAT16:
        value, kind = peaks.fp16, "FP16 tensor cores"
    elif dtype == BFLOAT16:
        value, kind = peaks.bf16, "BF16 tensor cores"
    else:
        return None
    if value is None:
        return None
    return Peak(value * 1e12, f"{peaks.label} {kind}: {value:,.1f} TFLOP/s dense (NVIDIA data sheet)")


# --- memory bandwidth: a STREAM-like triad in numpy, and the roofline -----------------------------

CACHE_SIZES = "/sys/devices/system/cpu/cpu{n}/cache/index{i}/size"
# Each triad array is at least this many times the largest cache (and at least MIN_TRIAD_BYTES), so that
# the three of them stream from memory, as STREAM asks (its rule: 4x the caches).
TRIAD_CACHE_FACTOR = 4
MIN_TRIAD_BYTES = 64 * 2**20
TRIAD_RUNS = 7
TRIAD_SCALAR = 3.0
# STREAM's convention for the triad a = b + s*c: 3 arrays x 8 bytes (float64) x n elements per run.
TRIAD_ARRAYS, TRIAD_ELEMENT_BYTES = 3, 8


@dataclass(frozen=True)
class Bandwidth:
    """A memory bandwidth and how it was measured."""

    bytes_per_s: float
    derivation: str


def largest_cache_bytes(cpu: int = 0) -> int | None:
    """The largest cache of logical CPU ``cpu`` (the last level), from sysfs; None when the kernel does not say."""
    sizes = []
    for index in range(8):
        try:
            text = Path(CACHE_SIZES.format(n=cpu, i=index)).read_text().strip()
        except OSError:
            continue
        match = re.fullmatch(r"(\d+)([KMG]?)", text)
        if match:
            sizes.append(int(match.group(1)) * {"": 1, "K": 2**10, "M": 2**20, "G": 2**30}[match.group(2)])
    return max(sizes) if sizes else None


def triad_elements(cache_bytes: int | None) -> int:
    """Elements of each triad array: TRIAD_CACHE_FACTOR x the largest cache, at least MIN_TRIAD_BYTES."""
    return max(MIN_TRIAD_BYTES, TRIAD_CACHE_FACTOR * (cache_bytes or 0)) // TRIAD_ELEMENT_BYTES


def host_bandwidth(cores: int, runs: int = TRIAD_RUNS, elements: int | None = None) -> Bandwidth:
    """Host memory bandwidth by a STREAM-like triad ``a = b + s*c`` in numpy (float64), the median of ``runs``.

    The arrays are split into ``cores`` slices, one numpy thread each (numpy releases the GIL in its loops), so
    the figure is that of the cores the peak counts. Bytes are STREAM's: 3 arrays x 8 bytes x n per run. numpy
    writes the triad as two passes (``a = s*c``, then ``a += b``: 5 array transfers, not STREAM's 3), so the
    figure is below what the memory delivers, by up to 5/3: a conservative memory roof."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    cache = largest_cache_bytes()
    n = elements or triad_elements(cache)
    a, b, c = np.empty(n), np.full(n, 1.0), np.full(n, 2.0)
    a.fill(0.0)  # touch every page before timing
    bounds = [(n * k // cores, n * (k + 1) // cores) for k in range(cores)]

    def triad(part: tuple[int, int]) -> None:
        lo, hi = part
        np.multiply(c[lo:hi], TRIAD_SCALAR, out=a[lo:hi])
        np.add(a[lo:hi], b[lo:hi], out=a[lo:hi])

    seconds = []
    with ThreadPoolExecutor(max_workers=cores) as pool:
        list(pool.map(triad, bounds))  # warm-up: the threads started, the pages mapped
        for _ in range(runs):
            start = time.perf_counter()
            list(pool.map(triad, bounds))
            seconds.append(time.perf_counter() - start)
    if not np.all(a == 1.0 + TRIAD_SCALAR * 2.0):
        raise RuntimeError("the triad computed a wrong result")
    median = float(np.median(seconds))
    moved = TRIAD_ARRAYS * TRIAD_ELEMENT_BYTES * n
    rate = moved / median
    cache_text = f"{cache / 2**20:,.0f} MiB" if cache else "unknown"
    return Bandwidth(
        rate,
        f"STREAM-like triad a = b + {TRIAD_SCALAR:g}*c in numpy, float64, 3 arrays of {n:,} elements "
        f"({n * TRIAD_ELEMENT_BYTES / 2**20:,.0f} MiB each; largest cache {cache_text}), {cores} thread(s); "
        f"median of {runs} runs {median * 1e3:,.1f} ms; 3 x 8 x n bytes = {rate / 1e9:,.1f} GB/s",
    )


@dataclass(frozen=True)
class Roofline:
    """A device's compute roof (FLOP/s) and memory roof (bytes/s); either may be unknown."""

    peak_flops: float | None
    bytes_per_s: float | None

    @property
    def ridge(self) -> float | None:
        """The intensity (FLOPs/byte) where the roofs meet: below it a unit is memory-bound."""
        if self.peak_flops is None or not self.bytes_per_s:
            return None
        return self.peak_flops / self.bytes_per_s

    def attainable(self, intensity: float) -> float | None:
        """The roofline's FLOP/s at ``intensity``: min(peak, intensity x bandwidth)."""
        if self.peak_flops is None or self.bytes_per_s is None:
            return None
        return min(self.peak_flops, intensity * self.bytes_per_s)

    def bound(self, intensity: float | None) -> str | None:
        """``compute`` at or above the ridge point, ``memory`` below it; None when either is unknown."""
        ridge = self.ridge
        if ridge is None or intensity is None:
            return None
        return "compute" if intensity >= ridge else "memory"
