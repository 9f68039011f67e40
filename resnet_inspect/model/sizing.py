"""What loading a ``--model`` file allocates, known from its configuration before Keras allocates it.

The file's layers are deserialised as ``keras.saving.load_model(compile=False)`` would, inside a
``keras.StatelessScope`` that leaves every variable uninitialised: their shapes and dtypes give the
weights' bytes, and nothing of that size is allocated. The caller compares the
:class:`Footprint` with the free memory (:func:`resnet_inspect.analysis.budget.check_model_file`).
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from typing import Any

from resnet_inspect.errors import InspectError
from resnet_inspect.model.archive import Contents, first_line

# A file's weights may hold optimizer slots beside the model's (Adam: two per weight, and its step);
# beyond this many times the configuration's weights, and this much HDF5 bookkeeping, they are not its weights.
STORED_WEIGHTS_SLACK = 4
STORED_WEIGHTS_OVERHEAD = 16 * 2**20


@dataclass(frozen=True)
class Footprint:
    """What loading a model file allocates, from its configuration alone (its layers built without weights)."""

    name: str
    params: int
    weight_bytes: int  # its variables at their dtypes
    largest_weight_bytes: int  # the largest one (an initializer makes temporary copies of it)
    layers: int
    file_bytes: int  # the file's bytes, held in memory to be loaded
    stored_weights: int  # what its weights declare uncompressed: Keras reads them into memory


def footprint(contents: Contents, text: str, legacy: bool, unsafe: bool = False) -> Footprint:
    """What loading a file of ``contents`` allocates, from its configuration: its layers are deserialised in a
    ``keras.StatelessScope`` that leaves every variable uninitialised (shapes and dtypes, no values).

    ``legacy``: an .h5 file's configuration. Call it only once
    :func:`resnet_inspect.model.sources.findings` allows the file: deserialising runs what the
    configuration names. Weights that declare far more than the configuration holds are refused.
    """
    from resnet_inspect._tf import keras  # it quiets TensorFlow before Keras loads it

    global_state = keras.src.backend.common.global_state

    config = copy.deepcopy(contents.config)  # the legacy reader edits the configuration it is given
    pending = list(global_state.get_global_attribute("uninitialized_variables", None) or [])
    try:
        with keras.StatelessScope(initialize_variables=False):
            model = _deserialize(config, legacy=legacy, unsafe=unsafe)
    except Exception as exc:  # what Keras raises for a configuration it cannot build
        raise InspectError(f"--model {text!r} is not a loadable Keras model: {first_line(exc)}") from None
    finally:
        # the variables stay uninitialised: no later scope may give them values
        global_state.set_global_attribute("uninitialized_variables", pending)
    weights = getattr(model, "weights", [])
    sizes = [(math.prod(int(d) for d in v.shape), _element_bytes(str(v.dtype))) for v in weights]
    found = Footprint(
        name=str(getattr(model, "name", "model")), params=sum(n for n, _ in sizes),
        weight_bytes=sum(n * b for n, b in sizes), largest_weight_bytes=max((n * b for n, b in sizes), default=0),
        layers=_count_layers(model), file_bytes=len(contents.data),
        stored_weights=contents.stored_weights,
    )
    _check_stored(text, found)
    return found


def _deserialize(config: Any, legacy: bool, unsafe: bool) -> Any:
    """The model of ``config`` as keras.saving.load_model(compile=False) would deserialise it."""
    from keras.src.saving import serialization_lib

    if legacy:
        from keras.src.legacy.saving import saving_options, saving_utils

        with saving_options.keras_option_scope(use_legacy_config=True), serialization_lib.SafeModeScope(not unsafe):
            return saving_utils.model_from_config(config)
    if isinstance(config, dict):
        config["compile_config"] = None
    with serialization_lib.ObjectSharingScope():
        return serialization_lib.deserialize_keras_object(config, safe_mode=not unsafe)


def _element_bytes(dtype: str) -> int:
    bits = re.search(r"\d+", dtype)
    return max(1, int(bits.group()) // 8) if bits else 1  # bool: one byte


def _count_layers(model: Any) -> int:
    count, stack = 0, list(getattr(model, "layers", []))
    while stack:
        layer = stack.pop()
        count += 1
        stack.extend(getattr(layer, "layers", []) or [])
    return max(count, 1)


def _check_stored(text: str, found: Footprint) -> None:
    """Weights that declare far more than the configuration holds are not its weights: refuse before reading."""
    if found.stored_weights > STORED_WEIGHTS_SLACK * found.weight_bytes + STORED_WEIGHTS_OVERHEAD:
        raise InspectError(
            f"--model {text!r}: its weights declare {found.stored_weights:,} bytes uncompressed but its "
            f"configuration holds {found.weight_bytes:,} bytes of weights; refused before extraction"
        )
