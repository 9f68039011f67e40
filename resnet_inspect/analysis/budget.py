"""Does a piece of work fit in memory: what it needs, the limit, one refusal. No TensorFlow.

Every command that could exhaust the machine asks here before it builds or runs anything:
building a network (every command), a compared block, ``memory --measure``, each bench batch.

* A :class:`Need` is what the work needs, as labelled parts that add up (``TensorFlow runtime``,
  ``float32 weights``, ``176 Keras layers``, ``activations of batch 8``), from the spec-only estimate
  (:mod:`resnet_inspect.analysis.estimate`) or the walked model, in bytes of :data:`ELEMENT_BYTES`,
  the one dtype table of the package. On the host it bounds the peak resident set size of the whole
  process (``benchmarks/bench_memory_estimate.py`` prints both, ``tests/test_rss.py`` checks them):
  the TensorFlow runtime, the weights and the initializer's temporary copies of the largest layer's,
  the Keras layer objects, and for a forward pass one buffer the size of the largest layer output per
  image beyond the tensors the liveness sweep keeps alive.
* A :class:`Limit` is the free memory and where it is: the host (psutil's available memory, or
  less under a cgroup v2 or v1 memory limit, plus what this process already holds, since a need
  counts the whole process) or a GPU (nvidia-smi, asked before TensorFlow reserves the GPU's
  memory). An unknown limit lets the work through.
* A need over its limit is refused with one message, ``<what> needs an estimated <total>
  (<parts>) but <where> has <free> free; <advice>``. A bench batch's advice is the largest batch
  that fits, found with the same :meth:`BatchCost.need` that refuses, so the two cannot disagree.
"""

from __future__ import annotations

import enum
import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from resnet_inspect.analysis import cgroups, children
from resnet_inspect.analysis.estimate import Estimate, estimate
from resnet_inspect.errors import InspectError, UsageError
from resnet_inspect.model.sizing import Footprint
from resnet_inspect.model.spec import ResNetSpec
from resnet_inspect.units import human_bytes

# --- the one dtype table -----------------------------------------------------------------------


class Dtype(str, enum.Enum):
    """Element types a tensor or a variable can have."""

    FLOAT32 = "float32"
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"
    FLOAT64 = "float64"

    @property
    def bytes(self) -> int:
        return ELEMENT_BYTES[self]


ELEMENT_BYTES: dict[Dtype, int] = {Dtype.FLOAT32: 4, Dtype.FLOAT16: 2, Dtype.BFLOAT16: 2, Dtype.FLOAT64: 8}

# Resident memory of one built Keras 3 layer beside its weights (the layer object, its node, its
# KerasTensors), measured as the RSS growth of building thousands of layers of width 1, minus their
# weights. tests/test_estimate.py measures it again on the machine that runs the tests and fails
# when it is off by more than 2x either way.
KERAS_LAYER_BYTES = 85 * 1024
# Peak resident memory of a process once TensorFlow and Keras are imported and have run a small model
# (their libraries, the Python heap, thread stacks, kernel caches), before the network's own memory.
# tests/test_rss.py measures it again on the machine that runs the tests. 660 MiB until TensorFlow's API
# modules loaded lazily (resnet_inspect._tf): a tiny summary's peak fell from 578 to 516 MB.
TF_RUNTIME_BYTES = 590 * 2**20
# What running a forward pass adds to the runtime whatever the batch: the traced graph, oneDNN's
# primitives and scratch buffers, the allocator's per-thread arenas.
FORWARD_BYTES = 100 * 2**20
# A Keras initializer draws random numbers and scales them: two temporary tensors the size of the
# variable exist beside it while it is made, one variable at a time.
INIT_COPIES = 2

# Keras mixed precision keeps every variable in float32 and computes in float16 or bfloat16.
MIXED_VARIABLES = Dtype.FLOAT32


