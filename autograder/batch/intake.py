"""What a batch grades: the students (a roster, or every folder of submissions), the
assignments, and each submission read as a notebook, with the notes that explain what was
found (:func:`load_submission`, :func:`find_notebook`, :func:`submission_time`)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import nbformat

from autograder import course


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


def find_notebook(folder: Path, aid: str) -> tuple[Path | None, list[str]]:
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


def submission_time(folder: Path, notes: list[str]) -> str:
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


def select(submissions: Path, aids: list[str] | None, roster: Path | None, only: list[str] | None,
           stream=sys.stdout) -> tuple[list[str], list[str], dict[str, dict]]:
    """(students, assignments, roster fields per student) of a batch: the roster's students, then
    any other folder found (``only``: just these); ``aids``, or every assignment that at least
    one student handed in."""
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
    return students, aids, names
