"""The students' install path without make (Windows, macOS, Linux without make), as the
README writes it.

The commands come from the README itself: the fenced block after the marker
``<!-- no-make-posix … -->`` (``no-make-windows`` on Windows), so README and test cannot
drift apart. They run one by one in a fresh copy of the course (the files git would
hand out), with three substitutions and nothing else:

- the first command's interpreter (``python3.12 -m venv .venv``, ``py -3.12 -m venv .venv``)
  becomes the one running this test, so each Python of the CI matrix is the one tried;
- ``cd DIR`` changes the folder of the next commands, as a terminal would;
- ``… jupyter lab`` gets ``--version``: it must start from that folder with that path,
  but not serve (tests/course/test_browser.py drives a served JupyterLab).

Offline: pip installs from its cache (or the index, on CI), and the data comes from a
Keras cache of its own (``$KERAS_HOME``), with ``FASHION_MNIST_NO_DOWNLOAD`` set, as on a
Windows or macOS machine after Keras's download. On Linux, ``make``, ``bash``, ``apt-get``
and ``sudo`` are shadowed on ``PATH`` by stubs that fail loudly: the path must need none of them.

Then the new environment must import cnnkit (from the copy), keras and TensorFlow; give
nbgrader's Validate handler the 600 s cell timeout, loaded exactly as the handler loads it;
hide nbgrader's instructor plugins; and check a lesson with ``python -m autograder check``.
It takes about two minutes (the pip install is most of it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cnnkit import data
from cnnkit.setup import INSTRUCTOR_PLUGINS, VALIDATE_TIMEOUT
from conftest import REPO

WINDOWS = sys.platform == "win32"
MARKER = "no-make-windows" if WINDOWS else "no-make-posix"
STUBBED = ("make", "bash", "apt-get", "sudo")


def readme_commands(text: str, marker: str = MARKER) -> list[str]:
    """The commands of the fenced block right after ``<!-- MARKER … -->`` (blank lines and
    whole-line ``#`` comments dropped)."""
    m = re.search(rf"<!--\s*{re.escape(marker)}\b[^>]*-->\s*\n```[\w-]*\n(.*?)\n```", text, re.S)
    assert m, f"README.md has no fenced block after <!-- {marker} … -->"
    commands = [line.strip() for line in m.group(1).splitlines()]
    return [c for c in commands if c and not c.startswith("#")]


def test_readme_blocks_are_parallel():
    """The two spellings hold the same steps: Windows's is the POSIX one with ``.venv\\Scripts\\``
    for ``.venv/bin/`` and backslashes, except for the interpreter that creates the venv."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    posix, windows = readme_commands(text, "no-make-posix"), readme_commands(text, "no-make-windows")
    assert len(posix) == len(windows), (posix, windows)
    assert " -m venv .venv" in posix[0] and any("-r requirements.txt" in c for c in posix)
    assert posix[-1].endswith("jupyter lab")
    for p, w in zip(posix, windows):
        if " -m venv " in p:
            assert p.split(" -m venv ")[1] == w.split(" -m venv ")[1], (p, w)
        else:
            assert p.replace(".venv/bin/", ".venv/Scripts/").replace("/", "\\") == w, (p, w)


def _fresh_copy(dest: Path) -> None:
    """The course as a student gets it: tracked files, plus new ones git does not ignore."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a clone, to know which files a student gets")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():  # skips files deleted in the working tree
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def _keras_cache_with_data(keras_home: Path) -> None:
    """A Keras cache holding the four files, as Keras's own download leaves it."""
    found = data.find_data_dir()
    if found is None:
        pytest.fail("Fashion-MNIST is not on this machine: make data (Linux) or "
                    "python -m cnnkit.setup data (with internet) first", pytrace=False)
    cache = keras_home / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    for name in data.FILES.values():
        shutil.copy(found[1] / name, cache / name)  # copies, not links: as downloaded


def _stubs(folder: Path, log: Path) -> None:
    folder.mkdir()
    for name in STUBBED:
        stub = folder / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\necho "stub: the no-make path ran {name}" >&2\nexit 97\n')
        stub.chmod(0o755)


def run(cmd: str | list[str], cwd: Path, env: dict, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, shell=isinstance(cmd, str), cwd=cwd, env=env, capture_output=True,
                          text=True, encoding="utf-8", errors="replace", timeout=timeout)


