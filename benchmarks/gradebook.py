"""What merging a graded job into the course gradebook costs (prints figures; not a test).

    python -m benchmarks.gradebook [--jobs 200] [--assignment 01_pixels]

Releases the assignment into a throwaway template gradebook, as ``grade`` does, then
merges ``--jobs`` graded jobs (a new student each, every grade cell scored, a comment per
solution cell) into a fresh course gradebook, and again (the regrade of the same students),
on SQLite (a file in a temp dir) and on PostgreSQL (Debian's, started as a throwaway
server by testbed/pgserver.py on a Unix socket). Prints the median and 95th percentile of
the seconds per merge: the cost the grading parent adds to each job.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from autograder.authoring.release import release
from autograder.gradebook.merge import CourseGradebook


def _job(template: Path, aid: str, i: int) -> tuple[list[dict], list[dict]]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{template / 'gradebook.db'}") as gb:
        cells, comments = [], []
        for nb in gb.find_assignment(aid).notebooks:
            for c in nb.grade_cells:
                auto = None if c.cell_type == "markdown" else float(c.max_score) * (i % 2)
                cells.append({"notebook": nb.name, "cell": c.name, "auto_score": auto, "max_score": c.max_score,
                              "needs_manual_grade": auto is None})
            for c in nb.solution_cells:
                comments.append({"notebook": nb.name, "cell": c.name, "auto_comment": None if i % 2 else "No response."})
        return cells, comments


def _measure(url: str, template: Path, aid: str, jobs: int) -> tuple[list[float], list[float]]:
    first, again = [], []
    with CourseGradebook(url) as book:
        book.define(template / "gradebook.db", [aid])
        work = [(f"student{i:04d}", *_job(template, aid, i)) for i in range(jobs)]
        for times in (first, again):
            for sid, cells, comments in work:
                start = time.perf_counter()
                book.merge(sid, aid, cells, comments)
                times.append(time.perf_counter() - start)
    return first, again


def _fmt(times: list[float]) -> str:
    q = statistics.quantiles(times, n=20)
    return f"median {1000 * statistics.median(times):6.1f} ms   p95 {1000 * q[-1]:6.1f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gradebook", description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--assignment", default="01_pixels")
    args = parser.parse_args(argv)
    from testbed.pgserver import PgServer  # the tests' throwaway PostgreSQL (maintainers run this from the repo)

    print(f"Gradebook merge cost, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{platform.node() or 'this machine'}: {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; "
          f"{args.jobs} jobs of {args.assignment}, merged new and then again (regrade)")
    with tempfile.TemporaryDirectory(prefix="merge-bench-") as tmp:
        template = Path(tmp) / "template"
        release(dest=template / "lessons", aids=[args.assignment], root=template)
        with PgServer() as pg:
            pg.create_database("bench")
            for name, url in (("SQLite", f"sqlite:///{Path(tmp) / 'course.db'}"), ("PostgreSQL", pg.url("bench"))):
                first, again = _measure(url, template, args.assignment, args.jobs)
                print(f"{name:<11} new submission: {_fmt(first)}   regrade: {_fmt(again)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
