"""The one naming scheme for layers, and the parser that reads it back.

Names follow the seeds' variable scopes, joined with '.' because Keras 3
forbids '/' in layer names::

    stem.conv_initial_pad, stem.conv_initial, stem.pool_initial
    block_layer{i}.{regular|bottleneck}_block{j}.{part}
    head.preact_bn, head.preact_relu, head.avg_pool, head.flatten, head.logits

Block layers are numbered 1..4 (as stages are in reports); blocks inside a
block layer 0.. as in the seeds' ``regular_block{index}``. Parts of a block:
``preact{k}_bn``/``preact{k}_relu`` (the pre-activation before conv k),
``shortcut`` (1x1 projection), ``conv{k}`` and ``conv{k}_pad``, ``add``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SEP = "."
STEM = "stem"
HEAD = "head"

_BLOCK_RE = re.compile(r"^(block_layer\d+)\.((?:regular|bottleneck)_block\d+)\.")
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


def group_of(name: str) -> Group | None:
    """Parse a layer name back into its stage and block; None if it follows no known scheme."""
    match = _BLOCK_RE.match(name)
    if match:
        return Group(stage=match.group(1), block=join(match.group(1), match.group(2)))
    match = _UNIT_RE.match(name)
    if match:
        return Group(stage=match.group(1), block=match.group(1))
    if name == "input":
        return Group(stage=STEM, block=STEM)
    return None


def block_type(block: str, member_names: list[str]) -> str:
    """Kind of a block for reports: 'bottleneck', 'regular+proj', 'stem', 'head'."""
    if block in (STEM, HEAD):
        return block
    kind = block.rsplit(SEP, 1)[-1].rstrip("0123456789").removesuffix("_block")
    projected = any(name.rsplit(SEP, 1)[-1] == "shortcut" for name in member_names)
    return f"{kind}+proj" if projected else kind


def stage_type(stage: str, blocks: list[str]) -> str:
    """Kind of a stage for reports: 'stem', 'head' or e.g. '3 x bottleneck'."""
    if stage in (STEM, HEAD):
        return stage
    kinds = sorted({block_type(b, []) for b in blocks})
    return f"{len(blocks)} x {'/'.join(kinds)}"
