"""The adversarial corpus: lesson-01 submissions, generated from the reference solution,
each breaking or attacking the grader one way. ``build(folder)`` writes them in nbgrader's
layout and returns the expected outcome of each student.

Every case documents what it does and what the grader must answer. Points of lesson 01:
normalize 2, to_grayscale 3, neighborhood 3 (autograded, 8 in all) + 2 manual.
"""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass
from pathlib import Path

import nbformat

from conftest import LESSONS, SOLUTIONS, notebook

AID = "01_pixels"
NORMALIZE_OK = "return np.asarray(image).astype(np.float32) / np.float32(255)"
NORMALIZE_WRONG = "return np.asarray(image) / 256"  # float64 and 255 -> 0.996: fails the tests
NEIGHBORHOOD_RETURN = "    return window\n"


@dataclass
class Expect:
    status: str            # exact status, or a prefix ending in "*"
    auto: float | None     # expected auto_score (None: not checked)
    why: str


def base():
    return nbformat.read(notebook(SOLUTIONS, AID), as_version=4)


def cell(nb, gid):
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == gid:
            return c
    raise KeyError(gid)


def replace_in(nb, gid, old, new):
    c = cell(nb, gid)
    assert old in c.source, (gid, old)
    c.source = c.source.replace(old, new)
    return nb


def append_code(nb, source, after=None):
    new = nbformat.v4.new_code_cell(source)
    new["id"] = f"extra-{len(nb.cells)}"
    if after is None:
        nb.cells.append(new)
    else:
        idx = [i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == after][0]
        nb.cells.insert(idx + 1, new)
    return nb


def write(folder: Path, student: str, nb=None, name=None, raw: str | None = None):
    d = folder / student / AID
    d.mkdir(parents=True, exist_ok=True)
    path = d / (name or f"{AID}.ipynb")
    if raw is not None:
        path.write_text(raw)
    else:
        nbformat.write(nb, path)
    return path


PROBE = r'''
import glob, os
def probe(label, fn):
    try:
        fn(); print("LEAK", label)
    except Exception as e:
        print("BLOCKED", label, type(e).__name__)
for label, path in {PATHS}.items():
    probe(label, lambda path=path: open(path, "rb").read(1))
probe("gradebook-search", lambda: [p for root in ("/tmp", "/work", "/root", "/home", "/var")
                                   for p in glob.glob(root + "/**/gradebook.db", recursive=True)][0])
probe("listing", lambda: [p for p in os.listdir({REPO!r})if p not in ("cnnkit", ".venv")][0])
'''

NETWORK = r'''
import socket, urllib.request
def probe(label, fn):
    try:
        fn(); print("LEAK", label)
    except Exception as e:
        print("BLOCKED", label, type(e).__name__)
probe("tcp-loopback", lambda: socket.create_connection(("127.0.0.1", {PORT}), timeout=3))
probe("http-loopback", lambda: urllib.request.urlopen("http://127.0.0.1:{PORT}/", timeout=3).read())
probe("dns", lambda: socket.getaddrinfo("pypi.org", 443))
'''

FORK_BOMB = r'''
import os, subprocess, time
subprocess.Popen(["sleep", "300"], start_new_session=True)   # tries to outlive the kernel
children = 0
try:
    for _ in range(5000):
        pid = os.fork()
        if pid == 0:
            time.sleep(300)
            os._exit(0)
        children += 1
except OSError as err:
    print("fork capped after", children, "children:", type(err).__name__)
'''

FAKE_RESULTS = r'''
import json, os
json.dump({"score": 100, "max_score": 10}, open("results.json", "w"))
open("01_pixels.html", "w").write("<h1>FAKE FEEDBACK 100/100</h1>")
open("grades.csv", "w").write("student_id,score\nfaker,100\n")
os.makedirs("../feedback", exist_ok=True)
print("wrote fake results")
'''

FLOOD = r'''
import base64, os
from IPython.display import display
print("x\n" * 10_000_000)                                   # 10^7 lines
display({"image/png": base64.b64encode(os.urandom(50 * 2**20)).decode()}, raw=True)   # ~50 MB "image"
'''


CASES = ["honest_full", "honest_partial", "c01_deleted_test", "c02_edited_test", "c03_test_to_markdown",
         "c04_invented_points", "c05_invalid_json", "c06a_nbformat_too_new", "c06b_nbformat_3", "c07_bogus_kernel",
         "c08_infinite_loop", "c09_memory_bomb", "c10_output_flood", "c11a_os_exit", "c11b_segfault",
         "c12a_no_traceback", "c12b_blank_cells", "c13_monkeypatch", "c14_read_secrets", "c15_network",
         "c16_fork_bomb", "c17_fake_results", "c18_grader_signals", "c19a_extra_notebook", "c19b_renamed",
         "c19c_empty", "c20_deprecation_warning", "c21_slow_correct"]


