"""``grade SUBMISSIONS_DIR --out OUT_DIR``: grade a whole class and never lose a row.

Input: ``SUBMISSIONS_DIR/<student_id>/<NN_slug>/<NN_slug>.ipynb`` (nbgrader's layout),
and optionally a roster (``--roster roster.csv`` with a ``student_id`` column; default:
every folder found). Output in OUT_DIR:

- ``grades.csv``: one row per student × assignment: score, max_score, the autograded
  part of both, points awaiting manual grading, and a status: ``graded``,
  ``ungradable: <reason>``, ``missing``, ``timeout in <exercise>`` or ``tampered: <what>``;
- ``grades.json``: the same rows with points per graded cell and notes;
- ``feedback/<student>/<assignment>/<assignment>.html``: feedback, hidden tests removed;
- ``autograded/<student>/<assignment>/<assignment>.ipynb``: the executed notebooks;
- ``.results/``: one file per finished job, so a second run (or a run after a crash)
  skips what is already graded, unless ``--force`` or the submission changed.

Every graded job is also merged into the **course gradebook** (nbgrader's database:
``--db URL``, ``$COURSE_DB_URL``, the course config, or ``gradebook.db`` in the course
folder; :mod:`autograder.batch.recorder`), and its executed notebook and feedback are
copied to the course folder's ``autograded/`` and ``feedback/``, where nbgrader's
formgrader finds them. A manual grade given there survives a regrade.

Each job (:class:`~autograder.job.contract.Job`) goes to the batch's runner
(:mod:`autograder.job.runners`): on this machine, a throwaway nbgrader course in one of
``--jobs`` worker processes (each reused job after job, replaced if it dies or overruns), with
the released assignment's gradebook: points and locked cells come from the release, never
from the submission. Student kernels run in the sandbox of :mod:`autograder.sandbox.kernel`
when the grader runs as root; ``--jobs N`` grades N submissions at once.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from autograder import course
from autograder.authoring.release import release_digest, release_points, release_template
from autograder.batch import canary, intake
from autograder.batch.options import Options
from autograder.batch.recorder import Recorder
from autograder.batch.results import ResultCache, Row, fill_row, write_results
from autograder.batch.screen import Screen, restore_metadata, structure, student_code, tampering
from autograder.batch.stops import KERNEL_HELP, MIDWAY_HELP
from autograder.job import scratch
from autograder.job.contract import BatchStopped, Job, JobResult, Limits, Status
from autograder.job.runners import LocalRunner, Runner, RunnerFactory


class Grader:
    """Grades (student, assignment) pairs with a runner against one release (``template``):
    screen, run, keep the row in ``.results/``, record it in the course gradebook."""

    def __init__(self, submissions: Path, out: Path, opts: Options, runner: Runner, template: Path,
                 points: dict[str, tuple[float, float]], limits: dict[str, tuple[dict[str, int], int]],
                 recorder: Recorder | None = None, stream=sys.stdout, on_row=None):
        self.submissions, self.out, self.opts, self.runner, self.template = submissions, out, opts, runner, template
        self.points, self.limits, self.recorder = points, limits, recorder   # limits: per assignment, from the canary
        self.digests = {aid: release_digest(template, aid) for aid in points}
        self.cache = ResultCache(out, opts.force)
        self.stream, self.on_row = stream, on_row       # on_row: called with each finished row
        self.lock = threading.Lock()
        self.done, self.started = 0, time.monotonic()
        self.stopped: BatchStopped | None = None        # the first reason the batch stopped, if it did

    # --- one job ----------------------------------------------------------------------
    def grade_one(self, sid: str, aid: str) -> Row:
        total, auto_total = self.points[aid]
        row = Row(sid, aid, max_score=total, auto_max_score=auto_total)
        path, row.notes = intake.find_notebook(self.submissions / sid / aid, aid)
        if path is None:
            row.status = Status("missing")
            return row
        row.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        row.timestamp = intake.submission_time(path.parent, row.notes)
        cached = self.cache.load(sid, aid, row.sha256)
        if cached is not None:
            cached.notes = [n for n in cached.notes if n != "reused from an earlier run"] + ["reused from an earlier run"]
            return cached
        nb, problem, notes = intake.load_submission(path)
        row.notes += notes
        if nb is None:
            row.status = Status("ungradable", problem)
            self.cache.save(row)
            return row
        checks = self._screen(nb, aid)
        row.notes += checks.notes
        start = time.monotonic()
        if self.stopped is not None:
            raise BatchStopped(str(self.stopped))
        result = self._execute(nb, sid, aid)
        row.seconds = round(time.monotonic() - start, 1)
        if result.environment:
            # The kernel did not start, or a cell as released failed before any student code (the
            # canary passed earlier, or was cached): the environment broke, and every later
            # student would fail alike (or get zeros). Stop instead.
            raise BatchStopped(f"{sid} {aid}: {result.environment}", MIDWAY_HELP if result.ok else KERNEL_HELP)
        if not result.ok:  # not cached: a rerun tries again
            row.status = Status("ungradable", result.reason or "unknown error")
            return row
        fill_row(row, result, checks)
        self.cache.save(row)
        return row

    def _screen(self, nb, aid: str) -> Screen:
        """Read the submission as data against the release (autograder.batch.screen): what
        it deleted, edited or tampered with; give it the release's metadata and kernel."""
        released = nbformat.read(self.template / "release" / aid / f"{aid}.ipynb", as_version=4)
        checks = structure(nb, released)
        checks.tampering = tampering(student_code(nb, released))
        restore_metadata(nb, released)
        nb.metadata["kernelspec"] = released.metadata.get("kernelspec", nb.metadata.get("kernelspec"))
        return checks

    def _execute(self, nb, sid: str, aid: str) -> JobResult:
        """Grade one screened notebook with the batch's runner; write its feedback and executed
        notebook to OUT."""
        cell_limits, cell_timeout = self.limits.get(aid, ({}, self.opts.cell_timeout))
        job = Job(nb, sid, aid, self.digests.get(aid, ""), self.opts.mode, self.opts.sandbox,
                  Limits(cell_timeout, self.opts.mem_mb, self.opts.nproc, cell_limits), self.opts.timeout,
                  self.template)
        result = self.runner.run(job)
        for sub, name in (("feedback", f"{aid}.html"), ("autograded", f"{aid}.ipynb")):
            if sub in result.files:
                target = self.out / sub / sid / aid / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(result.files[sub])
        return result

    # --- the batch ----------------------------------------------------------------------
    def _report(self, row: Row, total: int) -> None:
        with self.lock:
            self.done += 1
            elapsed = time.monotonic() - self.started
            eta = elapsed / self.done * (total - self.done)
            manual = f", {row.manual_pending:g} pts await manual grading" if row.manual_pending else ""
            print(f"[{self.done:>3}/{total}] {_bar(self.done, total)} ETA {int(eta // 60)}:{int(eta % 60):02d}  "
                  f"{row.student_id:<16} {row.assignment:<26} {row.score:>5g} / {row.max_score:<4g} {row.status}{manual}",
                  file=self.stream, flush=True)

    def _job(self, pair: tuple[str, str], total: int) -> Row | None:
        """Grade and record one (student, assignment); None once the batch has stopped."""
        if self.stopped is not None:
            return None
        try:
            row = self.grade_one(*pair)
            if self.recorder is not None:
                self.recorder.record(row)
        except BatchStopped as stop:  # the first reason wins; the batch stops at the end of run()
            with self.lock:
                self.stopped = self.stopped or stop
            return None
        except Exception as err:  # the batch goes on, and the row says why
            total_pts, auto_pts = self.points.get(pair[1], (0.0, 0.0))
            row = Row(pair[0], pair[1], max_score=total_pts, auto_max_score=auto_pts,
                      status=Status("ungradable", f"grader error ({type(err).__name__}: {str(err)[:150]})"))
        self._report(row, total)
        if self.on_row is not None:
            self.on_row(row)
        return row

    def run(self, students: list[str]) -> list[Row]:
        """Grade every student × assignment, ``runner.jobs`` at once; raise BatchStopped if it stopped."""
        pairs = [(sid, aid) for sid in students for aid in self.points]
        print(f"Grading {len(students)} students × {len(self.points)} assignments with {self.runner.jobs} "
              f"job(s), {self.runner.isolation()}, {self.opts.mode} mode.", file=self.stream, flush=True)
        with ThreadPoolExecutor(max_workers=self.runner.jobs) as pool:
            rows = list(pool.map(lambda pair: self._job(pair, len(pairs)), pairs))
        if self.stopped is not None:
            done = sum(r is not None for r in rows)
            raise BatchStopped(f"grading stopped: {self.stopped}\n{done} of {len(pairs)} jobs had finished; "
                               "their results are kept in .results/ and a rerun resumes from there.",
                               self.stopped.help)
        return rows


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = int(width * done / max(total, 1))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def _warn_unsandboxed(runner: Runner, opts: Options, stream) -> None:
    if not runner.sandboxed and opts.sandbox != "off":
        print("!" * 78 + f"\nWARNING: NO SANDBOX ({runner.why_not}). Student code runs as you, with "
              "your files and the network.\nGrade untrusted submissions as root on Linux (unshare), or "
              "in a throwaway VM or container.\n" + "!" * 78, file=stream, flush=True)


