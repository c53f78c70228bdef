"""cnnkit: the small helper package that every lesson of "From Pixels to LeNet" imports.

It holds what the lessons share and nothing a student is asked to write:

- ``cnnkit.data``: the offline Fashion-MNIST loader and the ten class names;
- ``cnnkit.modes``: fast mode (CI, grading) versus full mode (students);
- ``cnnkit.plotting``: the one matrix-drawing helper and image grids;
- ``cnnkit.checks``: tiny helpers used by the notebooks' visible test cells.

Importing it quietens TensorFlow's C++ log and its Python warnings, so import it before ``keras``.
"""

import logging
import os

# TensorFlow's C++ start-up chatter would otherwise land in stored notebook outputs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# So would its Python warnings, e.g. "5 out of the last 5 calls to <function ... at 0x7f...>
# triggered tf.function retracing" when a test cell builds several models: a performance hint
# for library authors, with a memory address that changes every run. Errors still show.
# A filter, not a level: in Jupyter, TensorFlow resets its logger's level to INFO when it first uses it.


def _errors_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR


logging.getLogger("tensorflow").addFilter(_errors_only)

__version__ = "0.1.0"
