"""Batches of students for the similarity report (tests/grader/test_similarity.py, benchmarks/similarity.py).

A student is a notebook built from a solutions notebook's structure (every cell, in order)
whose answer cells hold that student's code, written where a grade run leaves it:
``OUT/autograded/<student>/<aid>/<aid>.ipynb``, with a ``graded`` row in ``OUT/grades.json``.
The similarity report reads nothing else, so no notebook is executed.

Independent students come from the correct candidates of testbed/candidates.py
(loops, vectorised, einsum... written apart from the solutions): each candidate's body is
put in the released cell where the student writes, under the given signature and docstring.
Planted copies come from :func:`disguise`: variables renamed, functions reordered, comments
and whitespace changed, and a print added.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import io
import json
import keyword
import re
import textwrap
import tokenize
from pathlib import Path

import nbformat

from autograder.course import LESSONS, SOLUTIONS
from testbed import candidates as mutations

PLACEHOLDER = re.compile(r"^([ \t]*)# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(\)\n?", re.M)
MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)


def notebook(root: Path, aid: str) -> Path:
    return root / aid / f"{aid}.ipynb"


def answer_cells(path: Path) -> dict[str, str]:
    nb = nbformat.read(path, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}


def reference_answers(aid: str) -> dict[str, str]:
    """The reference solution's answer cells as a student who wrote them hands them in."""
    return {gid: MARKERS.sub("", src) for gid, src in answer_cells(notebook(SOLUTIONS, aid)).items()}


def released_answers(aid: str) -> dict[str, str]:
    """The answer cells as released (a student who wrote nothing)."""
    return answer_cells(notebook(LESSONS, aid))


def _body(fn) -> str:
    """A function's body without its docstring, dedented."""
    src = textwrap.dedent(inspect.getsource(fn))
    tree = ast.parse(src)
    body = tree.body[0].body
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        body = body[1:]
    lines = src.splitlines(keepends=True)
    return textwrap.dedent("".join(lines[body[0].lineno - 1:body[-1].end_lineno]))


def fill(released: str, code: str) -> str:
    """The released cell with ``code`` where the student writes (indented as the placeholder)."""
    match = PLACEHOLDER.search(released)
    assert match, f"no placeholder in {released[:60]!r}"
    return released[:match.start()] + textwrap.indent(code, match.group(1)) + released[match.end():]


def helpers(fn, graded: set[str]) -> list[str]:
    """Names of the functions of testbed/candidates.py that ``fn`` calls, and those they call
    (not the notebook's own graded functions), in the order first met."""
    found, todo = [], [fn]
    while todo:
        for name in re.findall(r"\b[A-Za-z_]\w*\b", _body(todo.pop())):
            obj = getattr(mutations, name, None)
            if (inspect.isfunction(obj) and obj.__module__ == mutations.__name__ and name not in graded
                    and name not in found and obj is not fn):
                found.append(name)
                todo.append(obj)
    return found


def candidate_answer(released: str, fn, helper_names: list[str]) -> str:
    """One correct candidate as an answer cell: the helpers it calls above the given signature
    and docstring, its body where the student writes."""
    defs = "".join(inspect.getsource(getattr(mutations, name)) + "\n\n" for name in helper_names)
    return defs + fill(released, _body(fn))


def candidates(aid: str) -> dict[str, list]:
    """grade id -> the correct candidates of testbed/candidates.py for that answer cell, as answers.

    A candidate's answer carries the helper functions it calls, except those an earlier candidate
    of the same exercise already carries: one author wrote them all, and a helper in two answers
    would be a real copy between the "independent" students."""
    released = released_answers(aid)
    found: dict[str, list] = {}
    carried: dict[str, set[str]] = {}
    for cand_aid, test_id, _, namespace in mutations.RIGHT:
        if cand_aid != aid:
            continue
        gid = test_id.removeprefix("test_")
        if gid == "hand_values":
            answer = "".join(f"{name} = {value!r}\n" for name, value in namespace.items())
        elif gid == "mnist_table":
            answer = fill(released[gid], f"mnist_table = {namespace[gid]!r}\n")
        else:
            names = helpers(namespace[gid], set(released))
            mine = [n for n in names if n not in carried.get(gid, ())]
            answer = candidate_answer(released[gid], namespace[gid], mine)
            carried.setdefault(gid, set()).update(names)
        found.setdefault(gid, []).append(answer)
    return found


