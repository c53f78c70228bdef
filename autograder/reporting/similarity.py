"""``similarity OUT``: which students' answers look copied from each other. For instructors only.

Reads what ``grade`` wrote in OUT (``grades.json`` and the students' notebooks in
``autograded/``), the release (``lessons/<aid>/<aid>.ipynb``: which cells are answer cells,
and what code the students were given) and the reference solutions (``solutions/``), and
writes ``OUT/similarity/index.html`` (per assignment, the pairs of students ranked by score)
with one side-by-side page per listed pair, the matching fragments highlighted. No JavaScript.
The folder is 0700 and its files 0600: the pages hold students' code.

How two students are compared, per assignment:

- **Answer cell by answer cell.** Only the cells the release marks as the student's
  (nbgrader ``solution: true``, code) are read, and each is fingerprinted on its own, so
  fingerprints never run from one cell into the next. Written (markdown) answers are not read.
- **copydetect's winnowing over tokens** (:func:`copydetect.utils.filter_code`: Pygments
  tokens, names replaced by ``V``/``F``, strings by ``S``, comments and whitespace dropped;
  :func:`copydetect.utils.winnow`; :func:`copydetect.detector.compare_files`). The k-grams
  are hashed with BLAKE2b rather than copydetect's ``hash()``, which Python salts per process:
  the same batch gives the same scores on every run.
- **The release is boilerplate.** Every k-gram of every code cell of the released notebook
  (signatures, docstrings, given code, visible tests) is removed from the students'
  fingerprints before comparing, and so is every k-gram that reaches into a line the release
  gives (half signature, half the student's first line), so nothing the release gives can match.
- **Spec transcriptions are discounted against the reference.** In cells whose grade id
  starts with ``build_`` (the Keras model functions, whose docstring spells out each layer)
  every k-gram of the reference solutions of those cells is boilerplate too: two students
  who both typed the specified model are not evidence; what they added beyond it still is.
- **Values are not code.** An answer cell whose release defines no function (``hand_values``,
  ``mnist_table``: numbers or a table to fill in) is not compared: every correct answer holds
  the same numbers. Numeric answers are for the variants section (:func:`variant_matches`).
- **Short answers are not evidence.** An answer's size is the number of Pygments tokens
  (names, keywords, operators, numbers; a string counts once; whitespace and comments not)
  on its *own* lines, those not in the release (nor, for ``build_`` cells, in the reference).
  A cell counts for a pair only when both answers have at least :data:`MIN_TOKENS`: two
  correct one-line ``normalize``s (20 tokens) match by necessity.
- **Score.** For each counted cell, the fingerprinted code of both answers that matches the
  other's (copydetect's token overlap, both sides); the pair's score sums those over the
  counted cells and divides by the two answers' fingerprinted code in them: the share of
  the two students' own code that they share. Large answers weigh more than small ones.

The score ranks pairs for a human to read; it proves nothing (docs/grading.md, "Similarity
report").
"""

from __future__ import annotations

import difflib
import hashlib
import html
import itertools
import os
import re
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import nbformat
import numpy as np
from copydetect.detector import compare_files
from copydetect.utils import filter_code, get_token_coverage, winnow
from pygments import token
from pygments.lexers import PythonLexer

from autograder import course
from autograder.notebook import meta
from autograder.reporting.report import is_graded, load_batch

#: copydetect's noise threshold: k-grams of this many filtered characters (its default, 25).
NOISE = 25
#: copydetect's guarantee threshold: a match this long is always found (winnowing window of
#: GUARANTEE - NOISE + 1 = 4 k-grams).
GUARANTEE = 28
#: Answers with fewer own tokens than this are not evidence (module docstring).
MIN_TOKENS = 40
#: A pair is flagged (and gets a side-by-side page) from this score on...
FLAG_SCORE = 0.5
#: ...or when one cell matches this much, with at least FLAG_CELL_TOKENS own tokens a side (a
#: short formula, e.g. same_padding's, can match 0.7 between two students who wrote it apart).
FLAG_CELL = 0.8
FLAG_CELL_TOKENS = 2 * MIN_TOKENS
#: On a pair's page, runs of more given lines than this are folded into one line.
FOLDED = 3
#: Pairs listed per assignment besides the flagged ones (the highest scores).
TOP = 10
#: At most this many pairs are listed (and get a page) per assignment, the highest scores first;
#: the index says how many flagged pairs it leaves out (a whole class that shares one text).
LISTED_MAX = 200
#: Answer cells whose answers transcribe a given spec: discounted against the reference.
SPEC_CELL = re.compile(r"build_")
DEFINES = re.compile(r"^[ \t]*(async[ \t]+)?(def|class)[ \t]", re.M)
SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)


