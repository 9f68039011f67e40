"""The measured peak memory of one forward pass, beside the estimate of :mod:`resnet_inspect.analysis.memory`.

The measurement runs in a fresh Python process (``python -m resnet_inspect.analysis.measure``)
so that nothing this process has loaded or cached counts, and this module
imports TensorFlow only in that child:

* GPU (when TensorFlow sees one): ``tf.config.experimental.reset_memory_stats``,
  then the allocator's ``peak`` minus its ``current`` bytes before the pass
  (``tf.config.experimental.get_memory_info``).
* CPU: the increase of the process's peak resident set size (Linux ``VmHWM``)
  over its resident size before the pass, with the peak reset just before it
  by writing 5 to ``/proc/self/clear_refs``.

The pass is the model called in inference mode inside a ``tf.function`` that also
makes the input, so the measured figure covers the input, every intermediate
tensor and the output, as the estimate does; weights are resident before.
Two warm-up passes come first (tracing, kernel selection and their caches are
not the forward pass); the figure is the median of three measured passes.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from resnet_inspect.errors import InspectError
from resnet_inspect.model.spec import ResNetSpec, make_spec

WARMUP_PASSES = 2
MEASURED_PASSES = 3
# glibc raises its mmap threshold after a large block is freed, so the second pass would reuse heap
# pages the warm-up left resident and show no increase. A fixed threshold (which also turns off the
# dynamic one) maps every tensor above 64 KiB on its own and unmaps it when freed: the resident size
# then follows the tensors alive.
CHILD_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "TF_CPP_MIN_LOG_LEVEL": "3"}
TIMEOUT_S = 600


@dataclass(frozen=True)
class Measurement:
    """A measured peak beside its estimate."""

    device: str
    method: str
    peak_bytes: int
    estimate_bytes: int
    passes: tuple[int, ...]  # each measured pass, the peak being their median

    @property
    def difference_bytes(self) -> int:
        """measured - estimated: negative when the runtime reuses buffers the estimate keeps apart."""
        return self.peak_bytes - self.estimate_bytes

    @property
    def ratio(self) -> float | None:
        return None if self.estimate_bytes == 0 else self.peak_bytes / self.estimate_bytes


def spec_options(spec: ResNetSpec) -> dict[str, Any]:
    """Keyword arguments of :func:`make_spec` that rebuild ``spec`` (JSON-serialisable)."""
    options: dict[str, Any] = {
        "depth": spec.depth,
        "block_kind": spec.block_kind.value,
        "input_size": list(spec.input_size),
        "classes": spec.classes,
        "width": spec.width,
        "use_bias": spec.use_bias,
        "data_format": spec.data_format.value,
        "version": spec.version.value,
    }
    if spec.depth is None:
        options["blocks"] = list(spec.blocks)
    return options


def measure_peak(spec: ResNetSpec, batch_size: int, dtype: str, estimate_bytes: int) -> Measurement:
    """Run the child process and read its figures; any failure is an :class:`InspectError`."""
    request = json.dumps({"spec": spec_options(spec), "batch_size": batch_size, "dtype": dtype})
    try:
        done = subprocess.run(
            [sys.executable, "-m", "resnet_inspect.analysis.measure", request],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            env={**os.environ, **CHILD_ENV},
        )
    except subprocess.TimeoutExpired:
        raise InspectError(f"memory measurement took more than {TIMEOUT_S} s and was stopped") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        why = lines[-1] if lines else f"exit status {done.returncode}"
        if done.returncode < 0:
            why = f"killed by signal {-done.returncode} (out of memory?)"
        raise InspectError(f"memory measurement failed: {why}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return Measurement(
        device=result["device"],
        method=result["method"],
        peak_bytes=int(statistics.median(result["passes"])),
        estimate_bytes=estimate_bytes,
        passes=tuple(result["passes"]),
    )


# --- the child process ---------------------------------------------------------------------------


def _status_bytes(key: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024  # reported in kB
    raise InspectError(f"/proc/self/status has no {key}: measuring CPU memory needs Linux")


def _reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # 5: reset the peak resident set size to the current one (Linux >= 4.0)
    except OSError as exc:
        raise InspectError(f"cannot reset the peak resident size (/proc/self/clear_refs): {exc}") from None


def _child(request: dict[str, Any]) -> dict[str, Any]:
    import gc

    from resnet_inspect._tf import keras, tf
    from resnet_inspect.model.builder import build_from_spec, input_shape

    spec = make_spec(**request["spec"])
    batch_size, dtype = int(request["batch_size"]), request["dtype"]
    keras.config.set_dtype_policy(dtype)  # weights and activations in dtype, as the estimate assumes
    model = build_from_spec(spec)
    shape = (batch_size, *input_shape(spec))
    gpus = tf.config.list_physical_devices("GPU")
    device = "GPU:0" if gpus else "CPU:0"

    @tf.function
    def forward() -> Any:
        return model(tf.random.uniform(shape, dtype=dtype), training=False)

    with tf.device(device):
        for _ in range(WARMUP_PASSES):
            forward().numpy()
        passes = []
        for _ in range(MEASURED_PASSES):
            gc.collect()
            if gpus:
                tf.config.experimental.reset_memory_stats(device)
                before = tf.config.experimental.get_memory_info(device)["current"]
                out = forward()
                out.numpy()
                passes.append(tf.config.experimental.get_memory_info(device)["peak"] - before)
            else:
                before = _status_bytes("VmRSS")
                _reset_peak_rss()
                out = forward()
                out.numpy()
                passes.append(_status_bytes("VmHWM") - before)
            del out
    method = (
        "GPU allocator peak (tf.config.experimental.get_memory_info)"
        if gpus
        else "peak resident set size increase (Linux VmHWM, reset through /proc/self/clear_refs)"
    )
    return {"device": device, "method": method, "passes": passes}


if __name__ == "__main__":
    try:
        print(json.dumps(_child(json.loads(sys.argv[1]))))
    except Exception as exc:  # one line for the parent's error message, not a traceback
        sys.stderr.write(f"{type(exc).__name__}: {' '.join(str(exc).split())}\n")
        sys.exit(1)
