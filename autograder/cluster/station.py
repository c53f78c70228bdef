"""What a cluster worker does with one grading job (a Dask task).

A job carries everything it needs, since workers share no file system with the
instructor's machine: the submission (the screened notebook, as JSON), the student and
assignment ids, the digest of the release the batch grades against, and the batch's
settings. The worker grades only against its **own** checkout's release of that assignment,
and only when its digest is the batch's; otherwise the row is ``ungradable: worker has
release X, batch needs Y``, never graded against other tests. The result comes back as
data: the grades, and the feedback and executed notebook as bytes.

One :class:`~autograder.job.slots.Slots` per worker process (as many slots as the
worker has threads) is kept for the process's life, so the released assignments are built
once and the grading workers are reused job after job, as in a local batch.
"""

from __future__ import annotations

import threading

import nbformat

_slots = None
_lock = threading.Lock()


def _station(mode: str, sandbox: str):
    global _slots
    with _lock:
        if _slots is None or _slots.mode != mode:
            from distributed import get_worker

            from autograder.job.slots import Slots

            if _slots is not None:
                _slots.close()
            # Job uids from 62000 on: a local batch on the same machine claims from 61000.
            _slots = Slots(get_worker().state.nthreads, mode, sandbox=sandbox, uid_base=62000)
        return _slots


def grade_job(job: dict) -> dict:
    """Grade one job (see the module docstring); runs in a Dask worker's thread."""
    slots = _station(job["mode"], job.get("sandbox", "auto"))
    if job.get("sandbox") == "on" and not slots.sandboxed:
        return {"ok": False, "reason": f"the worker cannot sandbox student code: {slots.why_not}"}
    aid = job["assignment"]
    mine = slots.digest(aid)
    if mine != job["digest"]:
        return {"ok": False, "reason": f"worker has release {mine[:12]}, batch needs {job['digest'][:12]} "
                                       f"(update the worker's checkout of the course)"}
    nb = nbformat.reads(job["notebook"], as_version=4)
    result = slots.run(nb, job["student"], aid, job["settings"], job["timeout"])
    result["isolation"] = slots.isolation()
    return result


def close() -> None:
    """Release the worker's slots (uids, grading workers, work folder)."""
    global _slots
    with _lock:
        if _slots is not None:
            _slots.close()
            _slots = None
