"""``report OUT``: one HTML page on a graded batch, for the instructor and the TAs.

Reads what ``grade`` wrote in OUT (``grades.json`` and the executed notebooks in
``autograded/``) and writes ``OUT/report/index.html`` with its figures beside it
(``scores_<aid>.png``, ``passed_<aid>.png``; :mod:`autograder.reporting.figures`). The page
has no JavaScript. Per assignment it shows the score distribution, per exercise the
share of students with full points and the failure messages counted, and the rows whose
status needs a look (missing, ungradable, timeout, tampered).

A failure is counted under the message the student saw: a visible check's message (ANSI
codes stripped), "not written yet" for a NotImplementedError, the grader's own words for
a timeout or a crash. A hidden test's failure is counted as "hidden tests failed
(<error name>)": its message is never printed, nor any hidden test's code.
"""

from __future__ import annotations

import html
import json
import re
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.reporting import figures as report_figures
from autograder.notebook import ANSI, GRADER_ERRORS, test_results
from autograder.job.preprocessors import hidden_keys, quotes

NOT_GRADED = ("missing", "ungradable")
NOT_WRITTEN = "not written yet (the function still raises NotImplementedError)"
QUOTED = "a visible check failed with a message that quoted a hidden test (not shown)"
POINTS = re.compile(r"\s*\([^()]*\bpoints?\b[^()]*\)\s*$")
MESSAGES_SHOWN = 8  # per exercise; the rest are summed up in one line


@dataclass
class Exercise:
    """One autograded test cell of an assignment, over the batch."""

    grade_id: str
    name: str
    graded: int = 0
    passed: int = 0
    messages: Counter = field(default_factory=Counter)


@dataclass
class Lesson:
    """One assignment: its rows in grades.json and its exercises."""

    aid: str
    rows: list[dict]
    exercises: list[Exercise]

    @property
    def graded(self) -> list[dict]:
        return [r for r in self.rows if is_graded(r)]


# --- reading OUT ---------------------------------------------------------------------
def is_graded(row: dict) -> bool:
    """True when the row's notebook ran and was scored (any status but missing/ungradable)."""
    return not row["status"].startswith(NOT_GRADED)


def status_kind(status: str) -> str:
    """``missing``, ``ungradable``, ``timeout``, ``tampered``, ``graded`` or ``feedback failed``."""
    kind = re.match(r"[a-z]*", status).group()
    return "feedback failed" if kind == "graded" and status != "graded" else kind


def failure_message(cell, keys=frozenset()) -> str:
    """What a failed test cell said, as the report counts it.

    Parameters
    ----------
    cell : nbformat.NotebookNode
        A test cell of an executed (autograded) notebook.
    keys : set of str
        The notebook's hidden-test lines (:func:`autograder.job.preprocessors.hidden_keys`): a
        message that quotes one (student code can read a hidden test and raise it later)
        is not shown, as in feedback.

    Returns
    -------
    str
        The first error's message; hidden-test failures only by their error's name.
    """
    for out in cell.get("outputs", []):
        if out.get("output_type") != "error":
            continue
        ename, evalue = out.get("ename", "Error"), ANSI.sub("", str(out.get("evalue", ""))).strip()
        if GRADER_ERRORS.get(ename, (None, None))[1]:
            return GRADER_ERRORS[ename][1]
        # execute.GuardedExecute writes a hidden part's failure as one error whose
        # traceback is its single summary line; the kernel's own tracebacks are longer.
        if out.get("traceback") == [f"{out.get('ename')}: {out.get('evalue')}"] and ename not in (
                "GuardError", "TestTampered"):
            return f"hidden tests failed ({ename})"
        if ename == "NotImplementedError":
            return NOT_WRITTEN
        if quotes(f"{ename} {evalue}", keys):
            return QUOTED
        return evalue if ename == "AssertionError" and evalue else f"{ename}: {evalue}".rstrip(": ")
    return "lost points without an error output (see the row's status)"


def executed_cells(out: Path, sid: str, aid: str) -> tuple[list, dict]:
    """One executed notebook's test cells, [(exercise, grade_id)] in order, and its failure
    messages by grade id."""
    path = out / "autograded" / sid / aid / f"{aid}.ipynb"
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError):
        return [], {}
    keys = hidden_keys(nb)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells if c.cell_type == "code"}
    tests = [(POINTS.sub("", r.exercise), r.grade_id) for r in test_results(nb)]
    return tests, {gid: failure_message(cells[gid], keys) for _, gid in tests}


