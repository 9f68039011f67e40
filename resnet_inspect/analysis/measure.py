"""The measured peak memory of one forward pass, beside the estimate of :mod:`resnet_inspect.analysis.memory`.

The measurement runs in a fresh, isolated Python process (:mod:`resnet_inspect.analysis.children`:
no code from the working directory, killed with the command), so that nothing this process has
loaded or cached counts; this module imports TensorFlow only in that child. The child builds the
network, traces the forward pass without running it (``get_concrete_function``), and measures the
FIRST run of the pass against its memory just before (after one run at batch 1, which pays the runtime's
one-time costs and leaves pages a batch-size-th of the measured pass's):

* GPU (when TensorFlow sees one): ``tf.config.experimental.reset_memory_stats``, then the
  allocator's ``peak`` minus its ``current`` bytes before the pass (``get_memory_info``).
* CPU: the increase of the process's peak resident set size (Linux ``VmHWM``) over its resident
  size before the pass, the peak reset just before it by writing 5 to ``/proc/self/clear_refs``.

The first run is the one whose pages no earlier pass has left resident: an allocator that keeps
the pages of a warm-up pass (glibc's heap, oneDNN's caches) makes the rise of a later pass near
zero. A second, warm pass is measured too and shown beside it. The pass is the model called in
inference mode inside a ``tf.function`` that also makes the input, so the figure covers the
input, every intermediate tensor and the output, as the estimate does; weights are resident before.

A figure outside :data:`PLAUSIBLE` times the estimate is not a fact about the network: the
measurement says so (:attr:`Measurement.note`) and the outputs print the note, not the figure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from resnet_inspect.analysis.children import python_command, run_child
from resnet_inspect.errors import InspectError
from resnet_inspect.model.spec import ResNetSpec, make_spec

# glibc raises its mmap threshold after a large block is freed, so a later tensor would reuse heap
# pages left resident and show no increase. A fixed threshold (which also turns off the dynamic one)
# maps every tensor above 64 KiB on its own and unmaps it when freed: the resident size then follows
# the tensors alive.
CHILD_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "TF_CPP_MIN_LOG_LEVEL": "3"}
TIMEOUT_S = 600
# A measured peak this many times the estimate, or more than the reverse, is not taken as a fact: the
# runtime fuses or reuses more than any network's tensors allow, or holds more than its tensors.
PLAUSIBLE = 2.0


@dataclass(frozen=True)
class Measurement:
    """A measured peak beside its estimate; ``note`` says why the figure cannot be believed, if it cannot."""

    device: str
    method: str
    peak_bytes: int  # the first run of the pass
    estimate_bytes: int
    passes: tuple[int, ...]  # the first run, then a warm one
    note: str | None = None

    @property
    def difference_bytes(self) -> int:
        """measured - estimated: negative when the runtime reuses buffers the estimate keeps apart."""
        return self.peak_bytes - self.estimate_bytes

    @property
    def ratio(self) -> float | None:
        return None if self.estimate_bytes == 0 else self.peak_bytes / self.estimate_bytes


def plausibility(peak_bytes: int, estimate_bytes: int) -> str | None:
    """None when ``peak_bytes`` is within :data:`PLAUSIBLE` times the estimate either way, else why not."""
    if estimate_bytes <= 0 or peak_bytes <= 0:
        return f"implausible: the pass raised the peak by {peak_bytes:,} B against an estimate of {estimate_bytes:,} B"
    ratio = peak_bytes / estimate_bytes
    if 1 / PLAUSIBLE <= ratio <= PLAUSIBLE:
        return None
    why = ("the runtime kept memory from before the pass or fused the tensors" if ratio < 1 else
           "fixed costs of the runtime (kernels, scratch buffers) outweigh the tensors at this size")
    return (f"implausible: {ratio:.2f}x the estimate, outside {1 / PLAUSIBLE:g}x to {PLAUSIBLE:g}x ({why}); "
            "not a measurement of the network")


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
        done = run_child(python_command(__name__, request), TIMEOUT_S, {**os.environ, **CHILD_ENV})
    except subprocess.TimeoutExpired:
        raise InspectError(f"memory measurement took more than {TIMEOUT_S} s and was stopped") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        why = lines[-1] if lines else f"exit status {done.returncode}"
        if done.returncode < 0:
            why = f"killed by signal {-done.returncode} (out of memory?)"
        raise InspectError(f"memory measurement failed: {why}")
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
        passes = tuple(int(p) for p in result["passes"])
        device, method = str(result["device"]), str(result["method"])
    except (ValueError, IndexError, KeyError, TypeError):
        raise InspectError("memory measurement failed: the measuring process gave no result") from None
    return Measurement(device, method, passes[0], estimate_bytes, passes, plausibility(passes[0], estimate_bytes))


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
    from resnet_inspect._tf import keras, tf
    from resnet_inspect.model.builder import build_from_spec, input_shape

    spec = make_spec(**request["spec"])
    batch_size, dtype = int(request["batch_size"]), request["dtype"]
    keras.config.set_dtype_policy(dtype)  # weights and activations in dtype, as the estimate assumes
    model = build_from_spec(spec)
    gpus = tf.config.list_physical_devices("GPU")
    device = "GPU:0" if gpus else "CPU:0"

    def pass_of(batch: int) -> Any:
        return tf.function(lambda: model(tf.random.uniform((batch, *input_shape(spec)), dtype=dtype), training=False))

    forward = pass_of(batch_size)
    with tf.device(device):
        # One image first: the runtime's one-time costs (kernels chosen, weights reordered) are paid, and the
        # pages it leaves are a batch_size-th of what the measured pass needs (at batch 1 they may serve it
        # all: the plausibility check is there for that).
        pass_of(1)().numpy()
        forward.get_concrete_function()  # traced, not run: no tensor of the measured pass exists yet
        passes = [peak_rise(lambda: forward().numpy(), device) for _ in range(2)]  # the first run, then a warm one
    return {"device": device, "method": rise_method(device, "the first run of the pass"), "passes": passes}


def rise_method(device: str, during: str) -> str:
    """How :func:`peak_rise` measures on ``device``, in words."""
    if device.upper().startswith("GPU"):
        return f"GPU allocator peak (tf.config.experimental.get_memory_info) during {during}"
    return f"rise of the peak resident set size (Linux VmHWM) during {during}"


def peak_rise(run: Any, device: str) -> int:
    """The memory ``run()`` raises the peak by, over what was in use just before it (imports TensorFlow).

    ``device`` ``GPU:N``: the allocator's peak minus its current bytes before the run; a CPU device: the
    rise of the process's peak resident set size over its resident size before, the peak reset just before.
    ``run`` must return only once its work is done (its result on the host)."""
    import gc

    gc.collect()
    if device.upper().startswith("GPU"):
        from resnet_inspect._tf import tf

        tf.config.experimental.reset_memory_stats(device)
        before = tf.config.experimental.get_memory_info(device)["current"]
        run()
        return int(tf.config.experimental.get_memory_info(device)["peak"] - before)
    before = _status_bytes("VmRSS")
    _reset_peak_rss()
    run()
    return _status_bytes("VmHWM") - before


def main() -> None:
    """The child's entry point (:func:`resnet_inspect.analysis.children.python_command`)."""
    try:
        print(json.dumps(_child(json.loads(sys.argv[1]))))
    except Exception as exc:  # one line for the parent's error message, not a traceback
        sys.stderr.write(f"{type(exc).__name__}: {' '.join(str(exc).split())}\n")
        sys.exit(1)
