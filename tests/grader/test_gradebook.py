"""The course gradebook (autograder/gradebook/), against real servers: a Canvas zip graded
into SQLite and the same class into PostgreSQL give the same exports; the formgrader (a real
Jupyter server with nbgrader's extension) lists every submission and takes a manual grade
that a forced regrade keeps; two grade processes write one PostgreSQL database at once; a
database outage mid-batch is retried, or stops the batch cleanly for a rerun to finish.

PostgreSQL is Debian's, started by testbed/pgserver.py as an unprivileged user on a Unix
socket in a temp dir, and stopped by PID."""

from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
from nbgrader.api import Gradebook
from sqlalchemy import text

from conftest import LESSONS, REPO, SOLUTIONS, notebook, run_autograder
from testbed.pgserver import pg_server_fixture

pg = pytest.fixture(scope="module")(pg_server_fixture)

WRONG_NORMALIZE = ("np.asarray(image).astype(np.float32) / np.float32(255)", "np.asarray(image) / 256")
# student_id, first name, last name, Canvas user id; what each hands in for 01 and 07
CLASS = [("ada", "Ada", "Lovelace", "1001", "solution", "solution"),
         ("ben", "Ben", "Okafor", "1002", "wrong_normalize", "blank"),
         ("cy", "Cy", "Ng", "1003", "blank", "solution")]
AIDS = ["01_pixels", "08_lenet"]


def _version(kind: str, aid: str) -> bytes:
    if kind == "solution":
        return notebook(SOLUTIONS, aid).read_bytes()
    if kind == "blank":
        return notebook(LESSONS, aid).read_bytes()
    text = notebook(SOLUTIONS, aid).read_text()
    assert WRONG_NORMALIZE[0] in text
    return text.replace(*WRONG_NORMALIZE).encode()