def gather_lesson(out: Path, aid: str, rows: list[dict]) -> Lesson:
    """Count, per test cell of ``aid``, the students graded, those with full points and the messages."""
    exercises: dict[str, Exercise] = {}
    for row in (r for r in rows if is_graded(r)):
        order, said = executed_cells(out, row["student_id"], aid)
        for name, gid in order:
            exercises.setdefault(gid, Exercise(gid, name))
        for grade in row["cells"]:
            ex = exercises.get(grade["cell"])
            if ex is None:  # a written answer (graded by hand), or no executed notebook
                continue
            ex.graded += 1
            if grade["max_score"] > 0 and grade["score"] >= grade["max_score"]:
                ex.passed += 1
            elif grade["cell"] in said:
                ex.messages[said[grade["cell"]]] += 1
            else:
                ex.messages["the test cell is not in the executed notebook (see the row's status)"] += 1
    names = Counter(ex.name for ex in exercises.values())
    for ex in exercises.values():  # two test cells under one header (lesson 08): name them apart
        ex.name += f" [{ex.grade_id}]" if names[ex.name] > 1 else ""
    return Lesson(aid, rows, list(exercises.values()))


def load_batch(out: Path) -> tuple[list[dict], float]:
    """The rows of ``OUT/grades.json`` and the time it was written (now if it has no mtime)."""
    path = out / "grades.json"
    if not path.is_file():
        raise SystemExit(f"error: {path} not found: run `python -m autograder grade SUBMISSIONS --out {out}` first")
    return json.loads(path.read_text()), path.stat().st_mtime or time.time()


# --- the page ------------------------------------------------------------------------
CSS = """
body{font-family:system-ui,sans-serif;max-width:62rem;margin:1.5rem auto;padding:0 1rem;color:#222;line-height:1.4}
h1{margin-bottom:.2rem} h2{border-bottom:2px solid #0072B2;padding-bottom:.2rem;margin-top:2.2rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top} th{background:#f2f2f2}
td.n{text-align:right;white-space:nowrap} td.msg{white-space:pre-wrap;overflow-wrap:anywhere}
img{max-width:100%;display:block;margin:.5rem 0} .note{color:#555;font-size:.92rem}
code{background:#f4f4f4;padding:0 .2rem}"""
HOW_TO_READ = ("Counts group <b>identical</b> messages: a check whose message quotes the student's own value "
               "(e.g. <code>got [[0.1, …]]</code>) is counted apart for each distinct value. Each failed test cell "
               "counts once, under its first error. A hidden test's failure is counted as <code>hidden tests failed "
               "(error name)</code>; its message is in the student's feedback, not here. A test cell passes with "
               "full points. Written answers (graded by hand) are not in the exercise tables.")


def _e(text) -> str:
    return html.escape(str(text))


def _pct(k: float, n: float) -> str:
    return f"{100 * k / n:.0f} %" if n else "–"


def _counts(items) -> str:
    """``2 missing, 1 ungradable`` from an iterable of labels."""
    return ", ".join(f"{n} {k}" for k, n in sorted(Counter(items).items())) or "none"


