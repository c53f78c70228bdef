"""The class report (autograder/reporting/report.py): a small lesson-01 batch with known mistakes is
graded through the real CLI, then ``python -m autograder report OUT`` writes the page; its
counts must be the batch's. The page and a screenshot of it (Debian's headless chromium,
no JavaScript) are kept in test-artifacts/report/. How one failed test cell is labelled
(visible message, not written yet, hidden, timeout) is checked on its own, without root."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from PIL import Image

from conftest import REPO, SOLUTIONS, cell_source, copy_as_submission, marked_lines, notebook

from autograder.job.preprocessors import hidden_keys
from autograder.reporting.report import NOT_WRITTEN, QUOTED, failure_message

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="grading sandboxed needs root (CI runs as root)")
AID = "01_pixels"
ARTIFACTS = REPO / "test-artifacts" / "report"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--window-size=1200,1600"]

BY_256 = "def normalize(image):\n    return np.asarray(image).astype(np.float32) / np.float32(256)\n"
FLOOR = "def normalize(image):\n    return (np.asarray(image) // 255).astype(np.float32)\n"
# Passes to_grayscale's visible checks (uint8 and float32 input) but not the hidden ones:
# a float64 image gives a float64 result.
GRAY_FLOAT64 = ("def to_grayscale(rgb):\n    rgb = np.asarray(rgb)\n    if rgb.dtype == np.uint8:\n"
                "        rgb = rgb.astype(np.float32)\n    return rgb @ np.array([0.299, 0.587, 0.114], dtype=rgb.dtype)\n")
MSG_256 = "white (255) became 0.9961, not 1.0: divide by 255, the largest uint8 value (not 256)."
MSG_FLOOR = "51 became 0: integer division (//) rounds every value down; use true division (/) on floats."
HIDDEN = "hidden tests failed (AssertionError)"


def _with_cell(path: Path, grade_id: str, source: str) -> None:
    nb = nbformat.read(path, as_version=4)
    [cell] = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    cell.source = source
    nbformat.write(nb, path)


def _cli(*args: str) -> subprocess.CompletedProcess:
    """``python -m autograder ARGS`` from the checkout; the canary cache is the test session's."""
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=1200)


