"""The student's real path, in a real browser.

JupyterLab is started the way ``make lab`` starts it (the venv's ``jupyter lab``,
``--allow-root`` when root, no browser) on a free loopback port with a token, serving a
temp copy of lessons/ plus one solutions notebook with its outputs cleared. Debian's
chromium, driven headless by Playwright, then does what a student does:

0. opens lesson 01 by the URL that `make lab` prints; opens the solutions notebook of
   step 4 from the file browser and starts Run ▸ Run All Cells there (it runs in its own
   kernel while steps 1-3 happen in the lesson's tab);
1. in the lesson, runs the first cells with Shift+Enter: the doctor's table, the mode
   line, the data shapes and the first figure appear, with no error;
2. types a correct ``normalize`` into the exercise cell, runs it and its test cell, and
   sees the ✅ line;
3. presses nbgrader's Validate button and reads the Validation Results dialog: the two
   unwritten exercises fail with NotImplementedError, ``normalize`` does not;
4. back in the solutions notebook: every code cell ran, no cell shows an error, and the
   figures are rendered images.

Screenshots go to test-artifacts/browser/ (git-ignored). The server is stopped by its
process group, its kernels with it, and the test checks that nothing is left running.
Chromium or Playwright missing is a failure that names the fix, never a skip.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import LESSONS, REPO, SOLUTIONS, load, notebook

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
ARTIFACTS = REPO / "test-artifacts" / "browser"
LESSON = "01_pixels"          # steps 1-3
FIGURES_LESSON = "01_pixels"  # step 4: a solutions notebook whose cells draw figures
ANSWER = "return np.asarray(image).astype(np.float32) / 255"
T_START = 90_000    # ms: JupyterLab's page and a kernel on a busy 2-core machine
T_CELL = 120_000    # ms: a cell that imports TensorFlow
T_VALIDATE = 180_000  # ms: nbgrader runs the whole lesson in a fresh kernel


def _require_browser():
    """Fail (not skip) with the fix when the browser or Playwright is missing: CI installs both."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found. The browser test drives Debian's chromium: "
                    "apt-get install chromium (CI's .ci/run installs it).", pytrace=False)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail("The playwright package is missing: pip install -r requirements.txt (make setup).",
                    pytrace=False)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proc(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state letter, start time) from /proc/PID/stat, or None if the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # the fields after "pid (comm) ", from field 3 on
    return int(fields[1]), fields[0], int(fields[19])