def independent_students(aid: str, count: int | None = None) -> dict[str, dict[str, str]]:
    """``ref`` (the reference solution) and ``alt0``, ``alt1``…: student i takes the i-th correct
    candidate of every exercise (only as many students as every exercise has candidates), so no
    two of them hand in the same answer to any cell."""
    cands = candidates(aid)
    n = min(len(v) for v in cands.values()) if count is None else count
    students = {"ref": reference_answers(aid)}
    released = released_answers(aid)
    for i in range(n):
        students[f"alt{i}"] = {gid: cands[gid][i] if gid in cands and i < len(cands[gid]) else released[gid]
                               for gid in released}
    return students


# --- planted copies ----------------------------------------------------------------------
def _add_print(src: str) -> str:
    """A debugging print as the first statement of every function (after its docstring)."""
    tree = ast.parse(src)
    lines = src.splitlines(keepends=True)
    inserts = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            body = node.body
            first = body[1] if (len(body) > 1 and isinstance(body[0], ast.Expr)
                                and isinstance(body[0].value, ast.Constant)) else body[0]
            arg = node.args.args[0].arg if node.args.args else '"start"'
            inserts.append((first.lineno - 1, " " * first.col_offset + f'print("debug {node.name}:", {arg})\n'))
    for line, text in sorted(inserts, reverse=True):
        lines.insert(line, text)
    return "".join(lines)


def _reorder(src: str) -> str:
    """Top-level functions in reverse order (other statements first, as they were)."""
    tree = ast.parse(src)
    lines = src.splitlines(keepends=True)

    def segment(node):
        start = (node.decorator_list[0].lineno if getattr(node, "decorator_list", None) else node.lineno) - 1
        return "".join(lines[start:node.end_lineno])

    defs = [segment(n) for n in tree.body if isinstance(n, ast.FunctionDef)]
    rest = [segment(n) for n in tree.body if not isinstance(n, ast.FunctionDef)]
    return "\n".join(rest + defs[::-1])


def _renames(src: str) -> dict[str, str]:
    """New names for the cell's variables and parameters (not the graded functions' names)."""
    tree = ast.parse(src)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    names |= {a.arg for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) for a in n.args.args}
    top = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)} | {
        t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    keep = top | set(dir(builtins)) | set(keyword.kwlist)
    return {name: f"my_{name}_v" for name in sorted(names - keep)}


def _retokenize(src: str, renames: dict[str, str]) -> str:
    """Rename, drop comments, and rewrite every line's spacing (tokenize's untokenize, compat mode)."""
    out, prev = [], None
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            continue
        text = tok.string
        if tok.type == tokenize.NAME and text in renames and not (prev and prev.string == "."):
            text = renames[text]
        out.append((tok.type, text))
        prev = tok
    return tokenize.untokenize(out)


def disguise(src: str) -> str:
    """A planted copy of one answer cell: a print added, functions reordered, variables renamed,
    comments and whitespace changed. The graded functions keep their names (the tests call them)."""
    if not src.strip():
        return src
    renamed = _retokenize(_reorder(_add_print(src)), _renames(src))
    return "# worked this out myself\n" + re.sub(r"\n(?=def )", "\n\n\n", renamed)


def reformat(src: str) -> str:
    """The same code with other whitespace and comments (what an autoformatter and a tidy student do)."""
    return "# my answer\n" + _retokenize(src, {}) if src.strip() else src


def copy_of(student: dict[str, str]) -> dict[str, str]:
    return {gid: disguise(src) for gid, src in student.items()}


# --- a graded batch on disk ----------------------------------------------------------------
def write_batch(out: Path, aid: str, students: dict[str, dict[str, str]]) -> Path:
    """``OUT/grades.json`` and ``OUT/autograded/<student>/<aid>/<aid>.ipynb`` for these students
    (grade id -> answer source each), built from the solutions notebook's cells."""
    template = nbformat.read(notebook(SOLUTIONS, aid), as_version=4)
    rows = json.loads((out / "grades.json").read_text()) if (out / "grades.json").is_file() else []
    for sid, answers in students.items():
        nb = nbformat.from_dict(json.loads(json.dumps(template)))
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.cell_type == "code" and gid in answers:
                cell.source = answers[gid]
        path = out / "autograded" / sid / aid / f"{aid}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        rows.append({"student_id": sid, "assignment": aid, "score": 0, "max_score": 0, "status": "graded",
                     "cells": []})
    (out / "grades.json").write_text(json.dumps(rows, indent=1))
    return out
