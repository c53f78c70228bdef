"""Look at a submission before any of its code runs (as data, never executed).

- :func:`structure` compares it with the released notebook: deleted test cells (that
  exercise scores 0, flagged), edited or retyped locked cells (nbgrader restores them),
  grade ids or points the submission invented (ignored).
- :func:`tampering` reads the student-written code for attempts to change how grading
  works: patching numpy/builtins/IPython/TF, input or AST transformers, disabling
  tracebacks, dynamic code (exec/eval/compile/__import__), reading grader signals such
  as NBGRADER_EXECUTION, reading the code that calls it (IPython's input history, the
  caller's frame), rebinding a name the tests use: one the release imports (``np``,
  ``passed``…) or a builtin, by any statement that binds a global name, and objects that
  could decide a test's comparisons (a subclass of a built-in or numpy type, numpy's
  protocols or ``__class__`` defined, ``type(name, bases, dict)``). Any hit gives
  the status ``tampered: <what>`` so an instructor looks; the execute step's guard
  already undoes the common patches and rebindings at run time.
- What the release's own cells import and which names the tests read from the student
  alone are notebook conventions: :mod:`autograder.notebook` (``release_imports``,
  ``answer_names``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

import nbformat

from autograder.notebook import BUILTIN_NAMES, bound_by_import, meta, release_imports, to_python

PATCHABLE = {"np", "numpy", "tf", "tensorflow", "keras", "scipy", "builtins", "sys", "IPython", "math",
             "unittest", "pytest", "nbgrader", "cnnkit", "testing"}
SUSPECT_ATTRS = {"input_transformers_cleanup", "input_transformers_post", "ast_transformers", "showtraceback",
                 "_showtraceback", "showsyntaxerror", "excepthook", "register_magic_function", "set_custom_exc",
                 "__builtins__", "_course_guard", "events",
                 # the caller's code and namespace, IPython's own machinery
                 "f_back", "f_globals", "f_locals", "f_builtins", "f_lineno", "f_trace", "_getframe", "currentframe",
                 "settrace", "setprofile", "meta_path", "user_ns", "user_global_ns", "user_module", "push",
                 "user_expressions", "run_cell", "run_code", "run_ast_nodes", "history_manager",
                 "display_formatter"}
DYNAMIC = {"exec", "eval", "compile", "__import__", "setattr", "delattr", "globals", "vars"}
# Methods that let an object decide a comparison, a conversion or a numpy function itself
# (autograder.job.plain converts or refuses such values at run time; this reports them).
PROTOCOLS = {"__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__index__", "__int__",
             "__float__", "__len__", "__iter__", "__getitem__", "__array_function__", "__array_ufunc__", "__array__",
             "__class__"}
NUMPY_PROTOCOLS = {"__array_function__", "__array_ufunc__", "__array__", "__class__"}
BUILTIN_TYPES = {"int", "float", "bool", "complex", "str", "bytes", "tuple", "list", "dict", "set", "frozenset"}
NUMPY_TYPES = {"ndarray", "generic", "number", "integer", "floating", "float64", "float32", "float16", "int64", "int32",
               "int16", "int8", "uint8", "uint16", "uint32", "uint64", "bool_", "matrix"}
SIGNAL_WORDS = ("NBGRADER", "_course_guard", "autograded", "gradebook")
SUSPECT_IMPORTS = {"importlib", "gc", "inspect", "linecache"}
HISTORY = {"In", "Out", "_ih", "_oh", "_i", "_ii", "_iii"}  # IPython's input/output history
# Imports that bind a builtin name to that very builtin.
SAME_AS_BUILTIN = {"display": {"IPython.display.display", "IPython.core.display.display",
                               "IPython.core.display_functions.display"},
                   "get_ipython": {"IPython.get_ipython", "IPython.core.getipython.get_ipython"}}


@dataclass
class Screen:
    deleted_tests: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tampering: list[str] = field(default_factory=list)


def structure(submission, release) -> Screen:
    """Compare the submission's cells with the released notebook's, by grade id."""
    out = Screen()
    released = {meta(c)["grade_id"]: c for c in release.cells if meta(c).get("grade_id")}
    seen = {}
    for cell in submission.cells:
        gid = meta(cell).get("grade_id")
        if gid:
            seen.setdefault(gid, cell)
    for gid, rel in released.items():
        m = meta(rel)
        sub = seen.get(gid)
        if m.get("grade") and not m.get("solution"):
            if sub is None:
                out.deleted_tests.append(gid)
            elif sub.cell_type != rel.cell_type:
                out.notes.append(f"test cell {gid} was turned into {sub.cell_type}; restored from the release")
            elif sub.source != rel.source:
                out.notes.append(f"test cell {gid} was edited; restored from the release")
        if sub is not None and m.get("grade") and float(meta(sub).get("points", 0) or 0) != float(m.get("points", 0)):
            out.notes.append(f"points of {gid} changed in the submission; the release's {m.get('points')} count")
    for gid in seen:
        if gid not in released:
            out.notes.append(f"cell {gid!r} is not in the release; its nbgrader metadata is ignored")
    return out


def restore_metadata(submission, release) -> None:
    """Give every cell the nbgrader metadata of the release: the release's for a known
    grade id, none for an id the submission invented (so it can claim no points)."""
    import copy

    released = {meta(c)["grade_id"]: c for c in release.cells if meta(c).get("grade_id")}
    for cell in submission.cells:
        gid = meta(cell).get("grade_id")
        if gid in released:
            cell.metadata["nbgrader"] = copy.deepcopy(released[gid].metadata["nbgrader"])
        elif "nbgrader" in cell.get("metadata", {}):
            del cell.metadata["nbgrader"]


def import_bindings(statements: list[str]) -> dict[str, set[str]]:
    """{name: dotted paths it is bound to} by these import statements, e.g.
    ``import numpy as np`` → {"np": {"numpy"}}, ``from cnnkit import modes`` →
    {"modes": {"cnnkit.modes"}}."""
    out: dict[str, set[str]] = {}
    for stmt in statements:
        try:
            nodes = ast.parse(stmt).body
        except SyntaxError:
            continue
        for node in nodes:
            for name, path in bound_by_import(node):
                if name != "*":
                    out.setdefault(name, set()).add(path)
    return out


class StudentCode(list):
    """student_code()'s list of (label, source), carrying the release's import bindings."""

    bindings: dict[str, set[str]] = {}


def student_code(submission, release) -> StudentCode:
    """(label, source) of every code cell the student wrote: solution cells and added cells.
    The list's ``bindings`` are the release's imports, for :func:`tampering`."""
    locked = {meta(c)["grade_id"] for c in release.cells if meta(c).get("grade_id") and meta(c).get("locked")}
    released_sources = {c.source for c in release.cells if c.cell_type == "code"}
    cells = StudentCode()
    cells.bindings = import_bindings(release_imports(release))
    for i, cell in enumerate(submission.cells):
        if cell.cell_type != "code":
            continue
        gid = meta(cell).get("grade_id")
        if gid in locked:
            continue  # restored from the release anyway
        if not gid and cell.source in released_sources:
            continue  # an unchanged teaching cell
        cells.append((gid or f"cell {i + 1}", cell.source))
    return cells


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


class _Rebinds(ast.NodeVisitor):
    """Statements that bind a global name among ``protected``: assignment (plain,
    augmented, annotated, unpacking), for/with/except/match targets, walrus, def, class,
    import, and the same inside a function that declares the name ``global``."""

    def __init__(self, protected: set[str], bindings: dict[str, set[str]]):
        self.protected, self.bindings = protected, bindings
        self.scopes: list[tuple[str, set[str]]] = []  # (kind, names declared global)
        self.found: list[str] = []

    def _is_global(self, name: str, skip_comprehensions: bool = False) -> bool:
        for kind, declared in reversed(self.scopes):
            if kind == "comprehension":
                if skip_comprehensions:
                    continue
                return False
            return name in declared
        return True

    def _bind(self, name: str | None, how: str = "", walrus: bool = False) -> None:
        if name and name in self.protected and self._is_global(name, skip_comprehensions=walrus):
            if not how and any(kind != "comprehension" for kind, _ in self.scopes):
                how = "global in a function"
            what = "builtin " + name if name in BUILTIN_NAMES and name not in self.bindings else name
            text = f"rebinds {what}" + (f" ({how})" if how else "")
            if text not in self.found:
                self.found.append(text)

    def _scope(self, kind: str, node, body) -> None:
        declared: set[str] = set()
        stack = list(body)
        while stack:
            n = stack.pop()
            if isinstance(n, ast.Global):
                declared.update(n.names)
            elif not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                stack.extend(ast.iter_child_nodes(n))
        self.scopes.append((kind, declared))
        self.generic_visit(node)
        self.scopes.pop()

    def visit_FunctionDef(self, node):
        self._bind(node.name, "def")
        self._scope("function", node, node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        self._bind(node.name, "class")
        self._scope("class", node, node.body)

    def visit_Lambda(self, node):
        self._scope("function", node, [])

    def _comprehension(self, node):
        self._scope("comprehension", node, [])

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Store):
            self._bind(node.id)

    def visit_NamedExpr(self, node):
        if isinstance(node.target, ast.Name):
            self._bind(node.target.id, "walrus", walrus=True)
        self.visit(node.value)

    def visit_ExceptHandler(self, node):
        self._bind(node.name, "except … as")
        self.generic_visit(node)

    def visit_MatchAs(self, node):
        self._bind(node.name, "match")
        self.generic_visit(node)

    def visit_MatchStar(self, node):
        self._bind(node.name, "match")

    def visit_MatchMapping(self, node):
        self._bind(node.rest, "match")
        self.generic_visit(node)

    def _import(self, node):
        for name, path in bound_by_import(node):
            if name == "*":
                if self._is_global("*") and node.module not in ("__future__",):
                    text = f"star import from {path} (may rebind the names tests use)"
                    if text not in self.found:
                        self.found.append(text)
            elif path not in self.bindings.get(name, ()) and path not in SAME_AS_BUILTIN.get(name, {f"builtins.{name}"}):
                self._bind(name, "import")  # the release's own import, or the builtin itself, is fine

    visit_Import = visit_ImportFrom = _import


def _class_lies(node: ast.ClassDef) -> str | None:
    """What in a class statement lets its objects lie to a test: a subclass of a built-in or
    numpy type, or numpy's protocols or ``__class__`` defined; None for an ordinary class."""
    bases = []
    for base in node.bases:
        if isinstance(base, ast.Name) and base.id in BUILTIN_TYPES:
            bases.append(base.id)
        elif isinstance(base, ast.Attribute) and base.attr in NUMPY_TYPES and _root_name(base) in ("np", "numpy"):
            bases.append(_dotted(base))
    defined = []
    for item in node.body:
        names = [item.name] if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) else []
        if isinstance(item, (ast.Assign, ast.AnnAssign)):
            targets = item.targets if isinstance(item, ast.Assign) else [item.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
        defined += [n for n in names if n in PROTOCOLS and n not in defined]
    if not bases and not NUMPY_PROTOCOLS & set(defined):
        return None
    what = f"defines class {node.name}" + (f", a subclass of {', '.join(bases)}" if bases else "")
    return what + (f" with {', '.join(defined)}" if defined else "")


def _lying_objects(tree) -> list[str]:
    """Classes whose objects could decide a test's comparisons (:func:`_class_lies`), classes
    made with ``type(name, bases, dict)``, and protocols patched onto a class."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            what = _class_lies(node)
            if what:
                found.append(what)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "type" and len(node.args) == 3:
            found.append("makes a class with type(name, bases, dict)")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found += [f"patches {_dotted(t)}" for t in targets if isinstance(t, ast.Attribute) and t.attr in PROTOCOLS]
    return found


def _target_hits(t, protected: set[str], bindings, patchable: set[str]) -> list[str]:
    """What an assignment's target rebinds (``globals()['np'] = …``) or patches (``np.isclose = …``)."""
    out = []
    if (isinstance(t, ast.Subscript) and isinstance(t.value, ast.Call) and isinstance(t.value.func, ast.Name)
            and t.value.func.id in ("globals", "vars") and isinstance(t.slice, ast.Constant)
            and t.slice.value in protected):
        out.append(f"rebinds {t.slice.value} ({t.value.func.id}()[...])")
    if isinstance(t, (ast.Attribute, ast.Subscript)):
        root = _root_name(t)
        if (root in patchable or root == "get_ipython"
                or (isinstance(t, ast.Attribute) and (t.attr in SUSPECT_ATTRS or root in bindings))):
            out.append(f"patches {_dotted(t)}")
    return out


def _use_hits(node) -> list[str]:
    """Dynamic code, IPython's history, and imports that reach the caller or the grader."""
    out = []
    if isinstance(node, ast.Call):
        fn = node.func
        # Only the builtins themselves: model.compile() and friends are ordinary methods.
        if isinstance(fn, ast.Name) and fn.id in DYNAMIC:
            out.append(f"uses {fn.id}()")
        if isinstance(fn, ast.Attribute) and fn.attr in ("reload", "import_module"):
            out.append(f"uses {_dotted(fn)}()")
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in HISTORY:
        out.append(f"reads IPython's history ({node.id})")
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        out += [f"imports {mod}" for mod in mods if mod.split(".")[0] in SUSPECT_IMPORTS]
    return out


def tampering(cells: list[tuple[str, str]], bindings: dict[str, set[str]] | None = None) -> list[str]:
    """What in the student's code tries to change grading; empty if nothing.

    ``bindings`` are the release's imports (:func:`import_bindings`); by default those
    that :func:`student_code` attached to ``cells``.
    """
    if bindings is None:
        bindings = getattr(cells, "bindings", {})
    protected = set(bindings) | BUILTIN_NAMES
    patchable = PATCHABLE | {"__main__"}
    found: list[str] = []

    def hit(label: str, what: str) -> None:
        text = f"{what} (in {label})"
        if text not in found:
            found.append(text)

    for label, source in cells:
        code = to_python(source)
        for word in SIGNAL_WORDS:
            if word in code:
                hit(label, f"refers to {word}")
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue  # it will fail when run; not tampering
        rebinds = _Rebinds(protected, bindings)
        rebinds.visit(tree)
        for what in rebinds.found + _lying_objects(tree):
            hit(label, what)
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for t in targets:
                for what in _target_hits(t, protected, bindings, patchable):
                    hit(label, what)
            if isinstance(node, ast.Attribute) and node.attr in SUSPECT_ATTRS:
                if not any(f.startswith(f"patches {_dotted(node)} ") for f in found):
                    hit(label, f"touches {_dotted(node)}")
            for what in _use_hits(node):
                hit(label, what)
    return found


def screen(submission_path, release_path) -> Screen:
    sub = nbformat.read(submission_path, as_version=4)
    rel = nbformat.read(release_path, as_version=4)
    result = structure(sub, rel)
    result.tampering = tampering(student_code(sub, rel))  # with the release's imports
    return result
