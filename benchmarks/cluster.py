"""Grading through Dask vs the local pool, on this machine (prints figures; not a test).

    python -m benchmarks.cluster [--students 4] [--assignments 01_pixels ...]

The same batch of honest notebooks (the reference solutions, ``--students`` copies of each
assignment), graded with ``--force --no-canary`` four ways: the local pool (``--jobs 2``),
and through a real TLS Dask cluster on loopback (testbed/daskcluster.py: a scheduler and
workers each from its own copy of the course) with 1 worker × 1 slot, 1 worker × 2 slots
and 2 workers × 1 slot. Prints notebooks per minute and the per-job overhead Dask adds
(the time difference against the local pool with as many slots, divided by the jobs).
Run it as root (the workers sandbox) on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder import course


def _grade(subs: Path, out: Path, *args: str) -> float:
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(subs), "--out", str(out), "--force",
                           "--no-canary", "--course-dir", str(out / "course"), *args],
                          cwd=course.REPO, capture_output=True, text=True)
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stdout[-3000:] + proc.stderr[-3000:])
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cluster", description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=4)
    parser.add_argument("--assignments", nargs="*",
                        default=[a for a in course.assignments() if a[:2] in {"01", "02", "03", "04", "05"}])
    args = parser.parse_args(argv)
    from autograder.cluster.certs import make_certs
    from testbed.daskcluster import Cluster, copy_course  # maintainers run this from the repository

    with tempfile.TemporaryDirectory(prefix="cluster-bench-") as tmp:
        root = Path(tmp)
        subs = root / "subs"
        for s in range(args.students):
            for aid in args.assignments:
                (subs / f"student{s:02d}" / aid).mkdir(parents=True)
                shutil.copy2(course.SOLUTIONS / aid / f"{aid}.ipynb", subs / f"student{s:02d}" / aid)
        n = args.students * len(args.assignments)
        certs = root / "certs"
        make_certs(certs, hosts=["127.0.0.1"])
        checkouts = [copy_course(root / f"w{i}") for i in (1, 2)]
        print(f"Grading through Dask, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
              f"{platform.node() or 'this machine'}: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
              f"{n} notebooks ({args.students} students × {', '.join(args.assignments)})")
        print(f"{'configuration':<28} {'seconds':>8} {'notebooks/min':>14}")
        seconds = {}

        def report(name: str, s: float) -> None:
            seconds[name] = s
            print(f"{name:<28} {s:>8.1f} {n / s * 60:>14.1f}", flush=True)

        report("local pool, --jobs 1", _grade(subs, root / "local1", "--jobs", "1"))
        report("local pool, --jobs 2", _grade(subs, root / "local2", "--jobs", "2"))
        for name, layout in (("Dask, 1 worker × 1 slot", [1]), ("Dask, 1 worker × 2 slots", [2]),
                             ("Dask, 2 workers × 1 slot", [1, 1])):
            cluster = Cluster(root / name.replace(" ", "_"), certs)
            (root / name.replace(" ", "_")).mkdir()
            try:
                cluster.start_scheduler()
                names = []
                for i, slots in enumerate(layout):
                    cluster.start_worker(f"w{i + 1}", checkouts[i], slots=slots)
                    names.append(f"w{i + 1}")
                cluster.wait_workers(names)
                report(name, _grade(subs, root / name.replace(" ", "_") / "out", "--scheduler", cluster.address,
                                    "--certs", str(certs)))
            finally:
                cluster.stop()
        for slots, local, dask in ((1, "local pool, --jobs 1", "Dask, 1 worker × 1 slot"),
                                   (2, "local pool, --jobs 2", "Dask, 1 worker × 2 slots")):
            print(f"Dask's overhead with {slots} slot(s): {(seconds[dask] - seconds[local]) / n * slots:+.2f} s per job")
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
