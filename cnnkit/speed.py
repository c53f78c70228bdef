"""Training speed on a CPU: TensorFlow's oneDNN kernels.

TensorFlow ships two sets of CPU kernels for convolutions and matrix products: its own
(Eigen) and oneDNN. TensorFlow 2.21 switches oneDNN on by default by CPU feature, not by
vendor: on CPUs with AVX512_VNNI, AVX512_BF16, AVX_VNNI or AMX (``DefaultOneDnnPolicy`` in
tensorflow/core/util/port.cc); elsewhere it stays off unless ``TF_ENABLE_ONEDNN_OPTS=1``
is set *before* TensorFlow is imported. Course machines differ (some AMD EPYC have
AVX-512 with VNNI, some only AVX2), so the course sets it. With it, lesson 07's CNN trains
about twice as fast as with the Eigen kernels; ``python -m benchmarks.training`` measures both.

oneDNN may sum in a different order, so results can differ from the Eigen kernels in
the last bits of float32; with a fixed seed, runs on one machine still repeat.
"""

from __future__ import annotations

import os
import sys

ENV_VAR = "TF_ENABLE_ONEDNN_OPTS"


def fast_cpu() -> bool:
    """Switch on TensorFlow's oneDNN CPU kernels; call it before ``import keras``.

    Sets ``TF_ENABLE_ONEDNN_OPTS=1`` unless the variable is already set (so
    ``TF_ENABLE_ONEDNN_OPTS=0`` in the environment still turns it off), then imports
    TensorFlow with the C++ log on stderr silenced: TensorFlow announces oneDNN with a
    time-stamped line that ``TF_CPP_MIN_LOG_LEVEL`` does not hide. Python errors still
    raise as usual. With another Keras backend (``KERAS_BACKEND=jax``) it does nothing.

    Returns
    -------
    bool
        True if oneDNN is on for this process, False if it is off or came too late
        (TensorFlow was imported before the call; a message then says so).
    """
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return False
    if "tensorflow" in sys.modules:
        on = os.environ.get(ENV_VAR) == "1"
        if not on:
            print(f"cnnkit.speed.fast_cpu() came after TensorFlow was imported; set {ENV_VAR}=1 "
                  "before importing keras (restart the kernel) to get the faster kernels.")
        return on
    os.environ.setdefault(ENV_VAR, "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                import tensorflow  # noqa: F401  (loads the C++ runtime, which reads the variable once)
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)
    return os.environ.get(ENV_VAR) == "1"
