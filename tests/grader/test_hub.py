"""A class on a real JupyterHub (jupyterhub-config/jupyterhub_config.py), with real Unix accounts.

One hub serves the whole module (testbed/hubclass.py): ``hub setup`` in a temp root, 7 students
and an instructor made by ``hub users``, lesson 01 released through nbgrader's exchange with a
due date already past, then ``jupyterhub`` with its proxy and the autograde service on free
loopback ports; everything is stopped by PID and the accounts are removed at the end.

Students act as themselves (``runuser``) with nbgrader's own fetch/submit/fetch_feedback (what
the Assignment List panel runs); tests/grader/test_hub_browser.py does the same in chromium.
"""

from __future__ import annotations

import grp
import html
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import LESSONS, REPO, SOLUTIONS, marked_lines, notebook
from testbed.hubclass import AID, NORMALIZE_OK, HubClass, answered

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the hub runs as root: PAM, real accounts, the sandbox")

ARTIFACTS = REPO / "test-artifacts" / "hub"
GRAYSCALE_WRONG = "return np.asarray(rgb)[..., 0].astype(np.float32)"   # the red channel only: fails the tests


def _members(group: str) -> list[str] | None:
    try:
        return sorted(grp.getgrnam(group).gr_mem)
    except KeyError:
        return None