def _submissions(root: Path) -> Path:
    """7 students: the reference, /256 twice, // (with a to_grayscale that fails only hidden
    tests), the blank release, an empty folder (missing) and a file that is not JSON."""
    subs, solution = root / "subs", notebook(SOLUTIONS, AID)
    copy_as_submission(solution, subs, "ref", AID)
    for sid in ("by256_a", "by256_b"):
        _with_cell(copy_as_submission(solution, subs, sid, AID), "normalize", BY_256)
    floor = copy_as_submission(solution, subs, "floordiv", AID)
    _with_cell(floor, "normalize", FLOOR)
    _with_cell(floor, "to_grayscale", GRAY_FLOAT64)
    proc = _cli("release", "--dest", str(root / "release"), AID)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    copy_as_submission(notebook(root / "release", AID), subs, "blank", AID)
    (subs / "gone" / AID).mkdir(parents=True)
    broken = subs / "broken" / AID / f"{AID}.ipynb"
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json")
    return subs


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    subs, out = _submissions(root), root / "out"
    start = time.monotonic()
    proc = _cli("grade", str(subs), "--out", str(out), "--jobs", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    graded = time.monotonic()
    proc = _cli("report", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print(f"grading {graded - start:.1f} s, report {time.monotonic() - graded:.1f} s")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    shutil.copytree(out / "report", ARTIFACTS)
    return out / "report", (out / "report" / "index.html").read_text(encoding="utf-8")


def _section(page: str, ident: str) -> str:
    m = re.search(rf'<section class=exercise id="{re.escape(ident)}">(.*?)</section>', page, re.S)
    assert m, f"no section {ident} in the page"
    return m.group(1)


def _messages(page: str, grade_id: str) -> dict[str, int]:
    rows = re.findall(r'<td class="n count">(\d+)</td><td class=msg>(.*?)</td>', _section(page, f"{AID}-{grade_id}"),
                      re.S)
    return {html.unescape(msg): int(n) for n, msg in rows}


def _passed(page: str, grade_id: str) -> str:
    m = re.search(rf'<tr id="pass-{AID}-{grade_id}">.*?<td class="n passed">(.*?)</td>', page)
    assert m, f"no pass row for {grade_id}"
    return m.group(1)


@root_only
def test_counts_are_the_batch(report):
    _, page = report
    assert _messages(page, "test_normalize") == {MSG_256: 2, MSG_FLOOR: 1, NOT_WRITTEN: 1}
    assert _messages(page, "test_to_grayscale") == {HIDDEN: 1, NOT_WRITTEN: 1}
    assert _messages(page, "test_neighborhood") == {NOT_WRITTEN: 1}
    assert [_passed(page, g) for g in ("test_normalize", "test_to_grayscale", "test_neighborhood")] == [
        "1 of 5", "3 of 5", "4 of 5"]
    assert "written_dense" not in page, "a written answer (graded by hand) is not an autograded exercise"


@root_only
def test_header_scores_and_statuses(report):
    _, page = report
    assert "<b>7</b> students · 1 assignment:" in page
    assert "7 rows: 5 graded, 1 missing, 1 ungradable" in page
    assert "5 of 7 notebooks graded; not graded: 1 missing, 1 ungradable. Median 60 %, mean 46 %." in page
    # ref 8/10, by256 6/10 twice, floordiv 3/10, blank 0/10 (the written answer awaits manual grading)
    assert 'score histogram: 0–10 %: 1; 30–40 %: 1; 60–70 %: 2; 80–90 %: 1"' in page
    statuses = re.findall(r'<tr class="([^"]+)"><td>[^<]+</td><td>(.*?)</td><td>(.*?)</td>', page)
    assert sorted(statuses) == [("missing", "gone", AID), ("ungradable", "broken", AID)]


@root_only
def test_no_hidden_test_and_no_javascript(report):
    folder, page = report
    hidden = [ln for c in nbformat.read(notebook(SOLUTIONS, AID), as_version=4).cells
              for ln in marked_lines(cell_source(c), "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")]
    assert hidden, "the solution has no hidden tests to look for"
    leaked = [ln for ln in hidden if ln in page or html.escape(ln) in page]
    assert not leaked, leaked
    assert "float64 input" not in page, "the hidden test's own message is shown"
    assert not re.search(r"<script|javascript:|\son\w+=", page, re.I)
    for src in re.findall(r'<img src="([^"]+)"', page):
        with Image.open(folder / src) as img:
            assert img.format == "PNG" and max(img.info.get("dpi", (0, 0))) <= 100.5, (src, img.info)


@root_only
def test_screenshot(report):
    folder, _ = report
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: apt-get install chromium (CI's .ci/run installs it).", pytrace=False)
    shot = ARTIFACTS / "screenshot.png"
    proc = subprocess.run([str(CHROMIUM), *CHROMIUM_ARGS, f"--screenshot={shot}", (folder / "index.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and shot.stat().st_size > 10_000, proc.stderr[-2000:]


# --- one failed test cell, labelled (no grading, no root) ---------------------------------
def _test_cell(*outputs: dict) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell("", outputs=[nbformat.v4.new_output("error", **o) for o in outputs])


def _kernel_error(ename: str, evalue: str) -> dict:
    return {"ename": ename, "evalue": evalue, "traceback": ["\x1b[31m-----\x1b[39m", f"\x1b[31m{ename}\x1b[39m: {evalue}"]}


def test_failure_labels():
    solution = nbformat.read(notebook(SOLUTIONS, AID), as_version=4)
    keys = hidden_keys(solution)
    hidden_line = next(ln for c in solution.cells
                       for ln in marked_lines(cell_source(c), "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"))
    assert failure_message(_test_cell(_kernel_error("AssertionError", f"\x1b[1m{MSG_256}\x1b[0m")), keys) == MSG_256
    assert failure_message(_test_cell(_kernel_error("NotImplementedError", "")), keys) == NOT_WRITTEN
    assert failure_message(_test_cell(_kernel_error("ValueError", "bad shape")), keys) == "ValueError: bad shape"
    # execute.GuardedExecute's summary of a failed hidden part: one line, and its message never shown
    hidden = {"ename": "AssertionError", "evalue": "3×4×3 float64 input", "traceback": ["AssertionError: 3×4×3 float64 input"]}
    assert failure_message(_test_cell(hidden), keys) == HIDDEN
    # student code that read a hidden test while it ran and raises it later, in a visible check
    assert failure_message(_test_cell(_kernel_error("AssertionError", f"look: {hidden_line}")), keys) == QUOTED
    stop = {"ename": "CellTimeoutError", "evalue": "this cell ran longer than 30 s and was stopped",
            "traceback": ["CellTimeoutError: this cell ran longer than 30 s and was stopped"]}
    assert failure_message(_test_cell(stop), keys).startswith("timed out")
    assert failure_message(_test_cell(), keys).startswith("lost points without an error output")
