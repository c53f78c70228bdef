"""The batch's recorder: every graded row merged into the **course gradebook** (nbgrader's
database, :mod:`autograder.gradebook.merge`), and its executed notebook and feedback copied to
the course folder's ``autograded/`` and ``feedback/``, where nbgrader's formgrader finds them.
A gradebook that is or stays unreachable stops the batch (:data:`~autograder.batch.stops.GRADEBOOK_HELP`);
rows already graded are kept in ``.results/``, so a rerun merges them."""

from __future__ import annotations

import shutil
import sys
import threading
import time
from pathlib import Path

from autograder.batch.results import Row
from autograder.batch.stops import GRADEBOOK_HELP
from autograder.gradebook.merge import CourseGradebook, GradebookUnavailable, course_db_url, redact
from autograder.job.contract import BatchStopped


class Recorder:
    """The course gradebook of a batch, defined for its assignments, open until :meth:`close`."""

    def __init__(self, db_url: str | None, course_dir: Path, template: Path, aids: list[str], out: Path,
                 names: dict[str, dict], stream=sys.stdout):
        self.course_dir, self.out, self.names = course_dir, out, names
        self.lock = threading.Lock()          # one writer per grading process
        self.seconds: list[float] = []        # per merge
        url = course_db_url(db_url, course_dir)
        try:
            self.book = CourseGradebook(url, log=lambda msg: print(msg, file=stream, flush=True))
            self.book.define(template / "gradebook.db", aids)
        except GradebookUnavailable as err:
            raise BatchStopped(str(err), GRADEBOOK_HELP) from err
        print(f"course gradebook: {redact(url)}; formgrader files in {course_dir}", file=stream, flush=True)

    def record(self, row: Row) -> None:
        """Merge a graded row and put its executed notebook and feedback in the course folder."""
        if not row.cells:
            return
        with self.lock:
            start = time.monotonic()
            try:
                self.book.merge(row.student_id, row.assignment, row.cells, row.comments, row.timestamp or None,
                                self.names.get(row.student_id))
            except GradebookUnavailable as err:
                raise BatchStopped(str(err), GRADEBOOK_HELP) from err
            self.seconds.append(time.monotonic() - start)
        for sub, name in (("autograded", f"{row.assignment}.ipynb"), ("feedback", f"{row.assignment}.html")):
            src = self.out / sub / row.student_id / row.assignment / name
            if src.is_file() and self.course_dir != self.out:
                target = self.course_dir / sub / row.student_id / row.assignment / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target)

    def close(self) -> None:
        self.book.close()
