"""The course's grading tools: ``python -m autograder release|grade|report|check|execute|solved|...``.

Its rooms, from the ground floor up; each imports only from itself and the rooms before it here:

- ``settings`` (every setting from outside, in one order: flag > environment > course config >
  default) and ``notebook`` (how a lesson marks exercises, solutions and tests): nothing of the package;
- ``course``: where the course lives and its nbgrader config (``nbgrader_config.py``);
- ``sandbox/`` (a student's isolated kernel), ``authoring/`` (release, check, execute the
  solutions) and ``gradebook/`` (the course gradebook, final grades out, LMS zips in);
- ``job/`` (one job, the worker's side) and ``batch/`` (the grading parent, which hands jobs to a
  runner): see their own docstrings;
- ``cluster/`` (jobs on Dask: needs ``job/`` alone) and ``reporting/`` (the class report, similarity);
- ``hub/``: a class on JupyterHub, grading with ``batch/`` (its deployment config is the
  repository's ``jupyterhub-config/``, not a package);
- ``cli.py``: the commands' argument parsing, on top of everything; ``__main__`` alone imports it.
"""

import os
import sys

# nbgrader shells out to ``alembic`` (and kernels to ``python``): make the interpreter's own
# bin folder (the course .venv) come first on PATH even when the venv is not activated.
_bin = os.path.dirname(sys.executable)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

# jsonschema (imported by nbformat in every grading process) builds 38 Lark parsers for the
# "iri" string formats of the optional rfc3987-syntax package when it is installed (jupyter_events
# pulls it in): 0.8 s of CPU per process, in the grader, each worker and each command (measured
# 2026-12-01, the course machine). Nothing here validates those formats (nbformat's schema has
# none), so the grader's processes go without them, as jsonschema does where the package is absent.
sys.modules.setdefault("rfc3987_syntax", None)