def _descendants(pid: int) -> dict[int, int]:
    """Every process below ``pid`` (kernels, nbgrader's validation kernel...), as pid -> start time.
    The start time tells a process from a later one that reuses its pid."""
    info = {int(e.name): _proc(int(e.name)) for e in Path("/proc").iterdir() if e.name.isdigit()}
    children: dict[int, list[int]] = {}
    for child, stat in info.items():
        if stat:
            children.setdefault(stat[0], []).append(child)
    found, todo = {}, [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found[child] = info[child][2]
            todo.append(child)
    return found


def _alive(procs: dict[int, int]) -> list[int]:
    """The pids of ``procs`` still running (not zombies, not a new process with a reused pid)."""
    alive = []
    for pid, started in procs.items():
        stat = _proc(pid)
        if stat and stat[2] == started and stat[1] not in ("Z", "X"):
            alive.append(pid)
    return alive


def _get_json(url: str, timeout: float = 10):
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def _cleared(src: Path, dest: Path) -> None:
    """Copy a notebook without its outputs, so every output seen in the browser is fresh."""
    nb = load(src)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(nb, indent=1, ensure_ascii=False))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab as `make lab` starts it, on a temp copy of lessons/; stopped with all its processes."""
    _require_browser()
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "lessons"
    shutil.copytree(LESSONS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    _cleared(notebook(SOLUTIONS, FIGURES_LESSON), root / "solutions" / FIGURES_LESSON / f"{FIGURES_LESSON}.ipynb")

    # Private Jupyter folders: no user settings, saved workspaces or news pop-ups leak in.
    settings = tmp / "lab-settings"
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = dict(os.environ)
    env.update({
        "JUPYTER_CONFIG_DIR": str(tmp / "config"), "JUPYTER_DATA_DIR": str(tmp / "data"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
        "IPYTHONDIR": str(tmp / "ipython"),
        # The suite's environment (course_env): fast mode, no downloads, quiet TensorFlow.
        "COURSE_MODE": "fast", "FASHION_MNIST_NO_DOWNLOAD": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
    })
    jupyter = Path(sys.executable).with_name("jupyter")
    assert jupyter.exists(), f"{jupyter} missing: the venv's jupyter is what `make lab` runs"
    port, token = _free_port(), secrets.token_hex(16)
    cmd = [str(jupyter), "lab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / "jupyter-server.log", "w")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    seen: dict[int, int] = {}  # every process the server started: pid -> start time

    def wait_ready() -> None:
        """Wait until the server answers (the browser starts meanwhile)."""
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}; see {ARTIFACTS / 'jupyter-server.log'}:\n"
                            + (ARTIFACTS / "jupyter-server.log").read_text()[-3000:])
            try:
                _get_json(f"{base}/api/status?token={token}", timeout=5)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail("jupyter lab did not answer within 90 s")
                time.sleep(0.5)

    try:
        yield {"base": base, "token": token, "root": root, "pid": proc.pid, "seen": seen, "wait_ready": wait_ready}
    finally:
        _stop(proc, seen, log)


def _stop(proc: subprocess.Popen, seen: dict[int, int], log) -> None:
    """Stop the server by its process group (SIGTERM: it shuts its kernels down), then kill
    whatever it started that is still running: kernels live in sessions of their own."""
    seen.update(_descendants(proc.pid))
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    deadline = time.monotonic() + 5
    while _alive(seen) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in _alive(seen):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    log.close()
    deadline = time.monotonic() + 10
    while _alive(seen) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _alive(seen)
    assert not left, f"processes left behind by jupyter lab: {left}"


@pytest.fixture(scope="module")
def page(lab, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900})
        context.set_default_timeout(T_START)
        pg = context.pages[0] if context.pages else context.new_page()
        lab["wait_ready"]()
        try:
            yield pg
        finally:
            with contextlib.suppress(Exception):
                pg.screenshot(path=str(ARTIFACTS / "last-page.png"))  # the state at the end, or at a failure
            context.close()


def _shot(pg, name: str) -> None:
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _open(pg, lab, path: str, source: Path) -> str:
    """Open a notebook by URL, as the link that `make lab` prints does; return its panel's DOM id."""
    pg.goto(f"{lab['base']}/lab/tree/{path}?token={lab['token']}")
    return _wait_notebook(pg, lab, source)


def _wait_notebook(pg, lab, source: Path) -> str:
    """Wait until the active notebook shows all its cells (JupyterLab attaches them
    progressively) and its kernel is idle; return its panel's DOM id."""
    n_cells = len(load(source)["cells"])
    panel_id = pg.wait_for_function(
        """n => { const p = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
                  const s = p && p.querySelector('.jp-Notebook-ExecutionIndicator');
                  const ready = s && s.getAttribute('data-status') === 'idle'
                                && p.querySelectorAll('.jp-Notebook .jp-Cell').length === n;
                  return ready ? p.id : null; }""",
        arg=n_cells, timeout=T_START).json_value()
    lab["seen"].update(_descendants(lab["pid"]))
    return panel_id


def _activate(pg, panel_id: str):
    """Bring a notebook's tab to the front (both tabs are called 01_pixels.ipynb); return its panel."""
    pg.locator(f".lm-DockPanel .lm-TabBar-tab[data-id='{panel_id}']").click()
    panel = pg.locator(f"#{panel_id}")
    pg.wait_for_function("id => !document.getElementById(id).classList.contains('lm-mod-hidden')", arg=panel_id)
    return panel


