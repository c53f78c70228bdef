"""``python -m autograder``: release, grade (canary first, into the course gradebook; here or on a
Dask cluster), export, report, similarity, cluster, worker, hub (a class on JupyterHub), check, execute and solved."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from autograder import course
from autograder.batch.options import Options


def _cluster_runner(args, opts):
    """``grade --scheduler``: the batch's jobs go to the Dask cluster's course workers."""
    from autograder.cluster.client import ClusterRunner

    return lambda total: ClusterRunner(args.scheduler, args.certs, opts.jobs, opts.sandbox)


def build_parser() -> argparse.ArgumentParser:
    """Every command's options; the defaults of grade's come from batch.options.Options."""
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_grading(sub, Options())
    _add_gradebook_and_cluster(sub)
    _add_tools(sub)
    _add_hub(sub)
    return parser


def _add_grading(sub, defaults: Options) -> None:
    """Release and grade (the batch's options, their defaults from Options)."""
    p = sub.add_parser("release", help="regenerate lessons/ from solutions/ (nbgrader generate_assignment)")
    p.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    p.add_argument("--dest", type=Path, default=course.LESSONS, help="output folder (default: lessons/)")

    p = sub.add_parser("grade", help="autograde a folder of submissions (or an LMS zip) into the course gradebook: "
                       "grades.csv, grades.json, feedback/")
    p.add_argument("submissions", type=Path, nargs="?",
                   help="SUBMISSIONS_DIR/<student_id>/<NN_slug>/<NN_slug>.ipynb (or --from-zip)")
    p.add_argument("--from-zip", type=Path, metavar="ZIP",
                   help="an LMS 'download all submissions' archive: unpacked into OUT/submissions/, then graded")
    p.add_argument("--names", default="canvas", metavar="canvas|moodle|regex:PATTERN",
                   help="with --from-zip: how the archive names files (default canvas); a regex needs the named "
                        "groups student_id and file_id. With --roster, an lms_id column maps LMS ids to students")
    p.add_argument("--out", type=Path, required=True, help="folder for grades.csv, grades.json and feedback/")
    p.add_argument("--assignment", action="append", dest="assignments",
                   help="grade only this assignment (repeatable; default: every one handed in)")
    p.add_argument("--mode", choices=["fast", "full"], default=defaults.mode,
                   help="COURSE_MODE for the students' kernels (default: %(default)s, as the accuracy bars of CI)")
    p.add_argument("--jobs", type=int, default=defaults.jobs, help="submissions graded at once (default %(default)s)")
    p.add_argument("--force", action="store_true", help="regrade what an earlier run already graded")
    p.add_argument("--roster", type=Path, help="CSV with a student_id column: every student gets a row")
    p.add_argument("--timeout", type=int, default=defaults.timeout, help="seconds allowed per notebook (default %(default)s)")
    p.add_argument("--cell-timeout", type=int, default=defaults.cell_timeout, help="the most seconds any cell may run (default %(default)s); with the "
                   "canary, each cell gets max(30, 10 × the reference's time for it), up to this")
    p.add_argument("--sandbox", choices=["auto", "on", "off"], default=defaults.sandbox,
                   help="isolate student kernels (auto: when running as root; off: warn loudly)")
    p.add_argument("--mem-mb", type=int, default=defaults.mem_mb, help="memory (address space) cap per kernel, MiB (default %(default)s)")
    p.add_argument("--nproc", type=int, default=defaults.nproc, help="process/thread cap per kernel (default %(default)s)")
    p.add_argument("--db", metavar="URL", help="the course gradebook, any SQLAlchemy URL (default: $COURSE_DB_URL, "
                   "else CourseDirectory.db_url of the course config, else gradebook.db in the course folder)")
    p.add_argument("--course-dir", type=Path, help="the course folder of nbgrader's formgrader, which gets "
                   "autograded/ and feedback/ (default: $COURSE_DIR, else autograder/)")
    p.add_argument("--scheduler", metavar="tls://HOST:8786", help="grade on this Dask cluster's course workers "
                   "(python -m autograder worker) instead of this machine")
    p.add_argument("--certs", type=Path, default=Path("cluster-certs"),
                   help="with --scheduler: the folder of `cluster certs` (default: cluster-certs/)")
    p.add_argument("--no-canary", dest="canary", action="store_false",
                   help="do not grade the reference solution first (the canary stops a batch whose environment "
                        "is broken, and sets each cell's time limit from the reference's)")


def _add_gradebook_and_cluster(sub) -> None:
    """Export, and the Dask cluster's commands."""
    p = sub.add_parser("export", help="final grades (manual points included) from the course gradebook")
    p.add_argument("--format", choices=["nbgrader", "canvas"], default="nbgrader",
                   help="nbgrader: nbgrader's CSV, a row per student × assignment; canvas: a Canvas gradebook import, "
                        "a column per lesson")
    p.add_argument("--out", type=Path, help="the CSV to write (default: grades-FORMAT.csv)")
    p.add_argument("--db", metavar="URL", help="the course gradebook (default as for grade)")
    p.add_argument("--assignment", action="append", dest="assignments", help="only this assignment (repeatable)")

    p = sub.add_parser("cluster", help="the Dask grading cluster: certs DIR (the course CA and TLS certificates), "
                       "scheduler (dask scheduler, TLS only)")
    csub = p.add_subparsers(dest="cluster_command", required=True)
    c = csub.add_parser("certs", help="create the course CA and the scheduler, worker and client certificates")
    c.add_argument("dir", type=Path)
    c.add_argument("--host", action="append", dest="hosts",
                   help="a name or address the scheduler is reached by (repeatable; default: this machine's names, "
                        "localhost, 127.0.0.1)")
    c = csub.add_parser("scheduler", help="start the scheduler (dask scheduler, TLS only, no dashboard)")
    c.add_argument("--certs", type=Path, default=Path("cluster-certs"))
    c.add_argument("--host", default="0.0.0.0")
    c.add_argument("--port", type=int, default=8786)

    p = sub.add_parser("worker", help="start a grading worker of the Dask cluster (dask worker with the course's "
                       "settings); run it as root, so that the sandbox works")
    p.add_argument("scheduler", help="tls://HOST:8786")
    p.add_argument("--certs", type=Path, default=Path("cluster-certs"))
    p.add_argument("--slots", type=int, default=os.cpu_count() or 1, help="jobs graded at once (default: the cores)")
    p.add_argument("--name", help="the worker's name in the cluster")


def _add_tools(sub) -> None:
    """The reports, and the notebooks' own tools."""
    p = sub.add_parser("report", help="class report of a graded batch: OUT/report/index.html, with figures")
    p.add_argument("out", type=Path, help="the --out folder of a grade run (reads grades.json and autograded/)")

    p = sub.add_parser("similarity", help="instructors only: which students' answers share code, pair by pair: "
                       "OUT/similarity/index.html (0700) with a side-by-side page per listed pair, no JavaScript")
    p.add_argument("out", type=Path, help="the --out folder of a grade run (reads grades.json and autograded/)")

    p = sub.add_parser("check", help="run a notebook's visible tests; exit 1 naming the failing exercises")
    p.add_argument("notebook", type=Path)
    p.add_argument("--mode", choices=["fast", "full"], default="fast")

    p = sub.add_parser("execute", help="maintainers: execute solutions/ notebooks in place, in fast mode")
    p.add_argument("assignments", nargs="*", help="assignment ids (default: all)")

    p = sub.add_parser("solved", help="write the solved notebooks without their hidden tests (what a student who "
                       "solved every exercise has), e.g. to run them where TensorFlow is missing (a GPU machine)")
    p.add_argument("dest", type=Path, help="output folder, laid out like solutions/")
    p.add_argument("assignments", nargs="*", help="assignment ids (default: all)")


def _add_hub(sub) -> None:
    """A class on JupyterHub."""
    p = sub.add_parser("hub", help="a class on JupyterHub: setup (exchange, course folder, permissions), users "
                       "ROSTER (Unix accounts), release ASSIGNMENT (to the exchange), service (autograde on submit)")
    hsub = p.add_subparsers(dest="hub_command", required=True)
    h = hsub.add_parser("setup", help="make $HUB_ROOT (default /srv/pixels-to-lenet): exchange, course folder, "
                        "configs; close the checkout to students")
    h = hsub.add_parser("users", help="create the roster's student accounts (group pixels-students) and the "
                        "instructors' (group pixels-instructors); passwords go to a root-only file")
    h.add_argument("roster", type=Path, help="CSV with a student_id column")
    h.add_argument("--instructor", action="append", default=[], help="an instructor account (repeatable)")
    h.add_argument("--remove", action="store_true", help="delete these accounts and their homes instead")
    h = hsub.add_parser("release", help="release a lesson to the class through nbgrader's exchange")
    h.add_argument("assignment")
    h.add_argument("--due", help="due date, ISO 8601 (UTC unless it says otherwise), e.g. 2026-12-08T23:59")
    h = hsub.add_parser("service", help="the autograde-on-submit service (JupyterHub starts it, as root)")
    h.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    h.add_argument("--poll", type=float, default=2.0, help="seconds between looks at the exchange (default 2)")
    h = hsub.add_parser("restore", help="put back the checkout's modes that setup changed")


def _release(args, parser) -> int:
    from autograder.authoring.release import release

    for path in release(dest=args.dest, aids=args.assignments or None):
        print(f"released {path}")
    return 0


def _grade(args, parser) -> int:
    from autograder.batch.grade import grade
    from autograder.job.contract import BatchStopped

    opts = Options(mode=args.mode, timeout=args.timeout, cell_timeout=args.cell_timeout, jobs=max(1, args.jobs),
                   force=args.force, sandbox=args.sandbox, mem_mb=args.mem_mb, nproc=args.nproc,
                   canary=args.canary, db_url=args.db, course_dir=args.course_dir)
    runner = _cluster_runner(args, opts) if args.scheduler else None  # None: grading slots on this machine
    submissions = args.submissions
    if args.from_zip:
        if submissions:
            parser.error("give either SUBMISSIONS_DIR or --from-zip, not both")
        submissions = _unzip(args)
    elif not submissions:
        parser.error("grade needs SUBMISSIONS_DIR or --from-zip ZIP")
    try:
        grade(submissions, args.out, aids=args.assignments, opts=opts, roster=args.roster, runner=runner)
    except BatchStopped as stop:
        print(f"\n{stop}\n\n{stop.help}", file=sys.stderr)
        return 2
    return 0


def _export(args, parser) -> int:
    from autograder.gradebook.export import export
    from autograder.gradebook.merge import course_db_url

    out = export(course_db_url(args.db), args.format, args.out or Path(f"grades-{args.format}.csv"), args.assignments)
    print(f"wrote {out}")
    return 0


def _cluster(args, parser) -> int:
    from autograder.cluster import commands
    from autograder.cluster.certs import make_certs

    if args.cluster_command == "certs":
        for path in make_certs(args.dir, args.hosts).values():
            print(f"wrote {path}")
        return 0
    commands.exec_argv(commands.scheduler_argv(args.certs, args.host, args.port), args.certs, "scheduler")
    return 2


def _worker(args, parser) -> int:
    from autograder.cluster import commands

    commands.exec_argv(commands.worker_argv(args.scheduler, args.certs, args.slots, args.name), args.certs, "worker")
    return 2


def _report(args, parser) -> int:
    from autograder.reporting.report import write_report

    print(f"wrote {write_report(args.out)}")
    return 0


def _similarity(args, parser) -> int:
    from autograder.reporting.similarity import write_similarity

    print(f"wrote {write_similarity(args.out)}")
    return 0


def _check(args, parser) -> int:
    from autograder.authoring.check import check

    return check(args.notebook, mode=args.mode)


def _execute(args, parser) -> int:
    from autograder.authoring.runner import execute_in_place

    for aid in args.assignments or course.assignments():
        path = course.SOLUTIONS / aid / f"{aid}.ipynb"
        print(f"executing {path} ...", flush=True)
        execute_in_place(path)
    return 0


def _solved(args, parser) -> int:
    import nbformat
    from nbgrader.preprocessors import ClearHiddenTests

    for aid in args.assignments or course.assignments():
        nb = nbformat.read(course.SOLUTIONS / aid / f"{aid}.ipynb", as_version=4)
        nb, _ = ClearHiddenTests().preprocess(nb, {})
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        out = args.dest / aid / f"{aid}.ipynb"
        out.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out)
        print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return COMMANDS[args.command](args, parser)


