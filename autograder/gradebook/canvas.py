"""A Canvas gradebook-import CSV (Grades → Import) of final scores, one column per lesson.

Layout, as Canvas's own gradebook export::

    Student,ID,SIS User ID,SIS Login ID,Section,01_pixels,02_convolution
    Points Possible,,,,,10,12
    Ada Lovelace,12345,s1,s1,,9.5,12
    Alan Turing,23456,s2,s2,,7,

How Canvas reads it (its ``GradebookImporter``):

- The header must start ``Student``, ``ID`` and end its identity columns with ``Section``;
  with ``SIS User ID`` and ``SIS Login ID`` between them there are five identity columns,
  and every column after them is an assignment.
- A student row is matched to a student of the course by ``ID`` (the Canvas user id) first,
  then by ``SIS User ID``, then by ``SIS Login ID``, and last by the name in ``Student``. So
  ``ID`` is the reliable column: it comes from the roster's ``lms_id`` (the id in
  Canvas's download-all file names). Without one, the row relies on our student id being
  the student's SIS user id or login, and then on the name, which can be ambiguous; a row
  that matches no student shows up in the import preview as an unknown student.
- A column header without an ``(id)`` suffix (``01_pixels``, not ``01_pixels (4711)``) is
  matched by title to an assignment of the course, and Canvas creates the assignment when
  none has that title.
- The ``Points Possible`` row (``Points Possible`` in the ``Student`` column) gives each
  column's points; an assignment Canvas creates gets them.
- A blank cell means this gradebook holds no score (no submission); it is never a 0. Canvas's
  import preview shows every score that the import would change before anything is saved.
"""

from __future__ import annotations

import csv
from pathlib import Path

IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def canvas_csv(rows: list[dict], assignments: list[tuple[str, float]], roster: list[dict] | None,
               out: Path) -> Path:
    """Write a Canvas gradebook-import CSV to ``out``; return ``out``.

    Parameters
    ----------
    rows : final scores, dicts with ``student_id``, ``assignment`` and ``score``; rows of an
        assignment not in ``assignments`` are left out.
    assignments : (assignment id, points possible), one column each, in this order.
    roster : dicts with ``student_id`` and optionally ``name`` (else ``first_name`` and
        ``last_name``) and ``lms_id`` (the Canvas user id); its students come first, in its
        order, each with a row even without scores. Students with scores who are not on it
        follow, sorted. None: the students of ``rows``, sorted.

    Example: ``canvas_csv([{"student_id": "s1", "assignment": "01_pixels", "score": 9.5}],
    [("01_pixels", 10.0)], None, Path("canvas.csv"))`` writes a row ``s1,,s1,s1,,9.5``.
    """
    aids = [aid for aid, _ in assignments]
    scores: dict[tuple[str, str], float] = {}
    for r in rows:
        key = (str(r["student_id"]), r["assignment"])
        if key[1] not in aids:
            continue
        if key in scores:
            raise ValueError(f"two scores for {key[0]}/{key[1]}")
        scores[key] = r["score"]

    people = {str(p["student_id"]): p for p in roster or []}
    order = list(people) + sorted({sid for sid, _ in scores} - set(people))

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(IDENTITY + aids)
        w.writerow(["Points Possible", "", "", "", ""] + [f"{float(points):g}" for _, points in assignments])
        for sid in order:
            person = people.get(sid, {})
            w.writerow([_name(person) or sid, str(person.get("lms_id") or "").strip(), sid, sid, ""]
                       + [_cell(scores.get((sid, aid))) for aid in aids])
    return out


def _name(person: dict) -> str:
    """The roster's ``name``, else "Last, First" (Canvas's sortable name), else ""."""
    name = str(person.get("name") or "").strip()
    if name:
        return name
    first, last = (str(person.get(k) or "").strip() for k in ("first_name", "last_name"))
    return ", ".join(filter(None, [last, first]))


def _cell(score: float | None) -> str:
    return "" if score is None else f"{float(score):g}"