def test_hub_users_remove_takes_the_class_groups_away_once_they_are_empty(tmp_path):
    """`hub users ROSTER --remove`, as the instructor runs it to take the class down: the
    accounts go, and so do pixels-students and pixels-instructors once nobody is left in them.
    (First in this file: the class of the tests below is not made yet, so the groups empty.)"""
    from autograder.hub.layout import INSTRUCTORS, STUDENTS

    tag = secrets.token_hex(2)
    student, instructor = f"plt{tag}rs", f"plt{tag}ri"
    roster = tmp_path / "roster.csv"
    roster.write_text(f"student_id\n{student}\n")
    env = {**os.environ, "HUB_ROOT": str(tmp_path / "srv")}
    before = {g: _members(g) for g in (STUDENTS, INSTRUCTORS)}
    hub_users = [sys.executable, "-m", "autograder", "hub", "users", str(roster), "--instructor", instructor]
    try:
        subprocess.run(hub_users, env=env, cwd=REPO, check=True, capture_output=True)
        assert student in _members(STUDENTS) and instructor in _members(INSTRUCTORS)
        out = subprocess.run(hub_users + ["--remove"], env=env, cwd=REPO, check=True, capture_output=True, text=True)
    finally:
        for user in (student, instructor):
            subprocess.run(["userdel", "--remove", user], capture_output=True)
    for group, members in before.items():
        if members:   # a class still on this machine: its group stays, with its members
            assert _members(group) == members, (group, _members(group), out.stdout)
        else:
            assert _members(group) is None, f"{group} was left behind, empty:\n{out.stdout}"
            assert f"group {group} removed" in out.stdout, out.stdout


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    if not (REPO / "jupyterhub-config" / "node_modules" / ".bin" / "configurable-http-proxy").exists():
        pytest.fail("jupyterhub-config/node_modules is missing: (cd jupyterhub-config && npm ci) installs the proxy (make hub and .ci/run do)",
                    pytrace=False)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Not under pytest's temp folder (0700): the class's accounts must reach the exchange.
    root = Path(tempfile.mkdtemp(prefix="plt-hub-"))
    os.chmod(root, 0o755)
    k = HubClass(root, n_students=10, log=ARTIFACTS / "jupyterhub.log")
    k.log_path.write_text("")
    try:
        yesterday = (datetime.now(timezone.utc) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
        k.setup(aids=(AID,), due=yesterday)
        k.start()
        yield k
    finally:
        k.teardown()
        shutil.rmtree(root, ignore_errors=True)


def _denied(result) -> bool:
    return result.returncode != 0 and "Permission denied" in (result.stdout + result.stderr)


def test_accounts_exchange_and_course_folder_have_the_expected_owners_and_modes(klass):
    L = klass.layout
    st = os.stat(L.passwords)
    assert (st.st_uid, st.st_mode & 0o777) == (0, 0o600)
    for user in klass.students + [klass.instructor]:
        assert klass.passwords.get(user), f"no initial password recorded for {user}"
        assert os.stat(klass.home(user)).st_mode & 0o777 == 0o700, f"{user}'s home is readable by others"
    groups = {u: klass.as_user(u, "id", "-nG").stdout.split() for u in (klass.students[0], klass.instructor)}
    assert "pixels-students" in groups[klass.students[0]] and "pixels-instructors" not in groups[klass.students[0]]
    assert "pixels-instructors" in groups[klass.instructor] and "pixels-students" not in groups[klass.instructor]
    with sqlite3.connect(L.course / "gradebook.db") as db:   # the whole roster, before anyone submits
        enrolled = {r[0] for r in db.execute("SELECT id FROM student")}
    assert enrolled == set(klass.students), enrolled
    modes = {p: os.stat(p).st_mode & 0o7777 for p in (L.exchange, L.course_exchange / "inbound",
                                                      L.course_exchange / "outbound", L.course, L.service, L.hub)}
    assert modes == {L.exchange: 0o1777, L.course_exchange / "inbound": 0o3733, L.course_exchange / "outbound": 0o755,
                     L.course: 0o2770, L.service: 0o700, L.hub: 0o700}, {str(k): oct(v) for k, v in modes.items()}


def test_a_password_read_from_the_passwords_file_with_awk_logs_in_through_the_hub(klass):
    """What an instructor does to hand out passwords: read passwords.csv with a shell tool. The
    password must come out without a carriage return (the csv module writes CRLF by default),
    and PAM must take it through the hub's login form."""
    student = klass.students[6]
    path = klass.layout.passwords
    # $(...) strips the final newline, not a carriage return: exactly what a shell script gets.
    read = subprocess.run(["sh", "-c", 'p=$(awk -F, -v u="$1" \'$1 == u {print $2}\' "$2"); printf %s "$p"',
                           "sh", student, str(path)], capture_output=True, check=True)
    password = read.stdout.decode()   # bytes: text mode would turn a lone \r into \n
    assert klass.login(student, password) == 302, f"PAM refused the password read from passwords.csv: {password!r}"
    assert password == klass.passwords[student] and b"\r" not in path.read_bytes()
    # Control: a wrong password is refused, so the 302 above means PAM took the password.
    assert klass.login(student, password + "x") == 403


def test_a_student_cannot_read_other_students_the_solutions_or_the_gradebook(klass):
    me, other = klass.students[0], klass.students[1]
    klass.as_user(other, "sh", "-c", "echo my answer > notes.txt", check=True)
    klass.as_user(me, "sh", "-c", "echo mine > mine.txt", check=True)
    L = klass.layout
    secrets = {
        "another student's home": ["cat", str(klass.home(other) / "notes.txt")],
        "the solutions": ["cat", str(SOLUTIONS / AID / f"{AID}.ipynb")],
        "the solutions' history": ["ls", str(REPO / ".git")],
        "the tests": ["ls", str(REPO / "tests")],
        "the gradebook": ["cat", str(L.course / "gradebook.db")],
        "the course folder": ["ls", str(L.course)],
        "the exchange's inbound": ["ls", str(L.course_exchange / "inbound")],
        "the service's folders": ["ls", str(L.service)],
        "the hub's state": ["ls", str(L.hub)],
        "the initial passwords": ["cat", str(L.passwords)],
    }
    for what, cmd in secrets.items():
        result = klass.as_user(me, *cmd)
        assert _denied(result), f"a student could read {what}: {cmd} -> {result.returncode} {result.stdout[:200]}"
    # Controls: the same commands work where they should, so the checks above can fail.
    assert klass.as_user(me, "cat", str(klass.home(me) / "mine.txt")).stdout == "mine\n"
    assert klass.as_user(me, "cat", str(notebook(LESSONS, AID))).returncode == 0
    assert klass.as_user(klass.instructor, "cat", str(SOLUTIONS / AID / f"{AID}.ipynb")).returncode == 0
    assert klass.as_user(klass.instructor, "ls", str(L.course)).returncode == 0


def test_submit_to_feedback_with_the_score_and_the_visible_test_message(klass):
    student = klass.students[2]
    out = klass.nbgrader(student, "fetch_assignment", AID)
    assert out.returncode == 0, out.stdout + out.stderr
    klass.write_notebook(student, AID, answered({"normalize": NORMALIZE_OK, "to_grayscale": GRAYSCALE_WRONG}))
    t0 = time.time()
    stamp = klass.submit(student, AID)
    entry = klass.wait_feedback(student, AID, stamp)
    ready = klass.released_at(entry) - t0
    pages = klass.fetch_feedback(student, AID)
    fetched = time.time() - t0
    assert entry["status"] == "graded" and entry["score"] == "2/10", entry
    assert len(pages) == 1, pages
    page = pages[0].read_text()
    text = html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"<(style|script).*?</\1>", "", page, flags=re.S)))
    assert "01_pixels (Score: 2.0 / 10.0)" in text, text[:1000]
    assert "AssertionError: pure red (255, 0, 0) should give" in text, "the visible test's message is not in the feedback"
    hidden = [ln for c in json.loads(notebook(SOLUTIONS, AID).read_text())["cells"]
              for ln in marked_lines("".join(c["source"]), "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")]
    assert hidden, "the reference has no hidden tests to look for"
    leaked = [ln for ln in hidden if ln in page]
    assert not leaked, f"hidden test lines in the feedback: {leaked[:3]}"
    (ARTIFACTS / "feedback-01_pixels.html").write_text(page)
    # Recorded as late against the due date (yesterday), in the course gradebook.
    with sqlite3.connect(klass.layout.course / "gradebook.db") as db:
        late = db.execute("SELECT s.timestamp, a.duedate FROM submitted_assignment s JOIN assignment a ON "
                          "s.assignment_id = a.id JOIN student st ON s.student_id = st.id WHERE st.id = ?",
                          (student,)).fetchone()
    assert late and late[0] and late[1] and late[0] > late[1], late
    print(f"\nsubmit -> feedback released: {ready:.1f} s; -> fetched by the student: {fetched:.1f} s")
    (ARTIFACTS / "latency-one.txt").write_text(f"{ready:.1f} {fetched:.1f}\n")