def _hub(args, parser) -> int:
    from autograder.hub.layout import Layout

    layout = Layout()
    if args.hub_command == "setup":
        from autograder.hub.layout import prepare

        lines = prepare(layout)
    elif args.hub_command == "restore":
        from autograder.hub.layout import restore

        lines = restore(layout)
    elif args.hub_command == "users":
        from autograder.hub import accounts

        students = accounts.read_roster(args.roster)
        if args.remove:
            lines = accounts.remove(students + args.instructor, layout)
        else:
            lines = accounts.create(students, args.instructor, layout)
    elif args.hub_command == "release":
        from autograder.hub.exchange import release

        lines = release(args.assignment, layout, args.due)
    else:
        from autograder.hub.service import Service

        Service(layout, jobs=max(1, args.jobs), poll_s=args.poll).run()
        return 0
    print("\n".join(lines))
    return 0


def _unzip(args) -> Path:
    """Unpack ``--from-zip`` into OUT/submissions/ and say where every file went."""
    from autograder.gradebook.lms import unpack_zip
    from autograder.batch.intake import read_roster_rows

    roster = read_roster_rows(args.roster) if args.roster else None
    dest = args.out / "submissions"
    result = unpack_zip(args.from_zip, dest, args.names, roster, args.assignments or course.assignments())
    print("\n".join(result.summary()), flush=True)
    return dest


COMMANDS = {"release": _release, "grade": _grade, "export": _export, "cluster": _cluster, "worker": _worker,
            "report": _report, "similarity": _similarity, "check": _check, "execute": _execute, "solved": _solved,
            "hub": _hub}


if __name__ == "__main__":
    sys.exit(main())
