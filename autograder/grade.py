"""``grade SUBMISSIONS_DIR --out OUT_DIR``: grade a whole batch and never lose a row.

Input: ``SUBMISSIONS_DIR/<student_id>/<NN_slug>/<NN_slug>.ipynb`` (nbgrader's layout).
Output in OUT_DIR:

- ``grades.csv``: one row per student × assignment: score, max_score, the
  autograded part of both, points awaiting manual grading, and a status:
  ``graded``, ``ungradable: <reason>`` or ``missing``;
- ``grades.json``: the same rows with points per graded cell;
- ``feedback/<student>/<assignment>/<assignment>.html``: feedback with hidden tests removed;
- ``autograded/<student>/<assignment>/<assignment>.ipynb``: the executed notebooks.

Each job runs in its own process and throwaway course folder (``autograder.worker``),
with the released assignment's gradebook: points and locked cells always come from the
release, never from the submission. A bad submission gets a status, and the batch
carries on.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from . import course
from .release import release
from .worker import RESULT_MARKER

CSV_FIELDS = ["student_id", "assignment", "score", "max_score", "auto_score", "auto_max_score",
              "manual_pending", "status"]


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
    seconds: float = 0.0


def _max_points(template: Path, aid: str) -> tuple[float, float]:
    """(total, autograded) points of the released assignment, from the template gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{template / 'gradebook.db'}") as gb:
        assignment = gb.find_assignment(aid)
        total = auto = 0.0
        for notebook in assignment.notebooks:
            for cell in notebook.grade_cells:
                total += float(cell.max_score)
                if cell.cell_type == "code":
                    auto += float(cell.max_score)
        return total, auto


def _invalid_reason(path: Path) -> str | None:
    """Why ``path`` is not a notebook nbgrader can grade, or None if it is fine."""
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as err:
        detail = " ".join(str(err).split())[:100] or type(err).__name__
        return f"invalid notebook ({type(err).__name__}: {detail})"
    return None


def grade_one(template: Path, submissions: Path, sid: str, aid: str, out: Path, mode: str,
              timeout: int) -> Row:
    """Grade one student's notebook for one assignment; always returns a Row."""
    total, auto_total = _max_points(template, aid)
    row = Row(sid, aid, max_score=total, auto_max_score=auto_total)
    path = submissions / sid / aid / f"{aid}.ipynb"
    if not path.is_file():
        row.status = "missing"
        return row
    reason = _invalid_reason(path)
    if reason:
        row.status = f"ungradable: {reason}"
        return row

    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"grade-{sid}-{aid}-") as tmp:
        ws = Path(tmp)
        shutil.copy2(template / "gradebook.db", ws / "gradebook.db")
        shutil.copytree(template / "source" / aid, ws / "source" / aid)
        dest = ws / "submitted" / sid / aid
        dest.mkdir(parents=True)
        shutil.copy2(path, dest / path.name)
        try:
            proc = subprocess.run([sys.executable, "-m", "autograder.worker", str(ws), aid, sid],
                                  capture_output=True, text=True, timeout=timeout, cwd=course.REPO,
                                  env=course.kernel_env(mode))
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_MARKER)]
            result = json.loads(lines[-1][len(RESULT_MARKER):]) if lines else {
                "ok": False, "reason": f"grader process ended without a result (exit {proc.returncode})"}
        except subprocess.TimeoutExpired:
            result = {"ok": False, "reason": f"grading took longer than {timeout} s"}
        row.seconds = round(time.monotonic() - start, 1)
        if not result["ok"]:
            row.status = f"ungradable: {result['reason']}"
            return row
        row.cells = result["grades"]
        row.score = sum(g["score"] for g in row.cells)
        row.auto_score = sum(g["auto_score"] or 0.0 for g in row.cells if not g["needs_manual_grade"])
        row.manual_pending = sum(g["max_score"] for g in row.cells if g["needs_manual_grade"])
        for sub in ("feedback", "autograded"):
            src = ws / sub / sid / aid
            if src.is_dir():
                target = out / sub / sid / aid
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(src, target, ignore=shutil.ignore_patterns("*.ipynb_checkpoints", "__pycache__"))
        if not result.get("feedback_ok", True):
            row.status = f"graded (feedback failed: {result.get('feedback_error', '')})"
    return row


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


def grade(submissions: Path, out: Path, aids: list[str] | None = None, mode: str = "fast",
          timeout: int = 1800, stream=sys.stdout) -> list[Row]:
    """Grade every student folder in ``submissions``; write the results to ``out``."""
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if not submissions.is_dir():
        raise SystemExit(f"error: {submissions} is not a folder of student submissions")
    out.mkdir(parents=True, exist_ok=True)
    students = sorted(p.name for p in submissions.iterdir() if p.is_dir() and not p.name.startswith("."))
    known = course.assignments()
    if aids:
        unknown = sorted(set(aids) - set(known))
        if unknown:
            raise SystemExit(f"error: unknown assignment(s) {unknown}; known: {known}")
    else:  # every assignment that at least one student handed in
        aids = sorted({a for s in students for a in known if (submissions / s / a).exists()})
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="grade-template-") as tmp:
        template = Path(tmp)
        if aids:
            release(dest=template / "lessons", aids=aids, root=template)
        for sid in students:
            for aid in aids:
                row = grade_one(template, submissions, sid, aid, out, mode, timeout)
                rows.append(row)
                manual = f", {_fmt(row.manual_pending)} pts await manual grading" if row.manual_pending else ""
                print(f"{sid:<20} {aid:<28} {_fmt(row.score):>6} / {_fmt(row.max_score):<6} {row.status}{manual}",
                      file=stream, flush=True)
    write_results(rows, out)
    graded = sum(r.status.startswith("graded") for r in rows)
    print(f"\n{len(students)} students, {len(aids)} assignments: {graded} graded, "
          f"{sum(r.status == 'missing' for r in rows)} missing, "
          f"{sum(r.status.startswith('ungradable') for r in rows)} ungradable. "
          f"Results in {out / 'grades.csv'}", file=stream)
    return rows