def test_a_student_cannot_submit_as_someone_else(klass):
    cheat, victim = klass.students[3], klass.students[4]
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    name = f"{victim}+{AID}+{now}+forged"
    inbound = klass.layout.course_exchange / "inbound" / name
    full = answered(solved=("normalize", "to_grayscale", "neighborhood"))
    made = klass.as_user(cheat, "sh", "-c", f'mkdir "$1" && cat > "$1/{AID}.ipynb" && echo "{now}" > "$1/timestamp.txt" '
                         f'&& echo x > "$1/submission_secret.txt" && chmod 777 "$1"', "sh", str(inbound),
                         input=json.dumps(full))
    assert made.returncode == 0, made.stderr
    deadline = time.monotonic() + 60
    while name not in klass.feedback_done() and time.monotonic() < deadline:
        time.sleep(0.5)
    entry = klass.feedback_done().get(name)
    assert entry and entry["status"].startswith("refused: claims to be") and cheat in entry["status"], entry
    assert not (klass.layout.course / "submitted" / victim).exists()
    with sqlite3.connect(klass.layout.course / "gradebook.db") as db:
        rows = db.execute("SELECT count(*) FROM submitted_assignment WHERE student_id = ?", (victim,)).fetchone()
    assert rows == (0,)
    assert not inbound.exists(), "the forged entry stayed in the drop box"


