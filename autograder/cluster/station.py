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

from autograder.job.contract import Job, JobResult
from autograder.job.slots import Slots

_slots = None
_lock = threading.Lock()


def _station(mode: str, sandbox: str):
    global _slots
    with _lock:
        if _slots is None or _slots.mode != mode:
            from distributed import get_worker

            if _slots is not None:
                _slots.close()
            # Job uids from 62000 on: a local batch on the same machine claims from 61000.
            _slots = Slots(get_worker().state.nthreads, mode, sandbox=sandbox, uid_base=62000)
        return _slots


def grade_job(payload: str) -> dict:
    """Grade one job (a :class:`~autograder.job.contract.Job` as JSON; see the module docstring);
    runs in a Dask worker's thread. Its :class:`~autograder.job.contract.JobResult` goes back as
    plain data."""
    job = Job.from_json(payload)
    slots = _station(job.mode, job.sandbox)
    if job.sandbox == "on" and not slots.sandboxed:
        return JobResult.failed(f"the worker cannot sandbox student code: {slots.why_not}").to_wire()
    mine = slots.digest(job.assignment)
    if mine != job.digest:
        return JobResult.failed(f"worker has release {mine[:12]}, batch needs {job.digest[:12]} "
                                f"(update the worker's checkout of the course)").to_wire()
    result = slots.run(job)
    result.isolation = slots.isolation()
    return result.to_wire()


def close() -> None:
    """Release the worker's slots (uids, grading workers, work folder)."""
    global _slots
    with _lock:
        if _slots is not None:
            _slots.close()
            _slots = None
