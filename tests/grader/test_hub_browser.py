"""The class on JupyterHub, end to end in a real browser (Debian's chromium, Playwright).

A hub of its own (testbed/hubclass.py: temp root, real accounts made by ``hub users`` and removed
after, lesson 01 released, stopped by PID). Then, as people would:

1. student 1 logs in, opens Nbgrader ▸ Assignment List, fetches lesson 01, opens it from the
   panel, types a correct ``normalize``, a wrong ``to_grayscale`` and the written answer, saves,
   submits; waits
   until the panel says feedback is available, fetches it, opens it, and reads the score and
   the to_grayscale message;
2. student 2 submits the lesson as fetched (blank) and reads 0 in their feedback;
3. the instructor logs in, opens the formgrader in a tab of its own (JupyterHub forbids it in a
   frame: nbgrader #1870), gives student 1's written answer 2 points, and the course's Canvas
   export shows the new total.

Screenshots of each step go to test-artifacts/hub-browser/.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO
from testbed.hubclass import HubClass

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the hub runs as root: PAM, real accounts, the sandbox")

AID = "01_pixels"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
ARTIFACTS = REPO / "test-artifacts" / "hub-browser"
NORMALIZE_OK = "return np.asarray(image).astype(np.float32) / 255"
GRAYSCALE_WRONG = "return np.asarray(rgb)[..., 0].astype(np.float32)"
WRITTEN = "A dense layer gives every pixel its own weight, so it cannot tell neighbours from strangers."
T_SPAWN = 120_000     # ms: a JupyterLab server started by the hub on a busy 2-core machine
LAST: list = []          # the pages opened, for a screenshot at a failure
T_FEEDBACK = 240      # s: submit → feedback, with margin (measured ~20 s)


@pytest.fixture(scope="module")
def klass():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: apt-get install chromium (CI's .ci/run installs it).", pytrace=False)
    if not (REPO / "jupyterhub-config" / "node_modules" / ".bin" / "configurable-http-proxy").exists():
        pytest.fail("jupyterhub-config/node_modules is missing: (cd jupyterhub-config && npm ci) (make hub and .ci/run do)", pytrace=False)
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    root = Path(tempfile.mkdtemp(prefix="plt-hub-"))
    os.chmod(root, 0o755)
    k = HubClass(root, n_students=2, log=ARTIFACTS / "jupyterhub.log")
    try:
        k.setup(aids=(AID,))
        k.start()
        yield k
    finally:
        k.teardown()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def shot(pg, name: str) -> None:
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def login(browser, klass, user: str, shot_name: str | None = None):
    """A fresh browser session: log in at /hub/login and wait for JupyterLab."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(T_SPAWN)
    pg = ctx.new_page()
    LAST.append(pg)
    pg.goto(f"{klass.base}/hub/login")
    pg.fill("#username_input", user)
    pg.fill("#password_input", klass.passwords[user])
    if shot_name:
        shot(pg, shot_name)
    pg.click("#login_submit")
    pg.wait_for_url(re.compile(rf".*/user/{user}/lab.*"))
    pg.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").wait_for()
    _dismiss_news(pg)
    return ctx, pg


def _dismiss_news(pg) -> None:
    """JupyterLab asks once whether to fetch Jupyter news: answer No (it would cover the panel)."""
    try:
        pg.locator(".jp-toast-button", has_text="No").click(timeout=5000)
    except Exception:
        pass


def assignments_panel(pg):
    pg.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
    pg.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
    pg.locator("#released_assignments_list").wait_for()


def fetch_lesson(pg) -> None:
    pg.locator("#released_assignments_list .list_item", has_text=AID).locator("button", has_text="Fetch").click()
    pg.locator("#fetched_assignments_list .list_item", has_text=AID).first.wait_for()


def submit_and_wait_for_feedback(pg, klass, user: str) -> float:
    """Press Submit in the panel, then refresh it until the submission says its feedback is
    available; fetch it. Returns the seconds from Submit to the feedback being available."""
    pg.locator(".lm-DockPanel .lm-TabBar-tab", has_text="Assignments").click()
    pg.locator("#fetched_assignments_list .list_item", has_text=AID).locator("button", has_text="Submit").click()
    t0 = time.monotonic()
    pg.locator("#submitted_assignments_list .list_item", has_text=AID).first.wait_for()
    available = pg.locator("#submitted_assignments_list", has_text="feedback available to fetch")
    while not available.count():
        if time.monotonic() - t0 > T_FEEDBACK:
            pytest.fail(f"no feedback for {user} within {T_FEEDBACK} s:\n{klass.log_text()[-3000:]}")
        time.sleep(2)
        pg.locator("#refresh_assignments_list").click()
        pg.locator("#submitted_assignments_list_loading").wait_for(state="hidden")
    waited = time.monotonic() - t0
    pg.locator("#submitted_assignments_list button", has_text="Fetch Feedback").first.click()
    pg.locator("#submitted_assignments_list a", has_text="view feedback").first.wait_for()
    return waited


def open_feedback(pg) -> str:
    """'view feedback' opens the feedback folder in the file browser; open the page; its text."""
    pg.locator("#submitted_assignments_list a", has_text="view feedback").first.click()
    entry = pg.locator(".jp-DirListing-item", has_text=f"{AID}.html")
    entry.wait_for()
    entry.dblclick()
    frame = pg.frame_locator(".jp-HTMLViewer:not(.lm-mod-hidden) iframe")
    frame.locator("body", has_text="Score").wait_for()
    return frame.locator("body").inner_text()