def test_no_make_path_from_readme(tmp_path):
    start = time.monotonic()
    course, keras_home = tmp_path / "course", tmp_path / "keras"
    _fresh_copy(course)
    _keras_cache_with_data(keras_home)
    commands = readme_commands((course / "README.md").read_text(encoding="utf-8"))

    env = {k: v for k, v in os.environ.items() if k not in ("FASHION_MNIST_DIR", "VIRTUAL_ENV", "PYTHONPATH")}
    env.update(KERAS_HOME=str(keras_home), FASHION_MNIST_NO_DOWNLOAD="1",
               JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),  # no user-level config can help
               PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONUTF8="1")
    stub_log = tmp_path / "stubs.log"
    if not WINDOWS:
        _stubs(tmp_path / "stubs", stub_log)
        env["PATH"] = f"{tmp_path / 'stubs'}{os.pathsep}{env.get('PATH', '')}"

    cwd, outputs = course, {}
    for cmd in commands:
        words = cmd.split()
        if words[0] == "cd":
            cwd = (cwd / words[1]).resolve()
            assert cwd.is_dir(), f"README step `{cmd}`: no folder {cwd}"
            continue
        ran = cmd
        if " -m venv " in cmd:
            ran = f'"{sys.executable}" -m venv {cmd.split(" -m venv ", 1)[1]}'
        if cmd.endswith("jupyter lab"):
            ran = cmd + " --version"
        t0 = time.monotonic()
        result = run(ran, cwd, env)
        print(f"{time.monotonic() - t0:6.1f} s  {ran}")
        assert result.returncode == 0, (f"README step `{cmd}` failed (exit {result.returncode}) in {cwd}:\n"
                                        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        outputs[cmd] = result
    assert not stub_log.exists(), f"the no-make path ran {stub_log.read_text()}"

    py = course / ".venv" / ("Scripts/python.exe" if WINDOWS else "bin/python")
    assert py.is_file(), f"the README's steps made no {py}"

    # cnnkit (editable, from this copy), keras and TensorFlow import; the data is found offline in the Keras cache.
    probe = run([str(py), "-c", "import cnnkit, keras, tensorflow as tf, cnnkit.data as d; "
                 "(x, y), _ = d.load_fashion_mnist(); "
                 "print(cnnkit.__file__, keras.__version__, tf.__version__, x.shape, d.find_data_dir()[0], sep='|')"],
                course, env, timeout=300)
    assert probe.returncode == 0, probe.stderr[-3000:]
    cnnkit_file, keras_version, _, shape, where = probe.stdout.strip().splitlines()[-1].split("|")
    assert Path(cnnkit_file).resolve().is_relative_to(course.resolve()), cnnkit_file
    assert f"keras=={keras_version}" in (REPO / "requirements.txt").read_text(), keras_version
    assert (shape, where) == ("(60000, 28, 28)", "Keras cache")

    # `jupyter lab --version` printed the pinned JupyterLab.
    lab_version = next(r.stdout for cmd, r in outputs.items() if cmd.endswith("jupyter lab")).strip().splitlines()[-1]
    assert f"jupyterlab=={lab_version}" in (REPO / "requirements.txt").read_text(), lab_version

    # nbgrader's Validate button, its config loaded exactly as its handler loads it, from lessons/ (where JupyterLab runs).
    validate = run([str(py), "-c", "from nbgrader.server_extensions.validate_assignment.handlers import "
                    "ValidateAssignmentHandler as H; print(H.load_config(None).Execute.timeout)"],
                   course / "lessons", env, timeout=300)
    assert validate.stdout.strip().splitlines()[-1:] == [str(VALIDATE_TIMEOUT)], (
        f"nbgrader Validate's cell timeout is not {VALIDATE_TIMEOUT} s on the no-make path:\n"
        f"{validate.stdout[-2000:]}\n{validate.stderr[-2000:]}")
    page_config_file = course / ".venv" / "etc" / "jupyter" / "labconfig" / "page_config.json"
    page_config = json.loads(page_config_file.read_text()) if page_config_file.is_file() else {"disabledExtensions": {}}
    assert all(page_config["disabledExtensions"].get(p) for p in INSTRUCTOR_PLUGINS), page_config
    setup_output = [r.stdout for cmd, r in outputs.items() if "cnnkit.setup" in cmd]
    assert setup_output and "Fashion-MNIST found (Keras cache)" in setup_output[0], setup_output

    # A student checks a lesson: the solved lesson 01 passes every visible test.
    nb = Path("solutions") / "01_pixels" / "01_pixels.ipynb"
    check = run([str(py), "-m", "autograder", "check", str(nb)], course, env, timeout=600)
    assert check.returncode == 0 and "✅" in check.stdout, f"{check.stdout[-3000:]}\n{check.stderr[-3000:]}"
    print(f"no-make path: {time.monotonic() - start:.1f} s in all")
    shutil.rmtree(course / ".venv", ignore_errors=True)  # 2.2 GB; pytest keeps its last 3 tmp folders (kept when failed)