def _batch(submissions: Path, out: Path, aids: list[str], students: list[str], names: dict[str, dict],
           opts: Options, stream, on_row, make_runner: RunnerFactory) -> tuple[list[Row], list[float]]:
    """Release the assignments, start the runner and the gradebook, run the canary, grade; clean up
    whatever happens. The rows and the gradebook's merge times."""
    out.mkdir(parents=True, exist_ok=True)
    workroot, workroot_held = scratch.make()
    runner = recorder = None
    try:
        runner = make_runner(len(students) * len(aids))  # its workers start while the release is built
        _warn_unsandboxed(runner, opts, stream)
        template = Path(workroot) / "template"
        points, limits = {}, {}
        if aids:
            release_template(template, aids)
            points = {aid: release_points(template, aid) for aid in aids}
            course_dir = Path(opts.course_dir or course.course_dir()).resolve()
            recorder = Recorder(opts.db_url, course_dir, template, aids, out, names, stream)
            if opts.canary:
                limits = canary.check(runner, template, points, opts, stream)
            else:
                print("canary skipped (--no-canary): a broken environment would show only as wrong grades",
                      file=stream, flush=True)
        rows = Grader(submissions, out, opts, runner, template, points, limits, recorder, stream, on_row).run(students)
    finally:
        if runner is not None:
            runner.close()
        if recorder is not None:
            recorder.close()
        shutil.rmtree(workroot, ignore_errors=True)
        workroot_held.close()
    write_results(rows, out)
    return rows, recorder.seconds if recorder is not None else []


