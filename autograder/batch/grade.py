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
folder; :mod:`autograder.gradebook.merge`), and its executed notebook and feedback are
copied to the course folder's ``autograded/`` and ``feedback/``, where nbgrader's
formgrader finds them. A manual grade given there survives a regrade.

Each job runs in a throwaway nbgrader course, in one of ``--jobs`` worker processes
(each reused job after job, replaced if it dies or overruns), with the
released assignment's gradebook: points and locked cells come from the release, never
from the submission. Student kernels run in the sandbox of :mod:`autograder.sandbox.kernel`
when the grader runs as root; ``--jobs N`` grades N submissions at once.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from autograder import course
from autograder.batch.canary import KERNEL_HELP, MIDWAY_HELP, BatchStopped, release_digest
from autograder.batch.options import Options
from autograder.job.runners import Job, LocalRunner, Runner, RunnerFactory
from autograder.authoring.release import release_template

CSV_FIELDS = ["student_id", "assignment", "score", "max_score", "auto_score", "auto_max_score",
              "manual_pending", "status"]
RESULT_VERSION = 2


@dataclass
class Row:
    student_id: str
    assignment: str
    score: float = 0.0
    max_score: float = 0.0
    auto_score: float = 0.0
    auto_max_score: float = 0.0
    manual_pending: float = 0.0
    status: str = "graded"
    cells: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    seconds: float = 0.0
    sha256: str = ""
    comments: list = field(default_factory=list)   # automatic comments per solution cell, for the gradebook
    timestamp: str = ""                             # when it was submitted (nbgrader's timestamp.txt), if known


