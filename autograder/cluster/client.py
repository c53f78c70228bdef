"""The instructor's side of ``grade --scheduler tls://HOST:8786``: send each job to the cluster.

Each (student, assignment) job becomes one Dask task, :func:`autograder.cluster.station.grade_job`,
asking for one unit of the ``grading`` resource that only course workers have. Dask
schedules them over the workers and, when a worker is lost, runs its tasks again on
another (``distributed.scheduler.allowed-failures`` times, then ``KilledWorker``). The
parent keeps everything else: screening, the results in ``.results/``, the course
gradebook, grades.csv and feedback, exactly as in a local batch.
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

from autograder.job.contract import BatchStopped, Job, JobResult

CLUSTER_HELP = ("Check that the scheduler is running and that this machine reaches it with the course's client "
                "certificate (--certs). Every job finished so far is kept in .results/: run the same command again "
                "once the cluster is back, and it carries on from there.")


class ClusterLost(BatchStopped):
    pass


class Cluster:
    """A TLS client of the grading cluster's scheduler."""

    def __init__(self, address: str, certs: Path, connect_timeout: float = 30):
        from distributed import Client

        from autograder.cluster.certs import security

        if not address.startswith("tls://"):
            raise SystemExit(f"error: --scheduler {address}: the grading cluster speaks TLS only (tls://HOST:8786)")
        self.address = address
        try:
            self.client = Client(address, security=security(certs, "client"), timeout=connect_timeout,
                                 set_as_default=False)
        except (OSError, TimeoutError) as err:
            raise ClusterLost(f"cannot reach the grading cluster at {address}: {err}", CLUSTER_HELP) from err

    def slots(self) -> int:
        """Grading slots of the workers connected now."""
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        return sum(int(w.get("resources", {}).get("grading", 0)) for w in workers.values())

    def wait_for_slots(self, timeout: float = 60) -> int:
        import time

        deadline = time.monotonic() + timeout
        while (n := self.slots()) == 0:
            if time.monotonic() > deadline:
                raise ClusterLost(f"the grading cluster at {self.address} has no course worker "
                                  f"(start one with `python -m autograder worker {self.address} --certs DIR`)",
                                  CLUSTER_HELP)
            time.sleep(0.5)
        return n

    def grade(self, job: Job) -> JobResult:
        """Run one job on the cluster (sent as JSON: workers run their own checkout's code); its
        result, or ``ok`` False with the reason."""
        from distributed import KilledWorker

        from autograder.cluster.station import grade_job

        key = f"grade-{job.student}-{job.assignment}-{uuid.uuid4().hex[:8]}"
        try:
            future = self.client.submit(grade_job, job.to_json(), key=key, resources={"grading": 1}, pure=False)
            return JobResult.from_wire(future.result())
        except KilledWorker as err:
            return JobResult.failed(f"grading it ended the worker each time it was tried ({err})"[:300])
        except Exception as err:  # the scheduler went away (CancelledError, CommClosedError, OSError, ...)
            if self.client.status in ("running", "connecting") and self._alive():
                raise
            raise ClusterLost(f"lost the grading cluster at {self.address} ({type(err).__name__}: {err})"[:300],
                              CLUSTER_HELP) from err

    def _alive(self) -> bool:
        try:
            self.client.scheduler_info()
            return self.client.status == "running"
        except Exception:
            return False

    def close(self) -> None:
        try:
            self.client.close(timeout=10)
        except Exception:
            pass


class ClusterRunner:
    """The batch's runner (:class:`autograder.job.runners.Runner`) for ``grade --scheduler``: every job
    goes to the scheduler at once (it queues them); the parent only screens and merges."""

    sandboxed = "cluster"      # the workers' sandbox: this machine cannot fingerprint it,
    local_environment = False  # so the canary runs every time, on the cluster

    def __init__(self, address: str, certs: Path, jobs: int, sandbox: str):
        self.cluster = Cluster(address, certs)
        self.jobs = max(jobs, 2 * self.cluster.wait_for_slots())
        self.sandbox = sandbox

    def run(self, job: Job) -> JobResult:
        # Sandboxing is a must on a worker unless the batch said off; the release is the worker's own.
        return self.cluster.grade(dataclasses.replace(job, sandbox="off" if job.sandbox == "off" else "on",
                                                      template=None))

    def isolation(self) -> str:
        how = "NOT sandboxed" if self.sandbox == "off" else "sandboxed there"
        return f"on the cluster at {self.cluster.address} ({self.cluster.slots()} grading slots, {how})"

    def close(self) -> None:
        self.cluster.close()
