"""The canary: grade the reference solution before any student.

Before a batch, ``grade`` grades the reference solution of each assignment in it
(``solutions/NN_slug/NN_slug.ipynb``, outputs cleared) exactly as it will grade the
students: same worker, sandbox, environment, mode and caps. If the reference does not
get every autograded point, the grading environment is broken (the kernel cannot import
the course package, the data is missing, a package is missing, the wrong Keras backend…)
and every student would get zeros for it. So the batch stops before grading anyone, with
exit code 2 and one line naming the assignment, the first failing cell and its error:

    canary 02_convolution: cell 7 raised ModuleNotFoundError: No module named 'cnnkit'

The canary also measures each cell of the reference. A student's cell may then run for
max(30 s, 10 × the reference's time for that cell), capped by ``--cell-timeout``; a cell
the reference does not have (one the student added) gets the largest of those limits.
An infinite loop in lesson 01 then holds a grading slot for 30 s, not 10 minutes, while
training cells keep the time they need.

A passed canary is cached in ``$AUTOGRADER_CACHE`` (default ``~/.cache/pixels-to-lenet``)
under the digest of the released assignment and a fingerprint of the environment (Python,
packages, the course package, the data, the grader's code, mode, sandbox and caps), so a
resumed or repeated batch does not pay twice. A failed canary is never cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import site
import sys
import time
from pathlib import Path

from concurrent.futures import ThreadPoolExecutor

import nbformat

from autograder import course
from autograder.authoring.release import release_digest
from autograder.batch.options import Options
from autograder.batch.stops import STOP_HELP
from autograder.job.contract import BatchStopped, Job, JobResult, Limits
from autograder.job.runners import Runner
from autograder.sandbox.kernel import KEPT_ENV, data_files

FLOOR_S = 30      # no cell gets less than this
FACTOR = 10       # × the reference's time for the same cell


def cache_dir() -> Path:
    return course.cache_root() / "canary"


def reference(aid: str) -> nbformat.NotebookNode:
    """The reference solution as a student would hand it in: the source notebook, outputs cleared."""
    nb = nbformat.read(course.SOLUTIONS / aid / f"{aid}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def _stat(path: str) -> list:
    """Identity of a file or folder: a reinstall, an uninstall or a mount over it changes it.
    A folder's mtime is left out: Python writing a bytecode cache inside must not count."""
    try:
        st = os.stat(path)
    except OSError:
        return [path, None]
    if os.path.isdir(path):
        return [path, st.st_dev, st.st_ino]
    return [path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def _tree_hash(folder: Path, pattern: str = "*.py") -> str:
    h = hashlib.sha256()
    for path in sorted(folder.glob(pattern)):
        h.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def fingerprint(settings: dict, data: list[str]) -> str:
    """A digest of everything in the grading environment a kernel's result depends on.

    Python and where it lives; every entry of site-packages (name, device, inode, and for
    a file its size and mtime: an install, an uninstall or a folder mounted over a package
    changes it); the course
    package and the grader's own code (contents); the data files the sandbox exposes; the
    kernel-relevant environment variables; and the batch settings (mode, sandbox, caps).
    """
    parts = {
        "python": [sys.version, os.path.realpath(sys.executable), os.path.realpath(sys.prefix)],
        "site": [_stat(os.path.join(d, name)) for d in site.getsitepackages() if os.path.isdir(d)
                 for name in sorted(os.listdir(d)) if name != "__pycache__"],
        "cnnkit": _tree_hash(course.REPO / "cnnkit"),
        "autograder": _tree_hash(course.HERE, "**/*.py"),
        "data": [_stat(p) for p in data],
        "env": {k: os.environ.get(k) for k in (*KEPT_ENV, "FASHION_MNIST_DIR", "KERAS_HOME", "PYTHONPATH")},
        "settings": settings,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def cache_path(aid: str, digest: str, env: str) -> Path:
    return cache_dir() / f"{aid}-{digest[:16]}-{env[:16]}.json"


def load_cached(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def save(path: Path, record: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=1))
        tmp.replace(path)
    except OSError:
        pass  # a cache that cannot be written costs time, never a grade


def failure(aid: str, result: JobResult, auto_max: float) -> str | None:
    """Why the reference did not pass, as one line; None when it got every autograded point."""
    if not result.ok:
        return f"canary {aid}: the reference solution could not be graded: {result.reason or 'unknown error'}"
    auto = sum(g["auto_score"] or 0.0 for g in result.grades if not g["needs_manual_grade"])
    first = result.first_error
    if auto >= auto_max and not result.timeouts and not result.crashes and not first:
        return None
    if first:
        where = f"cell {first['index']}" + (f" ({first['grade_id']})" if first.get("grade_id") else "")
        return f"canary {aid}: {where} raised {first['ename']}: {first['evalue']}"
    if result.timeouts:
        return f"canary {aid}: the reference timed out in {', '.join(result.timeouts)}"
    if result.crashes:
        return f"canary {aid}: the kernel died in {', '.join(result.crashes)}"
    return f"canary {aid}: the reference solution scored {auto:g} of {auto_max:g} autograded points"


def limits(cell_seconds: dict[str, float], cap: int) -> tuple[dict[str, int], int]:
    """Per-cell time limits from the reference's times: ({cell key: seconds}, limit for other cells)."""
    per = {key: int(min(cap, max(FLOOR_S, FACTOR * s))) for key, s in cell_seconds.items()}
    return per, max(per.values(), default=min(cap, FLOOR_S))


def record(result: JobResult, seconds: float) -> dict:
    return {"cell_seconds": result.cell_seconds, "seconds": round(seconds, 1),
            "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}


def check(runner: Runner, template: Path, points: dict[str, tuple[float, float]], opts: Options,
          stream) -> dict[str, tuple[dict[str, int], int]]:
    """Grade each assignment's reference solution with the batch's runner, as the students will be;
    the per-cell time limits from it, per assignment. Raises BatchStopped if any reference loses points."""
    settings = {"mode": opts.mode, "sandboxed": runner.sandboxed, "mem_mb": opts.mem_mb, "nproc": opts.nproc,
                "cell_timeout": opts.cell_timeout}
    env = fingerprint(settings, data_files())
    print(f"canary: grading the reference solution of {', '.join(points)} first, as the students will be",
          file=stream, flush=True)
    found: dict[str, tuple[dict[str, int], int]] = {}

    def one(aid: str) -> tuple[str, str]:
        digest = release_digest(template, aid)
        path = cache_path(aid, digest, env)
        # On a cluster the environment is the workers', which this machine cannot fingerprint:
        # the canary runs every time there (one notebook per assignment, on the cluster).
        cached = load_cached(path) if runner.local_environment else None
        if cached is not None:
            found[aid] = limits(cached["cell_seconds"], opts.cell_timeout)
            return aid, f"passed (cached from {cached['when']})"
        start = time.monotonic()
        result = runner.run(Job(reference(aid), "canary", aid, digest, opts.mode, opts.sandbox,
                                Limits(opts.cell_timeout, opts.mem_mb, opts.nproc), opts.timeout, template))
        seconds = time.monotonic() - start
        problem = failure(aid, result, points[aid][1])
        if problem:
            raise BatchStopped(problem, STOP_HELP)
        if runner.local_environment:
            save(path, record(result, seconds))
        found[aid] = limits(result.cell_seconds, opts.cell_timeout)
        return aid, f"passed in {seconds:.1f} s"

    with ThreadPoolExecutor(max_workers=runner.jobs) as pool:
        for aid, how in pool.map(one, points):
            per, other = found[aid]
            span = f"{min(per.values(), default=other)}–{max(per.values(), default=other)} s"
            print(f"canary {aid}: {how}; cell time limits {span}", file=stream, flush=True)
    return found