def _recorded(klass, student: str) -> tuple[datetime, datetime]:
    """(timestamp, due date) of ``student``'s submission in the course gradebook (naive UTC)."""
    with sqlite3.connect(klass.layout.course / "gradebook.db") as db:
        row = db.execute("SELECT s.timestamp, a.duedate FROM submitted_assignment s JOIN assignment a ON "
                         "s.assignment_id = a.id WHERE s.student_id = ? AND a.name = ?", (student, AID)).fetchone()
    assert row and row[0] and row[1], row
    return datetime.fromisoformat(row[0]), datetime.fromisoformat(row[1])


def test_a_crafted_entry_that_claims_a_time_before_the_due_date_is_late(klass):
    """After the due date, a student with a terminal builds an inbound entry by hand, as
    nbgrader's submit does, claiming a time before the due date (in its name and in
    timestamp.txt). The gradebook and the formgrader must show when it appeared in the drop
    box (the entry's ctime, which its owner cannot set), so it is late; the claim is kept."""
    student = klass.students[7]
    assert klass.nbgrader(student, "fetch_assignment", AID).returncode == 0
    claimed = (datetime.now(timezone.utc) - timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    name = f"{student}+{AID}+{claimed}+{secrets.token_urlsafe(9)}"
    inbound = klass.layout.course_exchange / "inbound" / name
    t0 = datetime.now(timezone.utc).replace(tzinfo=None)
    made = klass.as_user(student, "sh", "-c", f'mkdir "$1" && cat > "$1/{AID}.ipynb" && '
                         'printf %s "$2" > "$1/timestamp.txt" && printf %s "$3" > "$1/submission_secret.txt" '
                         '&& chmod 644 "$1"/* && chmod 777 "$1"',
                         "sh", str(inbound), claimed, secrets.token_hex(64),
                         input=json.dumps(answered({"normalize": NORMALIZE_OK})))
    assert made.returncode == 0, made.stderr
    t1 = datetime.now(timezone.utc).replace(tzinfo=None)
    entry = klass.wait_feedback(student, AID, claimed)
    assert entry["status"] == "graded" and entry["score"] == "2/10", entry
    recorded, due = _recorded(klass, student)
    late = (recorded - due).total_seconds()
    print(f"\nclaimed {claimed}; recorded {recorded.isoformat(' ')} UTC, due {due.isoformat(' ')} UTC: "
          f"{late:.0f} s late")
    (ARTIFACTS / "forged-timestamp.txt").write_text(f"claimed {claimed}\nrecorded {recorded.isoformat(' ')} UTC\n"
                                                    f"due {due.isoformat(' ')} UTC\nseconds late {late:.0f}\n")
    assert late > 86000, f"recorded {recorded} (claimed {claimed}), due {due}: {late:.0f} s late"
    assert t0 - timedelta(seconds=1) <= recorded <= t1 + timedelta(seconds=1), (recorded, t0, t1)
    # The claim is kept for the record, and logged: it is two days off.
    assert entry["claimed"] == claimed, entry
    assert f"{name}: claims {claimed}" in klass.log_text()
    # The formgrader shows the same time against the same due date.
    token = klass.token(klass.instructor)
    klass.start_server(klass.instructor)
    shown = next(s for s in _formgrader(klass, token, f"/submissions/{AID}") if s["student"] == student)
    due_shown = _formgrader(klass, token, f"/assignment/{AID}")["duedate"]
    assert _utc(shown["timestamp"]) == recorded and _utc(due_shown) == due, (shown, due_shown)
    assert _utc(shown["timestamp"]) > _utc(due_shown), (shown, due_shown)


def _utc(text: str) -> datetime:
    """An ISO 8601 time from the formgrader, as naive UTC (the gradebook's own form)."""
    when = datetime.fromisoformat(text)
    return when.astimezone(timezone.utc).replace(tzinfo=None) if when.tzinfo else when


def test_the_formgrader_and_the_admin_api_refuse_students(klass):
    student, ins = klass.students[0], klass.instructor
    s_token, i_token = klass.token(student), klass.token(ins)
    klass.start_server(ins)
    klass.start_server(student)
    status, _ = klass.api("GET", "/hub/api/users", token=s_token)
    assert status == 403, status
    status, _ = klass.api("GET", f"/hub/api/users/{ins}", token=s_token)
    assert status == 404 or status == 403, status   # another user: not even listed
    status, _ = klass.api("GET", f"/user/{ins}/formgrader/api/assignments", token=s_token)
    assert status == 403, status
    status, _ = klass.api("GET", f"/user/{student}/formgrader/api/assignments", token=s_token)
    assert status == 404, status   # a student's own server has no formgrader
    # Controls: the instructor's formgrader answers the instructor; the student's own server answers them.
    status, body = klass.api("GET", f"/user/{ins}/formgrader/api/assignments", token=i_token)
    assert status == 200 and any(a["name"] == AID for a in body), (status, body)
    status, _ = klass.api("GET", f"/user/{student}/api/status", token=s_token)
    assert status == 200, status


def _formgrader(klass, token, path, data=None, method="GET"):
    status, body = klass.api(method, f"/user/{klass.instructor}/formgrader/api{path}", data, token=token)
    assert status == 200, (status, body)
    return body


def test_resubmission_replaces_the_grade_manual_grades_survive_and_a_restart_loses_nothing(klass):
    student = klass.students[2]   # graded above: 2/10
    i_token = klass.token(klass.instructor)
    klass.start_server(klass.instructor)
    nbs = _formgrader(klass, i_token, f"/submitted_notebooks/{AID}/{AID}")
    mine = next(n for n in nbs if n["student"] == student)
    grades = _formgrader(klass, i_token, f"/grades?submission_id={mine['id']}")
    written = next(g for g in grades if g["name"] == "written_dense")
    _formgrader(klass, i_token, f"/grade/{written['id']}", {"manual_score": 2.0}, "PUT")

    klass.write_notebook(student, AID, answered(solved=("normalize", "to_grayscale", "neighborhood")))
    stamp = klass.submit(student, AID)
    entry = klass.wait_feedback(student, AID, stamp)
    assert entry["status"] == "graded" and entry["score"] == "8/10", entry   # auto 8; written 2 is manual
    subs = {s["student"]: s for s in _formgrader(klass, i_token, f"/submissions/{AID}")}
    assert subs[student]["score"] == 10.0, subs[student]     # 8 auto + the 2 given by hand, kept

    # A restart: the hub (and its service) stops; a submission arrives meanwhile; nothing lost,
    # nothing finished graded again.
    late = klass.students[5]
    assert klass.nbgrader(late, "fetch_assignment", AID).returncode == 0
    klass.write_notebook(late, AID, answered({"normalize": NORMALIZE_OK}))
    klass.stop()
    events_before = (klass.layout.service / "events.jsonl").read_text().splitlines()
    t0 = datetime.now(timezone.utc).replace(tzinfo=None)
    stamp_late = klass.submit(late, AID)
    t1 = datetime.now(timezone.utc).replace(tzinfo=None)
    klass.start()
    entry = klass.wait_feedback(late, AID, stamp_late)
    assert entry["status"] == "graded" and entry["score"] == "2/10", entry
    # The outage made it no later: the gradebook has when it arrived, not when the service took it.
    recorded, _ = _recorded(klass, late)
    picked = datetime.fromtimestamp(entry["picked"], timezone.utc).replace(tzinfo=None)
    print(f"\nsubmitted while the hub was down: recorded {(recorded - t1).total_seconds():+.2f} s from the end of "
          f"submit; the restarted service took it {(picked - t1).total_seconds():.1f} s after")
    assert t0 - timedelta(seconds=1) <= recorded <= t1 + timedelta(seconds=1) < picked, (t0, recorded, t1, picked)
    events_after = (klass.layout.service / "events.jsonl").read_text().splitlines()
    assert events_after[:len(events_before)] == events_before
    new = [json.loads(e)["entry"] for e in events_after[len(events_before):]]
    assert len(new) == 1 and new[0].startswith(f"{late}+{AID}+"), new


def test_the_0777_window_cannot_be_used_by_another_student(klass):
    """nbgrader's submit ends with chmod 0777 on the inbound entry (the service's sign that it is
    complete), and the entry stays so until the service takes it: 2 s at most, or for as long
    as the service is down (here). Another student who knows the victim, the assignment and even
    the exact timestamp cannot find it: the drop box is not listable and nbgrader's name ends in
    9 random bytes. Had the name leaked, a notebook they put there is refused, never graded as
    the victim's."""
    victim, other = klass.students[8], klass.students[9]
    assert klass.nbgrader(victim, "fetch_assignment", AID).returncode == 0
    klass.write_notebook(victim, AID, answered({"normalize": NORMALIZE_OK}))
    inbound = klass.layout.course_exchange / "inbound"
    klass.stop()   # the service is down: the window stays open for the whole test
    try:
        stamp = klass.submit(victim, AID)
        [entry] = [p for p in inbound.iterdir() if p.name.startswith(f"{victim}+{AID}+{stamp}+")]
        assert os.stat(entry).st_mode & 0o7777 == 0o777, oct(os.stat(entry).st_mode)
        known = f"{inbound}/{victim}+{AID}+{stamp}"   # all but nbgrader's random part
        tries = {
            "list the drop box": ["ls", str(inbound)],
            "find the entry": ["find", str(inbound), "-name", f"{victim}*"],
            "glob the entry": ["sh", "-c", 'ls -d "$1"+*', "sh", known],
            "write into the entry named without its random part":
                ["sh", "-c", f'echo x > "$1/{AID}.ipynb"', "sh", known],
            "write into it with an empty random part": ["sh", "-c", f'echo x > "$1+/{AID}.ipynb"', "sh", known],
        }
        for what, cmd in tries.items():
            result = klass.as_user(other, *cmd)
            assert result.returncode != 0, f"another student could {what}: {result.stdout[:300]}"
        # Control: with the whole name another student does get in; the name is what keeps them out.
        assert klass.as_user(other, "ls", str(entry)).returncode == 0
        replaced = klass.as_user(other, "sh", "-c", f'rm -f "$1/{AID}.ipynb" && cat > "$1/{AID}.ipynb"', "sh",
                                 str(entry), input=json.dumps(answered(solved=("normalize", "to_grayscale"))))
        assert replaced.returncode == 0, replaced.stderr
    finally:
        klass.start()
    done = klass.wait_feedback(victim, AID, stamp)
    assert done["status"] == f"refused: its {AID}.ipynb is owned by {other}, not by {victim}", done
    with sqlite3.connect(klass.layout.course / "gradebook.db") as db:
        rows = db.execute("SELECT count(*) FROM submitted_assignment WHERE student_id = ?", (victim,)).fetchone()
    assert rows == (0,), "the other student's notebook was graded as the victim's"


def test_ten_submissions_at_once_are_all_graded_in_turn(klass):
    """A queue: all ten students submit at once; none is lost, each gets feedback as their turn ends."""
    students = klass.students
    for s in students:
        if not (klass.home(s) / AID).exists():
            assert klass.nbgrader(s, "fetch_assignment", AID).returncode == 0
        klass.write_notebook(s, AID, answered({"normalize": NORMALIZE_OK}))
    t0 = time.time()
    with ThreadPoolExecutor(len(students)) as pool:   # all at once, each as themselves
        stamps = dict(zip(students, pool.map(lambda s: klass.submit(s, AID), students)))
    submitted = time.time() - t0
    done = {}
    for s in students:
        done[s] = klass.wait_feedback(s, AID, stamps[s], timeout=600)
        done[s]["ready_s"] = klass.released_at(done[s]) - t0
    assert all(e["status"] == "graded" and e["score"] in ("2/10", "4/10") for e in done.values()), done
    times = sorted(e["ready_s"] for e in done.values())
    print(f"\n{len(students)} submissions (submitted within {submitted:.1f} s): feedback ready after "
          + ", ".join(f"{t:.0f}" for t in times) + " s")
    (ARTIFACTS / "latency-queue.txt").write_text(" ".join(f"{t:.1f}" for t in times) + "\n")
    for s in students:
        assert len(klass.fetch_feedback(s, AID)) >= 1, s
