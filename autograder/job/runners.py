"""Where a job is graded: the seam between the batch (:mod:`autograder.batch`) and the places
that run a student's notebook.

A :class:`Runner` takes one :class:`~autograder.job.contract.Job` (a screened notebook, with
everything needed to grade it) and returns its :class:`~autograder.job.contract.JobResult`.
Two implement it:

- :class:`LocalRunner`: grading slots on this machine (:class:`autograder.job.slots.Slots`);
- ``autograder.cluster.client.ClusterRunner``: the course workers of a Dask cluster.

The caller picks one (``python -m autograder grade`` picks the cluster's for
``--scheduler``; the hub's service grades here) and hands :func:`~autograder.batch.grade.grade`
a factory; the batch never asks which it has. A runner that loses its grading machinery
for good raises :class:`~autograder.job.contract.BatchStopped` (with its help text).
"""

from __future__ import annotations

from typing import Callable, Protocol

from autograder.job.contract import Job, JobResult
from autograder.job.slots import Slots


class Runner(Protocol):
    jobs: int                 # jobs to keep in flight to keep it busy
    sandboxed: object         # for the canary's fingerprint: True/False here, "cluster" there
    local_environment: bool   # whether this machine's environment is the one that grades (canary cache)

    def run(self, job: Job) -> JobResult: ...

    def isolation(self) -> str: ...

    def close(self) -> None: ...


#: What :func:`~autograder.batch.grade.grade` calls, once the batch knows its size, to get its runner.
RunnerFactory = Callable[[int], Runner]


class LocalRunner:
    """Grading slots on this machine: ``jobs`` worker processes, sandboxed when possible."""

    local_environment = True

    def __init__(self, jobs: int, mode: str, sandbox: str, uid_base: int, total: int):
        self.jobs = jobs
        self.slots = Slots(jobs, mode, sandbox, uid_base, start=total)
        self.sandboxed, self.why_not = self.slots.sandboxed, self.slots.why_not

    def run(self, job: Job) -> JobResult:
        return self.slots.run(job)

    def isolation(self) -> str:
        return self.slots.isolation()

    def close(self) -> None:
        self.slots.close()
