"""Isolation for students' kernels.

:class:`SandboxKernelManager` is the kernel manager nbgrader's execute step uses when
grading. Each kernel runs

- in fresh network, mount and PID namespaces (``unshare``): no network at all, not
  even loopback; it sees only its own processes;
- chrooted into a minimal root built by :mod:`autograder.sandbox.jail`: system folders, Python,
  the course venv and helper package and the data, read-only; its own working folder;
  nothing of the course repository, the gradebook or other students;
- as a per-job unprivileged uid, with no groups;
- under resource limits: address space (memory), processes, file size;
- talking to the grader over IPC sockets in a folder of its own (TCP loopback does not
  cross network namespaces), with stdout/stderr sent to /dev/null so that nothing it
  prints can reach the grader's own output.

When the kernel (PID 1 of its namespace) ends, the OS kills everything it started; the
grader also kills any process left with the job's uid.

Without root (or without ``unshare``), :func:`available` is False and the grader falls
back to running kernels as the current user with only the resource limits, after a
loud warning.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Dict, Integer, List, Unicode

from autograder import course
from autograder.sandbox.jail import die_with_parent

#: Environment variables a student's kernel keeps; everything else (NBGRADER_EXECUTION,
#: JUPYTER_*, the grader's paths) is dropped.
KEPT_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "COURSE_MODE", "TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND",
            "PYTHONHASHSEED", "OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def available() -> tuple[bool, str]:
    """Whether full isolation can be used here, and if not, why."""
    if os.geteuid() != 0:
        return False, "the grader is not running as root"
    for tool in ("unshare", "mount", "chroot"):
        if shutil.which(tool) is None:
            return False, f"`{tool}` is not installed"
    probe = subprocess.run(["unshare", "--net", "--mount", "--pid", "--fork", "true"], capture_output=True)
    if probe.returncode != 0:
        return False, f"unshare failed: {probe.stderr.decode(errors='replace').strip()[:200]}"
    return True, ""


def data_files() -> list[str]:
    """Real paths of the Fashion-MNIST files the grader can see (for read-only exposure)."""
    from cnnkit.data import FILES, find_data_dir

    found = find_data_dir()
    if not found:
        return []
    return [os.path.realpath(found[1] / name) for name in FILES.values() if (found[1] / name).exists()]


def course_package() -> str:
    """The folder of the course package the grader grades with: this checkout's ``cnnkit``.

    The kernel is made to import exactly this one (``PYTHONPATH`` = its parent, and only
    this folder of the checkout is shown in the jail). It is not taken from the grader's
    ``sys.path`` nor from the venv: a venv shared with another clone of the course has an
    editable install pointing into that clone, which the jail does not show.
    """
    return str(course.REPO / "cnnkit")


def sandbox_env(mode: str, data_dir: str | None, home: str = "/tmp/home") -> dict[str, str]:
    """The clean environment of a student's sandboxed kernel (course.kernel_env is the
    unsandboxed one: this process's environment plus the course's settings)."""
    env = {k: v for k, v in os.environ.items() if k in KEPT_ENV}
    env.update(course.KERNEL_ENV)
    env.update(COURSE_MODE=mode, HOME=home, MPLCONFIGDIR=f"{home}/.matplotlib", KERAS_HOME=f"{home}/.keras",
               PYTHONDONTWRITEBYTECODE="1", PATH=f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
               PYTHONPATH=os.path.dirname(course_package()))
    if data_dir:
        env["FASHION_MNIST_DIR"] = data_dir
    return env


def build_home_seed(folder: Path, mode: str) -> subprocess.Popen:
    """Start building, in ``folder``, what every kernel's fresh home starts with: matplotlib's
    font cache, made as a kernel would make it (same interpreter, fonts and environment; the
    jail shows the same paths). Without it each sandboxed kernel scanned the system's fonts
    again on ``import matplotlib``: 0.09 s per notebook (measured 2026-12-01, the course
    machine). The caller waits for the process; a seed that failed is simply not used."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = sandbox_env(mode, None, home=str(folder))
    return subprocess.Popen([sys.executable, "-c", "import matplotlib.font_manager"], env=env, cwd=folder,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager that starts the kernel inside :mod:`autograder.sandbox.jail`."""

    job_dir = Unicode(help="a root-only folder for this job's jail files").tag(config=True)
    uid = Integer(61000, help="unprivileged uid the kernel runs as").tag(config=True)
    mem_mb = Integer(4096, help="address-space cap of the kernel, MiB").tag(config=True)
    nproc = Integer(256, help="cap on processes and threads of the job's uid").tag(config=True)
    fsize_mb = Integer(200, help="largest file the kernel may write, MiB").tag(config=True)
    mode = Unicode("fast", help="COURSE_MODE of the kernel").tag(config=True)
    expose_ro = List(Unicode(), help="extra paths to show read-only").tag(config=True)
    workdir_name = Unicode("work", help="name of the working folder inside the jail").tag(config=True)
    extra_env = Dict(help="extra environment variables").tag(config=True)
    home_seed = Unicode("", help="a folder whose files each kernel's fresh home starts with "
                                 "(build_home_seed); none when empty").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        Path(self.job_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        conn = socket_dir(self.uid)
        os.chown(conn, self.uid, self.uid)
        os.chmod(conn, 0o700)
        self.transport = "ipc"
        self.ip = str(conn / "kernel")
        self.connection_file = str(conn / "kernel.json")

    def write_connection_file(self, **kwargs):
        result = super().write_connection_file(**kwargs)
        os.chown(self.connection_file, self.uid, self.uid)
        return result

    def _spec(self, cwd: str) -> dict:
        data = data_files()
        data_dir = os.path.dirname(data[0]) if data else None
        expose = [sys.prefix, os.path.realpath(sys.base_prefix), course_package(), *self.expose_ro]
        if data_dir:
            expose.append(data_dir)
        inside = f"/tmp/{self.workdir_name}"
        env = sandbox_env(self.mode, data_dir)
        env.update(self.extra_env)
        return {
            "root": str(Path(self.job_dir) / "root"),
            "uid": self.uid, "mem_mb": self.mem_mb, "nproc": self.nproc, "fsize_mb": self.fsize_mb,
            "expose_ro": expose,
            "expose_rw": [[cwd, inside], [str(Path(self.connection_file).parent)] * 2],
            "cwd": inside,
            "env": env,
            "home_seed": self.home_seed,
        }

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        cwd = kw.get("cwd") or os.getcwd()
        spec_path = Path(self.job_dir) / "jail.json"
        spec_path.write_text(json.dumps(self._spec(cwd)))
        os.chmod(spec_path, 0o600)
        cmd = ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc",
               sys.executable, "-m", "autograder.sandbox.jail", str(spec_path), "--", *kernel_cmd]
        kw["env"] = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(course.REPO)}
        kw["stdout"] = subprocess.DEVNULL
        kw["stderr"] = subprocess.DEVNULL
        kw["stdin"] = subprocess.DEVNULL
        kw["preexec_fn"] = die_with_parent  # unshare dies with the grader's worker
        return await super()._async_launch_kernel(cmd, **kw)

    async def _async_kill_kernel(self, restart: bool = False) -> None:
        """Kill the kernel itself first, so that ``unshare``, its parent and still waiting on
        it, reaps it at once and exits; then whatever is left, as jupyter_client does.

        jupyter_client kills the launched process's whole group at once: ``unshare`` dies with
        the kernel, the dying kernel is orphaned, and the machine's init reaps it when it gets
        round to it. Until then the job's uid still has a process, and the grader waits for
        it before the slot's next job (measured 2026-12-01: 1.1 s per notebook on the course
        machine, whose init reaps orphans late; 0.03 s this way)."""
        if self.has_kernel:
            for pid in _pids_of(self.uid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                await asyncio.wait_for(self._async_wait(pollinterval=0.01), timeout=2.0)
            except asyncio.TimeoutError:
                pass
        await super()._async_kill_kernel(restart)


#: The grader's run-time files: the job uids' locks and the kernels' sockets. Under /run,
#: where only root may create anything (/run/lock is open to every user, as /tmp is).
RUN_DIR = Path("/run/pixels-to-lenet")
UID_LOCKS = RUN_DIR / "uid-locks"
SOCKETS = RUN_DIR / "sockets"


def private_dir(path: Path) -> Path:
    """``path``, made if missing, refused unless it is a real folder of this user's that
    nobody else may write to: a user who could make or swap it could point the grader's
    root-run file operations elsewhere, or hold the uid locks."""
    import stat

    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise RuntimeError(f"{path} is not a folder of the grader's own that only it may write to "
                           f"(owner uid {st.st_uid}, mode {stat.filemode(st.st_mode)}): remove it and grade again")
    return path


def socket_dir(uid: int) -> Path:
    """An empty folder for the sockets of the kernel that runs as ``uid``.

    Not in the job's folder: that lies under TMPDIR, and a Unix socket's path may not exceed
    107 bytes (a TMPDIR 60 characters long made every kernel fail to start). One folder per
    job uid, emptied for each kernel: a uid runs one job at a time (:func:`claim_uids`)."""
    conn = private_dir(SOCKETS) / str(uid)
    shutil.rmtree(conn, ignore_errors=True)  # links in it are removed, never followed
    conn.mkdir(mode=0o700)
    return conn


def claim_uids(count: int, first: int = 61000, span: int = 1000) -> tuple[list[int], list]:
    """Claim ``count`` job uids that no other grading run on this machine holds.

    Each uid is held by an flock on ``UID_LOCKS/uid-N`` for as long as the returned file
    objects stay open (the OS releases it when the process ends, even on SIGKILL). Two
    batches on one machine (an instructor and a TA, two test runs) then never share a uid,
    so one batch's sweep of leftover processes (:func:`kill_uid`) cannot kill the other's
    kernels. The grading workers inherit their slot's lock (a worker outlives a grader
    killed outright by up to 0.2 s), and a uid is swept when it is claimed.
    """
    import fcntl

    private_dir(UID_LOCKS)
    uids, held = [], []
    for uid in range(first, first + span):
        f = open(UID_LOCKS / f"uid-{uid}", "a")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        kill_uid(uid)  # whatever a batch killed outright left on it (normally nothing)
        uids.append(uid)
        held.append(f)
        if len(uids) == count:
            return uids, held
    for f in held:
        f.close()
    raise RuntimeError(f"no free job uid in {first}–{first + span - 1}: {span} grading slots are in use on this machine")


def _pids_of(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(entry))
                        break
        except OSError:
            continue
    return pids


def kill_uid(uid: int, wait_s: float = 5.0) -> int:
    """SIGKILL every process owned by ``uid`` and wait, up to ``wait_s``, until none is left: the
    next job on this uid must not meet one. A kernel killed through
    :meth:`SandboxKernelManager._async_kill_kernel` is already gone; this is the sweep for
    anything else (a kernel whose worker died, a process still exiting). Returns how many were found."""
    seen: set[int] = set()
    deadline = time.monotonic() + wait_s
    while True:
        pids = _pids_of(uid)
        if not pids:
            break
        seen.update(pids)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return len(seen)
