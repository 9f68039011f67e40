"""The one place TensorFlow and Keras are imported, quietly.

Only the modules that need TensorFlow (builder, walk, bench) import this one,
so ``resnet-inspect --help`` and usage errors never pay for TensorFlow.

TensorFlow's C++ start-up chatter (CUDA probing on a machine without a GPU,
CPU feature notes) is written straight to file descriptor 2, below Python;
unless the user set ``TF_CPP_MIN_LOG_LEVEL`` themselves, it is captured while
TensorFlow loads and initialises its devices, and shown only if loading fails.
"""

from __future__ import annotations

import os
import sys
import tempfile


def _quiet_import() -> tuple[object, object]:
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        import keras
        import tensorflow as tf

        return keras, tf
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import keras
            import tensorflow as tf

            tf.config.list_physical_devices()  # device initialisation logs its CUDA probe here
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return keras, tf


keras, tf = _quiet_import()

__all__ = ["keras", "tf"]
