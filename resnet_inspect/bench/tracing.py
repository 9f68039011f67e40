"""Per-block latency read from a profiler trace of the real compiled forward pass (imports TensorFlow).

Method (``profile`` on a CPU without ``--xla``): the whole pass is the very function ``bench`` times
(:func:`resnet_inspect.bench.run.single_step`). While it is traced, each layer's ``call`` notes the name scope
Keras opens for it (``resnet50_1/block_layer1.bottleneck_block0.conv1_1``): every TensorFlow op the layer
adds to the graph is named under that scope, and keeps its name when TensorFlow's graph optimiser fuses it
(a fused convolution is named after one of the ops it replaced). A traced round runs that same function once
under TensorFlow's profiler (``tf.profiler.experimental``, host tracer level 2: one event per op executed,
on the thread that ran it), and the op events inside the round's pass are attributed to blocks by the
longest noted scope their name starts with (:func:`resnet_inspect.bench.breakdown.attribute`). What no
block's op covers (the executor between ops, the call, the copy of the logits to the host, an op outside
any layer's scope) is the ``overhead`` row: the whole pass is timed untraced, as ``bench`` times it,
round by round with the traced runs.

Why not on a GPU or with ``--xla``: there the ops are kernels on device streams, or XLA clusters that fuse
many layers into one, whose events no longer map to a layer; :mod:`resnet_inspect.bench.pieces` times
compiled pieces of the pass instead.
"""

from __future__ import annotations

import contextlib
import functools
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from resnet_inspect._tf import keras, tf
from resnet_inspect.analysis.records import LayerRecord
from resnet_inspect.analysis.segments import Segment
from resnet_inspect.analysis.walk import named_nodes
from resnet_inspect.bench.breakdown import OpEvent, attribute
from resnet_inspect.bench.run import single_step
from resnet_inspect.errors import InspectError, UsageError

# The name of the event that spans one traced pass on the calling thread.
PASS_EVENT = "resnet_inspect.profile.pass"
# An op's event: "<op name>:<op type>", the op name a path of scopes, no spaces (other events are the
# executor's and the allocator's own).
_OP_EVENT = re.compile(r"^([^\s:]+):([A-Za-z0-9_]+)$")


def nodes_by_record(model: keras.Model, layers: Sequence[LayerRecord], nested: bool = False) -> dict[str, Any]:
    """The node of ``model`` behind each record of the walked model, matched by position: the timed model is
    built again under its policy, where Keras may number unnamed layers afresh (``max_pooling2d_1``), so the
    walk's order, not the names, ties the two; the layer types must agree call by call. ``nested``: the
    layers of a nested model too (a trace needs only each record's layer; pieces cut the outer graph)."""
    try:
        found = named_nodes(model, nested)
    except TypeError as exc:
        raise UsageError(f"profile cuts a model's own graph at its blocks: {exc}") from None
    kinds = [kind for _, kind, _ in found]
    if kinds != [record.layer_type for record in layers]:
        raise InspectError(f"{model.name} built again for timing differs from the walked model; cannot time it")
    return {record.name: node for record, (_, _, node) in zip(layers, found, strict=True)}


@contextlib.contextmanager
def noted_scopes(operations: Sequence[Any]) -> Iterator[dict[int, list[str]]]:
    """While the block is open, each of ``operations`` notes the name scope of every call it makes (in call
    order, by ``id`` of the operation): its ``call`` is wrapped on the instance, and unwrapped after."""
    noted: dict[int, list[str]] = {}
    wrapped = []
    for operation in {id(op): op for op in operations}.values():
        original = operation.call
        scopes = noted.setdefault(id(operation), [])

        def call(*args: Any, _original: Callable[..., Any] = original, _scopes: list[str] = scopes,
                 **kwargs: Any) -> Any:
            _scopes.append(tf.get_current_name_scope())
            return _original(*args, **kwargs)

        functools.update_wrapper(call, original)  # Keras reads the signature of call (training=, mask=)
        object.__setattr__(operation, "call", tf.autograph.experimental.do_not_convert(call))
        wrapped.append(operation)
    try:
        yield noted
    finally:
        for operation in wrapped:
            object.__delattr__(operation, "call")


