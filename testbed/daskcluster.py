"""A real Dask grading cluster for tests and benchmarks: the scheduler and workers are
`python -m autograder cluster scheduler` and `python -m autograder worker` processes on
loopback, each in a session of its own and stopped by PID; each worker runs from its own copy
of the course (no shared file system)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_course(dest: Path, change=None) -> Path:
    """A worker's own checkout: the course's files (tracked, or new and not ignored), nothing else."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_bytes(src.read_bytes())
    if change:
        change(dest)
    return dest


class Proc:
    """A process in a session of its own, stopped by PID (its whole process group)."""

    def __init__(self, argv: list[str], cwd: Path, log: Path):
        self.log = log
        with open(log, "ab") as f:
            self.p = subprocess.Popen(argv, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, sig)
                self.p.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()


class Cluster:
    def __init__(self, root: Path, certs: Path):
        self.root, self.certs, self.port = root, certs, _free_port()
        self.address = f"tls://127.0.0.1:{self.port}"
        self.procs: list[Proc] = []
        self.scheduler: Proc | None = None

    def start_scheduler(self) -> None:
        self.scheduler = Proc([sys.executable, "-m", "autograder", "cluster", "scheduler", "--certs", str(self.certs),
                               "--host", "127.0.0.1", "--port", str(self.port)], REPO, self.root / "scheduler.log")
        self.procs.append(self.scheduler)
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert self.scheduler.p.poll() is None, self.scheduler.log.read_text()
                assert time.monotonic() < deadline, "the scheduler did not start"
                time.sleep(0.3)

    def start_worker(self, name: str, checkout: Path, certs: Path | None = None, slots: int = 1) -> Proc:
        proc = Proc([sys.executable, "-m", "autograder", "worker", self.address, "--certs", str(certs or self.certs),
                     "--slots", str(slots), "--name", name], checkout, self.root / f"{name}.log")
        self.procs.append(proc)
        return proc

    def workers(self) -> list[str]:
        from distributed import Client

        from autograder.cluster.certs import security

        with Client(self.address, security=security(self.certs, "client"), timeout=20, set_as_default=False) as c:
            return sorted(w["name"] for w in c.scheduler_info(n_workers=-1)["workers"].values())

    def wait_workers(self, names: list[str], timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while self.workers() != sorted(names):
            assert time.monotonic() < deadline, f"workers {names} did not join: {self.workers()}"
            time.sleep(0.5)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