# --- the data --------------------------------------------------------------------------
@dataclass
class Fingerprint:
    """One answer cell's winnowed fingerprints, with what :func:`compare_files` reads."""

    raw_code: str
    filtered_code: str
    offsets: np.ndarray
    hashes: set
    hash_idx: dict
    k: int
    token_coverage: int


@dataclass
class Answer:
    """One student's answer cell: its source, its own tokens and its fingerprints."""

    student: str
    grade_id: str
    source: str
    given: list[bool]  # per line of source: the release (or, for build_ cells, the reference) has it
    tokens: int
    fingerprint: Fingerprint


@dataclass
class CellMatch:
    """Two students' answers to one cell, compared."""

    grade_id: str
    a: Answer
    b: Answer
    matched: float    # fingerprinted code of both answers that matches the other's
    covered: float    # fingerprinted code of both answers
    slices: tuple     # (slices of a, slices of b): copydetect's 2×N [start, end) character ranges

    @property
    def counted(self) -> bool:
        return min(self.a.tokens, self.b.tokens) >= MIN_TOKENS and self.covered > 0

    @property
    def score(self) -> float:
        return self.matched / self.covered if self.covered else 0.0


@dataclass
class Pair:
    """Two students of one assignment: their score over the counted cells, and every cell."""

    aid: str
    a: str
    b: str
    cells: list[CellMatch]

    @cached_property
    def score(self) -> float:
        covered = sum(c.covered for c in self.cells if c.counted)
        return sum(c.matched for c in self.cells if c.counted) / covered if covered else 0.0

    @cached_property
    def flagged(self) -> bool:
        return self.score >= FLAG_SCORE or any(
            c.counted and c.score >= FLAG_CELL and min(c.a.tokens, c.b.tokens) >= FLAG_CELL_TOKENS for c in self.cells)

    @property
    def page(self) -> str:
        return f"{self.aid}/{_slug(self.a)}--{_slug(self.b)}.html"


@dataclass
class Release:
    """What the students of one assignment were given: their answer cells in order, the
    release's source of each, and the fingerprints that never count (per cell)."""

    aid: str
    cells: dict[str, str]                     # grade id -> released source of the compared cells, in order
    values: list[str]                         # answer cells that ask for values: not compared
    given: dict[str, list[str]]               # grade id -> lines that are not the student's own
    boilerplate: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Assignment:
    """One assignment's comparison: every pair of its students, best first."""

    aid: str
    students: list[str]
    pairs: list[Pair]
    release: Release | None
    note: str = ""

    @cached_property
    def listed(self) -> list[Pair]:
        return [p for i, p in enumerate(self.pairs) if p.flagged or (i < TOP and p.score > 0)][:LISTED_MAX]


# --- fingerprints ------------------------------------------------------------------------
def kgram_hashes(filtered: str, k: int = NOISE) -> np.ndarray:
    """A 64-bit BLAKE2b hash of every k-gram (copydetect's own uses the salted ``hash()``)."""
    return np.array([int.from_bytes(hashlib.blake2b(filtered[i:i + k].encode(), digest_size=8).digest(), "little",
                                    signed=True) for i in range(len(filtered) - k + 1)], dtype=np.int64)


def all_hashes(code: str) -> np.ndarray:
    """Every k-gram hash of ``code`` (no winnowing): what a boilerplate source contributes."""
    filtered, _ = filter_code(code, "cell.py", "python")
    return np.unique(kgram_hashes(filtered))


