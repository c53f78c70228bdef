"""A batch's rows: one :class:`Row` per student × assignment, made from a job's
:class:`~autograder.job.contract.JobResult` (:func:`fill_row`), kept in ``.results/`` as each
job finishes (:class:`ResultCache`: a rerun skips what is graded), and written out as
grades.csv and grades.json (:func:`write_results`). Here, and only here, a row's
:class:`~autograder.job.contract.Status` becomes the text of those files, and is read back.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from autograder.batch.screen import Screen
from autograder.job.contract import JobResult, Status

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
    status: Status = field(default_factory=Status)
    cells: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    seconds: float = 0.0
    sha256: str = ""
    comments: list = field(default_factory=list)   # automatic comments per solution cell, for the gradebook
    timestamp: str = ""                             # when it was submitted (nbgrader's timestamp.txt), if known

    def to_dict(self) -> dict:
        """The row as grades.json and ``.results/`` have it: the status as its text."""
        return {**asdict(self), "status": str(self.status)}

    @classmethod
    def from_dict(cls, data: dict) -> Row:
        return cls(**{**data, "status": Status.parse(data["status"])})


class ResultCache:
    """``OUT/.results/STUDENT/ASSIGNMENT.json``: one file per finished job, so a second run (or a
    run after a crash) reuses it, unless ``force`` or the submission changed."""

    def __init__(self, out: Path, force: bool = False):
        self.root, self.force = out / ".results", force

    def load(self, sid: str, aid: str, digest: str) -> Row | None:
        path = self.root / sid / f"{aid}.json"
        if self.force or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if data.get("version") != RESULT_VERSION or data["row"].get("sha256") != digest:
            return None
        return Row.from_dict(data["row"])

    def save(self, row: Row) -> None:
        path = self.root / row.student_id / f"{row.assignment}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": RESULT_VERSION, "row": row.to_dict()}))
        tmp.replace(path)  # atomic: a kill leaves the old file or the new one, never half


def fill_row(row: Row, result: JobResult, checks: Screen) -> None:
    """A graded job's row: points per cell (a deleted test cell scores 0), totals, notes, and
    the status that asks an instructor to look (tampered, timeout, feedback failed)."""
    cells = result.grades
    for g in cells:
        if g["cell"] in checks.deleted_tests:
            g.update(score=0.0, auto_score=0.0, needs_manual_grade=False)
    row.cells = cells
    row.comments = result.comments
    row.score = sum(g["score"] for g in cells)
    row.auto_score = sum(g["auto_score"] or 0.0 for g in cells if not g["needs_manual_grade"])
    row.manual_pending = sum(g["max_score"] for g in cells if g["needs_manual_grade"])
    if result.crashes:
        row.notes.append("kernel died in: " + ", ".join(result.crashes) + " (restarted, later exercises graded)")
    if checks.deleted_tests:
        row.status = Status("tampered", "deleted test cell " + ", ".join(checks.deleted_tests) + " (scored 0)")
    elif checks.tampering or result.tampered or result.lied:
        found = checks.tampering + [f"changed the test's names while it ran (in {ex})" for ex in result.tampered]
        found += result.lied
        row.status = Status("tampered", "; ".join(found[:3]))
    elif result.timeouts:
        row.status = Status("timeout", ", ".join(result.timeouts))
    elif not result.feedback_ok:
        row.status = Status("feedback failed", result.feedback_error)


def _fmt(x: float) -> str:
    return f"{x:g}"


def write_results(rows: list[Row], out: Path) -> None:
    """grades.csv and grades.json in ``out``."""
    with open(out / "grades.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for r in rows:
            d = r.to_dict()
            writer.writerow({k: _fmt(d[k]) if isinstance(d[k], float) else d[k] for k in CSV_FIELDS})
    with open(out / "grades.json", "w") as f:
        json.dump([r.to_dict() for r in rows], f, indent=1)
