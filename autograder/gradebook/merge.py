"""The course gradebook: every graded job merged into nbgrader's own database.

Each job is graded in a throwaway gradebook of its own (:mod:`autograder.job.worker`);
the grading parent then merges the result here, one job per transaction, so that
``nbgrader formgrader``, ``nbgrader export`` and ``python -m autograder export`` see the
whole class. Any SQLAlchemy URL works: SQLite (one writer at a time, waits for the
lock) or PostgreSQL (several ``grade`` processes at once).

nbgrader's rule holds: a manual score or comment, once given in the formgrader, is
never overwritten by a regrade; only the automatic part (``auto_score``,
``auto_comment``) is replaced, and a cell with a manual score stays marked for review.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from nbgrader import utils
from nbgrader.api import (Assignment, BaseCell, Comment, Grade, Gradebook, InvalidEntry, Notebook, Student,
                          SubmittedAssignment, SubmittedNotebook)
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from autograder import course, settings

#: The PostgreSQL advisory lock key of the gradebook's schema and assignment definitions.
SCHEMA_LOCK = 0x70697865  # "pixe"


class GradebookUnavailable(RuntimeError):
    """The course gradebook could not be written, even after retrying."""


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


class CourseGradebook:
    """nbgrader's gradebook of the whole course, written by the grading parent.

    ``define`` mirrors the released assignments (notebooks, graded, solution, task and
    source cells, points) from the batch's template gradebook; ``merge`` writes one
    graded job (the student, the submission, its grades and comments) in one transaction.
    """

    def __init__(self, url: str, course_id: str = course.COURSE_ID, retry_s: float | None = None, log=None):
        course.alembic_head_in_process()
        self.url, self.course_id = url, course_id
        self.retry_s = settings.retry_s(retry_s)
        self.log = log or (lambda msg: None)
        kwargs: dict = {"pool_pre_ping": True, "future": True}
        self.sqlite = url.startswith("sqlite")
        if self.sqlite:
            kwargs["connect_args"] = {"timeout": 60}  # wait for another writer's lock
            from sqlalchemy.engine import make_url

            path = make_url(url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url, **kwargs)
        self._retry(self._create, "open")

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> CourseGradebook:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- retrying ------------------------------------------------------------------------
    def _retry(self, fn, what: str):
        """Run ``fn``; retry while the database server is unreachable or a concurrent writer
        won a race (a unique row created by another ``grade`` process). Raise
        GradebookUnavailable when ``retry_s`` has passed. A SQLite file has no server to
        wait for (its lock is waited for by the driver): its errors are final."""
        deadline, delay, said = time.monotonic() + self.retry_s, 0.5, False
        while True:
            try:
                return fn()
            except (OperationalError, IntegrityError, InvalidEntry, DBAPIError) as err:
                if isinstance(err, DBAPIError) and not isinstance(err, (OperationalError, IntegrityError)) \
                        and not err.connection_invalidated:
                    raise
                detail = " ".join(str(getattr(err, "orig", None) or err).split())[:200]
                if self.sqlite and isinstance(err, OperationalError):
                    raise GradebookUnavailable(f"the course gradebook {redact(self.url)} could not be written "
                                               f"({what}): {detail}") from err
                if time.monotonic() + delay > deadline:
                    raise GradebookUnavailable(
                        f"the course gradebook {redact(self.url)} could not be written ({what}) for "
                        f"{self.retry_s:g} s: {detail}") from err
                if not said or isinstance(err, OperationalError):
                    self.log(f"gradebook: {what} failed ({type(err).__name__}: {detail[:120]}); retrying")
                    said = True
                self.engine.dispose()  # drop connections to a server that went away
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _create(self) -> None:
        # nbgrader's own constructor: creates the tables and the alembic version the first
        # time, and the course row. Two grade processes starting at once would both try to
        # create the tables (PostgreSQL: "relation already exists"), so one waits.
        with self._exclusive():
            Gradebook(self.url, self.course_id).close()

    @contextlib.contextmanager
    def _exclusive(self):
        """Hold the course gradebook's schema lock (a PostgreSQL advisory lock, held by this
        connection until released; SQLite's own file lock does this job there)."""
        if self.sqlite or self.engine.dialect.name != "postgresql":
            yield
            return
        with self.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": SCHEMA_LOCK})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEMA_LOCK})
                conn.commit()

    # --- assignments ---------------------------------------------------------------------
    def define(self, template_db: Path, aids: list[str]) -> None:
        """Mirror the released assignments from the batch's template gradebook, keeping a
        due date the instructor set in the course gradebook."""
        with Gradebook(f"sqlite:///{template_db}") as tpl:
            specs = [_assignment_spec(tpl.find_assignment(aid)) for aid in aids]
        for spec in specs:
            self._retry(lambda spec=spec: self._define_one(spec), f"define {spec['name']}")

    def _define_one(self, spec: dict) -> None:
        with self._exclusive(), Gradebook(self.url, self.course_id) as gb:
            gb.update_or_create_assignment(spec["name"])
            for nb in spec["notebooks"]:
                gb.update_or_create_notebook(nb["name"], spec["name"])
                for cell in nb["grade_cells"]:
                    gb.update_or_create_grade_cell(cell["name"], nb["name"], spec["name"], **_but_name(cell))
                for cell in nb["task_cells"]:
                    gb.update_or_create_task_cell(cell["name"], nb["name"], spec["name"], **_but_name(cell))
                for name in nb["solution_cells"]:
                    gb.update_or_create_solution_cell(name, nb["name"], spec["name"])
                for cell in nb["source_cells"]:
                    gb.update_or_create_source_cell(cell["name"], nb["name"], spec["name"], **_but_name(cell))

    # --- one graded job --------------------------------------------------------------------
    def merge(self, student: str, assignment: str, cells: list[dict], comments: list[dict] | None = None,
              timestamp: str | None = None, names: dict | None = None) -> None:
        """Write one graded job in one transaction (retried as a whole).

        ``cells``: the job's grades, ``{"notebook", "cell", "auto_score", ...}``;
        ``comments``: ``{"notebook", "cell", "auto_comment"}``; ``timestamp``: when the
        student submitted (nbgrader's ``timestamp.txt``), if known; ``names``: roster
        fields of the student (first_name, last_name, email, lms_user_id).
        """
        self._retry(lambda: self._merge(student, assignment, cells, comments or [], timestamp, names or {}),
                    f"merge {student} {assignment}")

    def _merge(self, sid: str, aid: str, cells: list[dict], comments: list[dict], timestamp, names: dict) -> None:
        with Session(self.engine) as s, s.begin():
            student = s.get(Student, sid)
            if student is None:
                student = Student(id=sid)
                s.add(student)
            for key, value in names.items():
                if value:
                    setattr(student, key, value)
            assignment = s.query(Assignment).filter(Assignment.name == aid).one()
            sub = (s.query(SubmittedAssignment)
                   .filter(SubmittedAssignment.assignment_id == assignment.id,
                           SubmittedAssignment.student_id == sid).one_or_none())
            if sub is None:  # nbgrader's add_submission: mirror the assignment's structure
                sub = SubmittedAssignment(assignment=assignment, student=student)
                s.add(sub)
            with s.no_autoflush:
                for notebook in assignment.notebooks:
                    snb = next((n for n in sub.notebooks if n.notebook_id == notebook.id), None)
                    if snb is None:
                        snb = SubmittedNotebook(notebook=notebook, assignment=sub)
                        s.add(snb)
                    have_grades = {g.cell_id for g in snb.grades}
                    have_comments = {c.cell_id for c in snb.comments}
                    for cell in [*notebook.grade_cells, *notebook.task_cells]:
                        if cell.id not in have_grades:
                            s.add(Grade(cell_id=cell.id, notebook=snb))
                    for cell in [*notebook.solution_cells, *notebook.task_cells]:
                        if cell.id not in have_comments:
                            s.add(Comment(cell_id=cell.id, notebook=snb))
            sub.timestamp = utils.parse_utc(timestamp) if timestamp else None
            s.flush()
            grades = _by_name(s, Grade, sub)
            for g in cells:
                grade = grades.get((g["notebook"], g["cell"]))
                if grade is None:
                    continue  # a cell the release does not grade (never trusted from the submission)
                grade.auto_score = g.get("auto_score")
                # nbgrader's SaveAutoGrades: a manual score stays and keeps the cell up for review
                grade.needs_manual_grade = grade.manual_score is not None or grade.auto_score is None
            found = _by_name(s, Comment, sub)
            for c in comments:
                comment = found.get((c["notebook"], c["cell"]))
                if comment is not None:
                    comment.auto_comment = c.get("auto_comment")


