"""The course's grading tools: ``python -m autograder release|grade|report|check|execute|solved``."""

import os
import sys

# nbgrader shells out to ``alembic`` (and kernels to ``python``): make the interpreter's own
# bin folder (the course .venv) come first on PATH even when the venv is not activated.
_bin = os.path.dirname(sys.executable)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")
