"""Does a piece of work fit: what it needs, the limit, and the one refusal message. No TensorFlow."""

from __future__ import annotations

from collections.abc import Iterable

from resnet_inspect.analysis.estimate import Estimate, estimate
from resnet_inspect.errors import InspectError, UsageError
from resnet_inspect.model.spec import ResNetSpec
from resnet_inspect.units import human_bytes

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



def check_fits(parts: Iterable[tuple[str, int]], free: int | None, what: str, where: str = "the host") -> None:
    """Refuse (exit 1) when the parts of an estimate, ``(label, bytes)``, add up to more than ``free``.

    ``free`` None (unknown) lets the request through.
    """
    parts = [(label, size) for label, size in parts if size]
    need = sum(size for _, size in parts)
    if free is None or need <= free:
        return
    detail = " + ".join(f"{label} {human_bytes(size)}" for label, size in parts)
    raise InspectError(
        f"{what} needs an estimated {human_bytes(need)} ({detail}) but {where} has {human_bytes(free)} free; "
        "refused before building"
    )



def check_build(spec: ResNetSpec, free: int | None) -> Estimate:
    """Refuse a network whose tensors TensorFlow cannot index, or whose build does not fit in ``free`` bytes."""
    found = estimate(spec)
    check_elements(at_input(spec), found.largest_tensor)
    check_estimate_builds(found, free)
    return found



def check_estimate_builds(found: Estimate, free: int | None) -> None:
    """Refuse building what ``found`` describes when its weights and layers do not fit in ``free`` bytes."""
    weights, objects = found.build_bytes()
    check_fits(
        [("float32 weights", weights), (f"{found.layers:,} Keras layers", objects)],
        free,
        f"building {found.name} ({found.params:,} parameters)",
    )