def _grade(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = run_autograder("grade", *args) if env is None else subprocess.run(
        [sys.executable, "-m", "autograder", "grade", *args], cwd=REPO, capture_output=True, text=True,
        timeout=3000, env=env)
    assert proc.returncode == 0, f"grade failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _export(url: str, fmt: str, out: Path) -> str:
    proc = run_autograder("export", "--format", fmt, "--db", url, "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out.read_text()


def _csv(text: str) -> list[dict]:
    return list(csv.DictReader(text.splitlines()))


@pytest.fixture(scope="module")
def graded(tmp_path_factory, pg):
    """The class as an LMS hands it over: a Canvas zip (plus a stray PDF and a student not on
    the roster), graded into SQLite; then the unpacked folder graded into PostgreSQL."""
    root = tmp_path_factory.mktemp("gradebook")
    archive = root / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for sid, first, last, lms, v01, v07 in CLASS:
            for aid, kind in zip(AIDS, (v01, v07)):
                z.writestr(f"{last.lower()}{first.lower()}_{lms}_{int(lms) + 5000}_{aid}.ipynb", _version(kind, aid))
        z.writestr("lovelaceada_1001_6001_notes.pdf", b"%PDF-1.4")
        z.writestr("stranger_9999_9999_01_pixels.ipynb", _version("solution", "01_pixels"))
    roster = root / "roster.csv"
    with open(roster, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student_id", "first_name", "last_name", "email", "lms_id"])
        for sid, first, last, lms, *_ in CLASS:
            w.writerow([sid, first, last, f"{sid}@example.org", lms])

    sqlite_url = f"sqlite:///{root / 'course.db'}"
    lite = _grade("--from-zip", str(archive), "--names", "canvas", "--roster", str(roster), "--out",
                  str(root / "out-sqlite"), "--db", sqlite_url, "--course-dir", str(root / "course-sqlite"),
                  "--jobs", "2")
    pg.create_database("course")
    pg_url = pg.url("course")
    post = _grade(str(root / "out-sqlite" / "submissions"), "--roster", str(roster), "--out", str(root / "out-pg"),
                  "--db", pg_url, "--course-dir", str(root / "course-pg"), "--jobs", "2")
    return {"root": root, "sqlite": sqlite_url, "pg": pg_url, "roster": roster, "lite": lite, "post": post}


def test_zip_files_that_match_no_student_are_reported(graded):
    out = graded["lite"].stdout
    assert "lovelaceada_1001_6001_notes.pdf" in out and "stranger_9999_9999_01_pixels.ipynb" in out, out
    assert "9999" in out.split("stranger_9999_9999_01_pixels.ipynb", 1)[1].splitlines()[0]
    placed = sorted(p.relative_to(graded["root"] / "out-sqlite" / "submissions").as_posix()
                    for p in (graded["root"] / "out-sqlite" / "submissions").rglob("*.ipynb"))
    assert placed == [f"{sid}/{aid}/{aid}.ipynb" for sid, *_ in CLASS for aid in AIDS]


def test_sqlite_and_postgres_give_identical_exports(graded, tmp_path):
    for fmt in ("nbgrader", "canvas"):
        lite = _export(graded["sqlite"], fmt, tmp_path / f"lite-{fmt}.csv")
        post = _export(graded["pg"], fmt, tmp_path / f"pg-{fmt}.csv")
        assert lite == post, f"{fmt} export differs:\n{lite}\n---\n{post}"
    rows = {(r["student_id"], r["assignment"]): r for r in _csv(_export(graded["pg"], "nbgrader", tmp_path / "n.csv"))}
    # the merged scores are the batch's: ada full autograded marks, ben loses normalize, blanks 0
    grades = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(open(graded["root"] / "out-pg" / "grades.csv"))}
    for key, row in grades.items():
        assert float(rows[key]["raw_score"]) == float(row["score"]), (key, rows[key], row)
    assert float(rows[("ada", "01_pixels")]["raw_score"]) == 8.0
    assert float(rows[("ben", "01_pixels")]["raw_score"]) < 8.0
    assert float(rows[("cy", "01_pixels")]["raw_score"]) == 0.0
    assert rows[("ada", "01_pixels")]["email"] == "ada@example.org" and rows[("ada", "01_pixels")]["last_name"] == "Lovelace"


def test_formgrader_sees_the_class(graded):
    """The executed notebooks are where nbgrader's formgrader looks for them."""
    for sid, *_ in CLASS:
        for aid in AIDS:
            assert (graded["root"] / "course-pg" / "autograded" / sid / aid / f"{aid}.ipynb").is_file()
            assert (graded["root"] / "course-pg" / "feedback" / sid / aid / f"{aid}.html").is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def formgrader(graded):
    """A real Jupyter server with nbgrader's formgrader, started in the course folder with the
    course config (autograder/nbgrader_config.py) and the PostgreSQL course gradebook."""
    port, token = _free_port(), secrets.token_hex(16)
    course_dir = graded["root"] / "course-pg"
    env = dict(os.environ, COURSE_DB_URL=graded["pg"], COURSE_DIR=str(course_dir),
               JUPYTER_CONFIG_PATH=str(REPO / "autograder"),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    log = open(graded["root"] / "formgrader.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root",
                             f"--port={port}", "--ip=127.0.0.1", f"--IdentityProvider.token={token}",
                             "--ServerApp.jpserver_extensions={'nbgrader.server_extensions.formgrader': True}"],
                            cwd=course_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def api(path: str, data: dict | None = None, method: str = "GET"):
        req = urllib.request.Request(base + path, method=method, headers={"Authorization": f"token {token}"},
                                     data=None if data is None else json.dumps(data).encode())
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read() or b"null")

    try:
        for _ in range(120):
            try:
                api("/formgrader/api/assignments")
                break
            except OSError:
                assert proc.poll() is None, (graded["root"] / "formgrader.log").read_text()[-3000:]
                time.sleep(0.5)
        yield api
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()


def test_manual_grade_in_the_formgrader_counts_and_survives_a_regrade(graded, formgrader, tmp_path):
    subs = {s["student"]: s for s in formgrader("/formgrader/api/submissions/01_pixels")}
    assert set(subs) == {"ada", "ben", "cy"}, subs
    assert subs["ada"]["score"] == 8.0 and subs["ada"]["needs_manual_grade"], subs["ada"]
    notebooks = formgrader("/formgrader/api/submitted_notebooks/01_pixels/01_pixels")
    ada_nb = next(n for n in notebooks if n["student"] == "ada")
    grades = formgrader(f"/formgrader/api/grades?submission_id={ada_nb['id']}")
    written = next(g for g in grades if g["name"] == "written_dense")
    assert written["auto_score"] is None and written["manual_score"] is None
    formgrader(f"/formgrader/api/grade/{written['id']}", {"manual_score": 2.0}, method="PUT")
    comments = formgrader(f"/formgrader/api/comments?submission_id={ada_nb['id']}")
    remark = next(c for c in comments if c["name"] == "written_dense")
    formgrader(f"/formgrader/api/comment/{remark['id']}", {"manual_comment": "Clear and right."}, method="PUT")

    before = {r["Student"]: r for r in _csv(_export(graded["pg"], "canvas", tmp_path / "c1.csv"))}
    assert before["Ada Lovelace"]["01_pixels"] == "10", before

    # The class report of the whole batch (lessons 01 and 08), before the regrade of 01 below.
    report = run_autograder("report", str(graded["root"] / "out-pg"))
    assert report.returncode == 0, report.stdout + report.stderr

    # Regrade everyone with --force: ada's manual points and comment stay.
    _grade(str(graded["root"] / "out-sqlite" / "submissions"), "--out", str(graded["root"] / "out-pg"), "--db",
           graded["pg"], "--course-dir", str(graded["root"] / "course-pg"), "--force", "--assignment", "01_pixels",
           "--jobs", "2")
    with Gradebook(graded["pg"], "pixels-to-lenet") as gb:
        grade = gb.find_grade("written_dense", "01_pixels", "01_pixels", "ada")
        assert grade.manual_score == 2.0 and grade.score == 2.0
        assert gb.find_comment("written_dense", "01_pixels", "01_pixels", "ada").manual_comment == "Clear and right."
        assert gb.find_submission("01_pixels", "ada").score == 10.0
    after = {r["Student"]: r for r in _csv(_export(graded["pg"], "canvas", tmp_path / "c2.csv"))}
    assert after == before

    # Kept for people to read (git-ignored): the final exports and the class report of this batch.
    art = REPO / "test-artifacts" / "gradebook"
    art.mkdir(parents=True, exist_ok=True)
    for fmt in ("nbgrader", "canvas"):
        _export(graded["pg"], fmt, art / f"export-{fmt}.csv")
    shutil.rmtree(art / "report", ignore_errors=True)
    shutil.copytree(graded["root"] / "out-pg" / "report", art / "report")


def _class(root: Path, students: list[tuple[str, str]]) -> Path:
    for sid, kind in students:
        folder = root / sid / "01_pixels"
        folder.mkdir(parents=True)
        (folder / "01_pixels.ipynb").write_bytes(_version(kind, "01_pixels"))
    return root


def _counts(url: str) -> dict:
    with Gradebook(url, "pixels-to-lenet") as gb:
        def q(sql: str) -> list:
            return gb.db.execute(text(sql)).all()

        return {"students": sorted(r[0] for r in q("SELECT id FROM student")),
                "assignments": q("SELECT count(*) FROM assignment")[0][0],
                "submissions": sorted(q("SELECT s.student_id, count(*) FROM submitted_assignment s "
                                        "GROUP BY s.student_id")),
                "grades": sorted(q("SELECT sa.student_id, count(g.id) FROM grade g JOIN submitted_notebook n ON "
                                   "g.notebook_id = n.id JOIN submitted_assignment sa ON n.assignment_id = sa.id "
                                   "GROUP BY sa.student_id")),
                "cells": q("SELECT count(*) FROM grade_cells")[0][0],
                "scores": {s.id: gb.find_submission("01_pixels", s.id).score for s in gb.students}}


def test_two_grade_processes_write_one_postgres_database(pg, tmp_path):
    pg.create_database("two")
    url = pg.url("two")
    a = _class(tmp_path / "a", [("a1", "solution"), ("a2", "wrong_normalize")])
    b = _class(tmp_path / "b", [("b1", "blank"), ("b2", "solution")])
    procs = [subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(folder), "--out", str(tmp_path / f"out-{n}"),
                               "--db", url, "--course-dir", str(tmp_path / "course")], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for n, folder in (("a", a), ("b", b))]
    outputs = [p.communicate(timeout=1500)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    found = _counts(url)
    assert found["students"] == ["a1", "a2", "b1", "b2"]
    assert found["assignments"] == 1
    assert found["submissions"] == [("a1", 1), ("a2", 1), ("b1", 1), ("b2", 1)]
    per = found["cells"]
    assert per == 4 and found["grades"] == [(s, per) for s in ("a1", "a2", "b1", "b2")], found
    assert found["scores"]["a1"] == 8.0 and found["scores"]["b2"] == 8.0 and found["scores"]["b1"] == 0.0
    assert 0.0 < found["scores"]["a2"] < 8.0


def _watch(args: list[str], on_line, **env: str) -> tuple[int, str]:
    """Run a command, calling ``on_line`` with each line it prints as it prints it."""
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, **env))
    lines = []
    for line in proc.stdout:
        lines.append(line)
        on_line(line)
    proc.wait(timeout=60)
    return proc.returncode, "".join(lines)