def fingerprint(code: str, boilerplate: np.ndarray, given: list[bool] | None = None) -> Fingerprint:
    """copydetect's fingerprint of one cell (filter, winnow), without the boilerplate k-grams and
    without any k-gram that reaches into a ``given`` line (one flag per line of ``code``): a
    k-gram half given signature, half a student's first line would make a short line look long."""
    filtered, offsets = filter_code(code, "cell.py", "python")
    hashes = kgram_hashes(filtered)
    if len(hashes):
        hashes, idx = winnow(hashes, GUARANTEE - NOISE + 1, remove_duplicates=False)
        keep = ~np.isin(hashes, boilerplate)
        if given is not None and any(given):
            in_given = np.concatenate([[0], np.cumsum(_given_chars(code, filtered, offsets, given))])
            keep &= in_given[idx + NOISE] == in_given[idx]
        hashes, idx = hashes[keep], idx[keep]
    else:
        idx = np.array([], dtype=np.int64)
    hash_idx: dict[int, list[int]] = {}
    for h, i in zip(hashes.tolist(), idx.tolist()):
        hash_idx.setdefault(h, []).append(i)
    return Fingerprint(code, filtered, offsets, set(hash_idx), hash_idx, NOISE,
                       int(get_token_coverage(hash_idx, NOISE, len(filtered))))


def _given_chars(code: str, filtered: str, offsets: np.ndarray, given: list[bool]) -> np.ndarray:
    """Per character of the filtered code: does it come from a given line? (Filtered positions
    map back to the code as copydetect's :func:`compare_files` maps its slices.)"""
    pos = np.arange(len(filtered))
    if len(offsets):
        pos = pos + offsets[:, 1][np.clip(np.searchsorted(offsets[:, 0], pos), 0, len(offsets) - 1)]
    starts = np.cumsum([0] + [len(line) for line in code.splitlines(keepends=True)])
    lines = np.clip(np.searchsorted(starts, pos, side="right") - 1, 0, len(given) - 1)
    return np.asarray(given, dtype=bool)[lines]


def own_tokens(source: str, given: list[bool]) -> int:
    """Pygments tokens that start on the lines the student wrote (the whole cell is lexed, so a
    line inside a string stays a string): no whitespace, no comments, one per string."""
    starts = np.cumsum([0] + [len(line) for line in source.splitlines(keepends=True)])
    count, in_string = 0, False
    for index, kind, value in PythonLexer().get_tokens_unprocessed(source):
        line = int(np.searchsorted(starts, index, side="right")) - 1
        own = line < len(given) and not given[line]
        if kind in token.String:
            count += own and not in_string
            in_string = True
            continue
        in_string = False
        count += own and not (kind in token.Text or kind in token.Comment or kind in token.Whitespace
                              or not value.strip())
    return count


def given_lines(source: str, given: list[str]) -> list[bool]:
    """Per line of ``source``: True where it is one of the ``given`` lines, matched in order
    (difflib on stripped lines), so a student's line that repeats a given one elsewhere is still theirs."""
    lines = [line.strip() for line in source.splitlines()]
    marks = [not line for line in lines]  # blank lines are nobody's
    matcher = difflib.SequenceMatcher(None, lines, given, autojunk=False)
    for block in matcher.get_matching_blocks():
        for i in range(block.a, block.a + block.size):
            marks[i] = True
    return marks


# --- reading ---------------------------------------------------------------------------
def _answer_cells(path: Path) -> dict[str, str]:
    """grade id -> source of every code answer cell (nbgrader ``solution: true``), in order."""
    nb = nbformat.read(path, as_version=4)
    return {meta(c)["grade_id"]: c.source for c in nb.cells if c.cell_type == "code" and meta(c).get("solution")}


def load_release(aid: str, lessons: Path = course.LESSONS, solutions: Path = course.SOLUTIONS) -> Release | None:
    """The release of ``aid`` and its boilerplate; None when lessons/ has no such notebook."""
    path = lessons / aid / f"{aid}.ipynb"
    if not path.is_file():
        return None
    nb = nbformat.read(path, as_version=4)
    cells = _answer_cells(path)
    values = [gid for gid, src in cells.items() if not DEFINES.search(src)]
    cells = {gid: src for gid, src in cells.items() if gid not in values}
    released = np.unique(np.concatenate([all_hashes(c.source) for c in nb.cells if c.cell_type == "code"] or
                                        [np.array([], dtype=np.int64)]))
    ref_path = solutions / aid / f"{aid}.ipynb"
    reference = _answer_cells(ref_path) if ref_path.is_file() else {}
    spec = [SOLUTION_MARKERS.sub("", reference[g]) for g in cells if SPEC_CELL.match(g) and g in reference]
    spec_hashes = np.unique(np.concatenate([released, *map(all_hashes, spec)]))
    release = Release(aid, cells, values, {})
    for gid, src in cells.items():
        spec_cell = SPEC_CELL.match(gid) is not None
        release.given[gid] = [line.strip() for line in src.splitlines()]
        if spec_cell:
            release.given[gid] += [line.strip() for s in spec for line in s.splitlines()]
        release.boilerplate[gid] = spec_hashes if spec_cell else released
    return release


