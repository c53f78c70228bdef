"""How many students can one machine hold on the class's JupyterHub? (prints figures; not a test)

    sudo .venv/bin/python -m benchmarks.hub_capacity [--k 1 5 10 20] [--latency]

For each K: a real hub (testbed/hubclass.py: temp root, K real accounts, removed afterwards)
starts K student servers through its REST API, then every student's server runs lesson 01
(the reference code, fast mode, TensorFlow imported first) in a kernel of its own, all at the
same time, through the Jupyter kernel protocol (websockets, through the hub's proxy). Measured:

- the time until all K servers are up, and until all K lessons have run;
- memory per student: the proportional set size (PSS, shared pages split fairly) of all the
  student's processes (server + kernel) once the lesson has run, the machine's used memory;
- failures (a server that does not start, a kernel that dies, a cell that errs): where it breaks.

``--latency`` also times autograde-on-submit: the first submission (which also pays the canary,
once per change of the grader or its environment), one more alone, then 10 at once (Submit to
feedback released, as the service records it). Run as root on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import pwd
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from testbed.hubclass import NORMALIZE_OK, HubClass, answered  # noqa: E402

AID = "01_pixels"


def lesson_cells() -> list[str]:
    nb = json.loads((REPO / "solutions" / AID / f"{AID}.ipynb").read_text())
    cells = ["import os; os.environ['COURSE_MODE'] = 'fast'\nimport tensorflow as tf"]
    return cells + ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


async def run_lesson(klass: HubClass, user: str, token: str, cells: list[str]) -> dict:
    """Start a kernel in ``user``'s server and execute ``cells`` there; seconds and errors."""
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest
    from tornado.websocket import websocket_connect

    headers = {"Authorization": f"token {token}"}
    base = f"{klass.base}/user/{user}"
    resp = await AsyncHTTPClient().fetch(HTTPRequest(f"{base}/api/kernels", method="POST", body="{}", headers=headers,
                                                     request_timeout=300))
    kernel = json.loads(resp.body)["id"]
    ws = await websocket_connect(HTTPRequest(f"{base.replace('http', 'ws', 1)}/api/kernels/{kernel}/channels",
                                             headers=headers, request_timeout=300))
    session, start, errors = uuid.uuid4().hex, time.monotonic(), []
    for code in cells:
        msg_id = uuid.uuid4().hex
        await ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": user, "session": session,
                       "date": datetime.datetime.now(datetime.timezone.utc).isoformat(), "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        while True:
            raw = await asyncio.wait_for(ws.read_message(), timeout=600)
            if raw is None:
                errors.append("kernel connection closed")
                return {"seconds": time.monotonic() - start, "errors": errors}
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "error":
                errors.append(f"{msg['content']['ename']}: {msg['content']['evalue'][:100]}")
            if msg["msg_type"] == "execute_reply":
                break
        if errors:
            break
    ws.close()
    return {"seconds": time.monotonic() - start, "errors": errors}