def _file_entry(pg, name: str):
    """The file browser's entry called exactly ``name``."""
    label = pg.locator(".jp-DirListing-itemText", has_text=re.compile(rf"^{re.escape(name)}$"))
    return pg.locator(".jp-FileBrowser .jp-DirListing-item", has=label)


def _browse_to(pg, folder: str) -> None:
    """In the file browser: home, then double-click each folder of ``folder``; wait for each listing."""
    pg.locator(".jp-FileBrowser .jp-BreadCrumbs-home").first.click()
    parts = folder.split("/") if folder else []
    for depth in range(len(parts) + 1):
        if depth:
            _file_entry(pg, parts[depth - 1]).dblclick()
        pg.wait_for_function(
            """want => { const b = document.querySelector('.jp-FileBrowser .jp-BreadCrumbs');
                         const shown = b ? b.textContent.replace(/\\s+/g, '').replace(/^\\/+|\\/+$/g, '') : null;
                         return shown === want; }""",
            arg="/".join(parts[:depth]), timeout=T_START)


def _outputs(panel, text: str):
    return panel.locator(".jp-OutputArea-output", has_text=text)


def _errors(panel):
    """Error tracebacks and stderr render with this MIME type."""
    return panel.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")


def _prompts(pg, panel_id: str) -> list[str]:
    return pg.evaluate("id => [...document.getElementById(id).querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')]"
                       ".map(e => e.textContent)", panel_id)