def policy_bytes(compute: Dtype | str, converts: bool = False) -> tuple[int, int]:
    """(bytes per parameter, bytes per activation element) under a Keras policy computing in ``compute``.

    Variables are float32; under a mixed policy each layer also casts its variables to the compute
    dtype, a second copy. ``converts``: the device has no native float16/bfloat16 units (a CPU
    without AVX512_FP16/BF16 or AMX), so its kernels convert to float32 inside and each activation
    element also has a float32 copy (``resnet-inspect memory --measure`` shows it).
    """
    compute = Dtype(compute)
    mixed = compute is not MIXED_VARIABLES
    per_param = MIXED_VARIABLES.bytes + (compute.bytes if mixed else 0)
    per_element = compute.bytes + (MIXED_VARIABLES.bytes if mixed and converts else 0)
    return per_param, per_element


# --- what TensorFlow can index, on any machine ---------------------------------------------------

# TensorFlow indexes a tensor's elements with a signed 64-bit integer.
MAX_ELEMENTS = 2**63 - 1


def check_elements(what: str, largest: int, batch_size: int = 1) -> None:
    """A usage error when a tensor would have more elements than TensorFlow can index, on any machine."""
    if largest * batch_size > MAX_ELEMENTS:
        raise UsageError(
            f"{what} has a tensor of {largest * batch_size:,} elements; TensorFlow indexes at most 2**63 - 1"
        )


def at_input(spec: ResNetSpec, batch_size: int = 1) -> str:
    """``resnet50 at input 224x224`` (and the batch when there is one), for messages."""
    h, w = spec.input_size
    return f"{spec.name} at input {h}x{w}" + (f" and batch {batch_size}" if batch_size > 1 else "")


# --- need, limit, refusal ----------------------------------------------------------------------------

BEFORE_BUILDING = "refused before building"


@dataclass(frozen=True)
class Need:
    """What a piece of work needs: ``parts`` are (label, bytes) that add up to :attr:`bytes`."""

    what: str
    parts: tuple[tuple[str, int], ...]

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.parts)

    @property
    def derivation(self) -> str:
        """``float32 weights 3.0 MiB + 26 Keras layers 2.2 MiB``: the parts, those of 0 bytes left out."""
        return " + ".join(f"{label} {human_bytes(size)}" for label, size in self.parts if size)


@dataclass(frozen=True)
class Limit:
    """Free bytes (None: unknown, nothing is refused) and where they are, for messages.

    ``per_device``: each device has this much (GPUs); otherwise the replicas share it (the host).
    """

    free: int | None
    where: str
    per_device: bool = False


def fits(need: Need, limit: Limit) -> bool:
    return limit.free is None or need.bytes <= limit.free


def check_fits(need: Need, limit: Limit, advice: str = BEFORE_BUILDING) -> None:
    """Refuse (exit 1) a need over the limit, with the one refusal message."""
    if fits(need, limit):
        return
    raise InspectError(
        f"{need.what} needs an estimated {human_bytes(need.bytes)} ({need.derivation}) but {limit.where} has "
        f"{human_bytes(limit.free or 0)} free; {advice}"
    )


# --- building, measuring: from the spec-only estimate ---------------------------------------------------


RUNTIME_PART = ("TensorFlow runtime", TF_RUNTIME_BYTES)


def weights_part(params: int, dtype: Dtype = Dtype.FLOAT32) -> tuple[str, int]:
    return f"{dtype.value} weights", params * dtype.bytes


def layers_part(layers: int) -> tuple[str, int]:
    return f"{layers:,} Keras layers", layers * KERAS_LAYER_BYTES


def model_parts(found: Estimate, dtype: Dtype = Dtype.FLOAT32) -> tuple[tuple[str, int], ...]:
    """A built model: its weights, the initializer's copies of the largest layer's, its layer objects."""
    copies = ("initializer copies of the largest layer", INIT_COPIES * found.largest_layer_params * dtype.bytes)
    return weights_part(found.params, dtype), copies, layers_part(found.layers)


def build_need(found: Estimate) -> Need:
    """Building a network or a block in a process of its own: TensorFlow and the model."""
    return Need(f"building {found.name} ({found.params:,} parameters)", (RUNTIME_PART, *model_parts(found)))


