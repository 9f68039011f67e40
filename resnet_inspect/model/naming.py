"""The one naming scheme for layers, and the parser that reads it back.

Names follow the seeds' variable scopes, joined with '.' because Keras 3
forbids '/' in layer names::

    stem.conv_initial_pad, stem.conv_initial, stem.pool_initial
    block_layer{i}.{regular|bottleneck}_block{j}.{part}
    head.preact_bn, head.preact_relu, head.avg_pool, head.flatten, head.logits

Block layers are numbered 1..4 (as stages are in reports); blocks inside a
block layer 0.. as in the seeds' ``regular_block{index}``. Parts of a block:
``preact{k}_bn``/``preact{k}_relu`` (the pre-activation before conv k),
``shortcut`` (1x1 projection), ``conv{k}`` and ``conv{k}_pad``, ``add``. The paper's
post-activation v1 network uses the same scopes with its own parts: ``conv{k}_bn``/``conv{k}_relu``
(BN and ReLU after conv k), ``shortcut_bn``, ``add`` and ``out_relu`` (the ReLU after the add);
its stem adds ``stem.conv_initial_bn``/``stem.conv_initial_relu`` and its head has no ``preact``.
The family's knobs (:mod:`resnet_inspect.model.design`) add parts under the same scopes: the deep stem's
``stem.conv_initial1..3`` (each with its ``_bn``/``_relu``), SE's ``se_pool``, ``se_fc1``, ``se_relu``,
``se_fc2``, ``se_gate``, ``se_scale``, ResNet-D's ``shortcut_pool`` before the projection, and option A's
parameter-free ``shortcut_subsample``, ``shortcut_zeros``, ``shortcut_concat`` (no ``shortcut`` conv, so
the block is not ``+proj``).

A second scheme, :func:`keras_group_of`, reads the names of keras.applications ResNets
(``conv3_block2_1_conv``); :func:`grouping_for` picks the scheme that fits a model.

A layer inside a nested model is named by its path, ``outer/inner`` (:data:`NEST`; Keras forbids
'/' in names). Both schemes read the last part, so a keras.applications ResNet nested in a
transfer-learning model keeps its stages and blocks; :func:`frame_outer` puts the outer model's
own layers before it in the stem and after it in the head.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from resnet_inspect.model.spec import BlockKind

SEP = "."
NEST = "/"
STEM = "stem"
HEAD = "head"

_BLOCK_RE = re.compile(rf"^(block_layer\d+)\.((?:{'|'.join(k.value for k in BlockKind)})_block\d+)\.")
_UNIT_RE = re.compile(r"^(stem|head)\.")


def stage_scope(layer_index: int) -> str:
    """Scope of block layer ``layer_index`` (0-based in code, 1-based in names)."""
    return f"block_layer{layer_index + 1}"


def join(*parts: str) -> str:
    return SEP.join(parts)


@dataclass(frozen=True)
class Group:
    """Where a layer belongs: its stage (stem, block_layerN, head) and block."""

    stage: str
    block: str


def leaf(name: str) -> str:
    """The layer's own name: the last part of its path through nested models."""
    return name.rsplit(NEST, 1)[-1]


def group_of(name: str) -> Group | None:
    """Parse a layer name back into its stage and block; None if it follows no known scheme."""
    name = leaf(name)
    match = _BLOCK_RE.match(name)
    if match:
        return Group(stage=match.group(1), block=join(match.group(1), match.group(2)))
    match = _UNIT_RE.match(name)
    if match:
        return Group(stage=match.group(1), block=match.group(1))
    if name == "input":
        return Group(stage=STEM, block=STEM)
    return None


# --- the second scheme: keras.applications ResNets --------------------------------------------------
# keras.applications.ResNet50/101/152 and ResNet50V2/101V2/152V2 name their layers
#     conv1_pad, conv1_conv, conv1_bn, conv1_relu, pool1_pad, pool1_pool        -> stem
#     conv{s}_block{b}_{part}: _0_conv/_0_bn the projection shortcut, _1_/_2_/_3_ the convs,
#         _preact_bn/_preact_relu (V2), _add, _out                              -> stage conv{s}, block conv{s}_block{b}
#     post_bn, post_relu (V2), avg_pool or max_pool, predictions                -> head
# and their input input_layer (input_layer_1, ... when several models share a session).
_KERAS_BLOCK_RE = re.compile(r"^(conv\d+)_(block\d+)_")
_KERAS_BLOCK_NAME_RE = re.compile(r"^conv\d+_block\d+$")
_KERAS_STEM_RE = re.compile(r"^(?:conv1|pool1)_|^input_layer(?:_\d+)?$")
_KERAS_HEAD = frozenset({"post_bn", "post_relu", "avg_pool", "max_pool", "predictions"})