def load_answers(out: Path, aid: str, students: list[str], release: Release) -> dict[str, dict[str, Answer]]:
    """student -> grade id -> Answer, from ``OUT/autograded``; a notebook that cannot be read is left out."""
    answers: dict[str, dict[str, Answer]] = {}
    for sid in students:
        path = out / "autograded" / sid / aid / f"{aid}.ipynb"
        try:
            cells = _answer_cells(path)
        except (OSError, ValueError, KeyError):
            continue
        answers[sid] = {}
        for gid in release.cells:
            if gid not in cells:
                continue
            src = SOLUTION_MARKERS.sub("", cells[gid])
            given = given_lines(src, release.given[gid])
            answers[sid][gid] = Answer(sid, gid, src, given, own_tokens(src, given),
                                       fingerprint(src, release.boilerplate[gid], given))
    return answers


# --- comparing -------------------------------------------------------------------------
def compare(a: Answer, b: Answer) -> CellMatch:
    """copydetect's comparison of two answers to one cell."""
    fa, fb = a.fingerprint, b.fingerprint
    if not (fa.hashes & fb.hashes):
        return CellMatch(a.grade_id, a, b, 0.0, float(fa.token_coverage + fb.token_coverage), (None, None))
    _, (sim_a, sim_b), slices = compare_files(fa, fb)
    matched = sim_a * fa.token_coverage + sim_b * fb.token_coverage
    return CellMatch(a.grade_id, a, b, float(matched), float(fa.token_coverage + fb.token_coverage), slices)


def compare_assignment(aid: str, answers: dict[str, dict[str, Answer]], release: Release) -> list[Pair]:
    """Every pair of students, cell by cell; the highest score first."""
    pairs = []
    for a, b in itertools.combinations(sorted(answers), 2):
        cells = [compare(answers[a][g], answers[b][g]) for g in release.cells if g in answers[a] and g in answers[b]]
        pairs.append(Pair(aid, a, b, cells))
    return sorted(pairs, key=lambda p: (-p.score, p.a, p.b))


def variant_matches(aid: str, out: Path, students: list[str]) -> list:
    """Hook, not built: students whose numeric answers equal **another** student's variant.

    When exercises get per-student variants (each student's own inputs, derived from a
    per-student seed as PrairieLearn does), a student who hands in the number that belongs
    to another student's variant, and not their own, is direct evidence of copying, which
    code similarity is not. This is where that check goes: re-derive every student's variant
    (the grader's seed function), read each numeric answer (e.g. ``hand_values``' ``at_3_2``)
    from ``OUT/autograded``, and return one record per (student, cell, the other student whose
    variant's answer it equals). :func:`variants_html` shows them on the index page, between
    the ranked pairs and the notes. No exercise has variants yet, so nothing is returned.
    """
    return []


def gather(out: Path, lessons: Path = course.LESSONS, solutions: Path = course.SOLUTIONS) -> list[Assignment]:
    """Compare every pair of graded students of every assignment in ``OUT/grades.json``."""
    rows, _ = load_batch(out)
    result = []
    for aid in sorted({r["assignment"] for r in rows}):
        students = sorted({r["student_id"] for r in rows if r["assignment"] == aid and is_graded(r)})
        release = load_release(aid, lessons, solutions)
        if release is None:
            missing = lessons / aid / f"{aid}.ipynb"
            result.append(Assignment(aid, students, [], None, f"no released notebook {missing}: not compared"))
            continue
        answers = load_answers(out, aid, students, release)
        result.append(Assignment(aid, sorted(answers), compare_assignment(aid, answers, release), release))
    return result


