"""The canary (autograder/batch/canary.py): before grading anyone, the grader grades the
reference solution in the same sandbox and environment. A broken environment stops the
batch with exit 2 and one line naming the assignment, cell and error, instead of handing
the class zeros; a healthy batch grades as before, with cell time limits taken from the
reference. Broken environments are made for real: a venv symlinked from another clone,
the data folder hidden by a mount, a package hidden by a mount."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from conftest import REPO, SOLUTIONS, copy_as_submission, notebook

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox and the mounts need root (CI runs as root)")
DATA = Path("/usr/share/datasets/fashion-mnist")


def grade(subs, out, *extra, cwd=REPO, python=sys.executable, cache=None, wrap=(), env_extra=None):
    env = dict(os.environ)
    if cache is not None:
        env["AUTOGRADER_CACHE"] = str(cache)
    env.update(env_extra or {})
    return subprocess.run([*wrap, python, "-m", "autograder", "grade", str(subs), "--out", str(out), *extra],
                          cwd=cwd, capture_output=True, text=True, timeout=1800, env=env)


def rows(out):
    with open(out / "grades.csv") as f:
        return {r["student_id"]: r for r in csv.DictReader(f)}


def solved(subs, student, aid="01_pixels"):
    return copy_as_submission(notebook(SOLUTIONS, aid), subs, student, aid)


def with_cell(path: Path, grade_id: str, source: str) -> None:
    nb = nbformat.read(path, as_version=4)
    [cell] = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    cell.source = source
    nbformat.write(nb, path)


def in_mount_namespace(script: str) -> tuple[str, ...]:
    """A command prefix that runs the grader in a mount namespace of its own, after ``script``
    (mounts that hide something), so the machine itself is left untouched."""
    return ("unshare", "--mount", "--propagation", "private", "sh", "-ec", script + '\nexec "$@"', "sh")


# --- a healthy batch -----------------------------------------------------------------------
@root_only
def test_healthy_batch_is_graded_and_an_infinite_loop_ends_at_the_canary_limit(tmp_path):
    subs, out, cache = tmp_path / "subs", tmp_path / "out", tmp_path / "cache"
    solved(subs, "ana")
    with_cell(solved(subs, "looper"), "neighborhood",
              "def neighborhood(image, row, col, size=3):\n    while True:\n        pass")
    proc = grade(subs, out, "--jobs", "2", cache=cache)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"canary 01_pixels: passed in [\d.]+ s; cell time limits 30–\d+ s", proc.stdout), proc.stdout
    got = rows(out)
    assert got["ana"]["status"] == "graded" and got["ana"]["auto_score"] == got["ana"]["auto_max_score"] == "8"
    assert got["looper"]["status"] == "timeout in Exercise 1.3 · neighborhood", got["looper"]
    assert got["looper"]["auto_score"] == "5", got["looper"]
    # The loop was stopped at the limit the canary set for that cell (max(30 s, 10 × the
    # reference's time)), not at --cell-timeout's 600 s.
    nb = nbformat.read(out / "autograded" / "looper" / "01_pixels" / "01_pixels.ipynb", as_version=4)
    stops = [o["evalue"] for c in nb.cells for o in c.get("outputs", []) if o.get("ename") == "CellTimeoutError"]
    assert stops, "the looping cell has no timeout error"
    limit = int(re.search(r"longer than (\d+) s", stops[0]).group(1))
    assert 30 <= limit < 600, stops[0]
    # The canary's result is cached: a repeated batch does not grade the reference again.
    again = grade(subs, tmp_path / "out2", "--assignment", "01_pixels", "--roster", str(_roster(tmp_path, "ana")),
                  cache=cache)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "canary 01_pixels: passed (cached from" in again.stdout, again.stdout
    assert len(list(cache.glob("canary/01_pixels-*.json"))) == 1


def _roster(tmp_path, *students):
    path = tmp_path / "roster.csv"
    path.write_text("student_id\n" + "".join(f"{s}\n" for s in students))
    return path


# --- broken environments -------------------------------------------------------------------------
@root_only
def test_missing_data_stops_the_batch_before_any_student(tmp_path):
    if not DATA.is_dir():
        pytest.skip(f"{DATA} is not installed (CI installs dataset-fashion-mnist)")
    subs, out = tmp_path / "subs", tmp_path / "out"
    solved(subs, "ana")
    empty_home = tmp_path / "keras-home"
    empty_home.mkdir()
    proc = grade(subs, out, cache=tmp_path / "cache",
                 wrap=in_mount_namespace(f"mount -t tmpfs nodata {DATA}"),
                 env_extra={"KERAS_HOME": str(empty_home), "FASHION_MNIST_DIR": ""})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert re.search(r"canary 01_pixels: cell \d+ raised DataError: Fashion-MNIST could not be loaded", proc.stderr), \
        proc.stderr
    assert "No student was graded" in proc.stderr
    assert not (out / "grades.csv").exists() and not (out / ".results" / "ana").exists()
    # Without the canary, the same failure in released code that runs before any of the
    # student's (the data loading) still stops the batch instead of scoring ana 0.
    midway = grade(subs, out, "--no-canary", cache=tmp_path / "cache",
                   wrap=in_mount_namespace(f"mount -t tmpfs nodata {DATA}"),
                   env_extra={"KERAS_HOME": str(empty_home), "FASHION_MNIST_DIR": ""})
    assert midway.returncode == 2, midway.stdout + midway.stderr
    assert re.search(r"grading stopped: ana 01_pixels: cell \d+ \(released code, before any of the student's\) "
                     r"raised DataError", midway.stderr), midway.stderr
    assert "the grading environment broke during the batch" in midway.stderr
    assert not (out / "grades.csv").exists() and not (out / ".results" / "ana").exists()


@root_only
def test_missing_package_stops_the_batch_naming_the_module(tmp_path):
    site = Path(sysconfig.get_paths()["purelib"])
    assert (site / "scipy").is_dir()
    subs, out = tmp_path / "subs", tmp_path / "out"
    solved(subs, "ana", "02_convolution")
    proc = grade(subs, out, cache=tmp_path / "cache", wrap=in_mount_namespace(f"mount -t tmpfs noscipy {site / 'scipy'}"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    # An empty folder where scipy was is a namespace package: `from scipy import signal` fails.
    assert re.search(r"canary 02_convolution: cell \d+ \(test_\w+\) raised ImportError: cannot import name 'signal' "
                     r"from 'scipy'", proc.stderr), proc.stderr
    assert not (out / "grades.csv").exists()


@root_only
def test_a_kernel_that_cannot_start_stops_the_batch_and_a_rerun_grades(tmp_path):
    """Mid-batch (no canary, or a cached one), a kernel that does not start has run none of
    the student's code: the environment broke. The batch stops and nobody is marked
    ungradable; a rerun in a healthy environment grades everyone. ipykernel is hidden by a
    mount."""
    site = Path(sysconfig.get_paths()["purelib"])
    assert (site / "ipykernel").is_dir()
    subs, out = tmp_path / "subs", tmp_path / "out"
    solved(subs, "ana")
    solved(subs, "ben")
    broken = grade(subs, out, "--no-canary", "--jobs", "1", cache=tmp_path / "cache",
                   wrap=in_mount_namespace(f"mount -t tmpfs noipykernel {site / 'ipykernel'}"))
    assert broken.returncode == 2, broken.stdout + broken.stderr
    assert re.search(r"grading stopped: (ana|ben) 01_pixels: the kernel did not start: \w+", broken.stderr), broken.stderr
    assert "A student's kernel did not start, before any of the student's code ran" in broken.stderr
    assert "ungradable" not in broken.stdout + broken.stderr
    assert not (out / "grades.csv").exists() and not list((out / ".results").rglob("*.json"))
    healthy = grade(subs, out, "--jobs", "1", cache=tmp_path / "cache")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert {s: r["status"] for s, r in rows(out).items()} == {"ana": "graded", "ben": "graded"}


@root_only
def test_venv_symlinked_from_another_clone_grades_with_this_checkouts_package(tmp_path):
    """Two checkouts share one venv: the second clone's .venv is a symlink to the first's,
    whose editable install points into the first clone. The kernel must import the course
    package the way the grader does (from the checkout being graded), so the batch grades
    normally. Before, the jail showed the clone's cnnkit while the kernel looked in the other
    clone's, and every student got 0 with status `graded`."""
    clone = tmp_path / "clone"
    caches = shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints", "submitted", "autograded", "feedback",
                                    "gradebook.db")
    for part in ("autograder", "cnnkit", "solutions"):  # what grading needs of a checkout
        shutil.copytree(REPO / part, clone / part, ignore=caches)
    shutil.copy2(REPO / "pyproject.toml", clone / "pyproject.toml")
    (clone / ".venv").symlink_to(REPO / ".venv")
    # Mark the clone's package, to see which one the kernel imported.
    checks = clone / "cnnkit" / "checks.py"
    checks.write_text(checks.read_text().replace("all visible checks passed", "all visible checks passed (clone)"))
    assert "(clone)" in checks.read_text()
    subs, out = tmp_path / "subs", tmp_path / "out"
    solved(subs, "ana")
    proc = grade(subs, out, cwd=clone, python=str(clone / ".venv" / "bin" / "python"), cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "canary 01_pixels: passed" in proc.stdout
    row = rows(out)["ana"]
    assert row["status"] == "graded" and row["auto_score"] == "8", row
    text = (out / "autograded" / "ana" / "01_pixels" / "01_pixels.ipynb").read_text()
    assert "all visible checks passed (clone)" in text, "the kernel did not import the graded checkout's cnnkit"


# --- the pieces, without a kernel ----------------------------------------------------------------
def test_limits_give_training_cells_the_time_they_need():
    from autograder.batch import canary

    per, other = canary.limits({"test_normalize": 0.4, "sha1:aaaa": 0.01, "train_cnn": 18.2, "sha1:big": 95.0}, 600)
    assert per["test_normalize"] == 30 and per["sha1:aaaa"] == 30       # the floor
    assert per["train_cnn"] == 182                                       # 10 × the reference
    assert per["sha1:big"] == 600                                        # capped by --cell-timeout
    assert other == 600                                                  # an added cell: the largest limit
    assert canary.limits({}, 600) == ({}, 30)


def test_failure_names_assignment_cell_and_error():
    from dataclasses import replace

    from autograder.batch import canary
    from autograder.job.contract import JobResult

    grades = [{"auto_score": 0.0, "needs_manual_grade": False}, {"auto_score": None, "needs_manual_grade": True}]
    result = JobResult(ok=True, grades=grades, timeouts=[], crashes=[],
                       first_error={"index": 3, "grade_id": "", "ename": "ModuleNotFoundError",
                                    "evalue": "No module named 'cnnkit'"})
    assert canary.failure("02_convolution", result, 10.0) == \
        "canary 02_convolution: cell 3 raised ModuleNotFoundError: No module named 'cnnkit'"
    full = JobResult(ok=True, grades=[{"auto_score": 10.0, "needs_manual_grade": False}], timeouts=[], crashes=[],
                     first_error=None)
    assert canary.failure("02_convolution", full, 10.0) is None
    assert "scored 7 of 10" in canary.failure("x", replace(full, grades=[{"auto_score": 7.0, "needs_manual_grade": False}]), 10)
    assert "could not be graded: kernel died" in canary.failure("x", JobResult(ok=False, reason="kernel died"), 10)


def test_fingerprint_changes_with_the_environment(tmp_path, monkeypatch):
    from autograder.batch import canary

    site_dir = tmp_path / "site-packages"
    (site_dir / "scipy").mkdir(parents=True)
    monkeypatch.setattr(canary.site, "getsitepackages", lambda: [str(site_dir)])
    data = tmp_path / "data.gz"
    data.write_bytes(b"x")
    base = canary.fingerprint({"mode": "fast"}, [str(data)])
    assert canary.fingerprint({"mode": "fast"}, [str(data)]) == base
    assert canary.fingerprint({"mode": "full"}, [str(data)]) != base
    assert canary.fingerprint({"mode": "fast"}, []) != base                     # data gone
    (site_dir / "newpkg").mkdir()
    assert canary.fingerprint({"mode": "fast"}, [str(data)]) != base            # a package installed
    now = canary.fingerprint({"mode": "fast"}, [str(data)])
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert canary.fingerprint({"mode": "fast"}, [str(data)]) != now            # another Keras backend


def test_an_error_in_released_code_before_any_student_code_blames_the_environment(tmp_path):
    """Mid-batch, a failure in a released cell that runs before any of the student's code
    (the imports, the data loading) stops the batch instead of scoring the student 0."""
    from autograder.job.worker import _executed

    source = nbformat.read(notebook(SOLUTIONS, "01_pixels"), as_version=4)
    src_path = tmp_path / "source.ipynb"
    nbformat.write(source, src_path)

    def executed(mutate) -> dict:
        nb = nbformat.read(notebook(SOLUTIONS, "01_pixels"), as_version=4)
        mutate(nb)
        path = tmp_path / "executed.ipynb"
        nbformat.write(nb, path)
        return _executed(path, src_path)["first_error"]

    def error_in(nb, index, edit=None):
        cell = nb.cells[index - 1]
        if edit:
            cell.source = edit
        cell.outputs = [nbformat.v4.new_output("error", ename="DataError", evalue="Fashion-MNIST could not be loaded",
                                               traceback=[])]

    loading = next(i for i, c in enumerate(source.cells, 1) if "load_fashion_mnist()" in c.source and c.cell_type == "code")
    first = executed(lambda nb: error_in(nb, loading))
    assert first["index"] == loading and first["environment"] is True and first["ename"] == "DataError"
    # The student edited that cell: their doing, not the environment's.
    assert executed(lambda nb: error_in(nb, loading, edit="raise ValueError"))["environment"] is False
    # An error in a test cell, after the student's code ran: a wrong answer.
    test = next(i for i, c in enumerate(source.cells, 1) if c.metadata.get("nbgrader", {}).get("grade_id") == "test_normalize")
    assert executed(lambda nb: error_in(nb, test))["environment"] is False
    assert executed(lambda nb: None) is None
