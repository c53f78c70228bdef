"""pytest plugin (loaded by ``-p course_env`` in pyproject.toml, before any collection):
the whole suite runs in fast mode, offline, with TF's C++ log off. nbval's kernels
inherit this environment, so it also holds for `pytest solutions/` alone."""

import atexit
import os
import shutil
import tempfile

os.environ["COURSE_MODE"] = "fast"
os.environ["FASHION_MNIST_NO_DOWNLOAD"] = "1"
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"

# The canary's cache (autograder/batch/canary.py) starts empty in every test session, so a run
# never depends on what an earlier run on this machine left in ~/.cache.
# Both throwaway folders go when the session ends (a session that made them removes them; a
# pytest started inside it inherits them and leaves them alone).
def _throwaway(variable: str, prefix: str) -> None:
    if variable not in os.environ:
        os.environ[variable] = folder = tempfile.mkdtemp(prefix=prefix)
        atexit.register(shutil.rmtree, folder, ignore_errors=True)


_throwaway("AUTOGRADER_CACHE", "canary-cache-")

# Every `grade` run merges into the course gradebook: in tests, a throwaway course folder
# (with its gradebook.db), never the repository's autograder/gradebook.db.
_throwaway("COURSE_DIR", "course-dir-")
os.environ.pop("COURSE_DB_URL", None)