def pss_mb(uid: int) -> float:
    """The proportional set size of all processes of ``uid``, MiB."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid != uid:
                continue
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += sum(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total / 1024


def used_mb() -> float:
    info = dict(line.split(":") for line in open("/proc/meminfo"))
    return (int(info["MemTotal"].split()[0]) - int(info["MemAvailable"].split()[0])) / 1024


def one_k(k: int, cells: list[str]) -> dict:
    root = Path(tempfile.mkdtemp(prefix="plt-hub-bench-"))
    os.chmod(root, 0o755)
    klass = HubClass(root, n_students=k)
    result: dict = {"k": k}
    try:
        klass.setup(aids=(AID,))
        base_used = used_mb()
        klass.start()
        t0 = time.monotonic()
        with ThreadPoolExecutor(k) as pool:
            started = list(pool.map(lambda u: _try(klass.start_server, u), klass.students))
        result["spawn_s"] = time.monotonic() - t0
        result["spawn_failed"] = sum(1 for s in started if s)
        tokens = {u: klass.token(u) for u in klass.students}
        t0 = time.monotonic()

        async def all_lessons():
            return await asyncio.gather(*(run_lesson(klass, u, tokens[u], cells) for u in klass.students),
                                        return_exceptions=True)

        runs = asyncio.run(all_lessons())
        result["lesson_s"] = time.monotonic() - t0
        result["lesson_each_s"] = sorted(r["seconds"] for r in runs if isinstance(r, dict))
        result["failed"] = [str(r)[:200] if not isinstance(r, dict) else r["errors"] for r in runs
                            if not isinstance(r, dict) or r["errors"]]
        per = [pss_mb(pwd.getpwnam(u).pw_uid) for u in klass.students]
        result["pss_mb"] = sorted(per)
        result["used_mb"] = used_mb() - base_used
    finally:
        klass.teardown()
        shutil.rmtree(root, ignore_errors=True)
    return result


def _try(fn, *args):
    try:
        fn(*args)
        return None
    except Exception as err:
        return str(err)[:200]


def latency() -> dict:
    """Submit → feedback released: the first submission (the canary runs first), one more alone,
    then 10 at once."""
    root = Path(tempfile.mkdtemp(prefix="plt-hub-bench-"))
    os.chmod(root, 0o755)
    klass = HubClass(root, n_students=12)
    out = {}
    try:
        klass.setup(aids=(AID,))
        klass.start()
        for s in klass.students:
            assert klass.nbgrader(s, "fetch_assignment", AID).returncode == 0
            klass.write_notebook(s, AID, answered({"normalize": NORMALIZE_OK}))
        # The first submission after a change to the grader or its environment also pays the
        # canary (the reference graded first, then cached); the second is the usual case.
        for key, student in (("first_s", klass.students[0]), ("one_s", klass.students[1])):
            t0 = time.time()
            stamp = klass.submit(student, AID)
            out[key] = klass.released_at(klass.wait_feedback(student, AID, stamp)) - t0
        rest = klass.students[2:]
        t0 = time.time()
        with ThreadPoolExecutor(len(rest)) as pool:
            stamps = dict(zip(rest, pool.map(lambda s: klass.submit(s, AID), rest)))
        out["ten_submitted_s"] = time.time() - t0
        # When each feedback was released (the service's record), not when this loop saw it.
        ready = [klass.released_at(klass.wait_feedback(s, AID, stamps[s], timeout=900)) - t0 for s in rest]
        out["ten_ready_s"] = sorted(ready)
    finally:
        klass.teardown()
        shutil.rmtree(root, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[1, 5, 10])
    parser.add_argument("--latency", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the hub logs in real accounts and starts their servers")
    total = int(dict(line.split(":") for line in open("/proc/meminfo"))["MemTotal"].split()[0]) / 1024
    print(f"{datetime.date.today()} · {platform.processor() or platform.machine()} · {os.cpu_count()} cores · "
          f"{total / 1024:.1f} GiB · Python {platform.python_version()}")
    cells = lesson_cells()
    for k in args.k:
        r = one_k(k, cells)
        pss = r["pss_mb"]
        print(f"K={k:>3}: servers up in {r['spawn_s']:.1f} s ({r['spawn_failed']} failed); lesson 01 in every "
              f"kernel at once: all done in {r['lesson_s']:.1f} s (each {r['lesson_each_s'][0]:.1f}–"
              f"{r['lesson_each_s'][-1]:.1f} s), {len(r['failed'])} failed {r['failed'][:2]}; memory per student "
              f"(PSS, server + kernel) {pss[len(pss) // 2]:.0f} MiB median ({pss[0]:.0f}–{pss[-1]:.0f}), "
              f"machine used +{r['used_mb']:.0f} MiB", flush=True)
    if args.latency:
        r = latency()
        print(f"autograde on submit: the first submission {r['first_s']:.1f} s to feedback (the canary first), "
              f"one more {r['one_s']:.1f} s; 10 at once (submitted within "
              f"{r['ten_submitted_s']:.1f} s): feedback after " + ", ".join(f"{t:.0f}" for t in r["ten_ready_s"])
              + " s", flush=True)


if __name__ == "__main__":
    main()