def keras_group_of(name: str) -> Group | None:
    """Stage and block of a keras.applications ResNet layer; None if the name follows no part of that scheme."""
    name = leaf(name)
    match = _KERAS_BLOCK_RE.match(name)
    if match:
        return Group(stage=match.group(1), block=f"{match.group(1)}_{match.group(2)}")
    if _KERAS_STEM_RE.match(name):
        return Group(stage=STEM, block=STEM)
    if name in _KERAS_HEAD:
        return Group(stage=HEAD, block=HEAD)
    return None


Grouping = Callable[[str], "Group | None"]
# Every scheme, the seeds' first.
SCHEMES: tuple[Grouping, ...] = (group_of, keras_group_of)


def grouping_for(names: Iterable[str]) -> Grouping:
    """The scheme that places the most of ``names`` (the seeds' one on a tie, e.g. when none fits)."""
    names = list(names)
    return max(SCHEMES, key=lambda scheme: sum(scheme(n) is not None for n in names))


def adopt_orphans(
    groups: Mapping[str, Group | None], consumers: Mapping[str, Sequence[str]]
) -> dict[str, Group | None]:
    """Give a layer that no scheme names the block of its consumers, when they all sit in one block.

    keras.applications ResNet V2 leaves the max-pool shortcut of each strided block unnamed
    (``max_pooling2d_3``); it belongs to the block whose residual add consumes it. One step only, and
    only into a block (never the stem or head), so an unknown model is not swallowed by its head.
    """
    adopted = dict(groups)
    for name, group in groups.items():
        if group is not None:
            continue
        targets = {groups.get(c) for c in consumers.get(name, ())}
        if len(targets) == 1:
            (target,) = targets
            if target is not None and target.stage not in (STEM, HEAD):
                adopted[name] = target
    return adopted


def frame_outer(names: Sequence[str], groups: Mapping[str, Group | None]) -> dict[str, Group | None]:
    """Around a recognised network (one with blocks), its ungrouped layers before the first grouped one
    join the stem and those after the last grouped one the head: the outer layers of a transfer-learning
    model that nests a ResNet (its input; its pooling and classifier). Others stay ungrouped."""
    placed = [i for i, n in enumerate(names) if groups.get(n) is not None]
    if not any(g is not None and g.stage not in (STEM, HEAD) for g in groups.values()):
        return dict(groups)
    framed = dict(groups)
    for i, name in enumerate(names):
        if framed.get(name) is None and (i < placed[0] or i > placed[-1]):
            framed[name] = Group(STEM, STEM) if i < placed[0] else Group(HEAD, HEAD)
    return framed


def _kind(block: str, member_names: Sequence[str]) -> str:
    if _KERAS_BLOCK_NAME_RE.match(block):
        # keras.applications: a third conv (_3_conv) makes a bottleneck block.
        return "bottleneck" if any(leaf(n).endswith("_3_conv") for n in member_names) else "regular"
    return block.rsplit(SEP, 1)[-1].rstrip("0123456789").removesuffix("_block")


def block_type(block: str, member_names: Sequence[str]) -> str:
    """Kind of a block for reports: 'bottleneck', 'regular+proj', 'stem', 'head'."""
    if block in (STEM, HEAD):
        return block
    kind = _kind(block, member_names)
    projected = any(
        name.rsplit(SEP, 1)[-1] == "shortcut" or (name.startswith(block + "_") and name.endswith("_0_conv"))
        for name in map(leaf, member_names)
    )
    return f"{kind}+proj" if projected else kind


def stage_type(stage: str, blocks: list[str], member_names: Sequence[str] = ()) -> str:
    """Kind of a stage for reports: 'stem', 'head' or e.g. '3 x bottleneck'.

    ``member_names`` (the stage's layer names) is needed for schemes whose block names do not say the kind.
    """
    if stage in (STEM, HEAD):
        return stage
    kinds = sorted({_kind(b, [n for n in member_names if leaf(n).startswith(b + "_")]) for b in blocks})
    return f"{len(blocks)} x {'/'.join(kinds)}"