def type_answer(pg, panel, head: str, answer: str) -> None:
    cell = panel.locator(".jp-CodeCell", has_text=head)
    stub = cell.locator(".cm-line", has_text="raise NotImplementedError()")
    stub.scroll_into_view_if_needed()
    stub.click()
    pg.keyboard.press("End")
    pg.keyboard.press("Shift+Home")
    pg.keyboard.type(answer)
    source = cell.locator(".cm-content").inner_text()
    assert answer in source and "NotImplementedError" not in source, f"typing into the cell failed:\n{source}"


def test_a_class_on_the_hub_in_a_browser(klass, browser):
    s1, s2, ins = klass.students[0], klass.students[1], klass.instructor
    took = {}
    try:
        _class(klass, browser, s1, s2, ins, took)
    finally:
        for pg in LAST:   # at a failure, the page still open
            if not pg.is_closed():
                pg.screenshot(path=str(ARTIFACTS / "last-page.png"))


def _class(klass, browser, s1, s2, ins, took):

    # 1. Student 1: fetch, answer, submit, read the feedback.
    ctx, pg = login(browser, klass, s1, "1-login")
    assignments_panel(pg)
    shot(pg, "2-assignments-released")
    fetch_lesson(pg)
    pg.locator("#fetched_assignments_list a.assignment-notebooks-link", has_text=AID).click()
    pg.locator("#fetched_assignments_list .nested_list_item a", has_text=AID).click()
    panel = pg.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    panel.locator(".jp-CodeCell", has_text="def to_grayscale(rgb):").wait_for()
    type_answer(pg, panel, "def normalize(image):", NORMALIZE_OK)
    type_answer(pg, panel, "def to_grayscale(rgb):", GRAYSCALE_WRONG)
    written = panel.locator(".jp-MarkdownCell", has_text="YOUR ANSWER HERE")
    written.scroll_into_view_if_needed()
    written.dblclick()
    editor = written.locator(".cm-content")
    editor.wait_for()
    editor.click()
    pg.keyboard.press("Control+a")
    pg.keyboard.type(WRITTEN)
    pg.keyboard.press("Shift+Enter")
    panel.locator(".jp-MarkdownCell", has_text=WRITTEN[:40]).wait_for()
    pg.keyboard.press("Control+s")
    pg.locator(".jp-mod-current.jp-mod-dirty").wait_for(state="detached")   # saved
    shot(pg, "3-answers-typed")
    took["student 1: submit to feedback"] = submit_and_wait_for_feedback(pg, klass, s1)
    shot(pg, "4-feedback-fetched")
    text = open_feedback(pg)
    shot(pg, "5-feedback-page")
    assert "01_pixels (Score: 2.0 / 10.0)" in text, text[:1500]
    assert "pure red (255, 0, 0) should give 0.299·255 = 76.245, got 255.000" in text, text[:3000]
    frame = pg.frame_locator(".jp-HTMLViewer:not(.lm-mod-hidden) iframe")
    frame.locator("pre", has_text="got 255.000").last.evaluate("e => e.scrollIntoView({block: 'center'})")
    shot(pg, "5b-feedback-to_grayscale")
    ctx.close()

    # 2. Student 2: submits the lesson as fetched and sees 0.
    ctx, pg = login(browser, klass, s2)
    assignments_panel(pg)
    fetch_lesson(pg)
    took["student 2: submit to feedback"] = submit_and_wait_for_feedback(pg, klass, s2)
    text = open_feedback(pg)
    shot(pg, "6-blank-feedback")
    assert "01_pixels (Score: 0.0 / 10.0)" in text, text[:1500]
    ctx.close()

    # 3. The instructor: the formgrader in a tab of its own; 2 points for student 1's written answer.
    ctx, pg = login(browser, klass, ins)
    pg.goto(f"{klass.base}/user/{ins}/formgrader/gradebook/{AID}/{AID}")
    pg.locator("td a", has_text="Submission #").first.wait_for()   # the table is filled in by a request
    pg.locator("#toggle_names").click()
    link = pg.locator("tr a.name-shown", has_text=s1)
    link.wait_for()
    shot(pg, "7-formgrader-submissions")
    link.click()
    score = pg.locator("input#written_dense")
    score.wait_for()
    score.scroll_into_view_if_needed()
    with pg.expect_response(lambda r: "/formgrader/api/grade/" in r.url and r.request.method == "PUT") as saved:
        score.fill("2")
        score.press("Tab")
    assert saved.value.ok, saved.value.status
    shot(pg, "8-formgrader-written-answer")
    assert WRITTEN in pg.locator("body").inner_text()
    ctx.close()

    out = klass.root / "canvas.csv"
    export = subprocess.run([sys.executable, "-m", "autograder", "export", "--format", "canvas", "--out", str(out),
                             "--db", f"sqlite:///{klass.layout.course / 'gradebook.db'}"],
                            cwd=REPO, capture_output=True, text=True)
    assert export.returncode == 0, export.stdout + export.stderr
    rows = {r["SIS User ID"]: r for r in csv.DictReader(open(out)) if r["SIS User ID"]}
    assert rows[s1][AID] == "4" and rows[s2][AID] == "0", rows    # 2 automatic + 2 by hand; 0
    print(f"\nbrowser: {', '.join(f'{k} {v:.0f} s' for k, v in took.items())}")
