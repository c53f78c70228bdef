"""Grading on a Dask cluster (autograder/cluster/), with a real scheduler and real worker
processes on loopback, started by these tests and stopped by PID. Each worker runs from its
own copy of the course in its own folder (no shared file system: a path the instructor's
side assumed on a worker would break the batch). TLS with the course's own CA: strangers
are refused. A worker killed mid-batch loses nothing; a scheduler lost mid-batch stops the
batch cleanly and a rerun finishes; a worker with another release never grades."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import LESSONS, REPO, SOLUTIONS, notebook
from testbed.daskcluster import Cluster, copy_course

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="workers sandbox student code, which needs root")

WRONG_NORMALIZE = ("np.asarray(image).astype(np.float32) / np.float32(255)", "np.asarray(image) / 256")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    from autograder.cluster.certs import make_certs

    folder = tmp_path_factory.mktemp("certs")
    make_certs(folder, hosts=["127.0.0.1", "localhost"])
    return folder


@pytest.fixture(scope="module")
def checkouts(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkouts")
    return {name: copy_course(root / name) for name in ("w1", "w2")}


@pytest.fixture
def cluster(tmp_path, certs):
    c = Cluster(tmp_path, certs)
    c.start_scheduler()
    yield c
    c.stop()


def _batch(root: Path, port: int) -> Path:
    """Lesson 01: a right, a wrong, a blank and a broken notebook, and one whose extra cell
    tries to reach the scheduler from the student's kernel."""
    right = notebook(SOLUTIONS, "01_pixels").read_text()
    probe = json.loads(right)
    probe["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": (
        "import socket\ntry:\n    socket.create_connection(('127.0.0.1', %d), timeout=3).close()\n"
        "    print('PROBE: reached the scheduler')\nexcept OSError as err:\n"
        "    print('PROBE: blocked', type(err).__name__)\n" % port)})
    for sid, text in (("right", right), ("wrong", right.replace(*WRONG_NORMALIZE)),
                      ("blank", notebook(LESSONS, "01_pixels").read_text()), ("broken", right[: len(right) // 2]),
                      ("probe", json.dumps(probe))):
        (root / sid / "01_pixels").mkdir(parents=True)
        (root / sid / "01_pixels" / "01_pixels.ipynb").write_text(text)
    return root


def _grade(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "grade", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=1800, env=env)


def _rows(out: Path) -> list[dict]:
    with open(out / "grades.csv") as f:
        return list(csv.DictReader(f))


def _tls_probe(port: int, ca: str, cert: Path | None) -> str:
    import socket
    import ssl

    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    if cert is not None:
        ctx.load_cert_chain(f"{cert}.pem", f"{cert}-key.pem")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.settimeout(3)
                return "refused" if tls.recv(1) == b"" else "open"
    except socket.timeout:
        return "open"  # the scheduler waits for a message: it accepted us
    except (ssl.SSLError, ConnectionError):
        return "refused"


def test_strangers_are_refused(cluster, checkouts, tmp_path):
    """Mutual TLS: the scheduler refuses a peer that trusts it but has no certificate of the
    course CA (another CA's, or none), and a plain TCP one."""
    from distributed import Client
    from distributed.security import Security

    from autograder.cluster.certs import make_certs

    cluster.start_worker("w1", checkouts["w1"])
    cluster.wait_workers(["w1"])
    other = make_certs(tmp_path / "other-ca", hosts=["127.0.0.1"])["ca"].parent
    course_ca = str(cluster.certs / "ca.pem")
    stranger = Security(tls_ca_file=course_ca, tls_client_cert=str(other / "client.pem"),
                        tls_client_key=str(other / "client-key.pem"), require_encryption=True)
    with pytest.raises((OSError, TimeoutError)):
        Client(cluster.address, security=stranger, timeout=5, set_as_default=False)
    # At the TLS level: without a client certificate the scheduler ends the connection; with
    # the course's, the same probe is kept open (the control that this check can fail).
    assert _tls_probe(cluster.port, course_ca, None) == "refused"
    assert _tls_probe(cluster.port, course_ca, cluster.certs / "client") == "open"
    with pytest.raises((OSError, TimeoutError)):
        Client(f"tcp://127.0.0.1:{cluster.port}", timeout=5, set_as_default=False)
    # A worker that trusts the course CA but shows another CA's certificate never joins.
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "ca.pem").write_bytes((cluster.certs / "ca.pem").read_bytes())
    for name in ("worker.pem", "worker-key.pem"):
        (mixed / name).write_bytes((other / name).read_bytes())
    intruder = cluster.start_worker("intruder", checkouts["w2"], certs=mixed)
    time.sleep(10)
    assert cluster.workers() == ["w1"]
    intruder.stop()
    # And `grade` with another CA's certificates is refused with a clear message.
    proc = _grade(str(tmp_path), "--out", str(tmp_path / "out"), "--scheduler", cluster.address,
                  "--certs", str(other))
    assert proc.returncode == 2 and "cannot reach the grading cluster" in proc.stderr, proc.stdout + proc.stderr


def test_cluster_batch_survives_a_killed_worker_and_equals_the_local_one(cluster, checkouts, tmp_path):
    subs = _batch(tmp_path / "subs", cluster.port)
    local = _grade(str(subs), "--out", str(tmp_path / "local"), "--jobs", "2", "--course-dir", str(tmp_path / "c1"))
    assert local.returncode == 0, local.stdout + local.stderr

    w1 = cluster.start_worker("w1", checkouts["w1"])
    cluster.start_worker("w2", checkouts["w2"])
    cluster.wait_workers(["w1", "w2"])
    proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(subs), "--out", str(tmp_path / "dask"),
                             "--course-dir", str(tmp_path / "c2"), "--scheduler", cluster.address, "--certs",
                             str(cluster.certs)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("[  1/5]"):
            w1.stop(signal.SIGKILL)  # the machine is gone: the worker, its nanny, its grading process
    proc.wait(timeout=60)
    out = "".join(lines)
    assert proc.returncode == 0, out + cluster.root.joinpath("w2.log").read_text()[-3000:]
    assert "on the cluster at " + cluster.address in out
    assert w1.p.returncode is not None and cluster.workers() == ["w2"]
    assert (tmp_path / "dask" / "grades.csv").read_text() == (tmp_path / "local" / "grades.csv").read_text()
    rows = {r["student_id"]: r for r in _rows(tmp_path / "dask")}
    assert len(_rows(tmp_path / "dask")) == 5
    assert rows["right"]["score"] == "8" and rows["blank"]["score"] == "0" and rows["probe"]["score"] == "8"
    assert rows["broken"]["status"].startswith("ungradable: invalid notebook")
    assert 0 < float(rows["wrong"]["score"]) < 8
    # The feedback and the executed notebooks came back as bytes; the student's kernel could
    # not reach the scheduler (no network in the sandbox).
    assert (tmp_path / "dask" / "feedback" / "right" / "01_pixels" / "01_pixels.html").stat().st_size > 1000
    executed = json.loads((tmp_path / "dask" / "autograded" / "probe" / "01_pixels" / "01_pixels.ipynb").read_text())
    printed = "".join("".join(o.get("text", "")) for c in executed["cells"] if "PROBE" in "".join(c["source"])
                      for o in c.get("outputs", []))
    assert printed.startswith("PROBE: blocked"), printed


def test_a_worker_with_another_release_never_grades(cluster, tmp_path):
    def change_release(dest: Path) -> None:
        path = notebook(dest / "solutions", "01_pixels")
        path.write_text(path.read_text().replace("Lesson 1", "Lesson 1 (edited)", 1))

    stale = copy_course(tmp_path / "stale", change_release)
    assert notebook(stale / "solutions", "01_pixels").read_text() != notebook(SOLUTIONS, "01_pixels").read_text()
    cluster.start_worker("stale", stale)
    cluster.wait_workers(["stale"])
    subs = _batch(tmp_path / "subs", cluster.port)
    args = [str(subs), "--out", str(tmp_path / "out"), "--course-dir", str(tmp_path / "c"), "--scheduler",
            cluster.address, "--certs", str(cluster.certs)]
    stopped = _grade(*args)  # the canary goes first: it names the mismatch and grades no one
    assert stopped.returncode == 2 and "worker has release" in stopped.stderr, stopped.stdout + stopped.stderr
    proc = _grade(*args, "--no-canary")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for row in _rows(tmp_path / "out"):
        if row["student_id"] != "broken":  # screened out before any worker
            assert row["status"].startswith("ungradable: worker has release ") and "batch needs " in row["status"], row
            assert row["score"] == "0"


def test_a_lost_scheduler_stops_the_batch_and_a_rerun_finishes(cluster, checkouts, tmp_path):
    cluster.start_worker("w1", checkouts["w1"])
    cluster.wait_workers(["w1"])
    subs = _batch(tmp_path / "subs", cluster.port)
    args = [sys.executable, "-m", "autograder", "grade", str(subs), "--out", str(tmp_path / "out"), "--course-dir",
            str(tmp_path / "c"), "--scheduler", cluster.address, "--certs", str(cluster.certs), "--no-canary"]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("[  2/5]"):
            cluster.scheduler.stop(signal.SIGKILL)
    proc.wait(timeout=300)
    out = "".join(lines)
    assert proc.returncode == 2, out
    assert "lost the grading cluster at " + cluster.address in out and ".results/" in out, out
    kept = {p.stem for p in (tmp_path / "out" / ".results").rglob("*.json")}
    assert kept and len(list((tmp_path / "out" / ".results").rglob("*.json"))) < 5

    cluster.stop()  # the old worker gave up on its scheduler; bring the cluster back on the same address
    cluster.procs.clear()
    cluster.start_scheduler()
    cluster.start_worker("w1b", checkouts["w1"])
    cluster.wait_workers(["w1b"])
    rerun = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    rows = {r["student_id"]: r for r in json.loads((tmp_path / "out" / "grades.json").read_text())}
    assert len(rows) == 5
    reused = [s for s, r in rows.items() if "reused from an earlier run" in r["notes"]]
    assert len(reused) >= 2, rows  # finished before the loss: not graded again
    assert rows["right"]["score"] == 8.0 and rows["blank"]["score"] == 0.0