def grade(submissions: Path, out: Path, aids: list[str] | None = None, opts: Options | None = None,
          roster: Path | None = None, stream=sys.stdout, only: list[str] | None = None,
          on_row=None, runner: RunnerFactory | None = None) -> list[Row]:
    """Grade every student (roster, or every folder in ``submissions``; ``only``: just these);
    write ``out``. ``on_row(row)`` is called as each job is finished and in the gradebook.
    ``runner(total_jobs)`` gives the batch its runner (default: grading slots on this machine)."""
    opts = opts or Options()
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if not submissions.is_dir():
        raise SystemExit(f"error: {submissions} is not a folder of student submissions")
    students, aids, names = intake.select(submissions, aids, roster, only, stream)
    make_runner = runner or (lambda total: LocalRunner(opts.jobs, opts.mode, opts.sandbox, opts.uid_base, total))
    rows, merge_seconds = _batch(submissions, out, aids, students, names, opts, stream, on_row, make_runner)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.status.word] = counts.get(r.status.word, 0) + 1
    if merge_seconds:
        ms = sorted(merge_seconds)
        print(f"course gradebook: {len(ms)} jobs merged, {1000 * ms[len(ms) // 2]:.0f} ms each (median)", file=stream)
    print(f"\n{len(students)} students, {len(aids)} assignments: "
          + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + f". Results in {out / 'grades.csv'}",
          file=stream)
    return rows