# --- the pages -------------------------------------------------------------------------
CSS = """
body{font-family:system-ui,sans-serif;max-width:80rem;margin:1.5rem auto;padding:0 1rem;color:#222;line-height:1.4}
h1{margin-bottom:.2rem} h2{border-bottom:2px solid #0072B2;padding-bottom:.2rem;margin-top:2.2rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top} th{background:#f2f2f2}
td.n{text-align:right;white-space:nowrap} .note{color:#555;font-size:.92rem} code{background:#f4f4f4;padding:0 .2rem}
.warn{border-left:4px solid #D55E00;padding:.3rem .7rem;background:#fff6ef}
.side{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:.8rem} .side h4{margin:.2rem 0}
pre{background:#fafafa;border:1px solid #ddd;padding:.5rem;white-space:pre-wrap;overflow-wrap:anywhere;
font-size:.82rem;line-height:1.35;margin:0} .fold{color:#777;font-style:italic}
mark{background:#ffd36b;border-bottom:2px solid #D55E00;color:#000} .given{color:#999}
.given mark{background:#ffe9b0}"""
WARNING = ("<p class=warn>Students' code: for instructors only, like the gradebook. A high score says two answers "
           "share code beyond what the release gives; it does not say who copied, or that anyone did. Read the "
           "side-by-side page and talk to the students before concluding anything (docs/grading.md, "
           "<i>Similarity report</i>).</p>")


def _e(text) -> str:
    return html.escape(str(text))