def scope_owners(found: Sequence[Segment], nodes: dict[str, Any], noted: dict[int, list[str]]) -> dict[str, int]:
    """Each noted scope -> the index of the segment whose layer opened it. A layer called at several nodes
    (shared) opened one scope per call, in graph order: its k-th scope is its k-th node's."""
    calls: dict[int, int] = {}
    owners: dict[str, int] = {}
    for index, segment in enumerate(found):
        for name in segment.layers:
            operation = nodes[name].operation
            k = calls.get(id(operation), 0)
            calls[id(operation)] = k + 1
            scopes = noted.get(id(operation), [])
            if k >= len(scopes) or not scopes[k]:
                raise InspectError(f"the traced pass did not call {name!r} as the walk did; cannot attribute its ops")
            owners[scopes[k]] = index
    return owners


def owner_of(owners: dict[str, int]) -> Callable[[str], int | None]:
    """op name -> the segment of the longest noted scope it lies under (None: under none)."""
    @functools.cache
    def owner(op_name: str) -> int | None:
        path = op_name
        while "/" in path:
            path = path.rsplit("/", 1)[0]
            if path in owners:
                return owners[path]
        return None

    return owner


def _events(space: Any) -> tuple[tuple[int, int], list[OpEvent]]:
    """(the pass's window, the op events) of a parsed XSpace, in picoseconds since the epoch."""
    window = None
    events: list[OpEvent] = []
    for plane in space.planes:
        if not plane.name.startswith("/host:"):
            continue
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            base = line.timestamp_ns * 1000
            for event in line.events:
                name = names.get(event.metadata_id, "")
                start = base + event.offset_ps
                if name == PASS_EVENT:
                    window = (start, start + event.duration_ps)
                elif (found := _OP_EVENT.match(name)) is not None:
                    events.append(OpEvent(start, start + event.duration_ps, found.group(1), found.group(2)))
    if window is None:
        raise InspectError("TensorFlow's profiler recorded no pass; cannot attribute the pass to blocks")
    return window, events


def _read_space(folder: Path) -> Any:
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    files = sorted(folder.rglob("*.xplane.pb"))
    if not files:
        raise InspectError("TensorFlow's profiler wrote no trace; cannot attribute the pass to blocks")
    space = xplane_pb2.XSpace()
    space.ParseFromString(files[-1].read_bytes())
    return space


class TracedRuns:
    """Traced runs of a whole pass, attributed to ``count`` blocks by ``owner``. Each run's trace stays in its
    folder until :meth:`read`: nothing is parsed between the timed runs (parsing churns memory and the Python
    heap that the next untraced pass would meet). :meth:`close` removes the folders."""

    def __init__(self, whole: Callable[[], None], owner: Callable[[str], int | None], count: int) -> None:
        self.whole, self.owner, self.count = whole, owner, count
        self.root = Path(tempfile.mkdtemp(prefix="resnet-inspect-trace-"))
        self.folders: list[Path] = []

    def step(self) -> None:
        """One traced run of the whole pass."""
        folder = self.root / str(len(self.folders))
        trace_into(folder, self.whole)
        self.folders.append(folder)

    def events(self, run: int) -> tuple[tuple[int, int], list[OpEvent]]:
        """(the window of traced run ``run``, its op events), in picoseconds."""
        return _events(_read_space(self.folders[run]))

    def read(self, first: int, runs: int) -> list[tuple[float, tuple[float, ...]]]:
        """(the traced pass's seconds, each block's seconds) of runs ``first`` .. ``first + runs - 1``."""
        found = []
        for run in range(first, min(first + runs, len(self.folders))):
            window, events = self.events(run)
            found.append(((window[1] - window[0]) / 1e12, tuple(attribute(events, window, self.owner, self.count))))
        return found

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def block_steps(
    model: keras.Model,
    found: Sequence[Segment],
    layers: Sequence[LayerRecord],
    batch: int,
    device: str,
) -> tuple[Callable[[], None], TracedRuns]:
    """(the whole pass as bench runs it, traced runs of that same pass attributed to the segments ``found``).
    A nested model's layers open their scopes inside its own: a transfer-learning model is traced like any."""
    nodes = nodes_by_record(model, layers, nested=True)
    with noted_scopes([node.operation for node in nodes.values()]) as noted:
        whole = single_step(model, batch, device, xla=False)  # traced here: the layers note their scopes
    return whole, TracedRuns(whole, owner_of(scope_owners(found, nodes, noted)), len(found))


def trace_into(folder: Path, step: Callable[[], None]) -> None:
    """Run ``step`` once under TensorFlow's profiler, its trace written into ``folder``."""
    options = tf.profiler.experimental.ProfilerOptions(host_tracer_level=2, python_tracer_level=0,
                                                       device_tracer_level=0)
    tf.profiler.experimental.start(str(folder), options=options)
    try:
        with tf.profiler.experimental.Trace(PASS_EVENT):
            step()
    finally:
        tf.profiler.experimental.stop()
