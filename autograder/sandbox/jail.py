"""The inside of the sandbox. ``autograder.sandbox.kernel`` starts a student's kernel as

    unshare --net --mount --pid --fork --kill-child --mount-proc \\
        python -m autograder.sandbox.jail SPEC.json -- python -m ipykernel_launcher -f kernel.json

so this module runs as root in fresh network, mount and PID namespaces. It builds a
minimal root file system on a tmpfs — the system folders read-only, the Python
installation, the course venv and the helper package read-only, the data read-only,
the student's working folder and the kernel's connection folder read-write, a private
/tmp — and nothing else: no course repository, no solutions, no gradebook, no other
student. Then it chroots there, applies the resource limits, drops to the job's
unprivileged uid (no groups, no capabilities), cleans the environment and execs the
kernel. The kernel is PID 1 of its namespace: when it exits, every process it left
behind is killed by the kernel of the OS.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import subprocess
import sys

SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt"]


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def _bind(src: str, root: str, dest: str | None = None, ro: bool = True) -> None:
    target = root + (dest or src)
    if os.path.isdir(src):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    _mount("--rbind", src, target)
    if ro:
        _mount("-o", "remount,bind,ro", target)


def build_root(spec: dict) -> str:
    root = spec["root"]
    os.makedirs(root, exist_ok=True)
    _mount("-t", "tmpfs", "-o", "mode=755,size=64m", "jailroot", root)
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            os.symlink(os.readlink(d), root + d)
        elif os.path.isdir(d):
            _bind(d, root)
    for d in ("/dev", "/sys"):
        _bind(d, root)
    os.makedirs(root + "/proc")
    _mount("-t", "proc", "proc", root + "/proc")
    os.makedirs(root + "/tmp")
    _mount("-t", "tmpfs", "-o", f"mode=1777,size={spec.get('tmp_mb', 512)}m", "tmp", root + "/tmp")
    for path in spec["expose_ro"]:
        if os.path.exists(path) and not os.path.exists(root + path):
            _bind(path, root)
        elif os.path.exists(path):  # already inside an exposed tree (e.g. under /usr)
            pass
    for src, dest in spec["expose_rw"]:
        _bind(src, root, dest, ro=False)
    return root


def limit(spec: dict) -> None:
    mem = int(spec["mem_mb"]) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_NPROC, (spec["nproc"], spec["nproc"]))
    fsize = int(spec.get("fsize_mb", 200)) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def die_with_parent() -> None:
    """Be killed when the parent process dies (PR_SET_PDEATHSIG). The grading worker sets it on
    ``unshare`` (between fork and exec), and the jail sets it again on the kernel after the drop
    to the job's uid: ``--kill-child`` asked for it, but the kernel of the OS forgets it when a
    process changes its uid. Without that, the kernel of a worker killed with its grader ran
    on, as the job's uid, forever."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


SEED_MAX_BYTES = 4 * 1024 * 1024


def read_seed(folder: str) -> list[tuple[str, bytes]]:
    """The regular files under ``folder`` (relative path, bytes), read as root before the
    chroot: what the kernel's home starts with (matplotlib's font cache). No links followed."""
    found, total = [], 0
    if not folder or not os.path.isdir(folder):
        return found
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            with open(path, "rb") as f:
                data = f.read(SEED_MAX_BYTES + 1)
            total += len(data)
            if total > SEED_MAX_BYTES:
                return found
            found.append((os.path.relpath(path, folder), data))
    return found


def write_seed(home: str, files: list[tuple[str, bytes]]) -> None:
    """Write the seed into the kernel's home, as the kernel's own uid (after the drop)."""
    for rel, data in files:
        path = os.path.join(home, rel)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def main(argv: list[str]) -> None:
    spec_path, sep, *cmd = argv
    assert sep == "--" and cmd, "usage: python -m autograder.sandbox.jail SPEC.json -- CMD..."
    with open(spec_path) as f:
        spec = json.load(f)
    uid = int(spec["uid"])
    for src, _dest in spec["expose_rw"]:
        for dirpath, dirnames, filenames in os.walk(src):
            for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
                os.lchown(name, uid, uid)
    seed = read_seed(spec.get("home_seed", ""))
    root = build_root(spec)
    os.chroot(root)
    os.chdir(spec["cwd"])
    limit(spec)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    die_with_parent()
    os.makedirs(spec["env"]["HOME"], exist_ok=True)
    write_seed(spec["env"]["HOME"], seed)
    os.execvpe(cmd[0], cmd, spec["env"])


if __name__ == "__main__":
    main(sys.argv[1:])