def _but_name(cell: dict) -> dict:
    return {k: v for k, v in cell.items() if k != "name"}


def _by_name(s: Session, model, sub: SubmittedAssignment) -> dict:
    rows = (s.query(model, Notebook.name, BaseCell.name)
            .join(SubmittedNotebook, model.notebook_id == SubmittedNotebook.id)
            .join(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
            .join(BaseCell, model.cell_id == BaseCell.id)
            .filter(SubmittedNotebook.assignment_id == sub.id).all())
    return {(nb, cell): obj for obj, nb, cell in rows}


def _assignment_spec(a: Assignment) -> dict:
    """Plain data of a released assignment's structure (so it outlives its session)."""
    return {"name": a.name, "notebooks": [{
        "name": nb.name,
        "grade_cells": [{"name": c.name, "max_score": c.max_score, "cell_type": c.cell_type} for c in nb.grade_cells],
        "task_cells": [{"name": c.name, "max_score": c.max_score, "cell_type": c.cell_type} for c in nb.task_cells],
        "solution_cells": [c.name for c in nb.solution_cells],
        "source_cells": [{"name": c.name, "cell_type": c.cell_type, "locked": c.locked, "source": c.source,
                          "checksum": c.checksum} for c in nb.source_cells],
    } for nb in a.notebooks]}


def course_db_url(explicit: str | None = None, course_dir: Path | None = None) -> str:
    """The course gradebook's URL: ``--db``, else ``$COURSE_DB_URL``, else
    ``CourseDirectory.db_url`` of the course config, else ``gradebook.db`` in the course
    folder (``autograder/``, or ``$COURSE_DIR``); resolved by :func:`autograder.settings.db_url`."""
    return settings.db_url(explicit, course.configured_db_url, lambda: course_dir or course.course_dir())