def inspect_need(found: Estimate) -> Need:
    """An inspection build (:func:`resnet_inspect.model.builder.build_from_spec` with ``initialize=False``,
    what summary, compare, memory, plot and report walk): TensorFlow and the layers; no weight is allocated.
    :func:`check_build` still refuses by :func:`build_need`, the build with values that bench and
    ``--verify`` make from the same options."""
    return Need(f"inspecting {found.name} ({found.params:,} parameters)", (RUNTIME_PART, layers_part(found.layers)))


def per_image_elements(found: Estimate) -> int:
    """Elements a forward pass holds per image: the liveness peak, and one more buffer the size of the
    largest layer output (the runtime's reorders and allocator caches; what bench_memory_estimate shows)."""
    return found.peak_elements + found.largest_tensor


def check_build(spec: ResNetSpec, limit: Limit) -> Estimate:
    """Refuse a network whose tensors TensorFlow cannot index, or whose build does not fit."""
    found = estimate(spec)
    check_elements(at_input(spec), found.largest_tensor)
    check_fits(build_need(found), limit)
    return found


def measure_need(spec: ResNetSpec, found: Estimate, batch_size: int, dtype: Dtype, on_host: bool = True) -> Need:
    """``memory --measure``: on the host, this process with its float32 model and the measuring process
    beside it (TensorFlow, the network built at ``dtype``, one forward pass); on a GPU, the network and
    the pass."""
    activations = per_image_elements(found) * batch_size * dtype.bytes
    measuring = (*model_parts(found, dtype), (f"activations of batch {batch_size}", activations))
    if not on_host:
        return Need(f"--measure on {spec.name}", measuring)
    this = ("this process", build_need(found).bytes)
    runtime = ("measuring process: TensorFlow runtime and forward pass", TF_RUNTIME_BYTES + FORWARD_BYTES)
    return Need(f"--measure on {spec.name}", (this, runtime, *measuring))


def check_measure(spec: ResNetSpec, batch_size: int, dtype: Dtype, limit: Limit) -> None:
    """Refuse a ``--measure`` whose tensors TensorFlow cannot index or whose forward pass cannot fit."""
    found = estimate(spec)
    check_elements(at_input(spec, batch_size), found.largest_tensor, batch_size)
    check_fits(measure_need(spec, found, batch_size, dtype, not limit.per_device), limit)


