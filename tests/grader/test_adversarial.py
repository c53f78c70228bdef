"""The grader against a class that breaks and attacks it (issue: "Autograder that
survives real classes"). One batch of 28 lesson-01 submissions (tests/grader/adversarial.py)
goes through the real `python -m autograder grade --jobs 2`, sandboxed; each case
asserts its row. Then: --jobs 1 gives the honest students the same grades, a rerun
reuses finished work, and a batch killed mid-way loses nothing."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

import adversarial as adv
from conftest import REPO, SOLUTIONS, copy_as_submission, html_text, notebook

CELL_TIMEOUT = "45"


def job_uids(stdout: str) -> list[int]:
    """The uids a batch's kernels ran as (claimed per batch, so that two batches on one
    machine never share one), from the batch's header line."""
    m = re.search(r"sandboxed \(job uids ([\d, ]+)\)", stdout)
    assert m, f"no job uids in the batch header:\n{stdout}"
    return [int(u) for u in m.group(1).split(", ")]


def leftovers(uids) -> dict[int, list[str]]:
    found = {uid: subprocess.run(["pgrep", "-u", str(uid)], capture_output=True, text=True).stdout.split()
             for uid in uids}
    return {uid: pids for uid, pids in found.items() if pids}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root (CI runs as root)")


def read_rows(out):
    with open(out / "grades.csv") as f:
        return {r["student_id"]: r for r in csv.DictReader(f)}


def grade(subs, out, *extra, timeout=1800, env=None):
    return subprocess.run([sys.executable, "-m", "autograder", "grade", str(subs), "--out", str(out),
                           "--cell-timeout", CELL_TIMEOUT, *extra], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    subs = tmp_path_factory.mktemp("corpus")
    out = tmp_path_factory.mktemp("corpus-out")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.5)
    connections = []

    def accept():
        end = time.time() + 3600
        while time.time() < end:
            try:
                connections.append(server.accept())
            except OSError:
                if server.fileno() == -1:
                    return

    threading.Thread(target=accept, daemon=True).start()
    secrets = {"solutions": str(notebook(SOLUTIONS, adv.AID)), "config": str(REPO / "autograder" / "nbgrader_config.py"),
               "other-student": str(subs / "honest_full" / adv.AID / f"{adv.AID}.ipynb"),
               "git": str(REPO / ".git" / "HEAD"), "grader-home": os.path.expanduser("~/.bashrc")}
    expected = adv.build(subs, server.getsockname()[1], secrets, str(REPO))
    roster = tmp_path_factory.mktemp("roster") / "roster.csv"
    roster.write_text("student_id\n" + "\n".join([*expected, "ghost"]) + "\n")
    start = time.monotonic()
    proc = grade(subs, out, "--jobs", "2", "--roster", str(roster))
    seconds = time.monotonic() - start
    server.close()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print(f"\nadversarial batch: {len(expected) + 1} rows in {seconds:.0f} s with --jobs 2\n{proc.stdout}")
    return {"subs": subs, "out": out, "rows": read_rows(out), "expected": expected, "stdout": proc.stdout,
            "connections": connections, "roster": roster}


def test_corpus_is_complete(corpus):
    assert list(corpus["expected"]) == adv.CASES
    assert len(adv.CASES) >= 20
    assert set(corpus["rows"]) == {*adv.CASES, "ghost"}, "every roster student gets exactly one row"


@pytest.mark.parametrize("student", adv.CASES)
def test_case(corpus, student):
    row, exp = corpus["rows"][student], corpus["expected"][student]
    assert adv.matches(row["status"], exp.status), f"{student} ({exp.why}): status {row['status']!r}, expected {exp.status!r}"
    if exp.auto is not None:
        assert float(row["auto_score"]) == exp.auto, f"{student} ({exp.why}): auto_score {row['auto_score']}, expected {exp.auto}"
    assert float(row["max_score"]) == 10 and float(row["auto_max_score"]) == 8, "points come from the release"


def test_roster_student_without_folder_is_missing(corpus):
    assert corpus["rows"]["ghost"]["status"] == "missing"


def executed(corpus, student) -> str:
    """Everything the student's kernel printed (outputs only, not the code)."""
    nb = nbformat.read(corpus["out"] / "autograded" / student / adv.AID / f"{adv.AID}.ipynb", as_version=4)
    return "\n".join(str(o.get("text", "")) + str(o.get("evalue", "")) for c in nb.cells for o in c.get("outputs", []))


def test_nothing_leaks_to_a_student_kernel(corpus):
    text = executed(corpus, "c14_read_secrets")
    assert "BLOCKED solutions" in text and "BLOCKED other-student" in text and "BLOCKED gradebook-search" in text
    assert "LEAK" not in text, [ln for ln in text.splitlines() if "LEAK" in ln]


def test_no_network(corpus):
    text = executed(corpus, "c15_network")
    assert "BLOCKED tcp-loopback" in text and "BLOCKED http-loopback" in text and "BLOCKED dns" in text
    assert "LEAK" not in text
    assert corpus["connections"] == [], "a student kernel reached the host's loopback server"


def test_fork_bomb_capped_and_nothing_survives(corpus):
    assert "fork capped after" in executed(corpus, "c16_fork_bomb")
    assert not leftovers(job_uids(corpus["stdout"])), "processes of a job uid outlived grading"


def test_output_flood_truncated(corpus):
    path = corpus["out"] / "autograded" / "c10_output_flood" / adv.AID / f"{adv.AID}.ipynb"
    assert path.stat().st_size < 8 * 2**20, f"flooded notebook kept {path.stat().st_size:,} bytes"
    assert "output truncated" in path.read_text()


