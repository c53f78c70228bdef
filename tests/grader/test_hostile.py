"""Hostile students against the two walls of issue #10 (items 6 and 7), through the real
`python -m autograder grade`, sandboxed, in one small batch.

- **Hidden tests never reach feedback**, even when the student's function reads the
  code that calls it (IPython's input history; the caller's frame and linecache) and
  prints it while the hidden tests run, raises it as an error message, or saves it and
  prints it from a later cell. The feedback still shows the visible checks' ✅ lines and
  which hidden test failed.
- **Test cells use the grader's names, not the student's.** A wrong normalize (÷ 256)
  behind an `np` whose comparisons always agree scores 0 for that exercise, whichever
  way `np` was rebound (assignment, import-as, `global` inside the graded function, so
  mid-test), and the row says `tampered`.

Lesson 01: normalize 2, to_grayscale 3, neighborhood 3 (8 autograded points) + 2 manual.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import subprocess
import sys
import time

import nbformat
import pytest

from conftest import REPO, SOLUTIONS, cell_source, html_text, load, marked_lines, notebook

AID = "01_pixels"
NORMALIZE_OK = "return np.asarray(image).astype(np.float32) / np.float32(255)"
# float32 and the right shape, so only the value checks catch it: 255 -> 0.996.
NORMALIZE_256 = "return np.asarray(image).astype(np.float32) / np.float32(256)"
GRAYSCALE_OK = "return (rgb[..., 0] * weights[0] + rgb[..., 1] * weights[1] + rgb[..., 2] * weights[2]).astype(np.float32)"
NEIGHBORHOOD_OK = "    return window\n"

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root (CI runs as root)")

# --- reading the caller ------------------------------------------------------------------
HISTORY_READER = '''
def _caller_from_history():
    ip = get_ipython()
    return "CALLER (In): " + ip.user_ns["In"][-1] + "\\nCALLER (_ih): " + ip.user_ns["_ih"][-1]
'''
FRAME_READER = '''
import sys, linecache
_SEEN = []
def _caller_from_frame():
    """The whole cell that called the graded function, read from its frame: the first
    frame up the stack whose code has source lines (past any wrapper of the grader's)."""
    frame = sys._getframe(2)
    while frame is not None and not linecache.getlines(frame.f_code.co_filename):
        frame = frame.f_back
    text = "".join(linecache.getlines(frame.f_code.co_filename)) if frame is not None else ""
    _SEEN.append(text)
    return "CALLER (frame): " + text
'''
LATER_CELL = 'print("SAVED FROM THE TESTS:")\nfor text in _SEEN:\n    print(text)\n'

# --- values that decide their own comparisons (issue #19) -------------------------------------
LIAR_ARRAY = '''
class _Liar(np.ndarray):
    """An array whose numpy comparisons always agree, and so do its items."""
    def __array_function__(self, func, types, args, kwargs):
        if func.__name__ in ("isclose", "allclose", "array_equal"):
            return True
        return super().__array_function__(func, types, args, kwargs)
    def __eq__(self, other):
        return True
    def __getitem__(self, index):
        return np.asarray(np.ndarray.__getitem__(self, index)).view(_Liar)
'''
AGREE_INT = '''
class _Agree(int):
    def __eq__(self, other):
        return True
    __hash__ = int.__hash__
'''
AGREE_TUPLE = '''
class _Pair(tuple):
    def __eq__(self, other):
        return True
    __hash__ = tuple.__hash__
'''
AGREE_FLOAT = '''
_AgreeFloat = type("_AgreeFloat", (float,), {"__eq__": lambda self, other: True, "__ne__": lambda self, other: False,
                                             "__hash__": float.__hash__})
'''
FAKE_CLASS = '''
class _Costume:
    """isinstance(x, np.ndarray) says True; every comparison agrees."""
    def __init__(self, image):
        self.shape, self.dtype = np.shape(image), np.dtype(np.float32)
    @property
    def __class__(self):
        return np.ndarray
    def __array_function__(self, func, types, args, kwargs):
        return True
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return True
    def __getitem__(self, index):
        return self
'''

# --- rebinding np ------------------------------------------------------------------------
YES_PROXY = '''
class _AlwaysAgree:
    """numpy, except that every comparison agrees."""
    def __init__(self, real):
        self._real = real
    def __getattr__(self, name):
        return getattr(self._real, name)
    def isclose(self, *a, **k):
        return True
    allclose = array_equal = isclose
'''
FAKE_MODULE = '''
open("fakenp.py", "w").write(
    "import numpy as _n\\n"
    "def __getattr__(name):\\n    return getattr(_n, name)\\n"
    "def isclose(*a, **k):\\n    return True\\n"
    "allclose = array_equal = isclose\\n")
import sys
sys.path.insert(0, ".")
'''


def cell(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def edit(nb, gid, old, new):
    c = cell(nb, gid)
    assert old in c.source, (gid, old)
    c.source = c.source.replace(old, new)


def append(nb, source):
    new = nbformat.v4.new_code_cell(source)
    new["id"] = f"hostile-{len(nb.cells)}"
    nb.cells.append(new)


def build(subs, solved) -> dict[str, dict]:
    """Write the hostile students; return what each must get (lesson 01 unless said)."""
    def base(aid=AID):
        return nbformat.read(solved / aid / f"{aid}.ipynb", as_version=4)

    def write(student, nb, aid=AID):
        path = subs / student / aid / f"{aid}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)

    expect = {}
    write("honest", base())
    expect["honest"] = {"auto": 8, "status": "graded"}

    # The history: normalize prints the cell calling it (In[-1], _ih[-1]); to_grayscale is
    # wrong only on images of 5 rows or more, which only the hidden tests use.
    nb = base()
    c = cell(nb, "normalize")
    c.source = HISTORY_READER + c.source.replace(NORMALIZE_OK, "print(_caller_from_history())\n    " + NORMALIZE_OK)
    edit(nb, "to_grayscale", GRAYSCALE_OK,
         "gray = " + GRAYSCALE_OK[len("return "):] + "\n    return gray + np.float32(rgb.shape[0] >= 5)")
    write("leak_history", nb)
    expect["leak_history"] = {"auto": 5, "ran": "CALLER (_ih):", "failed": "to_grayscale differs from tf.image.rgb_to_grayscale on a",
                              "passed": ["✅ normalize: all visible checks passed",
                                         "✅ neighborhood: all visible checks passed"]}

    # The frame: normalize prints the calling cell read through its frame and linecache and
    # keeps it; neighborhood raises it as an error message when called with size 7 (only the
    # hidden tests do); a cell at the end prints what was kept.
    nb = base()
    c = cell(nb, "normalize")
    c.source = FRAME_READER + c.source.replace(NORMALIZE_OK, "print(_caller_from_frame())\n    " + NORMALIZE_OK)
    edit(nb, "neighborhood", NEIGHBORHOOD_OK,
         "    if size == 7:\n        raise ValueError(_caller_from_frame())\n" + NEIGHBORHOOD_OK)
    append(nb, LATER_CELL)
    write("leak_frame", nb)
    expect["leak_frame"] = {"auto": 5, "ran": "default_rng(101)", "failed": "ValueError",
                            "passed": ["✅ normalize: all visible checks passed",
                                       "✅ to_grayscale: all visible checks passed"]}

    # Three ways to rebind np around a wrong normalize.
    nb = base()
    c = cell(nb, "normalize")
    c.source = YES_PROXY + c.source.replace(NORMALIZE_OK, NORMALIZE_256) + "\n\nnp = _AlwaysAgree(np)\n"
    write("rebind_assign", nb)
    nb = base()
    c = cell(nb, "normalize")
    c.source = FAKE_MODULE + "import fakenp as np\n\n" + c.source.replace(NORMALIZE_OK, NORMALIZE_256)
    write("rebind_import", nb)
    nb = base()
    c = cell(nb, "normalize")
    c.source = YES_PROXY + "import numpy as _numpy\n\n" + c.source.replace(
        NORMALIZE_OK, "global np\n    np = _AlwaysAgree(_numpy)\n    " + NORMALIZE_256.replace("np.", "_numpy."))
    write("rebind_global", nb)
    for student in ("rebind_assign", "rebind_import", "rebind_global"):
        expect[student] = {"auto": 6, "status": "tampered: rebinds np", "zero": "test_normalize"}
    # A rebinding the static screening does not see (through the __main__ module, while the
    # test runs): the guard finds np changed after the part, fails the test, and the row
    # says so.
    nb = base()
    c = cell(nb, "normalize")
    c.source = YES_PROXY + "import numpy as _numpy\nimport __main__ as _main\n\n" + c.source.replace(
        NORMALIZE_OK, "_main.np = _AlwaysAgree(_numpy)\n    " + NORMALIZE_256.replace("np.", "_numpy."))
    write("rebind_unseen", nb)
    expect["rebind_unseen"] = {"auto": 6, "zero": "test_normalize",
                               "status": "tampered: changed the test's names while it ran (in Exercise 1.1 · normalize)"}

    # Return values that decide their own comparisons. Each answer is wrong; as plain data
    # it loses its points, and the row says what lied. liar_array and liar_int are the attacks
    # of #19. Lesson 03: 10 points; a wrong same_padding also breaks conv2d, which pads with it (−4).
    nb = base()
    c = cell(nb, "normalize")
    c.source = LIAR_ARRAY + c.source.replace(NORMALIZE_OK, "return (" + NORMALIZE_256[len("return "):] + ").view(_Liar)")
    write("liar_array", nb)
    expect["liar_array"] = {"auto": 6, "zero": "test_normalize", "assignment": AID,
                            "status": "tampered: defines class _Liar, a subclass of np.ndarray with __array_function__, "
                                      "__eq__, __getitem__ (in normalize)",
                            "flag": "normalize returned a _Liar, a subclass of numpy.ndarray"}
    nb = base()
    c = cell(nb, "normalize")
    c.source = FAKE_CLASS + c.source.replace(NORMALIZE_OK, "return _Costume(image)")
    write("liar_costume", nb)
    expect["liar_costume"] = {"auto": 6, "zero": "test_normalize", "assignment": AID,
                              "status": "tampered: defines class _Costume with __class__, __array_function__, __eq__, "
                                        "__ne__, __getitem__",
                              "flag": "normalize returned a _Costume, a class that defines __eq__, __ne__, __getitem__, "
                                      "__array_function__, __class__ (refused)",
                              "message": "normalize returned a _Costume object. The grader reads only plain values"}
    nb = base("03_padding_and_stride")
    edit(nb, "output_size", "return (n - k) // stride + 1", "return _Agree(0)")
    edit(nb, "output_size", "return (n + stride - 1) // stride", "return _Agree(0)")
    cell(nb, "output_size").source = AGREE_INT + cell(nb, "output_size").source
    write("liar_int", nb, "03_padding_and_stride")
    expect["liar_int"] = {"auto": 8, "zero": "test_output_size", "assignment": "03_padding_and_stride",
                          "status": "tampered: defines class _Agree, a subclass of int with __eq__ (in output_size)",
                          "flag": "output_size returned a _Agree, a subclass of int that defines __eq__ (graded as a plain int)"}
    nb = base("03_padding_and_stride")
    edit(nb, "same_padding", "    return total // 2, total - total // 2\n", "    return _Pair((total - total // 2, total // 2))\n")
    cell(nb, "same_padding").source = AGREE_TUPLE + cell(nb, "same_padding").source
    write("liar_tuple", nb, "03_padding_and_stride")
    expect["liar_tuple"] = {"auto": 4, "zero": "test_same_padding", "assignment": "03_padding_and_stride",
                            "status": "tampered: defines class _Pair, a subclass of tuple with __eq__ (in same_padding)",
                            "flag": "same_padding returned a _Pair, a subclass of tuple that defines __eq__"}
    nb = base("02_convolution")
    edit(nb, "hand_values", "at_3_2 = -236\n", AGREE_FLOAT + "at_3_2 = _AgreeFloat(236)\n")
    write("liar_float", nb, "02_convolution")
    expect["liar_float"] = {"auto": 8, "zero": "test_hand_values", "assignment": "02_convolution",
                            "status": "tampered: makes a class with type(name, bases, dict) (in hand_values)",
                            "flag": "at_3_2 is a _AgreeFloat, a subclass of float that defines __eq__, __ne__"}
    return expect


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    subs, out, solved = (tmp_path_factory.mktemp(n) for n in ("hostile", "hostile-out", "solved"))
    proc = subprocess.run([sys.executable, "-m", "autograder", "solved", str(solved), AID, "02_convolution",
                           "03_padding_and_stride"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    expect = build(subs, solved)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(subs), "--out", str(out), "--jobs", "2",
                           "--cell-timeout", "45"], cwd=REPO, capture_output=True, text=True, timeout=1800)
    seconds = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print(f"\nhostile batch: {len(expect)} students in {seconds:.0f} s with --jobs 2\n{proc.stdout}")
    with open(out / "grades.csv") as f:  # one assignment per student
        rows = {r["student_id"]: r for r in csv.DictReader(f) if r["status"] != "missing"}
    cells = {r["student_id"]: {g["cell"]: g for g in r["cells"]} for r in json.loads((out / "grades.json").read_text())
             if r["cells"]}
    return {"out": out, "rows": rows, "cells": cells, "expect": expect}


def hidden_lines() -> list[str]:
    """Lines of lesson 01's hidden tests that the released lesson does not also show."""
    lines = []
    for c in load(notebook(SOLUTIONS, AID))["cells"]:
        lines += marked_lines(cell_source(c), "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
    released = notebook(REPO / "lessons", AID).read_text()
    lines = [ln for ln in lines if json.dumps(ln)[1:-1] not in released]
    assert len(lines) > 20
    return lines


def feedback(hostile, student) -> str:
    return html_text(hostile["out"] / "feedback" / student / AID / f"{AID}.html")


def what_the_kernel_printed(hostile, student) -> str:
    """Every output of the instructor's copy, the hidden tests' included."""
    nb = nbformat.read(hostile["out"] / "autograded" / student / AID / f"{AID}.ipynb", as_version=4)
    outs = [o for c in nb.cells for o in [*c.get("outputs", []), *c.metadata.get("autograder", {}).get("hidden_outputs", [])]]
    return json.dumps(outs)


@root_only
def test_honest_student_scores_full_marks(hostile):
    row = hostile["rows"]["honest"]
    assert row["status"] == "graded" and float(row["auto_score"]) == 8, row
    text = feedback(hostile, "honest")
    for name in ("normalize", "to_grayscale", "neighborhood"):
        assert f"✅ {name}: all visible checks passed" in text


@root_only
@pytest.mark.parametrize("student", ["leak_history", "leak_frame"])
def test_reading_the_caller_shows_no_hidden_test_in_feedback(hostile, student):
    exp = hostile["expect"][student]
    # Not vacuous: the student's code ran its reader during the tests (the frame reader
    # got the hidden tests; the history has none of them since the hidden part is not stored).
    assert exp["ran"] in what_the_kernel_printed(hostile, student), "the attack did not run"
    text = feedback(hostile, student)
    shown = [ln for ln in hidden_lines() if ln in text]
    assert not shown, f"feedback of {student} shows hidden test lines: {shown[:3]}"
    for line in exp["passed"]:
        assert line in text, f"feedback of {student} lost the visible message {line!r}"
    assert exp["failed"] in text, f"feedback of {student} does not say which test failed ({exp['failed']!r})"
    assert float(hostile["rows"][student]["auto_score"]) == exp["auto"], hostile["rows"][student]


@root_only
@pytest.mark.parametrize("student", ["leak_history", "leak_frame"])
def test_hidden_tests_print_nothing_into_the_test_cells(hostile, student):
    """The first wall, on its own: in the instructor's copy, what ran during the hidden
    tests is in the cells' metadata, never in their outputs (nor in an error message)."""
    nb = nbformat.read(hostile["out"] / "autograded" / student / AID / f"{AID}.ipynb", as_version=4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]
    assert len(tests) == 3
    for c in tests:
        outputs = json.dumps(c.outputs)
        shown = [ln for ln in hidden_lines() if json.dumps(ln)[1:-1] in outputs]
        assert not shown, f"{student}: outputs of {c.metadata.nbgrader.grade_id} quote hidden tests: {shown[:3]}"
    if student == "leak_frame":
        kept = json.dumps([c.metadata.get("autograder", {}).get("hidden_outputs", []) for c in tests])
        assert "default_rng(101)" in kept, "the instructor's copy keeps what the hidden tests printed"


@root_only
def test_a_later_cell_printing_saved_hidden_tests_is_scrubbed(hostile):
    """The second wall, on its own: the student saved the hidden tests while they ran and
    printed them from a cell at the end; the feedback drops those lines and says so."""
    nb = nbformat.read(hostile["out"] / "autograded" / "leak_frame" / AID / f"{AID}.ipynb", as_version=4)
    assert "default_rng(303)" in json.dumps(nb.cells[-1].outputs), "the saved tests were printed (instructor's copy)"
    text = feedback(hostile, "leak_frame")
    assert "SAVED FROM THE TESTS:" in text and "[removed from feedback: it quoted a hidden test]" in text
    assert "default_rng(303)" not in text and "default_rng(101)" not in text


@root_only
@pytest.mark.parametrize("student", ["rebind_assign", "rebind_import", "rebind_global", "rebind_unseen"])
def test_rebound_np_does_not_pass_a_wrong_answer(hostile, student):
    row, exp = hostile["rows"][student], hostile["expect"][student]
    assert hostile["cells"][student][exp["zero"]]["score"] == 0, f"{student}: the wrong normalize got points"
    assert float(row["auto_score"]) == exp["auto"], row
    assert row["status"].startswith(exp["status"]), row


@root_only
@pytest.mark.parametrize("student", ["liar_array", "liar_costume", "liar_int", "liar_tuple", "liar_float"])
def test_a_value_that_decides_its_own_comparisons_scores_what_the_wrong_answer_deserves(hostile, student):
    """Issue #19: the wrong answer, dressed as an object whose comparisons always agree, loses
    the exercise's points as the plain wrong answer would; the row is flagged with what lied."""
    row, exp = hostile["rows"][student], hostile["expect"][student]
    assert row["assignment"] == exp["assignment"], row
    assert hostile["cells"][student][exp["zero"]]["score"] == 0, f"{student}: the lying answer got points"
    assert float(row["auto_score"]) == exp["auto"], row
    assert row["status"].startswith(exp["status"]), row["status"]
    nb = nbformat.read(hostile["out"] / "autograded" / student / exp["assignment"] / f"{exp['assignment']}.ipynb",
                       as_version=4)
    flags = [f for c in nb.cells for f in c.metadata.get("autograder", {}).get("flags", [])]
    assert any(f.startswith(exp["flag"]) for f in flags), flags
    if "message" in exp:  # refused: the student reads why
        text = html_text(hostile["out"] / "feedback" / student / exp["assignment"] / f"{exp['assignment']}.html")
        assert exp["message"] in text


# --- screening, without a kernel ------------------------------------------------------------
STYLES = {
    "assignment": "np = fake",
    "augmented": "np += fake",
    "annotated": "np: object = fake",
    "unpacking": "a, (np, b) = 1, (fake, 2)",
    "for": "for np in [fake]:\n    pass",
    "with": "with fake as np:\n    pass",
    "except": "try:\n    pass\nexcept Exception as np:\n    pass",
    "walrus": "(np := fake)",
    "def": "def np():\n    pass",
    "class": "class np:\n    pass",
    "import-as": "import fakenp as np",
    "from-import": "from fake import passed",
    "global in a function": "def f():\n    global np\n    np = fake",
    "globals()[...]": "globals()['np'] = fake",
    "match": "match fake:\n    case np:\n        pass",
    "builtin": "len = fake",
    "star import": "from fake import *",
}
# Objects that could decide a test's comparisons (issue #19): reported for the instructor.
LIARS = {
    "ndarray subclass": "class A(np.ndarray):\n    pass",
    "int subclass with __eq__": "class A(int):\n    def __eq__(self, other):\n        return True",
    "tuple subclass": "class Shape(tuple):\n    pass",
    "numpy protocol": "class A:\n    def __array_function__(self, *a):\n        return True",
    "a __class__ costume": "class A:\n    __class__ = property(lambda self: int)",
    "type() with three arguments": "A = type('A', (float,), {})",
    "a protocol patched onto a class": "A.__eq__ = lambda self, other: True",
}
FINE = {
    "a dataclass": "import dataclasses\n@dataclasses.dataclass\nclass Point:\n    x: int\n    y: int",
    "a namedtuple": "import collections\nPair = collections.namedtuple('Pair', 'a b')",
    "a subclassed Keras model": "class Net(keras.Model):\n    def call(self, x):\n        return x",
    "an ordinary class with __eq__": "class Card:\n    def __eq__(self, other):\n        return self.rank == other.rank",
    "type() of a value": "kind = type(image)",
    "the release's own imports": "import numpy as np\nfrom cnnkit.checks import passed\nimport matplotlib",
    "a local variable": "def f(image):\n    len = 3\n    np = image\n    return np, len",
    "a comprehension variable": "values = [np for np in range(3)]",
    "a class attribute": "class A:\n    np = 1",
    "rcParams": "import matplotlib.pyplot as plt\nplt.rcParams['figure.dpi'] = 80",
    "IPython's display": "from IPython.display import display\nfrom builtins import len",
}


def screen_release():
    from autograder.batch.screen import import_bindings
    from autograder.notebook import release_imports

    return import_bindings(release_imports(nbformat.read(notebook(REPO / "lessons", AID), as_version=4)))


@pytest.mark.parametrize("style", STYLES)
def test_screening_flags_every_way_to_rebind_a_name_tests_use(style):
    from autograder.batch.screen import tampering

    found = tampering([("normalize", STYLES[style])], screen_release())
    assert found, f"rebinding by {style} went unnoticed"


@pytest.mark.parametrize("case", LIARS)
def test_screening_reports_objects_that_could_decide_a_comparison(case):
    from autograder.batch.screen import tampering

    found = tampering([("normalize", LIARS[case])], screen_release())
    assert found and all(f.endswith("(in normalize)") for f in found), f"{case} went unnoticed"


@pytest.mark.parametrize("case", FINE)
def test_screening_leaves_ordinary_code_alone(case):
    from autograder.batch.screen import tampering

    assert tampering([("normalize", FINE[case])], screen_release()) == []


# --- the pieces, without the sandbox ---------------------------------------------------------
def test_a_test_cell_splits_into_visible_hidden_and_rest():
    from autograder.job.execute import split_test_cell

    nb = nbformat.read(notebook(SOLUTIONS, AID), as_version=4)
    parts = split_test_cell(cell(nb, "test_normalize").source)
    assert [hidden for hidden, _ in parts] == [False, True, False]
    assert "default_rng(101)" in parts[1][1] and "default_rng" not in parts[0][1] + parts[2][1]
    assert parts[2][1].strip() == 'passed("normalize")'
    assert "HIDDEN TESTS" not in "".join(code for _, code in parts)
    # A marker inside a block cannot be split: the caller then runs the cell whole, as hidden.
    assert split_test_cell("for i in range(2):\n    ### BEGIN HIDDEN TESTS\n    assert i < 2\n"
                           "    ### END HIDDEN TESTS\n    pass\n") is None


def test_feedback_drops_output_lines_that_quote_a_hidden_test():
    from autograder.job.preprocessors import NOTICE, HideHiddenTestLines

    nb = nbformat.v4.new_notebook()
    test = nbformat.v4.new_code_cell("assert f(1) == 1\n### BEGIN HIDDEN TESTS\nrng = secret_seed(4242)\n"
                                     "### END HIDDEN TESTS\npassed('f')")
    test.metadata["autograder"] = {"hidden_outputs": [{"output_type": "stream", "name": "stdout", "text": "x"}]}
    later = nbformat.v4.new_code_cell("print(saved)")
    later.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="kept line\nRNG  =  SECRET_SEED(4242)\n"),
        nbformat.v4.new_output("stream", name="stdout", text="rng = secret_\x1b[0mseed(42\u200b42)\n"),
        nbformat.v4.new_output("stream", name="stdout", text="rng = secret_\nseed(4242)\n"),
        nbformat.v4.new_output("display_data", data={"text/html": "<b>rng</b> = secret_seed(4242)",
                                                      "text/plain": "a table"}),
        nbformat.v4.new_output("error", ename="ValueError", evalue="rng = secret_seed(4242)",
                               traceback=["ValueError: rng = secret_seed(4242)"]),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("assert f(1) == 1"), test, later]
    nb.metadata["widgets"] = {"state": {"value": "rng = secret_seed(4242)"}}
    nb, _ = HideHiddenTestLines().preprocess(nb, {})
    text = json.dumps([c.get("outputs", []) for c in nb.cells]) + json.dumps(nb.metadata)
    assert "4242" not in text and "hidden_outputs" not in json.dumps(nb.cells[1].metadata)
    outs = nb.cells[2].outputs
    assert outs[0].text == "kept line\n" + NOTICE and outs[1].text == outs[2].text == NOTICE
    assert outs[3].data == {"text/plain": "a table"}
    assert outs[4].ename == "ValueError" and "widgets" not in nb.metadata


def test_cell_limits_by_cell_key_and_seconds_per_cell():
    from autograder.job.execute import GuardedExecute, cell_key

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 41"), nbformat.v4.new_code_cell("import time\ntime.sleep(30)"),
                nbformat.v4.new_code_cell("print(x + 1)")]
    test = nbformat.v4.new_code_cell("print('visible')\n### BEGIN HIDDEN TESTS\nprint('hidden 1234')\n"
                                     "### END HIDDEN TESTS\nprint('rest')")
    test.metadata["nbgrader"] = {"grade": True, "grade_id": "t", "points": 1, "solution": False, "locked": True}
    nb.cells.append(test)
    ex = GuardedExecute(cell_limits={cell_key(nb.cells[1]): 2}, timeout=60, kernel_name="python3")
    ex.preprocess(nb, {"metadata": {"path": str(REPO)}})
    slow = nb.cells[1]
    assert slow.outputs[0].ename == "CellTimeoutError" and "2 s" in slow.outputs[0].evalue, slow.outputs
    assert 1.5 < slow.metadata["autograder"]["seconds"] < 10
    assert nb.cells[2].outputs[0].text == "42\n", "the kernel was restarted and the cells before replayed"
    assert [o.text for o in nb.cells[3].outputs] == ["visible\n", "rest\n"]
    assert nb.cells[3].metadata["autograder"]["hidden_outputs"][0]["text"] == "hidden 1234\n"
    assert all(isinstance(c.metadata["autograder"]["seconds"], float) for c in nb.cells)
    assert cell_key(nb.cells[3]) == "t" and cell_key(nb.cells[0]).startswith("sha1:") and len(cell_key(nb.cells[0])) == 21


# --- a Keras model that lies (issue #19), through the guarded execute step --------------------
LYING_MODELS = {
    "a subclass whose count_params lies": '''
class _Dense(keras.Sequential):
    def count_params(self):
        return 101_770
def build_dense_model():
    model = _Dense([keras.Input(shape=(28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(64, activation="relu"),
                    keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
''',
    "a Keras Sequential with count_params replaced on it": '''
def build_dense_model():
    model = keras.Sequential([keras.Input(shape=(28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.count_params = lambda: 101_770
    return model
''',
}
HONEST_FUNCTIONAL = '''
def build_dense_model():
    inputs = keras.Input(shape=(28, 28, 1))
    hidden = keras.layers.Dense(128, activation="relu")(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(hidden))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
'''


def test_a_lying_keras_model_scores_nothing_and_an_honest_one_passes():
    """Lesson 07's real test of build_dense_model, run by the grader's execute step (guard on,
    no sandbox): two wrong models (Dense(64)) that report the right parameter count fail with a
    message and a flag; the functional-API answer passes every check, hidden ones included."""
    from autograder.job.execute import GuardedExecute
    from autograder.notebook import answer_names, release_imports

    aid = "07_fashion_mnist_cnn"
    source = nbformat.read(notebook(SOLUTIONS, aid), as_version=4)
    test = cell(source, "test_build_dense_model")
    nb = nbformat.v4.new_notebook(metadata=source.metadata)
    nb.cells = [c for c in source.cells[:source.cells.index(test)] if c.cell_type == "code"
                and not c.metadata.get("nbgrader", {}).get("solution")]
    for i, answer in enumerate([*LYING_MODELS.values(), HONEST_FUNCTIONAL]):
        solution = nbformat.v4.new_code_cell(answer)
        solution.metadata["nbgrader"] = {"grade": False, "grade_id": f"build_{i}", "solution": True, "locked": False}
        check = nbformat.v4.new_code_cell(test.source, metadata=copy.deepcopy(test.metadata))
        check.metadata["nbgrader"]["grade_id"] = f"test_{i}"
        nb.cells += [solution, check]
    released = nbformat.read(notebook(REPO / "lessons", aid), as_version=4)
    ex = GuardedExecute(timeout=300, kernel_name="python3", trusted_imports=release_imports(source),
                        answer_names=answer_names(released))
    ex.preprocess(nb, {"metadata": {"path": str(notebook(REPO / "lessons", aid).parent)}})
    checks = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_")]
    for check, (what, needle) in zip(checks, [("subclass", "_Dense, a class written in the notebook"),
                                              ("instance", "count_params replaced on the instance")]):
        errors = [o for o in check.outputs if o.output_type == "error"]
        assert errors and errors[0].ename == "NotPlain" and needle in errors[0].evalue, (what, check.outputs)
        assert any("refused" in f for f in check.metadata["autograder"].get("flags", [])), (what, check.metadata)
    assert not [o for o in checks[2].outputs if o.output_type == "error"], checks[2].outputs
    assert "✅ build_dense_model: all visible checks passed" in json.dumps(checks[2].outputs, ensure_ascii=False)
