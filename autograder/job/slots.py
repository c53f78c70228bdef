"""Grading slots: where one job (a screened notebook, a student, an assignment) is graded.

A :class:`Slots` owns a private work folder with the released assignments (the template
gradebook and sources, built by :func:`autograder.authoring.release.release_template`), the sandbox's
job uids (claimed for as long as it lives) and one grading worker process per slot
(``python -m autograder.job.worker --serve``, a :class:`_WorkerProcess`), reused job after
job. ``run`` grades one :class:`~autograder.job.contract.Job` in a throwaway nbgrader course
and returns the worker's :class:`~autograder.job.contract.JobResult` with the files it made
(feedback HTML, the executed notebook) as bytes: the caller decides where they go. The local
batch (through :class:`~autograder.job.runners.LocalRunner`) and a cluster worker
(:mod:`autograder.cluster.station`) grade through the same code.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import nbformat

from autograder import course
from autograder.authoring.release import release_digest, release_template
from autograder.job import scratch
from autograder.job.contract import Job, JobResult, WorkerJob


class Slots:
    """``n`` grading slots on this machine (see the module docstring)."""

    def __init__(self, n: int, mode: str, sandbox: str = "auto", uid_base: int = 61000, stream=sys.stdout,
                 start: int | None = None):
        self.n, self.mode = n, mode
        self.workroot, self._workroot_held = scratch.make()
        self.free: queue.Queue[int] = queue.Queue()
        for i in range(n):
            self.free.put(i)
        self.workers: dict[int, _WorkerProcess | None] = {}
        self.templates: dict[str, Path] = {}
        self._template_lock, self._seed_lock = threading.Lock(), threading.Lock()
        self.home_seed, self._seed_build = "", None
        self.uids, self._uid_locks, self.sandboxed, self.why_not = [uid_base + i for i in range(n)], [], False, ""
        if sandbox != "off":
            from autograder.sandbox.kernel import available, claim_uids

            ok, self.why_not = available()
            if ok:
                self.sandboxed = True
                self.uids, self._uid_locks = claim_uids(n, first=uid_base)
            elif sandbox == "on":
                self.close()
                raise SystemExit(f"error: --sandbox on, but isolation is not available: {self.why_not}")
        if self.sandboxed:
            from autograder.sandbox.kernel import build_home_seed

            self._seed_build = build_home_seed(self.workroot / "home-seed", mode)
        # Start the workers now (``start`` of them: no more than the batch has jobs): each imports
        # nbgrader and nbconvert (0.8 s) while the batch releases its assignments and opens the
        # gradebook, not after. The others start with their first job.
        for i in range(n if start is None else min(n, start)):
            self.workers[i] = _WorkerProcess(mode, self.workroot / f"worker-{i}.log", self._lock_of(i))

    def _lock_of(self, slot: int):
        """The open lock file that holds the slot's job uid (None without the sandbox)."""
        return self._uid_locks[slot] if self._uid_locks else None

    def isolation(self) -> str:
        if not self.sandboxed:
            return "NOT sandboxed"
        return "sandboxed (job uids " + ", ".join(map(str, self.uids)) + ")"

    # --- released assignments -------------------------------------------------------------
    def template(self, aids: list[str]) -> Path:
        """Release ``aids`` from this checkout's solutions/ into one template course; cached."""
        key = ",".join(sorted(aids))
        with self._template_lock:
            if key not in self.templates:
                root = self.workroot / f"template-{len(self.templates)}"
                release_template(root, aids)
                for aid in aids:
                    self.templates.setdefault(aid, root)
                self.templates[key] = root
            return self.templates[key]

    def digest(self, aid: str) -> str:
        """The release digest of ``aid`` as this checkout releases it."""
        return release_digest(self.template([aid]), aid)

    def _wait_for_seed(self) -> None:
        with self._seed_lock:
            if self._seed_build is not None:
                ok = self._seed_build.wait() == 0
                self._seed_build = None
                self.home_seed = str(self.workroot / "home-seed") if ok else ""

    # --- one job ---------------------------------------------------------------------------
    def run(self, job: Job) -> JobResult:
        """Grade one job in a free slot (against ``job.template``, else this checkout's release);
        the result's ``files`` hold the pages made: {"feedback"|"autograded": bytes}."""
        template = job.template or self.template([job.assignment])
        slot = self.free.get()
        try:
            with tempfile.TemporaryDirectory(prefix="job-", dir=self.workroot) as tmp:
                return self._run(job, Path(tmp), slot, template)
        finally:
            self.free.put(slot)

    def _workspace(self, job: Job, ws: Path, slot: int, template: Path) -> None:
        """Lay out a throwaway nbgrader course for ``job`` in ``ws``, and the worker's job.json."""
        aid, sid = job.assignment, job.student
        shutil.copy2(template / "gradebook.db", ws / "gradebook.db")
        shutil.copytree(template / "source" / aid, ws / "source" / aid)
        dest = ws / "submitted" / sid / aid
        dest.mkdir(parents=True)
        nbformat.write(job.notebook, dest / f"{aid}.ipynb")
        self._wait_for_seed()
        order = WorkerJob(workspace=str(ws), assignment=aid, student=sid, mode=self.mode, limits=job.limits,
                          sandbox=self.sandboxed, job_dir=str(ws / "jail"), uid=self.uids[slot],
                          home_seed=self.home_seed, result=str(ws / "result.json"))
        (ws / "jail").mkdir(mode=0o700)
        (ws / "job.json").write_text(order.to_json())

    def _run(self, job: Job, ws: Path, slot: int, template: Path) -> JobResult:
        self._workspace(job, ws, slot, template)
        try:
            process = self.workers.get(slot)
            if process is None or not process.alive():
                if process is not None:
                    process.close()
                process = self.workers[slot] = _WorkerProcess(self.mode, self.workroot / f"worker-{slot}.log",
                                                              self._lock_of(slot))
            finished = process.grade(ws / "job.json", job.timeout)
            if finished is None:
                process.close()
                self.workers[slot] = None
                return JobResult.failed(f"grading took longer than {job.timeout:g} s")
            result_path = ws / "result.json"
            if not finished or not result_path.is_file():
                reason = f"grader worker ended without a result ({process.ended()}) " + process.log_tail()[:200]
                process.close()
                self.workers[slot] = None
                return JobResult.failed(reason)
            result = JobResult.from_json(result_path.read_text())
            aid, sid = job.assignment, job.student
            for sub, name in (("feedback", f"{aid}.html"), ("autograded", f"{aid}.ipynb")):
                src = ws / sub / sid / aid / name  # only the grader's own files, never student-made ones
                if src.is_file():
                    result.files[sub] = src.read_bytes()
            return result
        finally:
            if self.sandboxed:
                from autograder.sandbox.kernel import kill_uid

                kill_uid(self.uids[slot])

    def close(self) -> None:
        if self._seed_build is not None:
            self._seed_build.kill()
            self._seed_build.wait()
        processes = [w for w in self.workers.values() if w is not None]
        for process in processes:
            process.end()  # all at once: they leave together
        for process in processes:
            process.close()
        self.workers.clear()
        for f in self._uid_locks:
            f.close()
        shutil.rmtree(self.workroot, ignore_errors=True)
        self._workroot_held.close()