def _max_points(template: Path, aid: str) -> tuple[float, float]:
    """(total, autograded) points of the released assignment, from the template gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{template / 'gradebook.db'}") as gb:
        total = auto = 0.0
        for notebook in gb.find_assignment(aid).notebooks:
            for cell in notebook.grade_cells:
                total += float(cell.max_score)
                if cell.cell_type == "code":
                    auto += float(cell.max_score)
        return total, auto


def load_submission(path: Path) -> tuple[nbformat.NotebookNode | None, str, list[str]]:
    """Read a submission as nbformat 4. Returns (notebook, problem, notes): the notebook
    is None and ``problem`` says why when it cannot be graded."""
    notes: list[str] = []
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as err:
        return None, f"invalid notebook (not UTF-8 text: {err.reason})", notes
    except json.JSONDecodeError as err:
        return None, f"invalid notebook (not valid JSON: {err.msg} at line {err.lineno})", notes
    if not isinstance(raw, dict) or "nbformat" not in raw:
        return None, "invalid notebook (no nbformat version)", notes
    major = raw.get("nbformat")
    if not isinstance(major, int) or major > 4:
        return None, f"invalid notebook (nbformat {major} is newer than this grader reads: 4)", notes
    if major < 3:
        return None, f"invalid notebook (nbformat {major} is too old: 3 or 4 needed)", notes
    try:
        nb = nbformat.reads(json.dumps(raw), as_version=4)
        if major == 3:
            notes.append("upgraded from nbformat 3")
        if nb.nbformat_minor > 5:
            notes.append(f"nbformat 4.{nb.nbformat_minor} read as 4.5")
            nb.nbformat_minor = 5
        nbformat.validate(nb)
    except Exception as err:
        detail = " ".join(str(err).split())[:100] or type(err).__name__
        return None, f"invalid notebook ({type(err).__name__}: {detail})", notes
    return nb, "", notes


def _find_notebook(folder: Path, aid: str) -> tuple[Path | None, list[str]]:
    notes = []
    path = folder / f"{aid}.ipynb"
    others = sorted(p.name for p in folder.glob("*.ipynb")) if folder.is_dir() else []
    extra = [n for n in others if n != path.name]
    if path.is_file():
        if extra:
            notes.append(f"ignored other notebooks: {', '.join(extra)}")
        return path, notes
    if extra:
        notes.append(f"no {aid}.ipynb; found {', '.join(extra)} (not graded: rename it {aid}.ipynb)")
    elif folder.is_dir():
        notes.append("the assignment folder is empty")
    return None, notes


class Grader:
    def __init__(self, submissions: Path, out: Path, aids: list[str], students: list[str], opts: Options,
                 stream=sys.stdout, runner: RunnerFactory | None = None):
        self.submissions, self.out, self.aids, self.students, self.opts = submissions, out, aids, students, opts
        self.stream = stream
        self.lock = threading.Lock()
        self.jobs = opts.jobs                                     # jobs in flight at once
        self.done = 0
        self.started = time.monotonic()
        self.make_runner = runner or self._local_runner           # where jobs are graded (grading.runners)
        self.runner: Runner | None = None
        self.digests: dict[str, str] = {}                         # release digest per assignment
        self.limits: dict[str, tuple[dict[str, int], int]] = {}   # per assignment, from the canary
        self.stopped: str | None = None                           # why the batch stopped, if it did
        self.book = None                                          # the course gradebook (set in run)
        self.merge_lock = threading.Lock()
        self.merge_seconds: list[float] = []
        self.names: dict[str, dict] = {}                          # roster fields per student
        self.on_row = None                                        # called with each finished row
        self.course_dir = Path(opts.course_dir or course.course_dir()).resolve()

    # --- one job ----------------------------------------------------------------------
    def _cached(self, sid: str, aid: str, digest: str) -> Row | None:
        path = self.out / ".results" / sid / f"{aid}.json"
        if self.opts.force or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if data.get("version") != RESULT_VERSION or data["row"].get("sha256") != digest:
            return None
        return Row(**data["row"])

    def _save(self, row: Row) -> None:
        path = self.out / ".results" / row.student_id / f"{row.assignment}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": RESULT_VERSION, "row": asdict(row)}))
        tmp.replace(path)  # atomic: a kill leaves the old file or the new one, never half

    def grade_one(self, sid: str, aid: str) -> Row:
        total, auto_total = self.points[aid]
        row = Row(sid, aid, max_score=total, auto_max_score=auto_total)
        path, row.notes = _find_notebook(self.submissions / sid / aid, aid)
        if path is None:
            row.status = "missing"
            return row
        row.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        row.timestamp = _timestamp(path.parent, row.notes)
        cached = self._cached(sid, aid, row.sha256)
        if cached is not None:
            cached.notes = [n for n in cached.notes if n != "reused from an earlier run"] + ["reused from an earlier run"]
            return cached
        nb, problem, notes = load_submission(path)
        row.notes += notes
        if nb is None:
            row.status = f"ungradable: {problem}"
            self._save(row)
            return row
        checks = self._screen(nb, aid)
        row.notes += checks.notes
        start = time.monotonic()
        if self.stopped:
            raise BatchStopped(self.stopped)
        result = self._execute(nb, sid, aid)
        row.seconds = round(time.monotonic() - start, 1)
        if not result.get("ok"):  # not cached: a rerun tries again
            if result.get("environment"):
                # The kernel did not start (the canary passed earlier, or was cached): the
                # environment broke, and every later student would fail alike. Stop instead.
                self.stopped, self.stop_help = f"{sid} {aid}: {result.get('reason')}", KERNEL_HELP
                raise BatchStopped(self.stopped, KERNEL_HELP)
            row.status = f"ungradable: {result.get('reason', 'unknown error')}"
            return row
        first = result.get("first_error") or {}
        if first.get("environment"):
            # A cell as released, before any student code, failed: the environment broke
            # (the canary passed earlier). Grading on would hand out zeros: stop instead.
            self.stopped = (f"{sid} {aid}: cell {first['index']} (released code, before any of the student's) "
                            f"raised {first['ename']}: {first['evalue']}")
            raise BatchStopped(self.stopped, MIDWAY_HELP)
        fill_row(row, result, checks)
        self._save(row)
        return row

    def _screen(self, nb, aid: str):
        """Read the submission as data against the release (autograder.batch.screen): what
        it deleted, edited or tampered with; give it the release's metadata and kernel."""
        from autograder.batch.screen import restore_metadata, structure, student_code, tampering

        released = nbformat.read(self.template / "release" / aid / f"{aid}.ipynb", as_version=4)
        checks = structure(nb, released)
        checks.tampering = tampering(student_code(nb, released))
        restore_metadata(nb, released)
        nb.metadata["kernelspec"] = released.metadata.get("kernelspec", nb.metadata.get("kernelspec"))
        return checks

    def _record(self, row: Row) -> None:
        """Merge a graded row into the course gradebook and put its executed notebook and
        feedback in the course folder. A gradebook that stays unreachable stops the batch
        (the row is kept in .results/, so a rerun merges it)."""
        from autograder.gradebook.merge import GradebookUnavailable

        if not row.cells or self.book is None:
            return
        with self.merge_lock:  # one writer per grading process
            start = time.monotonic()
            try:
                self.book.merge(row.student_id, row.assignment, row.cells, row.comments, row.timestamp or None,
                                self.names.get(row.student_id))
            except GradebookUnavailable as err:
                self.stopped, self.stop_help = str(err), GRADEBOOK_HELP
                raise BatchStopped(self.stopped, GRADEBOOK_HELP) from err
            self.merge_seconds.append(time.monotonic() - start)
        for sub, name in (("autograded", f"{row.assignment}.ipynb"), ("feedback", f"{row.assignment}.html")):
            src = self.out / sub / row.student_id / row.assignment / name
            if src.is_file() and self.course_dir != self.out:
                target = self.course_dir / sub / row.student_id / row.assignment / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target)

    def _execute(self, nb, sid: str, aid: str, copy_out: bool = True) -> dict:
        """Grade one screened notebook with the batch's runner (autograder.job.runners);
        write its feedback and executed notebook to OUT."""
        cell_limits, cell_timeout = self.limits.get(aid, ({}, self.opts.cell_timeout))
        settings = {"cell_timeout": cell_timeout, "cell_limits": cell_limits, "mem_mb": self.opts.mem_mb,
                    "nproc": self.opts.nproc}
        job = Job(nb, sid, aid, self.digests.get(aid, ""), self.opts.mode, self.opts.sandbox, settings,
                  self.opts.timeout, self.template)
        try:
            result = self.runner.run(job)
        except BatchStopped as err:  # the runner lost its grading machinery (the cluster went away)
            self.stopped, self.stop_help = str(err), err.help
            raise
        files = result.pop("files", None) or {}
        for sub, name in (("feedback", f"{aid}.html"), ("autograded", f"{aid}.ipynb")) if copy_out else ():
            if sub in files:
                target = self.out / sub / sid / aid / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(files[sub])
        return result

    def isolation(self) -> str:
        return self.runner.isolation()

    def _local_runner(self, total: int) -> Runner:
        return LocalRunner(self.opts.jobs, self.opts.mode, self.opts.sandbox, self.opts.uid_base, total)

    def _open_gradebook(self) -> None:
        from autograder.gradebook.merge import CourseGradebook, GradebookUnavailable, course_db_url, redact

        url = course_db_url(self.opts.db_url, self.course_dir)
        try:
            self.book = CourseGradebook(url, log=lambda msg: print(msg, file=self.stream, flush=True))
            self.book.define(self.template / "gradebook.db", self.aids)
        except GradebookUnavailable as err:
            raise BatchStopped(str(err), GRADEBOOK_HELP) from err
        print(f"course gradebook: {redact(url)}; formgrader files in {self.course_dir}", file=self.stream, flush=True)

    # --- the canary -------------------------------------------------------------------
    def _canary(self) -> None:
        """Grade each assignment's reference solution first (autograder.batch.canary); set the
        per-cell time limits from it; raise BatchStopped if any reference loses points."""
        from autograder.batch import canary
        from autograder.sandbox.kernel import data_files

        settings = {"mode": self.opts.mode, "sandboxed": self.runner.sandboxed,
                    "mem_mb": self.opts.mem_mb, "nproc": self.opts.nproc, "cell_timeout": self.opts.cell_timeout}
        env = canary.fingerprint(settings, data_files())
        print(f"canary: grading the reference solution of {', '.join(self.aids)} first, as the students will be",
              file=self.stream, flush=True)

        def one(aid: str) -> tuple[str, str]:
            path = canary.cache_path(aid, canary.release_digest(self.template, aid), env)
            # On a cluster the environment is the workers', which this machine cannot fingerprint:
            # the canary runs every time there (one notebook per assignment, on the cluster).
            cached = canary.load_cached(path) if self.runner.local_environment else None
            if cached is not None:
                self.limits[aid] = canary.limits(cached["cell_seconds"], self.opts.cell_timeout)
                return aid, f"passed (cached from {cached['when']})"
            start = time.monotonic()
            result = self._execute(canary.reference(aid), "canary", aid, copy_out=False)
            seconds = time.monotonic() - start
            problem = canary.failure(aid, result, self.points[aid][1])
            if problem:
                raise BatchStopped(problem)
            if self.runner.local_environment:
                canary.save(path, canary.record(result, seconds))
            self.limits[aid] = canary.limits(result.get("cell_seconds", {}), self.opts.cell_timeout)
            return aid, f"passed in {seconds:.1f} s"

        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            for aid, how in pool.map(one, self.aids):
                per, other = self.limits[aid]
                span = f"{min(per.values(), default=other)}–{max(per.values(), default=other)} s"
                print(f"canary {aid}: {how}; cell time limits {span}", file=self.stream, flush=True)

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
        if self.stopped:
            return None
        try:
            row = self.grade_one(*pair)
            self._record(row)
        except BatchStopped:
            return None
        except Exception as err:  # the batch goes on, and the row says why
            total_pts, auto_pts = self.points.get(pair[1], (0.0, 0.0))
            row = Row(pair[0], pair[1], max_score=total_pts, auto_max_score=auto_pts,
                      status=f"ungradable: grader error ({type(err).__name__}: {str(err)[:150]})")
        self._report(row, total)
        if self.on_row is not None:
            self.on_row(row)
        return row

    def run(self) -> list[Row]:
        self.out.mkdir(parents=True, exist_ok=True)
        from autograder.job import scratch

        self.workroot, workroot_held = scratch.make()
        self.stop_help = MIDWAY_HELP
        try:
            self.runner = self.make_runner(len(self.students) * len(self.aids))
            self.jobs = self.runner.jobs
            if not self.runner.sandboxed and self.opts.sandbox != "off":
                print("!" * 78 + f"\nWARNING: NO SANDBOX ({self.runner.why_not}). Student code runs as you, with "
                      "your files and the network.\nGrade untrusted submissions as root on Linux (unshare), or "
                      "in a throwaway VM or container.\n" + "!" * 78, file=self.stream, flush=True)
            self.template = Path(self.workroot) / "template"
            self.points = {}
            if self.aids:
                release_template(self.template, self.aids)
                self.points = {aid: _max_points(self.template, aid) for aid in self.aids}
                self.digests = {aid: release_digest(self.template, aid) for aid in self.aids}
                self._open_gradebook()
                if self.opts.canary:
                    self._canary()
                else:
                    print("canary skipped (--no-canary): a broken environment would show only as wrong grades",
                          file=self.stream, flush=True)
            pairs = [(sid, aid) for sid in self.students for aid in self.aids]
            total = len(pairs)
            print(f"Grading {len(self.students)} students × {len(self.aids)} assignments with {self.jobs} "
                  f"job(s), {self.isolation()}, {self.opts.mode} mode.",
                  file=self.stream, flush=True)

            with ThreadPoolExecutor(max_workers=self.jobs) as pool:
                rows = list(pool.map(lambda pair: self._job(pair, total), pairs))
            if self.stopped:
                done = sum(r is not None for r in rows)
                raise BatchStopped(f"grading stopped: {self.stopped}\n{done} of {total} jobs had finished; "
                                   "their results are kept in .results/ and a rerun resumes from there.", self.stop_help)
        finally:
            if self.runner is not None:
                self.runner.close()
            if self.book is not None:
                self.book.close()
            shutil.rmtree(self.workroot, ignore_errors=True)
            workroot_held.close()
        write_results(rows, self.out)
        return rows