def build(folder: Path, port: int, secrets: dict[str, str], repo: str) -> dict[str, Expect]:
    """Write the corpus into ``folder``; return {student: Expect}."""
    exp: dict[str, Expect] = {}

    # Two honest students, whose grades must come out exactly right.
    write(folder, "honest_full", base())
    exp["honest_full"] = Expect("graded", 8, "the reference solution")
    nb = replace_in(base(), "neighborhood", "r = size // 2", "r = size // 2 + 1")  # off-by-one window
    write(folder, "honest_partial", nb)
    exp["honest_partial"] = Expect("graded", 5, "neighborhood off by one: loses its 3 points only")

    # 1. A test cell deleted.
    nb = base()
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "test_to_grayscale"]
    write(folder, "c01_deleted_test", nb)
    exp["c01_deleted_test"] = Expect("tampered: deleted test cell test_to_grayscale*", 5, "that exercise 0, flagged")

    # 2. A locked test cell edited (asserts commented out) to pass a wrong normalize.
    nb = replace_in(base(), "normalize", NORMALIZE_OK, NORMALIZE_WRONG)
    c = cell(nb, "test_normalize")
    c.source = "\n".join("# " + ln if ln.startswith("assert") else ln for ln in c.source.splitlines())
    write(folder, "c02_edited_test", nb)
    exp["c02_edited_test"] = Expect("graded", 6, "test restored from the release: normalize fails honestly")

    # 3. A test cell changed to markdown (so it never runs), wrong normalize.
    nb = replace_in(base(), "normalize", NORMALIZE_OK, NORMALIZE_WRONG)
    idx = nb.cells.index(cell(nb, "test_normalize"))
    old = nb.cells[idx]
    md = nbformat.v4.new_markdown_cell(old.source)
    md["id"], md["metadata"] = old["id"], copy.deepcopy(old["metadata"])
    nb.cells[idx] = md
    write(folder, "c03_test_to_markdown", nb)
    exp["c03_test_to_markdown"] = Expect("graded", 6, "restored as code: normalize fails honestly")

    # 4. The student's own cell claims 100 points; another grade id renamed.
    nb = base()
    m = cell(nb, "normalize").metadata["nbgrader"]
    m.update(grade=True, points=100)
    cell(nb, "to_grayscale").metadata["nbgrader"]["grade_id"] = "to_grayscale_v2"
    write(folder, "c04_invented_points", nb)
    exp["c04_invented_points"] = Expect("graded", 8, "points from the release: max stays 10")

    # 5. Truncated JSON.
    text = notebook(SOLUTIONS, AID).read_text()
    write(folder, "c05_invalid_json", raw=text[: len(text) // 3])
    exp["c05_invalid_json"] = Expect("ungradable: invalid notebook*", None, "never a silent 0")

    # 6. nbformat too new; and an old nbformat 3 notebook, which is upgraded.
    raw = json.loads(text)
    raw["nbformat"] = 5
    write(folder, "c06a_nbformat_too_new", raw=json.dumps(raw))
    exp["c06a_nbformat_too_new"] = Expect("ungradable: invalid notebook (nbformat 5*", None, "reason given")
    write(folder, "c06b_nbformat_3", raw=json.dumps(nbformat.convert(base(), 3)))
    exp["c06b_nbformat_3"] = Expect("graded", 8, "upgraded to 4 and graded")

    # 7. A bogus kernel name.
    nb = base()
    nb.metadata["kernelspec"] = {"name": "no-such-kernel", "display_name": "Nope", "language": "python"}
    write(folder, "c07_bogus_kernel", nb)
    exp["c07_bogus_kernel"] = Expect("graded", 8, "the course kernel is used")

    # 8. An infinite loop in one exercise.
    nb = replace_in(base(), "neighborhood", "    image = np.asarray(image)\n", "    while True:\n        pass\n")
    write(folder, "c08_infinite_loop", nb)
    exp["c08_infinite_loop"] = Expect("timeout in Exercise 1.3 · neighborhood", 5, "that exercise times out")

    # 9. A memory bomb inside to_grayscale.
    nb = replace_in(base(), "to_grayscale", "    rgb = np.asarray(rgb, dtype=np.float32)\n",
                    "    hog = []\n    while True:\n        hog.append(bytearray(256 * 2**20))\n")
    write(folder, "c09_memory_bomb", nb)
    exp["c09_memory_bomb"] = Expect("graded", 5, "stopped at the cap; others graded")

    # 10. 10^7 lines of output and a 50 MB image.
    write(folder, "c10_output_flood", append_code(base(), FLOOD, after="normalize"))
    exp["c10_output_flood"] = Expect("graded", 8, "output truncated, notebook graded")

    # 11. os._exit in one exercise, a segfault in another.
    nb = replace_in(base(), "to_grayscale", "    rgb = np.asarray(rgb, dtype=np.float32)\n",
                    "    import os\n    os._exit(0)\n")
    write(folder, "c11a_os_exit", nb)
    exp["c11a_os_exit"] = Expect("graded", 5, "kernel restarted; neighborhood still graded")
    nb = replace_in(base(), "normalize", "    ### BEGIN SOLUTION\n",
                    "    ### BEGIN SOLUTION\n    import ctypes\n    ctypes.string_at(0)\n")
    write(folder, "c11b_segfault", nb)
    exp["c11b_segfault"] = Expect("graded", 6, "kernel restarted; later exercises graded")

    # 12. Tracebacks switched off; an input transformer that blanks the test cells.
    nb = replace_in(base(), "normalize", NORMALIZE_OK,
                    "get_ipython().showtraceback = lambda *a, **k: None\n    " + NORMALIZE_WRONG)
    cell(nb, "normalize").source += "\nget_ipython().showtraceback = lambda *a, **k: None\n"
    write(folder, "c12a_no_traceback", nb)
    exp["c12a_no_traceback"] = Expect("tampered:*", 6, "errors still count")
    nb = replace_in(base(), "neighborhood", "r = size // 2", "r = size // 2 + 1")
    cell(nb, "neighborhood").source += "\nget_ipython().input_transformers_cleanup.append(lambda lines: [])\n"
    write(folder, "c12b_blank_cells", nb)
    exp["c12b_blank_cells"] = Expect("tampered:*", 5, "the guard removes the transformer; the test runs")

    # 13. numpy's comparisons monkeypatched to always agree.
    nb = replace_in(base(), "normalize", NORMALIZE_OK, NORMALIZE_WRONG)
    cell(nb, "normalize").source += ("\nnp.allclose = lambda *a, **k: True\nnp.isclose = lambda *a, **k: True\n"
                                     "np.array_equal = lambda *a, **k: True\n"
                                     "np.testing.assert_allclose = lambda *a, **k: None\n")
    write(folder, "c13_monkeypatch", nb)
    exp["c13_monkeypatch"] = Expect("tampered:*", 6, "patches undone before the tests")

    # 14. Reading solutions, the gradebook, other students.
    probe = PROBE.replace("{PATHS}", repr(secrets)).replace("{REPO!r}", repr(repo))
    write(folder, "c14_read_secrets", append_code(base(), probe))
    exp["c14_read_secrets"] = Expect("tampered: refers to gradebook*", 8,
                                     "permission denied everywhere; looking for the gradebook is flagged")

    # 15. Network.
    write(folder, "c15_network", append_code(base(), NETWORK.replace("{PORT}", str(port))))
    exp["c15_network"] = Expect("graded", 8, "no network; still graded")

    # 16. A fork bomb and a background process.
    write(folder, "c16_fork_bomb", append_code(base(), FORK_BOMB, after="test_neighborhood"))
    exp["c16_fork_bomb"] = Expect("graded", 8, "capped; nothing survives the kernel")

    # 17. Files that look like grader results.
    write(folder, "c17_fake_results", append_code(base(), FAKE_RESULTS))
    exp["c17_fake_results"] = Expect("graded", 8, "ignored")

    # 18. Behaving differently when graded (grader signals).
    cheat = ("import os\n    if os.environ.get('NBGRADER_EXECUTION') or 'autograded' in os.getcwd():\n"
             "        " + NORMALIZE_OK + "\n    " + NORMALIZE_WRONG)
    nb = replace_in(base(), "normalize", NORMALIZE_OK, cheat)
    write(folder, "c18_grader_signals", nb)
    exp["c18_grader_signals"] = Expect("tampered:*", 6, "no signal visible: the wrong branch runs")

    # 19. An extra notebook; only a renamed notebook; an empty folder.
    write(folder, "c19a_extra_notebook", base())
    write(folder, "c19a_extra_notebook", base(), name="scratch.ipynb")
    exp["c19a_extra_notebook"] = Expect("graded", 8, "the extra notebook is ignored (noted)")
    write(folder, "c19b_renamed", base(), name=f"{AID}-Copy1.ipynb")
    exp["c19b_renamed"] = Expect("missing", None, "documented: missing, with a note naming the file")
    (folder / "c19c_empty" / AID).mkdir(parents=True)
    exp["c19c_empty"] = Expect("missing", None, "empty folder")

    # 20. A correct solution that prints a DeprecationWarning to stderr in the tests.
    nb = replace_in(base(), "normalize", NORMALIZE_OK,
                    "import warnings\n    warnings.warn('old API', DeprecationWarning, stacklevel=1)\n    " + NORMALIZE_OK)
    cell(nb, "normalize").source = "import warnings\nwarnings.simplefilter('always')\n" + cell(nb, "normalize").source
    write(folder, "c20_deprecation_warning", nb)
    exp["c20_deprecation_warning"] = Expect("graded", 8, "a warning is not a failure")

    # 21. A correct but slow solution (pure-Python loops).
    slow = ("image = np.asarray(image)\n    out = np.empty(image.shape, dtype=np.float32)\n"
            "    for idx in np.ndindex(image.shape):\n        out[idx] = float(image[idx]) / 255.0\n    return out")
    nb = replace_in(base(), "normalize", NORMALIZE_OK, slow)
    write(folder, "c21_slow_correct", nb)
    exp["c21_slow_correct"] = Expect("graded", 8, "inside the time cap: full marks")
    return exp


def matches(status: str, expected: str) -> bool:
    return status.startswith(expected[:-1]) if expected.endswith("*") else status == expected


__all__ = ["build", "Expect", "matches", "AID", "LESSONS", "base64"]