class _WorkerProcess:
    """The grading process of one slot, the worker (``python -m autograder.job.worker --serve``), reused job after job.

    Jobs go in on its stdin; "done" comes back on a pipe of its own. Its stderr goes to a
    log file (a full pipe could block it). A job that overruns kills its whole process
    group (the worker and any unsandboxed kernel); the slot then starts a new worker.

    A grader killed outright does not take the worker's session along: the worker watches
    for its grader and stops when it is gone, and it inherits the lock on its slot's job
    uid (``uid_lock``), so no other batch can claim that uid while it still lives.
    """

    def __init__(self, mode: str, log: Path, uid_lock=None):
        env = course.kernel_env(mode)
        env.pop("NBGRADER_EXECUTION", None)
        self.log, self.offset = log, 0
        read_fd, write_fd = os.pipe()
        keep = (write_fd,) if uid_lock is None else (write_fd, uid_lock.fileno())
        with open(log, "ab") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "autograder.job.worker", "--serve", str(write_fd),
                                          str(os.getpid())],
                                         cwd=course.REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=err, pass_fds=keep, start_new_session=True)
        os.close(write_fd)
        self.status = os.fdopen(read_fd, "rb")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def grade(self, job: Path, timeout: float) -> bool | None:
        """True when the job finished, False if the worker died, None on timeout (worker killed)."""
        import select

        self.offset = self.log.stat().st_size if self.log.exists() else 0
        try:
            self.proc.stdin.write(f"{job}\n".encode())
            self.proc.stdin.flush()
        except OSError:
            return False
        ready, _, _ = select.select([self.status], [], [], timeout)
        if not ready:
            self.kill()
            return None
        return self.status.readline() == b"done\n"

    def ended(self) -> str:
        code = self.proc.poll()
        return "still running" if code is None else f"exit {code}"

    def log_tail(self) -> str:
        try:
            with open(self.log, "rb") as f:
                f.seek(self.offset)
                lines = f.read().decode(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, 9)
        except OSError:
            pass
        self.proc.wait()

    def end(self) -> None:
        """No more jobs: the worker leaves once it has read this."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def close(self) -> None:
        if self.alive():
            self.end()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.status.close()