def header_html(rows: list[dict], mtime: float, aids: list[str]) -> str:
    """The page's title and the batch: when, how many students, which assignments, how the rows ended."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(mtime))
    students = len({r["student_id"] for r in rows})
    links = ", ".join(f'<a href="#{_e(a)}">{_e(a)}</a>' for a in aids)
    return (f"<h1>Class report</h1>\n<p>Batch graded {when} (<code>grades.json</code>) · <b>{students}</b> students · "
            f"{len(aids)} assignment{'s' * (len(aids) != 1)}: {links} · {len(rows)} rows: "
            f"{_e(_counts(status_kind(r['status']) for r in rows))} (<a href=\"#statuses\">statuses</a>).</p>\n"
            f"<p class=note>{HOW_TO_READ}</p>")


def scores_html(lesson: Lesson, dest: Path) -> str:
    """The score histogram of one assignment (drawn into ``dest``) and what it leaves out."""
    graded = lesson.graded
    shares = [100 * r["score"] / r["max_score"] if r["max_score"] else 0.0 for r in graded]
    left = _counts(status_kind(r["status"]) for r in lesson.rows if not is_graded(r))
    text = f"{len(graded)} of {len(lesson.rows)} notebooks graded; not graded: {left}."
    if not graded:
        return f"<h3>Scores</h3>\n<p>{_e(text)}</p>"
    text += f" Median {statistics.median(shares):.0f} %, mean {statistics.mean(shares):.0f} %."
    pending = sum(1 for r in graded if r.get("manual_pending"))
    if pending:
        text += f" {pending} graded notebooks have written answers awaiting manual grading, counted as 0 here."
    png = f"scores_{lesson.aid}.png"
    report_figures.score_histogram(shares, f"{lesson.aid}: score / max score ({len(graded)} graded)", dest / png)
    bins = "; ".join(f"{label}: {c}" for label, c in zip(report_figures.bin_labels(),
                                                          report_figures.histogram_counts(shares)) if c)
    return f'<h3>Scores</h3>\n<p>{_e(text)}</p>\n<img src="{png}" alt="{_e(lesson.aid)} score histogram: {_e(bins)}">'


def exercises_html(lesson: Lesson, dest: Path) -> str:
    """Per exercise: the pass-share figure (drawn into ``dest``), its table, and the failure messages."""
    exs = lesson.exercises
    if not exs:
        return "<p>No executed notebook: no exercise to report.</p>"
    png = f"passed_{lesson.aid}.png"
    report_figures.pass_shares([e.name for e in exs], [e.passed for e in exs], [e.graded for e in exs],
                               f"{lesson.aid}: who passed each exercise", dest / png)
    rows = "".join(f'<tr id="pass-{_e(lesson.aid)}-{_e(e.grade_id)}"><td>{_e(e.name)}</td><td><code>{_e(e.grade_id)}'
                   f'</code></td><td class="n passed">{e.passed} of {e.graded}</td><td class=n>{_pct(e.passed, e.graded)}'
                   "</td></tr>" for e in exs)
    table = f"<table><tr><th>exercise</th><th>test cell</th><th>full points</th><th>share</th></tr>{rows}</table>"
    alt = "; ".join(f"{e.name}: {e.passed} of {e.graded}" for e in exs)
    return (f'<h3>Exercises: who passed</h3>\n<img src="{png}" alt="{_e(alt)}">\n{table}\n'
            "<h3>What failed, most frequent first</h3>\n" + "\n".join(messages_html(lesson.aid, e) for e in exs))


def messages_html(aid: str, ex: Exercise) -> str:
    """One exercise's failure messages with their counts (students), the most frequent first."""
    failed = ex.graded - ex.passed
    head = f"<h4>{_e(ex.name)}: {failed} of {ex.graded} failed</h4>"
    if not ex.messages:
        return f'<section class=exercise id="{_e(aid)}-{_e(ex.grade_id)}">{head}</section>'
    ranked = sorted(ex.messages.items(), key=lambda item: (-item[1], item[0]))
    rows = "".join(f'<tr><td class="n count">{n}</td><td class=msg>{_e(msg)}</td></tr>'
                   for msg, n in ranked[:MESSAGES_SHOWN])
    rest = ranked[MESSAGES_SHOWN:]
    if rest:
        rows += (f'<tr><td class=n>{sum(n for _, n in rest)}</td><td class=msg><i>{len(rest)} other messages, '
                 "each less frequent</i></td></tr>")
    return (f'<section class=exercise id="{_e(aid)}-{_e(ex.grade_id)}">{head}\n<table><tr><th>students</th>'
            f"<th>message</th></tr>{rows}</table></section>")


def statuses_html(rows: list[dict]) -> str:
    """The rows whose status is not plain ``graded``, grouped by kind, with the students they concern."""
    odd = sorted((r for r in rows if r["status"] != "graded"),
                 key=lambda r: (status_kind(r["status"]), r["student_id"], r["assignment"]))
    if not odd:
        return "<h2 id=statuses>Statuses</h2>\n<p>Every notebook was graded, none timed out or was flagged.</p>"
    body = "".join(f'<tr class="{_e(status_kind(r["status"]))}"><td>{_e(status_kind(r["status"]))}</td>'
                   f'<td>{_e(r["student_id"])}</td><td>{_e(r["assignment"])}</td><td class=msg>{_e(r["status"])}'
                   f'</td><td class=msg>{_e("; ".join(r.get("notes") or []))}</td></tr>' for r in odd)
    return ("<h2 id=statuses>Statuses: rows to look at</h2>\n<p>Missing and ungradable notebooks are not in the "
            "scores; timeouts score 0 on that exercise; tampered rows keep what the honest tests gave, for you to "
            f"review.</p>\n<table><tr><th>kind</th><th>student</th><th>assignment</th><th>status</th><th>notes</th>"
            f"</tr>{body}</table>")


def write_report(out: Path) -> Path:
    """Write ``OUT/report/index.html`` and its PNGs from a graded batch in ``out``; return the page's path."""
    out = Path(out)
    rows, mtime = load_batch(out)
    dest = out / "report"
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.png"):
        old.unlink()
    aids = sorted({r["assignment"] for r in rows})
    parts = [header_html(rows, mtime, aids)]
    for aid in aids:
        lesson = gather_lesson(out, aid, [r for r in rows if r["assignment"] == aid])
        parts.append(f'<section id="{_e(aid)}"><h2>{_e(aid)}</h2>\n{scores_html(lesson, dest)}\n'
                     f"{exercises_html(lesson, dest)}</section>")
    parts.append(statuses_html(rows))
    page = dest / "index.html"
    page.write_text(f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Class report</title>'
                    f"<style>{CSS}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n", encoding="utf-8")
    return page
