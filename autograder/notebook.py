"""The course's notebook conventions, in one place: how a lesson notebook says what is an
exercise, a solution, a test, a hidden test, and what the release gives the student.

Every step of the pipeline reads notebooks the same way through these names; nothing here
imports from the rest of ``autograder`` (it is the ground floor).

- nbgrader's cell metadata: :func:`meta`, :func:`is_test_cell`, :func:`cell_key`;
- exercise headers (``### Exercise 3.2 · output_size (2 points)``): :data:`EXERCISE`;
- hidden-test markers: :data:`HIDDEN_BEGIN`, :data:`BEGIN_WORDS`, :data:`END_WORDS`;
- colour codes in error messages: :data:`ANSI`; the grader's own errors: :data:`GRADER_ERRORS`;
- an executed notebook's test results: :class:`TestResult`, :func:`test_results`;
- what a release's own code binds: :func:`release_imports`, :func:`answer_names`,
  :func:`bound_by_import`, and :func:`to_python` (a cell's code without IPython syntax).
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import re
from dataclasses import dataclass

ANSI = re.compile(r"\x1b\[[0-9;]*m")
EXERCISE = re.compile(r"^#+\s*(Exercise[^\n]*)", re.M)
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
#: solutions/' first line for a cell whose output varies, so that nbval does not compare it; the
#: release moves it into the cell's ``nbval-ignore-output`` tag, so students never see it.
NBVAL_MARKER = "# NBVAL_IGNORE_OUTPUT"
# nbgrader's ClearHiddenTests hides what lies between lines containing these words.
BEGIN_WORDS, END_WORDS = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
#: Error names the grader's execute step gives a cell: what they count as in a job's result,
#: and how the class report says them (None: the report names the error itself).
GRADER_ERRORS = {"CellTimeoutError": ("timeouts", "timed out: the cell ran past its time limit and was stopped"),
                 "KernelDied": ("crashes", "the kernel died (a crash, os._exit or the memory cap)"),
                 "TestTampered": ("tampered", None), "GuardError": ("tampered", None)}
# Names a test relies on besides the release's imports: builtins (and IPython's additions).
BUILTIN_NAMES = {n for n in dir(builtins) if n != "_"} | {"__builtins__", "display", "get_ipython"}


def meta(cell) -> dict:
    """A cell's nbgrader metadata ({} if none)."""
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_test_cell(cell) -> bool:
    """An autograded test cell: graded code that is not the student's answer."""
    m = meta(cell)
    return cell.get("cell_type") == "code" and bool(m.get("grade")) and not m.get("solution")


def without_marker(source: str) -> str:
    """A code cell's source without a first ``# NBVAL_IGNORE_OUTPUT`` line: the code itself,
    the same in solutions/ and in a released lesson."""
    first, _, rest = source.partition("\n")
    return rest if first.strip() == NBVAL_MARKER else source


def cell_key(cell) -> str:
    """What identifies a cell across notebooks: its nbgrader grade id, or a digest of its
    source (the unchanged teaching cells). The canary's time limits are keyed by it."""
    gid = cell.metadata.get("nbgrader", {}).get("grade_id")
    return gid or "sha1:" + hashlib.sha1(cell.source.encode()).hexdigest()[:16]


@dataclass
class TestResult:
    exercise: str
    grade_id: str
    ok: bool
    message: str = ""


def _error_of(cell) -> str | None:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            if out.get("ename") == "NotImplementedError":
                return "not written yet: the function still raises NotImplementedError (replace that line with your code)"
            return f"{out.get('ename')}: {ANSI.sub('', out.get('evalue', ''))}"
    return None


def test_results(nb) -> list[TestResult]:
    """One result per graded test cell of an executed notebook, labelled by the exercise
    header (``### Exercise N.M · name``) that precedes it."""
    results, exercise = [], "(before the first exercise)"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = EXERCISE.search(cell.source)
            if m:
                exercise = m.group(1).strip()
        if is_test_cell(cell):
            err = _error_of(cell)
            results.append(TestResult(exercise, meta(cell).get("grade_id", "?"), err is None, err or ""))
    return results


def to_python(source: str) -> str:
    """A cell's code as plain Python (IPython's magics and shell escapes transformed)."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def bound_by_import(node) -> list[tuple[str, str]]:
    """(name, dotted path) an import statement binds; ("*", module) for a star import."""
    if isinstance(node, ast.Import):
        return [(a.asname, a.name) if a.asname else (a.name.split(".")[0], a.name.split(".")[0]) for a in node.names]
    if isinstance(node, ast.ImportFrom):
        base = "." * (node.level or 0) + (node.module or "")
        return [("*", base) if a.name == "*" else (a.asname or a.name, f"{base}.{a.name}") for a in node.names]
    return []


def _release_trees(release):
    """(cell, syntax tree) of every code cell of the release but the solution cells."""
    for cell in release.cells:
        if cell.cell_type != "code" or meta(cell).get("solution"):
            continue
        try:
            yield cell, ast.parse(to_python(cell.source))
        except SyntaxError:
            continue


def release_imports(release) -> list[str]:
    """The import statements of the notebook's own code cells (every code cell but the
    solution cells), each once, in order: what the tests rely on being the real thing."""
    found: list[str] = []
    for _, tree in _release_trees(release):
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)) and not getattr(node, "level", 0):
                stmt = ast.unparse(node)
                if stmt not in found:
                    found.append(stmt)
    return found


def answer_names(release) -> list[str]:
    """The names the test cells read that no cell of the release binds but the student's:
    the answer functions (``normalize``) and variables (``mnist_table``). Whatever they hold
    or return is made plain before a test reads it (autograder.job.plain)."""
    bound, read = set(BUILTIN_NAMES), []
    for cell, tree in _release_trees(release):
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                if not isinstance(node.ctx, ast.Load):
                    bound.add(node.id)
                elif meta(cell).get("grade") and node.id not in read:
                    read.append(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(node.name)
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
            elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
                bound.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                bound.update(name for name, _ in bound_by_import(node))
    return [name for name in read if name not in bound]