# --- bench batches ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchCost:
    """A forward pass under one precision policy: one replica's weights, the activations per image, and
    in host memory (``host_bytes``) TensorFlow and the inspected model that bench keeps beside it."""

    label: str  # the policy, e.g. "mixed_bfloat16"
    weights_bytes: int
    per_image_bytes: int
    replicas: int = 1
    host_bytes: int = 0

    def need(self, batch: int, per_device: bool) -> Need:
        """All replicas' weights and the whole batch in a shared memory (the host's, with TensorFlow and
        the inspected model); per device, one replica's weights and its share of the batch."""
        copies, images = (1, -(-batch // self.replicas)) if per_device else (self.replicas, batch)
        host = () if per_device else (("TensorFlow and the inspected model", self.host_bytes),)
        return Need(
            f"batch {batch} ({self.label})",
            (*host, ("weights", copies * self.weights_bytes), ("activations", images * self.per_image_bytes)),
        )


def batch_cost(
    label: str, compute: Dtype | str, found: Estimate, replicas: int = 1, converts: bool = False
) -> BatchCost:
    """The cost of timing ``found``'s model (from the spec or the walked model): the runtime and the
    inspected model, built in float32, then each replica built again under the policy."""
    per_param, per_element = policy_bytes(compute, converts)
    host = TF_RUNTIME_BYTES + FORWARD_BYTES + sum(size for _, size in model_parts(found))
    host += found.layers * KERAS_LAYER_BYTES  # the layers of the model built again for the policy
    return BatchCost(label, found.params * per_param, per_image_elements(found) * per_element, replicas, host)


def largest_batch(cost: BatchCost, limit: Limit) -> int | None:
    """The largest batch (a multiple of the replicas) whose :meth:`BatchCost.need` fits; 0 if none,
    None when the free memory is unknown."""
    if limit.free is None:
        return None

    def ok(steps: int) -> bool:
        return fits(cost.need(steps * cost.replicas, limit.per_device), limit)

    if not ok(1):
        return 0
    low, high = 1, 2  # ok(low) holds; find a high where it does not, then bisect
    while ok(high):
        if high > MAX_ELEMENTS:  # nothing grows with the batch: no batch is too large
            return high * cost.replicas
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if ok(middle) else (low, middle)
    return low * cost.replicas


def check_batches(costs: Iterable[BatchCost], batch_sizes: Sequence[int], limit: Limit) -> None:
    """Refuse, before anything runs, the first batch whose need is over the limit."""
    for cost in costs:
        for batch in batch_sizes:
            need = cost.need(batch, limit.per_device)
            if not fits(need, limit):
                largest = largest_batch(cost, limit)
                one = "one image" if cost.replicas == 1 else "one image per replica"
                check_fits(need, limit, f"the largest batch that fits is {largest}" if largest else
                           f"not even {one} fits")


# Environment lines of a bench run that follow the free memory: shown, not exported (they change run to run).
FREE_MEMORY = "free memory"
LARGEST_BATCH = "largest batch that fits"
RUN_METADATA = frozenset({FREE_MEMORY, LARGEST_BATCH})


# --- the limit: free memory of the host and of GPUs ---------------------------------------------

def host_free_bytes() -> int:
    """Memory this process can reach: psutil's available memory, or less under a cgroup limit, plus
    the resident memory the process already holds (a need counts the whole process)."""
    import psutil  # read only when a command runs, not for --help

    available = int(psutil.virtual_memory().available)
    limited = cgroups.free_bytes()
    room = min(available, limited) if limited is not None else available
    return room + int(psutil.Process().memory_info().rss)


def gpu_free_bytes(index: int = 0) -> int | None:
    """Free memory of a GPU as nvidia-smi reports it (MiB), or None without nvidia-smi.

    Must be asked before TensorFlow initialises the GPU, which reserves most of
    its memory. CUDA_VISIBLE_DEVICES renumbers GPUs; when it lists indices the
    mapping is followed, otherwise the smallest free figure of all GPUs is used.
    """
    tool = children.find_program("nvidia-smi")
    if tool is None:
        return None
    try:
        done = children.run_child([tool, "--query-gpu=index,memory.free", "--format=csv,noheader,nounits"], 20)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    out = done.stdout
    free = {}
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            free[int(parts[0])] = int(parts[1]) * 2**20
    if not free:
        return None
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    if visible and all(v.isdigit() for v in visible) and index < len(visible) and int(visible[index]) in free:
        return free[int(visible[index])]
    if not visible and len(free) == 1:
        return next(iter(free.values()))
    return min(free.values())


def host_limit() -> Limit:
    return Limit(host_free_bytes(), "the host")


def gpu_limit(index: int = 0) -> Limit | None:
    """GPU ``index``'s free memory, or None when nvidia-smi cannot tell."""
    free = gpu_free_bytes(index)
    return None if free is None else Limit(free, f"GPU {index} (nvidia-smi)", per_device=True)


# --- a --model file, sized from its configuration before Keras allocates it (issue 11) ------------------


def model_file_need(found: Footprint) -> Need:
    """Loading a model file in this process: TensorFlow, its weights (from its configuration) and the
    initializer's copies of the largest one, its Keras layers, its bytes held in memory and the weights
    Keras reads out of it (their declared, uncompressed size)."""
    copies = ("initializer copies of the largest weight", INIT_COPIES * found.largest_weight_bytes)
    return Need(
        f"loading {found.name} ({found.params:,} parameters)",
        (RUNTIME_PART, ("weights", found.weight_bytes), copies, layers_part(found.layers),
         ("model file", found.file_bytes), ("stored weights read", found.stored_weights)),
    )


def check_model_file(found: Footprint, limit: Limit | None = None) -> None:
    """Refuse a model file whose load does not fit (the host's free memory unless ``limit``)."""
    check_fits(model_file_need(found), limit or host_limit(), "refused before loading")
