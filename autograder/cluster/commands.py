"""``cluster scheduler`` and ``worker``: ``dask scheduler`` and ``dask worker`` with the course's settings.

    python -m autograder cluster certs DIR                       # once: the course CA and certificates
    python -m autograder cluster scheduler --certs DIR           # tls://0.0.0.0:8786
    python -m autograder worker tls://HOST:8786 --certs DIR      # on each grading machine, as root

Both replace themselves (exec) with Dask's own command, so their PID is Dask's:
TLS only, with the course CA and this party's certificate (mutual authentication), and no
dashboard (it would serve the cluster's state over plain HTTP to anyone). A worker has one
thread per grading slot (default: its cores), the resource ``grading`` that the
instructor's ``grade --scheduler`` asks each job for, and ``PYTHONPATH`` set to this
checkout, so that it grades with this checkout's release and code, wherever it was started.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from autograder import course


def scheduler_argv(certs: Path, host: str = "0.0.0.0", port: int = 8786) -> list[str]:
    certs = Path(certs).resolve()
    return [sys.executable, "-m", "distributed.cli.dask_scheduler", "--protocol", "tls", "--host", host,
            "--port", str(port), "--no-dashboard", "--tls-ca-file", str(certs / "ca.pem"),
            "--tls-cert", str(certs / "scheduler.pem"), "--tls-key", str(certs / "scheduler-key.pem")]


def worker_argv(scheduler: str, certs: Path, slots: int, name: str | None = None) -> list[str]:
    certs = Path(certs).resolve()
    argv = [sys.executable, "-m", "distributed.cli.dask_worker", scheduler, "--nworkers", "1",
            "--nthreads", str(slots), "--resources", f"grading={slots}", "--no-dashboard",
            "--tls-ca-file", str(certs / "ca.pem"), "--tls-cert", str(certs / "worker.pem"),
            "--tls-key", str(certs / "worker-key.pem")]
    return argv + (["--name", name] if name else [])


def exec_argv(argv: list[str], certs: Path, role: str) -> None:
    """Become the Dask process (same PID), importing this checkout's course code."""
    from autograder.cluster.certs import security

    security(certs, role)  # says what is missing, before Dask fails less clearly
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(course.REPO), *filter(None, [os.environ.get("PYTHONPATH")])]))
    os.execve(argv[0], argv, env)
