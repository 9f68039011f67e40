"""TensorFlow's own FLOP count: trace the inference graph and run ``tf.compat.v1.profiler`` on it.

The model is traced once as a ``tf.function`` (``training=False``, batch 1) and the profiler's
``float_operation`` statistics are read op by op from the traced graph.
:mod:`resnet_inspect.analysis.crosscheck` compares them with ours.

The graph is not frozen (variables folded into constants): freezing changes no op's arithmetic
(the profiler counts the same totals on both) but copies every weight into the graph, which made
``--verify`` several times slower than the walk on large models (VGG16: 138 M weights).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from resnet_inspect._tf import keras, tf
from resnet_inspect.analysis.crosscheck import TfOp, Verification, cross_check
from resnet_inspect.analysis.report import Report
from resnet_inspect.errors import InspectError


@contextlib.contextmanager
def _quiet_tf_logging() -> Iterator[None]:
    """The profiler logs TF1 deprecation warnings through TF's Python logger; keep them off the user's screen."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def inference_graph(model: keras.Model, batch: int = 1) -> Any:
    """The model's inference graph for ``batch`` inputs, as traced by ``tf.function`` (a ``tf.Graph``)."""
    specs = []
    for tensor in model.inputs:
        shape = (batch, *tensor.shape[1:])
        if any(d is None for d in shape):
            raise InspectError(
                f"--verify needs a fixed input shape; {model.name} takes {tuple(tensor.shape)} (unknown sizes)"
            )
        specs.append(tf.TensorSpec(shape, tensor.dtype))

    def forward(*inputs: Any) -> Any:
        return model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)

    with _quiet_tf_logging():
        return tf.function(forward, autograph=False).get_concrete_function(*specs).graph


def profile_ops(model: keras.Model) -> tuple[TfOp, ...]:
    """Every op of the inference graph with TensorFlow's float-operation count (0 where TF registers none)."""
    graph = inference_graph(model)
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    with _quiet_tf_logging():
        profile = tf.compat.v1.profiler.profile(graph, cmd="scope", options=options)
    counts: dict[str, int] = {}
    pending = list(profile.children)
    while pending:  # the scope tree: a node's float_ops are its own op's, children are nested scopes
        node = pending.pop()
        counts[node.name] = int(node.float_ops)
        pending.extend(node.children)
    return tuple(TfOp(op.name, op.type, counts.get(op.name, 0)) for op in graph.get_operations())


def verify_model(model: keras.Model, report: Report) -> Verification:
    """Cross-check ``report`` (the walk of ``model``) against TensorFlow's profiler."""
    return cross_check(report, profile_ops(model))