def fill_row(row: Row, result: dict, checks) -> None:
    """A graded job's row: points per cell (a deleted test cell scores 0), totals, notes, and
    the status that asks an instructor to look (tampered, timeout, feedback failed)."""
    cells = result["grades"]
    for g in cells:
        if g["cell"] in checks.deleted_tests:
            g.update(score=0.0, auto_score=0.0, needs_manual_grade=False)
    row.cells = cells
    row.comments = result.get("comments", [])
    row.score = sum(g["score"] for g in cells)
    row.auto_score = sum(g["auto_score"] or 0.0 for g in cells if not g["needs_manual_grade"])
    row.manual_pending = sum(g["max_score"] for g in cells if g["needs_manual_grade"])
    if result.get("crashes"):
        row.notes.append("kernel died in: " + ", ".join(result["crashes"]) + " (restarted, later exercises graded)")
    if checks.deleted_tests:
        row.status = "tampered: deleted test cell " + ", ".join(checks.deleted_tests) + " (scored 0)"
    elif checks.tampering or result.get("tampered") or result.get("lied"):
        found = checks.tampering + [f"changed the test's names while it ran (in {ex})" for ex in result.get("tampered", [])]
        found += result.get("lied", [])
        row.status = "tampered: " + "; ".join(found[:3])
    elif result.get("timeouts"):
        row.status = "timeout in " + ", ".join(result["timeouts"])
    elif not result.get("feedback_ok", True):
        row.status = f"graded (feedback failed: {result.get('feedback_error', '')})"