def test_student_path_in_jupyterlab(lab, page):
    pg = page
    t0 = time.monotonic()
    took: dict[str, float] = {}

    def lap(step: str) -> None:
        took[step] = round(time.monotonic() - t0 - sum(took.values()), 1)

    # Open lesson 01 by the URL `make lab` prints, then, from the file browser, the solutions
    # notebook of step 4, and start its Run All now: it runs in its own kernel while steps 1-3
    # happen in the lesson's tab (a 2-core machine would otherwise sit half idle).
    lesson_id = _open(pg, lab, f"{LESSON}/{LESSON}.ipynb", notebook(LESSONS, LESSON))
    _browse_to(pg, f"solutions/{FIGURES_LESSON}")
    _file_entry(pg, f"{FIGURES_LESSON}.ipynb").dblclick()
    solutions_id = _wait_notebook(pg, lab, notebook(SOLUTIONS, FIGURES_LESSON))
    assert solutions_id != lesson_id
    pg.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    pg.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    lap("0 open both, start Run All")

    # 1. In the lesson, run the first cells with Shift+Enter (as the lesson says), down to the first figure.
    panel = _activate(pg, lesson_id)
    cells = load(notebook(LESSONS, LESSON))["cells"]
    first_figure = next(i for i, c in enumerate(cells) if "show_matrix(crop" in "".join(c["source"]))
    panel.locator(".jp-Notebook .jp-Cell").first.click()
    pg.keyboard.press("Escape")
    for _ in range(first_figure + 1):
        pg.keyboard.press("Shift+Enter")
    for text in ("Environment check (cnnkit.doctor)", "All essential checks passed.",
                 "Mode: fast (COURSE_MODE=fast)", "x_train: (60000, 28, 28) uint8"):
        _outputs(panel, text).first.wait_for(timeout=T_CELL)
    figure = panel.locator(".jp-OutputArea-output img").first
    figure.wait_for(timeout=T_CELL)
    assert pg.evaluate("img => img.naturalWidth > 0 && img.naturalHeight > 0", figure.element_handle()), (
        "the first figure's image did not render")
    assert _errors(panel).count() == 0, "running the first cells of lesson 01 printed an error or a warning"
    # Framed for the README (tests/screenshots/jupyterlab-lesson01.png is this shot, colour-quantized):
    # the file browser on the lesson's folder, the figure cell's code at the top.
    _browse_to(pg, LESSON)
    panel.locator(".jp-CodeCell", has_text="r0, c0 = 14, 10").evaluate("el => el.scrollIntoView({block: 'start'})")
    figure.wait_for(state="visible")
    _shot(pg, "1-lesson01-first-cells")
    lap("1 first cells")

    # 2. Type a correct normalize into the exercise cell, run it and its test cell: the ✅ line.
    cell = panel.locator(".jp-CodeCell", has_text="def normalize(image):")
    stub = cell.locator(".cm-line", has_text="raise NotImplementedError()")
    stub.scroll_into_view_if_needed()
    stub.click()
    pg.keyboard.press("End")
    pg.keyboard.press("Shift+Home")  # selects the line after its indentation
    pg.keyboard.type(ANSWER)
    source = cell.locator(".cm-content").inner_text()
    assert ANSWER in source and "NotImplementedError" not in source, f"typing into the cell failed:\n{source}"
    pg.keyboard.press("Shift+Enter")  # runs the solution cell, moves to its test cell
    pg.keyboard.press("Shift+Enter")  # runs the test cell
    ok = _outputs(panel, "✅ normalize: all visible checks passed")
    ok.wait_for(timeout=T_CELL)
    assert _errors(panel.locator(".jp-CodeCell", has_text="Visible checks for normalize")).count() == 0
    ok.scroll_into_view_if_needed()
    _shot(pg, "2-lesson01-exercise-passed")
    lap("2 exercise")

    # 3. nbgrader's Validate (the Lab extension's toolbar button) and its Validation Results dialog.
    panel.locator(".validate-button").first.click()
    dialog = pg.locator(".jp-Dialog", has_text="Validation Results")
    dialog.wait_for(timeout=T_VALIDATE)
    lab["seen"].update(_descendants(lab["pid"]))
    message = dialog.locator("#validation-message")
    classes = message.get_attribute("class") or ""
    text = message.inner_text()
    _shot(pg, "3-lesson01-validate")
    assert "validation-failed" in classes, f"two exercises are still unwritten, so Validate must fail:\n{text}"
    assert "The following cell failed" in text and "NotImplementedError" in text, text
    assert "Visible checks for to_grayscale" in text and "Visible checks for neighborhood" in text, text
    assert "Visible checks for normalize" not in text, f"the typed normalize should pass Validate:\n{text}"
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
    dialog.wait_for(state="detached", timeout=T_START)
    lap("3 validate")

    # 4. The solutions notebook: every code cell ran, no error anywhere, images rendered.
    solutions = _activate(pg, solutions_id)
    n_code = len([c for c in load(notebook(SOLUTIONS, FIGURES_LESSON))["cells"] if c["cell_type"] == "code"])
    pg.wait_for_function(
        """([id, n]) => { const p = [...document.getElementById(id).querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
                          return p.length === n && p.every(e => /\\[\\d+\\]/.test(e.textContent)); }""",
        arg=[solutions_id, n_code], timeout=T_VALIDATE)
    lab["seen"].update(_descendants(lab["pid"]))
    prompts = _prompts(pg, solutions_id)
    assert len(prompts) == n_code and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts), prompts
    errors = _errors(solutions)
    assert errors.count() == 0, "a cell of the solutions notebook shows an error:\n" + "\n".join(errors.all_inner_texts())[:2000]
    images = solutions.locator(".jp-OutputArea-output img")
    images.first.wait_for(timeout=T_CELL)
    rendered = pg.evaluate("imgs => imgs.filter(i => i.complete && i.naturalWidth > 0).length", images.element_handles())
    assert rendered >= 1, "no figure was rendered"
    images.last.scroll_into_view_if_needed()
    _shot(pg, "4-solutions-run-all")
    lap("4 run all (checks)")
    print(f"\nbrowser steps (s): {took}; {len(prompts)} solution cells ran, {rendered} images rendered")