def test_database_outage_mid_batch_is_retried_or_resumed(pg, tmp_path):
    pg.create_database("outage")
    url = pg.url("outage")
    folder = _class(tmp_path / "subs", [("s1", "solution"), ("s2", "blank"), ("s3", "wrong_normalize")])
    args = [sys.executable, "-m", "autograder", "grade", str(folder), "--out", str(tmp_path / "out"), "--db", url,
            "--course-dir", str(tmp_path / "course")]

    # 1. Down while a job finishes: the merge retries and the batch completes.
    def outage(line: str) -> None:
        if line.startswith("[  1/3]"):
            pg.shutdown()
        if line.startswith("gradebook: merge") and "retrying" in line:
            pg.start()

    code, out = _watch(args, outage, AUTOGRADER_DB_RETRY_S="600")
    assert code == 0, out
    assert "retrying" in out, out
    found = _counts(url)
    assert found["students"] == ["s1", "s2", "s3"] and found["submissions"] == [("s1", 1), ("s2", 1), ("s3", 1)]

    # 2. Down for longer than the retry budget: the batch stops with a clear message, and a
    #    rerun merges what .results/ kept without regrading it.
    pg.create_database("outage2")
    url2 = pg.url("outage2")
    args2 = [*args[:6], str(tmp_path / "out2"), "--db", url2, *args[9:]]
    code, out = _watch(args2, lambda line: line.startswith("[  1/3]") and pg.shutdown(), AUTOGRADER_DB_RETRY_S="3")
    assert code == 2, out
    assert "could not be written" in out and ".results/" in out and "outage2" in out, out
    pg.start()
    rerun = subprocess.run(args2, cwd=REPO, capture_output=True, text=True, timeout=1500)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    rows = {r["student_id"]: r for r in json.loads((tmp_path / "out2" / "grades.json").read_text())}
    reused = sorted(s for s, r in rows.items() if "reused from an earlier run" in r["notes"])
    assert reused == ["s1", "s2"], rows  # graded before the stop: merged now, not regraded
    found = _counts(url2)
    assert found["submissions"] == [("s1", 1), ("s2", 1), ("s3", 1)], found
    assert found["scores"]["s1"] == 8.0 and found["scores"]["s2"] == 0.0


def test_processes_starting_at_once_create_the_gradebook_once(pg, tmp_path):
    """Several processes opening a new PostgreSQL gradebook at about the same time (as
    `grade` runs started together do): one creates nbgrader's tables and the assignment, the
    others wait. Without the schema lock, one of three failed in most rounds with
    'relation "assignment" already exists' (it looked for the tables while another was
    creating them)."""
    from autograder.authoring.release import release

    release(dest=tmp_path / "lessons", aids=["01_pixels"], root=tmp_path)
    code = ("import sys; from pathlib import Path; from autograder.gradebook.merge import CourseGradebook\n"
            "book = CourseGradebook(sys.argv[1], retry_s=30)\n"
            "book.define(Path(sys.argv[2]), ['01_pixels'])\nbook.close()")
    for round_ in range(6):
        pg.create_database(f"race{round_}")
        procs = [subprocess.Popen([sys.executable, "-c", code, pg.url(f"race{round_}"), str(tmp_path / "gradebook.db")],
                                  cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(3)]
        outputs = [p.communicate(timeout=120)[0] for p in procs]
        assert all(p.returncode == 0 for p in procs), outputs
        found = _counts(pg.url(f"race{round_}"))
        assert found["assignments"] == 1 and found["cells"] == 4, found
