"""Grading throughput benchmark (prints figures; not a test).

    python -m benchmarks.throughput [--students 8] [--assignments 01_pixels ...] [--only-jobs-2]

Builds a batch of honest submissions (the reference solutions, ``--students`` copies of
each of lessons 01–05 by default: 40 notebooks) and grades it three ways with the real
grade command: sandboxed with --jobs 1, sandboxed with --jobs 2, and without the sandbox
with --jobs 1 (plain nbgrader execution). Prints notebooks per minute, the
per-notebook cost of isolation, and the time to execute the same notebooks without any
grading, one at a time and two at a time (the ceilings; each kernel is killed once its last
cell has run, as the grader's are). Run it on an otherwise idle machine.
Each run merges into a throwaway course gradebook (SQLite), as a real batch does. The canary
is left out (``--no-canary``): it costs one notebook per assignment once per environment,
measured on its own in docs/grading.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder import course


def _batch(folder: Path, aids: list[str], students: int) -> int:
    for s in range(students):
        for aid in aids:
            dest = folder / f"student{s:02d}" / aid
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy2(course.SOLUTIONS / aid / f"{aid}.ipynb", dest / f"{aid}.ipynb")
    return students * len(aids)


def _cpu() -> float:
    """CPU seconds (user + system) of this process and of every descendant it has waited for
    (the grader, its workers and their kernels, reaped in turn)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _run(subs: Path, out: Path, *args: str) -> tuple[float, float]:
    cpu, start = _cpu(), time.monotonic()
    course_dir = out.parent / f"{out.name}-course"
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(subs), "--out", str(out),
                           "--course-dir", str(course_dir), "--db", f"sqlite:///{course_dir / 'gradebook.db'}",
                           "--no-canary", *args],
                          cwd=course.REPO, capture_output=True, text=True)
    seconds, cpu = time.monotonic() - start, _cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit(proc.stdout + proc.stderr)
    bad = [ln for ln in out.joinpath("grades.csv").read_text().splitlines()[1:] if not ln.endswith(",graded")]
    if bad:
        print(f"  warning: {len(bad)} rows not graded, e.g. {bad[0]}")
    return seconds, cpu


def _execution_only(aids: list[str]) -> tuple[float, float]:
    """Seconds to execute each solutions notebook once, fast mode, without grading (the kernel
    killed after its last cell, as the grader does)."""
    import nbformat

    from autograder.authoring.runner import execute

    total, cpu = 0.0, _cpu()
    for aid in aids:
        path = course.SOLUTIONS / aid / f"{aid}.ipynb"
        nb = nbformat.read(path, as_version=4)
        start = time.monotonic()
        execute(nb, cwd=path.parent, mode="fast", shutdown_kernel="immediate")
        total += time.monotonic() - start
    return total, _cpu() - cpu


def _execution_parallel(aids: list[str], students: int, jobs: int) -> tuple[float, float]:
    """Wall seconds to execute the batch's notebooks without grading, ``jobs`` at a time (each in
    a process of its own, as the grader's slots are): the ceiling for that many at once, where
    the notebooks' own threads (TensorFlow, BLAS) share the cores as they do while grading."""
    per = [[] for _ in range(jobs)]
    for i, (s, aid) in enumerate((s, aid) for s in range(students) for aid in aids):
        per[i % jobs].append(aid)
    code = ("import sys, nbformat\nfrom autograder import course\nfrom autograder.authoring.runner import execute\n"
            "for aid in sys.argv[1:]:\n    path = course.SOLUTIONS / aid / f'{aid}.ipynb'\n"
            "    execute(nbformat.read(path, as_version=4), cwd=path.parent, mode='fast', shutdown_kernel='immediate')\n")
    cpu, start = _cpu(), time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-c", code, *names], cwd=course.REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for names in per if names]
    if any(p.wait() != 0 for p in procs):
        raise SystemExit("executing the notebooks alone failed")
    return time.monotonic() - start, _cpu() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__)
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("--assignments", nargs="*",
                        default=[a for a in course.assignments() if a[:2] in {"01", "02", "03", "04", "05"}])
    parser.add_argument("--only-jobs-2", action="store_true",
                        help="only the sandboxed --jobs 2 run (what a batch uses), and the notebooks-alone ceiling")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="throughput-") as tmp:
        subs = Path(tmp) / "submitted"
        n = _batch(subs, args.assignments, args.students)
        print(f"load average (1/5/15 min) at the start: {'/'.join(f'{v:.1f}' for v in os.getloadavg())}")
        print(f"Grading throughput, {datetime.date.today()}, {platform.node() or 'this machine'}: "
              f"{os.cpu_count()} cores, {n} notebooks ({args.students} students × {', '.join(args.assignments)})")
        runs = [("sandboxed, --jobs 1", ["--jobs", "1"]), ("sandboxed, --jobs 2", ["--jobs", "2"]),
                ("no sandbox, --jobs 1", ["--jobs", "1", "--sandbox", "off"])]
        if args.only_jobs_2:
            runs = runs[1:2]
        seconds = {}
        print(f"{'configuration':<24} {'seconds':>8} {'notebooks/min':>14} {'s/notebook':>11} {'CPU s/notebook':>15}")
        for name, extra in runs:
            s, cpu = _run(subs, Path(tmp) / name.replace(" ", "").replace(",", "_"), "--force", *extra)
            seconds[name] = s
            print(f"{name:<24} {s:>8.1f} {n / s * 60:>14.1f} {s / n:>11.2f} {cpu / n:>15.2f}", flush=True)
        if not args.only_jobs_2:
            overhead = (seconds["sandboxed, --jobs 1"] - seconds["no sandbox, --jobs 1"]) / n
            print(f"isolation overhead: {overhead:+.2f} s per notebook (sandboxed vs plain, both --jobs 1)")
        floor, floor_cpu = (v * args.students for v in _execution_only(args.assignments))
        cores = os.cpu_count() or 1
        print(f"the notebooks alone (executed once each with nbclient, no grading), × {args.students}: {floor:.1f} s, "
              f"{floor / n:.2f} s/notebook, {floor_cpu / n:.2f} CPU s/notebook; at best "
              f"{n / floor * 60 * cores:.1f} notebooks/min on {cores} cores if each core ran one as fast as one runs "
              f"alone, {n / floor_cpu * 60 * cores:.1f} by the CPU time they take")
        both, both_cpu = _execution_parallel(args.assignments, args.students, 2)
        print(f"the notebooks alone, 2 at a time (2 processes, as --jobs 2 has): {both:.1f} s, {n / both * 60:.1f} "
              f"notebooks/min, {both_cpu / n:.2f} CPU s/notebook: the ceiling for --jobs 2 when the notebooks' own "
              f"threads share the cores")
        print(f"load average (1/5/15 min) at the end: {'/'.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
