"""Look at a submission before any of its code runs (as data, never executed).

- :func:`structure` compares it with the released notebook: deleted test cells (that
  exercise scores 0, flagged), edited or retyped locked cells (nbgrader restores them),
  grade ids or points the submission invented (ignored).
- :func:`tampering` reads the student-written code for attempts to change how grading
  works: patching numpy/builtins/IPython/TF, input or AST transformers, disabling
  tracebacks, dynamic code (exec/eval/compile/__import__), reading grader signals such
  as NBGRADER_EXECUTION. Any hit gives the status ``tampered: <what>`` so an instructor
  looks; the execute step's guard already undoes the common patches at run time.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

import nbformat

PATCHABLE = {"np", "numpy", "tf", "tensorflow", "keras", "scipy", "builtins", "sys", "IPython", "math",
             "unittest", "pytest", "nbgrader", "cnnkit", "testing"}
SUSPECT_ATTRS = {"input_transformers_cleanup", "input_transformers_post", "ast_transformers", "showtraceback",
                 "_showtraceback", "showsyntaxerror", "excepthook", "register_magic_function", "set_custom_exc",
                 "__builtins__", "_course_guard", "events"}
DYNAMIC = {"exec", "eval", "compile", "__import__", "setattr", "delattr", "globals", "vars"}
SIGNAL_WORDS = ("NBGRADER", "_course_guard", "autograded", "gradebook")


@dataclass
class Screen:
    deleted_tests: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tampering: list[str] = field(default_factory=list)


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def structure(submission, release) -> Screen:
    """Compare the submission's cells with the released notebook's, by grade id."""
    out = Screen()
    released = {_meta(c)["grade_id"]: c for c in release.cells if _meta(c).get("grade_id")}
    seen = {}
    for cell in submission.cells:
        gid = _meta(cell).get("grade_id")
        if gid:
            seen.setdefault(gid, cell)
    for gid, rel in released.items():
        m = _meta(rel)
        sub = seen.get(gid)
        if m.get("grade") and not m.get("solution"):
            if sub is None:
                out.deleted_tests.append(gid)
            elif sub.cell_type != rel.cell_type:
                out.notes.append(f"test cell {gid} was turned into {sub.cell_type}; restored from the release")
            elif sub.source != rel.source:
                out.notes.append(f"test cell {gid} was edited; restored from the release")
        if sub is not None and m.get("grade") and float(_meta(sub).get("points", 0) or 0) != float(m.get("points", 0)):
            out.notes.append(f"points of {gid} changed in the submission; the release's {m.get('points')} count")
    for gid in seen:
        if gid not in released:
            out.notes.append(f"cell {gid!r} is not in the release; its nbgrader metadata is ignored")
    return out


def restore_metadata(submission, release) -> None:
    """Give every cell the nbgrader metadata of the release: the release's for a known
    grade id, none for an id the submission invented (so it can claim no points)."""
    import copy

    released = {_meta(c)["grade_id"]: c for c in release.cells if _meta(c).get("grade_id")}
    for cell in submission.cells:
        gid = _meta(cell).get("grade_id")
        if gid in released:
            cell.metadata["nbgrader"] = copy.deepcopy(released[gid].metadata["nbgrader"])
        elif "nbgrader" in cell.get("metadata", {}):
            del cell.metadata["nbgrader"]


def student_code(submission, release) -> list[tuple[str, str]]:
    """(label, source) of every code cell the student wrote: solution cells and added cells."""
    locked = {_meta(c)["grade_id"] for c in release.cells if _meta(c).get("grade_id") and _meta(c).get("locked")}
    released_sources = {c.source for c in release.cells if c.cell_type == "code"}
    cells = []
    for i, cell in enumerate(submission.cells):
        if cell.cell_type != "code":
            continue
        gid = _meta(cell).get("grade_id")
        if gid in locked:
            continue  # restored from the release anyway
        if not gid and cell.source in released_sources:
            continue  # an unchanged teaching cell
        cells.append((gid or f"cell {i + 1}", cell.source))
    return cells


def _to_python(source: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def _root_name(node) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id  # e.g. get_ipython().showtraceback = ...
    return None


def _dotted(node) -> str:
    try:
        return ast.unparse(node)
    except Exception:
        return "?"


def tampering(cells: list[tuple[str, str]]) -> list[str]:
    """What in the student's code tries to change grading; empty if nothing."""
    found: list[str] = []

    def hit(label: str, what: str) -> None:
        text = f"{what} (in {label})"
        if text not in found:
            found.append(text)

    for label, source in cells:
        code = _to_python(source)
        for word in SIGNAL_WORDS:
            if word in code:
                hit(label, f"refers to {word}")
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue  # it will fail when run; not tampering
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for t in targets:
                if isinstance(t, (ast.Attribute, ast.Subscript)):
                    root = _root_name(t)
                    if root in PATCHABLE or root == "get_ipython" or (isinstance(t, ast.Attribute) and t.attr in SUSPECT_ATTRS):
                        hit(label, f"patches {_dotted(t)}")
            if isinstance(node, ast.Attribute) and node.attr in SUSPECT_ATTRS:
                if not any(f.startswith(f"patches {_dotted(node)} ") for f in found):
                    hit(label, f"touches {_dotted(node)}")
            if isinstance(node, ast.Call):
                fn = node.func
                # Only the builtins themselves: model.compile() and friends are ordinary methods.
                if isinstance(fn, ast.Name) and fn.id in DYNAMIC:
                    hit(label, f"uses {fn.id}()")
                if isinstance(fn, ast.Attribute) and fn.attr in ("reload", "import_module"):
                    hit(label, f"uses {_dotted(fn)}()")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for mod in mods:
                    if mod.split(".")[0] in ("importlib", "gc"):
                        hit(label, f"imports {mod}")
    return found


def screen(submission_path, release_path) -> Screen:
    sub = nbformat.read(submission_path, as_version=4)
    rel = nbformat.read(release_path, as_version=4)
    result = structure(sub, rel)
    result.tampering = tampering(student_code(sub, rel))
    return result
