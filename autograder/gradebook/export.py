"""``export --format nbgrader|canvas``: final grades from the course gradebook.

Final means what nbgrader counts: per cell the manual score where a grader gave one in
the formgrader, else the autograded score; per submission their sum, less nbgrader's late
penalty. Both formats read the same gradebook, so they always agree.

- ``nbgrader``: nbgrader's own CSV (``nbgrader export``): one row per student × assignment.
- ``canvas``: a Canvas gradebook-import CSV, one column per lesson
  (:mod:`autograder.gradebook.canvas`).
"""

from __future__ import annotations

from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from autograder import course

FORMATS = ("nbgrader", "canvas")


def final_scores(url: str, aids: list[str] | None = None) -> tuple[list[dict], list[tuple[str, float]], list[dict]]:
    """(rows, assignments, students) of the course gradebook: a row per submission with
    its final score, each assignment with its max score, each student with the fields
    the LMS needs (name, lms_id)."""
    rows, assignments, students = [], [], []
    with Gradebook(url, course.COURSE_ID) as gb:
        for a in sorted(gb.assignments, key=lambda a: a.name):
            if aids and a.name not in aids:
                continue
            assignments.append((a.name, float(a.max_score)))
            for s in gb.students:
                try:
                    sub = gb.find_submission(a.name, s.id)
                except MissingEntry:
                    continue
                rows.append({"student_id": s.id, "assignment": a.name,
                             "score": max(0.0, float(sub.score) - float(sub.late_submission_penalty or 0.0))})
        for s in sorted(gb.students, key=lambda s: s.id):
            name = " ".join(filter(None, [s.first_name, s.last_name])) or s.id
            students.append({"student_id": s.id, "name": name, "lms_id": s.lms_user_id or ""})
    return rows, assignments, students


def export(url: str, fmt: str, out: Path, aids: list[str] | None = None) -> Path:
    """Write the course gradebook's final grades to ``out`` in ``fmt``; return ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "nbgrader":
        from nbgrader.plugins import CsvExportPlugin

        with Gradebook(url, course.COURSE_ID) as gb:
            CsvExportPlugin(to=str(out), assignment=list(aids or [])).export(gb)
        return out
    if fmt == "canvas":
        from autograder.gradebook.canvas import canvas_csv

        rows, assignments, students = final_scores(url, aids)
        return canvas_csv(rows, assignments, students, out)
    raise ValueError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