def test_fake_result_files_ignored(corpus):
    folder = corpus["out"] / "autograded" / "c17_fake_results" / adv.AID
    assert sorted(p.name for p in folder.iterdir()) == [f"{adv.AID}.ipynb"]
    feedback = corpus["out"] / "feedback" / "c17_fake_results" / adv.AID / f"{adv.AID}.html"
    assert not feedback.read_text().startswith("<h1>FAKE"), "the student's fake feedback replaced the grader's"
    assert sorted(p.name for p in feedback.parent.iterdir()) == [f"{adv.AID}.html"]
    assert "Score: 8.0 / 10.0" in html_text(feedback)


def test_kernel_restarts_are_noted(corpus):
    rows = {r["student_id"]: r for r in json.loads((corpus["out"] / "grades.json").read_text())}
    assert any("kernel died" in n for n in rows["c11a_os_exit"]["notes"])
    assert any("renamed" in n or "01_pixels-Copy1.ipynb" in n for n in rows["c19b_renamed"]["notes"])
    assert any("scratch.ipynb" in n for n in rows["c19a_extra_notebook"]["notes"])


def test_rerun_reuses_finished_work(corpus):
    proc = grade(corpus["subs"], corpus["out"], "--jobs", "2", "--roster", str(corpus["roster"]))
    assert proc.returncode == 0, proc.stderr
    again = read_rows(corpus["out"])
    for student, row in corpus["rows"].items():
        assert again[student] == row, f"{student} changed on a rerun"
    # A rerun skips graded work (a file per finished job in .results/), it does not redo it.
    notes = {r["student_id"]: r["notes"] for r in json.loads((corpus["out"] / "grades.json").read_text())}
    graded = [s for s, r in again.items() if r["status"] != "missing"]
    assert graded and all("reused from an earlier run" in notes[s] for s in graded), \
        [s for s in graded if "reused from an earlier run" not in notes[s]]


def test_jobs_1_gives_the_same_grades_and_a_killed_batch_resumes(corpus, tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    for student in ("honest_full", "honest_partial"):
        src = corpus["subs"] / student / adv.AID / f"{adv.AID}.ipynb"
        copy_as_submission(src, subs, student, adv.AID)
    killed_tmp, log = tmp_path / "killed-tmp", tmp_path / "killed.out"
    killed_tmp.mkdir()
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(subs), "--out", str(out), "--jobs", "1",
                                 "--cell-timeout", CELL_TIMEOUT],
                                cwd=REPO, stdout=f, stderr=subprocess.STDOUT, start_new_session=True,
                                env=dict(os.environ, TMPDIR=str(killed_tmp)))
    # Kill the grader while it grades the second notebook: the first job's result is saved
    # and the second job's kernel runs as the slot's uid.
    results, uid = out / ".results", None
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        if uid is None and "job uids" in log.read_text():
            uid = job_uids(log.read_text())[0]
        if uid is not None and results.is_dir() and any(results.rglob("*.json")) and leftovers([uid]):
            break
        time.sleep(0.05)
    workers = subprocess.run(["pgrep", "-P", str(proc.pid), "-f", "autograder.job.worker"],
                             capture_output=True, text=True).stdout.split()
    os.killpg(proc.pid, signal.SIGKILL)  # the grader's group: its workers run in sessions of their own
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the grader ended before the second job was caught running:\n{log.read_text()}"
    assert workers, "no grading worker found under the grader"
    finished = sorted(p.parent.name for p in results.rglob("*.json"))
    assert finished, "the first job should have finished before the kill"
    # Its workers and their kernels stop with it, mid-job: nothing of the killed batch goes on
    # to finish the second job (and then sweep the uid, which the rerun may hold by then).
    gone_by = time.time() + 60  # they leave within seconds; this only bounds the wait
    while time.time() < gone_by and (leftovers([uid]) or any(Path(f"/proc/{w}").exists() for w in workers)):
        time.sleep(0.1)
    assert not leftovers([uid]), "the killed batch's kernel outlived it"
    done_after_kill = list(killed_tmp.rglob("result.json"))
    assert not done_after_kill, f"a worker of the killed grader went on and finished a job: {done_after_kill}"
    left = sorted(p.name for p in killed_tmp.glob("autograder-*"))
    assert left, "the killed grader's scratch folders should still be there"
    rerun = grade(subs, out, "--jobs", "1", env=dict(os.environ, TMPDIR=str(killed_tmp)))
    assert rerun.returncode == 0, rerun.stderr
    # The rerun removed the scratch folders (copies of the release and the submissions) that
    # the killed grader could not, and its own.
    assert not list(killed_tmp.glob("autograder-*")), f"left in the temporary folder: {left}"
    rows = read_rows(out)
    for student in ("honest_full", "honest_partial"):
        mine, theirs = rows[student], corpus["rows"][student]
        assert (mine["score"], mine["auto_score"], mine["status"]) == (theirs["score"], theirs["auto_score"], theirs["status"]), (
            f"{student}: --jobs 1 after a kill gave {mine}, --jobs 2 gave {theirs}")
    notes = {r["student_id"]: r["notes"] for r in json.loads((out / "grades.json").read_text())}
    reused = sorted(s for s, n in notes.items() if "reused from an earlier run" in n)
    assert reused == finished, f"the rerun should reuse exactly the jobs finished before the kill: {reused} vs {finished}"
    assert not leftovers(job_uids(rerun.stdout)), "processes of a job uid outlived the batch"