def _slug(student: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", student) or "_"


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def how_to_read() -> str:
    return (f"<p class=note>Score: the share of the two students' own answer code that matches the other's "
            f"(copydetect's winnowing over tokens, k = {NOISE} filtered characters, names and whitespace ignored), "
            f"over the answer cells where both wrote at least {MIN_TOKENS} tokens of their own. Code given by the "
            f"release never matches; in <code>build_*</code> cells neither does the reference model; cells that "
            f"ask for values are not compared. Flagged: score ≥ {_pct(FLAG_SCORE)}, or one cell ≥ {_pct(FLAG_CELL)} "
            f"where both wrote at least {FLAG_CELL_TOKENS} tokens. Listed: the flagged pairs and the {TOP} highest "
            f"scores (at most {LISTED_MAX}); each has a side-by-side page.</p>")


def pairs_html(assignment: Assignment) -> str:
    """The ranked table of one assignment's listed pairs, with a summary of all its pairs."""
    scores = [p.score for p in assignment.pairs]
    flagged = sum(p.flagged for p in assignment.pairs)
    left_out = flagged - sum(p.flagged for p in assignment.listed)
    summary = (f"{len(assignment.students)} students, {len(scores)} pairs; {flagged} flagged"
               + (f" ({left_out} of them not listed: only the {LISTED_MAX} highest scores are)" if left_out else "")
               + (f"; median score {_pct(float(np.median(scores)))}, 99th percentile "
                  f"{_pct(float(np.percentile(scores, 99)))}" if scores else "") + ".")
    rows = []
    for rank, p in enumerate(assignment.listed, 1):
        best = max((c for c in p.cells if c.counted), key=lambda c: c.score, default=None)
        cells = f"{_e(best.grade_id)} {_pct(best.score)}" if best else "–"
        rows.append(f'<tr class="{"flagged" if p.flagged else "top"}"><td class=n>{rank}</td><td>{_e(p.a)}</td>'
                    f'<td>{_e(p.b)}</td><td class="n score">{_pct(p.score)}</td><td>{"yes" if p.flagged else ""}</td>'
                    f"<td>{cells}</td><td class=n>{sum(c.counted for c in p.cells)} of {len(p.cells)}</td>"
                    f'<td><a href="{_e(p.page)}">side by side</a></td></tr>')
    table = ("<table><tr><th>rank</th><th>student</th><th>student</th><th>score</th><th>flagged</th>"
             "<th>most similar cell</th><th>cells counted</th><th></th></tr>" + "".join(rows) + "</table>"
             if rows else "<p>No pair shares any code beyond the release.</p>")
    if assignment.release and assignment.release.values:
        summary += (f" Not compared (the answer is values every correct student shares): "
                    f"{', '.join(assignment.release.values)}.")
    return f"<h3>Pairs, most similar first</h3>\n<p>{_e(summary)}</p>\n{table}"


def variants_html(assignment: Assignment, out: Path) -> str:
    """The section for :func:`variant_matches` (empty until exercises have per-student variants)."""
    found = variant_matches(assignment.aid, out, assignment.students)
    if not found:
        return ("<h3>Numeric answers equal to another student's variant</h3>\n<p class=note>Not checked: no exercise "
                "of this assignment has per-student variants yet.</p>")
    return ""  # pragma: no cover - built with the variants


def index_html(assignments: list[Assignment], out: Path) -> str:
    links = ", ".join(f'<a href="#{_e(a.aid)}">{_e(a.aid)}</a>' for a in assignments)
    parts = [f"<h1>Similarity report</h1>\n<p>Batch <code>{_e(out)}</code>, compared "
             f"{time.strftime('%Y-%m-%d %H:%M')}: {links}.</p>\n{WARNING}\n{how_to_read()}"]
    for a in assignments:
        body = f"<p>{_e(a.note)}</p>" if a.note else f"{pairs_html(a)}\n{variants_html(a, out)}"
        parts.append(f'<section id="{_e(a.aid)}"><h2>{_e(a.aid)}</h2>\n{body}</section>')
    return _page("Similarity report", "\n".join(parts))


def highlighted(answer: Answer, slices) -> str:
    """The answer's source as HTML: matching fragments in <mark>, lines given by the release
    grey, and runs of more than :data:`FOLDED` given lines folded into one line that says so."""
    src = answer.source
    marked = np.zeros(len(src) + 1, dtype=bool)
    if slices is not None and np.size(slices):
        for start, end in zip(*np.asarray(slices, dtype=int)):
            marked[max(start, 0):min(end, len(src))] = True
    lines, pos = [], 0
    for line, given in zip(src.splitlines(keepends=True), answer.given):
        text = line.rstrip("\n")
        seg = marked[pos:pos + len(text)]
        cuts = [0, *(np.flatnonzero(seg[1:] != seg[:-1]) + 1).tolist(), len(text)]
        body = "".join(f"<mark>{_e(text[i:j])}</mark>" if seg[i] else _e(text[i:j])
                       for i, j in zip(cuts, cuts[1:]) if i < j)
        lines.append((given and not marked[pos:pos + len(text)].any(),
                      f"<span class=given>{body}</span>" if given else body))
        pos += len(line)
    out, i = [], 0
    while i < len(lines):
        j = i
        while j < len(lines) and lines[j][0]:
            j += 1
        if j - i > FOLDED:
            out.append(f"<span class=fold>⋯ {j - i} lines given by the release</span>")
            i = j
            continue
        out.append(lines[i][1])
        i += 1
    return "<pre>" + "\n".join(out) + "</pre>"


def pair_html(p: Pair) -> str:
    """One pair's page: per answer cell, both students' code side by side, matches highlighted."""
    head = (f'<p><a href="../index.html#{_e(p.aid)}">← similarity report</a></p>\n<h1>{_e(p.a)} and {_e(p.b)}</h1>\n'
            f"<p>{_e(p.aid)} · score <b>{_pct(p.score)}</b>{' · flagged' if p.flagged else ''}</p>\n{WARNING}\n"
            "<p class=note>Highlighted: fragments whose fingerprints both answers share. Grey: lines the release "
            "gives (or, in <code>build_*</code> cells, the reference model); they never count.</p>")
    cells = []
    for c in sorted(p.cells, key=lambda c: (not c.counted, -c.score)):
        why = (f"{_pct(c.score)} matching" if c.counted else
               f"not counted: {min(c.a.tokens, c.b.tokens)} own tokens, fewer than {MIN_TOKENS}")
        cells.append(f'<section id="{_e(c.grade_id)}"><h3><code>{_e(c.grade_id)}</code>: {_e(why)}</h3>\n'
                     f'<div class=side><div><h4>{_e(p.a)} ({c.a.tokens} own tokens)</h4>{highlighted(c.a, c.slices[0])}'
                     f'</div><div><h4>{_e(p.b)} ({c.b.tokens} own tokens)</h4>{highlighted(c.b, c.slices[1])}</div>'
                     "</div></section>")
    return _page(f"{p.a} and {p.b}: {p.aid}", head + "\n" + "\n".join(cells))


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n")


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only (0600)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def write_similarity(out: Path, lessons: Path = course.LESSONS, solutions: Path = course.SOLUTIONS) -> Path:
    """Write ``OUT/similarity/index.html`` and a page per listed pair; return the index's path."""
    out = Path(out)
    assignments = gather(out, lessons, solutions)
    dest = out / "similarity"
    _private_dir(dest)
    for old in dest.glob("*/*.html"):
        old.unlink()
    for a in assignments:
        if a.listed:
            _private_dir(dest / a.aid)
        for p in a.listed:
            _write_private(dest / p.page, pair_html(p))
    page = dest / "index.html"
    _write_private(page, index_html(assignments, out))
    return page