def _bar(done: int, total: int, width: int = 20) -> str:
    filled = int(width * done / max(total, 1))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def _fmt(x: float) -> str:
    return f"{x:g}"


def write_results(rows: list[Row], out: Path) -> None:
    with open(out / "grades.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for r in rows:
            d = asdict(r)
            writer.writerow({k: _fmt(d[k]) if isinstance(d[k], float) else d[k] for k in CSV_FIELDS})
    with open(out / "grades.json", "w") as f:
        json.dump([asdict(r) for r in rows], f, indent=1)


GRADEBOOK_HELP = ("Check that the database server is running and reachable with the URL above (--db, $COURSE_DB_URL "
                  "or CourseDirectory.db_url). Every job graded so far is kept in .results/: run the same command "
                  "again and it merges them without regrading.")

#: Roster columns copied into the gradebook's student record (nbgrader's names for them).
ROSTER_FIELDS = {"first_name": "first_name", "last_name": "last_name", "email": "email", "lms_id": "lms_user_id"}


def read_roster_rows(path: Path) -> list[dict]:
    """The roster's rows (a ``student_id`` column, and optionally first_name, last_name,
    email and lms_id, the student's id in the LMS)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "student_id" not in reader.fieldnames:
            raise SystemExit(f"error: {path} needs a 'student_id' column")
        return [{k: (v or "").strip() for k, v in r.items() if k} for r in reader if (r["student_id"] or "").strip()]


def _timestamp(folder: Path, notes: list[str]) -> str:
    """nbgrader's ``timestamp.txt`` beside the notebook, if any, as ISO 8601 (UTC)."""
    from nbgrader.utils import parse_utc

    path = folder / "timestamp.txt"
    if not path.is_file():
        return ""
    text = path.read_text(errors="replace").strip()[:100]
    try:
        return parse_utc(text).isoformat()
    except Exception:
        notes.append(f"timestamp.txt unreadable ({text[:40]!r}); submission time unknown")
        return ""


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
    found = sorted(p.name for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    students = found
    names: dict[str, dict] = {}
    if roster:
        listed_rows = read_roster_rows(roster)
        names = {r["student_id"]: {ROSTER_FIELDS[k]: v for k, v in r.items() if k in ROSTER_FIELDS and v}
                 for r in listed_rows}
        listed = [r["student_id"] for r in listed_rows]
        extra = [s for s in found if s not in listed]
        if extra:
            print(f"note: folders not in the roster are graded too: {', '.join(extra)}", file=stream)
        students = listed + extra
    if only is not None:
        students = [s for s in students if s in only]
        found = [s for s in found if s in only]
    known = course.assignments()
    if aids:
        unknown = sorted(set(aids) - set(known))
        if unknown:
            raise SystemExit(f"error: unknown assignment(s) {unknown}; known: {known}")
    else:  # every assignment that at least one student handed in
        aids = sorted({a for s in found for a in known if (submissions / s / a).exists()})
    grader = Grader(submissions, out, aids, students, opts, stream, runner=runner)
    grader.names = names
    grader.on_row = on_row
    rows = grader.run()
    counts: dict[str, int] = {}
    for r in rows:
        key = r.status.split(":")[0].split(" in ")[0]
        counts[key] = counts.get(key, 0) + 1
    if grader.merge_seconds:
        ms = sorted(grader.merge_seconds)
        print(f"course gradebook: {len(ms)} jobs merged, {1000 * ms[len(ms) // 2]:.0f} ms each (median)", file=stream)
    print(f"\n{len(students)} students, {len(aids)} assignments: "
          + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) + f". Results in {out / 'grades.csv'}",
          file=stream)
    return rows
