"""cnnkit: the small helper package that every lesson of "From Pixels to LeNet" imports.

It holds what the lessons share and nothing a student is asked to write:

- ``cnnkit.data``: the offline Fashion-MNIST loader and the ten class names;
- ``cnnkit.modes``: fast mode (CI, grading) versus full mode (students);
- ``cnnkit.plotting``: the one matrix-drawing helper and image grids;
- ``cnnkit.checks``: tiny helpers used by the notebooks' visible test cells.

Importing it quietens TensorFlow's C++ log, so import it before ``keras``.
"""

import os

# TensorFlow's C++ start-up chatter would otherwise land in stored notebook outputs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
