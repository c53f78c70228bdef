"""Autograde on submit: a JupyterHub-managed service, running as root.

Every few seconds it looks in the exchange's ``inbound/`` for new submissions and, for each:

1. **checks it**: a folder (not a link) named ``STUDENT+ASSIGNMENT+TIMESTAMP+RANDOM``, owned by
   the Unix account STUDENT, for a known assignment. Anything else is refused and logged,
   never graded: a student cannot submit as someone else (nbgrader's own ``collect`` only
   warns about that);
2. **takes it** out of the drop box into ``service/received/`` (root only), so that nobody
   who learnt its name can read it there, and copies the notebook and ``submission_secret.txt``
   into the course folder's ``submitted/STUDENT/ASSIGNMENT/``, as nbgrader's collect would, with
   its arrival time (below) as ``timestamp.txt``. Only regular files owned by STUDENT are copied
   (a file another account put in the entry refuses it), links never followed, sizes capped. An
   older submission than the one already collected is kept but not graded;
3. **grades it** in the sandbox into the course gradebook (:func:`autograder.batch.grade.grade`:
   a resubmission replaces the automatic grades, manual grades stay);
4. **releases feedback** with nbgrader's ExchangeReleaseFeedback, so the student's *Fetch
   Feedback* gets it. A submission that could not be graded gets a page that says why.

What is finished is written to ``service/state.json`` after each step, so a restarted service
neither loses a submission (``received/`` is looked at again) nor grades one twice (finished
entries are skipped; the grader's ``.results/`` keeps rows by the notebook's hash). Each
submission's times go to ``service/events.jsonl``: submitted (when it arrived), claimed (the
student's timestamp), picked up, feedback released.

**When a submission was made** is when it arrived in the drop box: the latest inode change
(ctime) of the entry and of the files copied from it, which their owner can move forward but
never back. Not nbgrader's ``timestamp.txt`` nor the time in the entry's name: the student's
own account writes both, and can claim any time. Not the time the service took it either: a
service that was down must make nobody late. That time is what ``submitted/.../timestamp.txt``
holds, so the gradebook, the late flag and the formgrader all use it; the student's claim is
kept beside it (the events, the state, ``received/``), and logged when it is more than
:data:`CLAIM_SLACK_S` off.
"""

from __future__ import annotations

import html
import json
import os
import pwd
import shutil
import signal
import stat
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from autograder import course
from autograder.hub.exchange import _group_writable
from autograder.hub.layout import Layout

#: What is copied from a submission into submitted/: the notebook nbgrader grades, and the two
#: files nbgrader's feedback needs. Anything else a student put in the folder stays in received/.
KEEP = {"timestamp.txt", "submission_secret.txt"}
MAX_BYTES = 20 * 1024 * 1024
#: An inbound entry still unfinished after this long is taken as it is (and refused or graded).
STALE_S = 600
#: A claimed submission time further than this from the arrival time is logged.
CLAIM_SLACK_S = 60


def log(msg: str) -> None:
    print(f"[autograde {datetime.now().strftime('%H:%M:%S')}] {msg}", flush=True)


def parse(name: str) -> dict | None:
    """``student+assignment+timestamp+random`` → its parts (None if it is not such a name)."""
    from nbgrader.utils import parse_utc

    parts = name.split("+")
    if len(parts) not in (3, 4) or not all(parts[:3]):
        return None
    try:
        when = parse_utc(parts[2])
    except Exception:
        return None
    return {"student": parts[0], "assignment": parts[1], "timestamp": parts[2], "when": when}


def nbgrader_time(epoch: float) -> str:
    """Epoch seconds as nbgrader's submit writes a timestamp (its default format, in UTC)."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def _owner(st: os.stat_result) -> str:
    try:
        return pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        return f"uid {st.st_uid}"


def _copy_regular(src: Path, dest: Path, uid: int) -> float | str:
    """Copy one regular file owned by ``uid`` without following a link. Returns its ctime,
    taken after reading (a write through a descriptor opened earlier moves it forward), or
    why it was not copied."""
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as err:
        return f"unreadable ({err.strerror})"
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            return "not a regular file"
        if st.st_uid != uid:
            return f"owned by {_owner(st)}"
        data = f.read(MAX_BYTES + 1)
        ctime = os.fstat(f.fileno()).st_ctime
    if len(data) > MAX_BYTES:
        return f"over {MAX_BYTES // 2**20} MB"
    dest.write_bytes(data)
    return ctime


class Service:
    def __init__(self, layout: Layout, jobs: int = 1, poll_s: float = 2.0, out=sys.stdout):
        self.layout, self.jobs, self.poll_s, self.out = layout, jobs, poll_s, out
        self.inbound = layout.course_exchange / "inbound"
        self.received = layout.service / "received"
        self.graded = layout.service / "graded"
        self.state_path = layout.service / "state.json"
        self.events = layout.service / "events.jsonl"
        self.state = json.loads(self.state_path.read_text()) if self.state_path.is_file() else {"done": {}}
        #: entry name → its times: ``arrived`` (epoch s; see the module's docstring), ``claimed``
        #: (the student's timestamp, as written). Kept until the entry is finished.
        self.state.setdefault("times", {})
        self.stopping = False

    # --- bookkeeping ---------------------------------------------------------------------
    def _save(self) -> None:
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1))
        tmp.replace(self.state_path)

    def _finish(self, name: str, status: str, **extra) -> None:
        times = self.state["times"].pop(name, {})
        if "arrived" in times:
            extra.update(submitted=times["arrived"], claimed=times.get("claimed", ""))
        self.state["done"][name] = {"status": status, "at": datetime.now(timezone.utc).isoformat(), **extra}
        self._save()
        with open(self.events, "a") as f:
            f.write(json.dumps({"entry": name, "status": status, "released": time.time(), **extra}) + "\n")

    # --- 1 and 2: check and take ---------------------------------------------------------
    def take_new(self) -> None:
        """Move every acceptable new inbound entry to received/; refuse the others."""
        try:
            names = sorted(os.listdir(self.inbound))
        except FileNotFoundError:
            return
        for name in names:
            if name in self.state["done"]:
                continue
            path = self.inbound / name
            st = os.lstat(path)
            if not self._complete(path, st):
                continue
            info = parse(name)
            reason = None
            if not stat.S_ISDIR(st.st_mode):
                reason = "not a folder"
            elif info is None:
                reason = "not an nbgrader submission name (student+assignment+timestamp+random)"
            elif _owner(st) != info["student"]:
                reason = f"claims to be {info['student']}'s but is owned by {_owner(st)}"
            elif info["assignment"] not in course.assignments():
                reason = f"unknown assignment {info['assignment']!r}"
            dest = self.received / name
            self.received.mkdir(parents=True, exist_ok=True)
            # When it appeared: its ctime, before the rename, chown and chmod below move it on.
            self.state["times"][name] = {"arrived": st.st_ctime, "claimed": info["timestamp"] if info else ""}
            self._save()
            os.rename(path, dest)   # out of the drop box at once, refused or not
            os.chown(dest, 0, 0, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                os.chmod(dest, 0o700)
            if reason:
                log(f"refused {name}: {reason}")
                self._finish(name, f"refused: {reason}", student=info["student"] if info else "",
                             owner=_owner(st))
            else:
                log(f"received {name}")

    @staticmethod
    def _complete(path: Path, st: os.stat_result) -> bool:
        """Has nbgrader's submit finished writing this entry? Its last step makes the folder
        0777, after timestamp.txt and submission_secret.txt (taking it earlier breaks the
        student's submit: it then writes their copy of the submission, needed to fetch
        feedback). An entry that never gets there is taken after STALE_S all the same."""
        if not stat.S_ISDIR(st.st_mode) or time.time() - st.st_mtime > STALE_S:
            return True
        return stat.S_IMODE(st.st_mode) == 0o777 and all((path / n).is_file() for n in KEEP)

    def collect(self, name: str) -> str | None:
        """Copy a received entry into submitted/STUDENT/ASSIGNMENT/ (nbgrader's layout), with
        its arrival time as ``timestamp.txt``. Returns why it is not to be graded, if so: a
        file in it that another account put there, or a newer submission of that student and
        assignment already in the course."""
        from nbgrader.utils import parse_utc

        info = parse(name)
        try:
            uid = pwd.getpwnam(info["student"]).pw_uid   # its owner: take_new checked it
        except KeyError:
            return f"refused: no account {info['student']} any more"
        dest = self.layout.course / "submitted" / info["student"] / info["assignment"]
        tmp = dest.with_name(dest.name + ".incoming")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        src = self.received / name
        times = self.state["times"].setdefault(name, {})
        ctimes = [times["arrived"]] if "arrived" in times else []
        claimed = info["timestamp"]
        for child in sorted(os.listdir(src)):
            if child == f"{info['assignment']}.ipynb" or child in KEEP:
                got = _copy_regular(src / child, tmp / child, uid)
                if isinstance(got, str) and got.startswith("owned by"):
                    shutil.rmtree(tmp)
                    return f"refused: its {child} is {got}, not by {info['student']}"
                if isinstance(got, float):
                    ctimes.append(got)
                    if child == "timestamp.txt":
                        text = (tmp / child).read_text(errors="replace").strip()[:100]
                        claimed = "".join(c if c.isprintable() else "?" for c in text)   # it goes to the log
        if not ctimes:   # nothing copied, and taken by a service from before arrival times were kept
            log(f"{name}: arrival time unknown; its claimed time counts")
            ctimes = [info["when"].replace(tzinfo=timezone.utc).timestamp()]
        arrived = max(ctimes)
        times.update(arrived=arrived, claimed=claimed)
        self._save()
        try:
            off = parse_utc(claimed).replace(tzinfo=timezone.utc).timestamp() - arrived
        except Exception:
            off = None
        if off is None or abs(off) > CLAIM_SLACK_S:
            how = "is not a time" if off is None else f"is {abs(off):.0f} s {'before' if off < 0 else 'after'} it"
            log(f"{name}: claims {claimed}; arrived {nbgrader_time(arrived)}: the claim {how}, the arrival counts")
        existing = dest / "timestamp.txt"
        if existing.is_file():
            try:
                if parse_utc(existing.read_text().strip()).replace(tzinfo=timezone.utc).timestamp() > arrived:
                    shutil.rmtree(tmp)
                    return "superseded: a later submission was collected"
            except Exception:
                pass
        (tmp / "timestamp.txt").write_text(nbgrader_time(arrived))
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
        return None

    # --- 3 and 4: grade and release feedback ----------------------------------------------
    def grade(self, aid: str, students: list[str], on_row) -> dict:
        from autograder.batch.grade import grade
        from autograder.batch.options import Options

        opts = Options(jobs=self.jobs, course_dir=self.layout.course)
        rows = grade(self.layout.course / "submitted", self.graded, aids=[aid], opts=opts, stream=self.out,
                     only=students, on_row=on_row)
        _group_writable(self.layout.course)
        return {r.student_id: r for r in rows if r is not None}

    def release_feedback(self, sid: str, aid: str, row) -> None:
        from nbgrader.coursedir import CourseDirectory
        from nbgrader.exchange.default import ExchangeReleaseFeedback

        from autograder.hub.exchange import hub_config

        folder = self.layout.course / "feedback" / sid / aid
        folder.mkdir(parents=True, exist_ok=True)
        page = folder / f"{aid}.html"
        submitted = self.layout.course / "submitted" / sid / aid
        for name in KEEP:
            if (submitted / name).is_file():
                shutil.copy2(submitted / name, folder / name)
        if not (folder / "submission_secret.txt").is_file():
            return  # not submitted with nbgrader: nothing the student could fetch it with
        graded = row is not None and row.cells and (self.graded / "feedback" / sid / aid / f"{aid}.html").is_file()
        if not graded:
            status = str(row.status) if row is not None else "not graded"
            notes = "".join(f"<li>{html.escape(n)}</li>" for n in (row.notes if row is not None else []))
            page.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{aid}</title></head><body>"
                            f"<h1>{aid}: not graded</h1><p>{html.escape(status)}</p><ul>{notes}</ul>"
                            "<p>Fix it and submit again; your instructor sees this too.</p></body></html>")
        cfg = hub_config(self.layout)
        coursedir = CourseDirectory(config=cfg)
        coursedir.assignment_id, coursedir.student_id = aid, sid
        ExchangeReleaseFeedback(coursedir=coursedir, config=cfg).start()

    def once(self) -> int:
        """Handle everything waiting; return how many submissions were finished."""
        self.take_new()
        waiting = sorted(n for n in os.listdir(self.received) if n not in self.state["done"]) \
            if self.received.is_dir() else []
        if not waiting:
            return 0
        by_aid: dict[str, list[str]] = {}
        for name in waiting:
            info = parse(name)
            skip = self.collect(name)
            if skip:
                log(f"not graded {name}: {skip}")
                self._finish(name, skip, student=info["student"], assignment=info["assignment"])
                continue
            by_aid.setdefault(info["assignment"], []).append(name)
        for aid, names in by_aid.items():
            latest: dict[str, str] = {}
            arrived = {name: self.state["times"][name]["arrived"] for name in names}
            for name in names:  # of several waiting from one student, the last to arrive counts
                info = parse(name)
                if info["student"] not in latest or arrived[latest[info["student"]]] < arrived[name]:
                    latest[info["student"]] = name
            picked = time.time()
            lock = threading.Lock()

            def finished(row, sid=None, aid=aid, latest=latest, picked=picked, lock=lock) -> None:
                """Release one student's feedback as soon as their job is done (not at the batch's end)."""
                sid = row.student_id if row is not None else sid
                name = latest.get(sid)
                if name is None:
                    return
                status = str(row.status) if row is not None else "not graded"
                score = f"{row.score:g}/{row.max_score:g}" if row is not None else ""
                with lock:
                    if name in self.state["done"]:
                        return
                    self.release_feedback(sid, aid, row)
                    self._finish(name, status, student=sid, assignment=aid, score=score, picked=picked)
                log(f"feedback released: {sid} {aid} {score} {status}")

            log(f"grading {aid} for {', '.join(sorted(latest))}")
            rows = self.grade(aid, sorted(latest), finished)
            for sid in sorted(latest):
                if latest[sid] not in self.state["done"]:   # no callback (a missing notebook): still answered
                    finished(rows.get(sid), sid)
            for name in names:
                if name not in self.state["done"]:
                    self._finish(name, "superseded: a later submission was graded")
        return len(waiting)

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        log(f"watching {self.inbound} every {self.poll_s:g} s; course folder {self.layout.course}")
        pause = self.poll_s
        while not self.stopping:
            try:
                self.once()
                pause = self.poll_s
            except (Exception, SystemExit) as err:
                # A stopped batch (the canary failed: the environment is broken) or a gradebook
                # that cannot be written: nothing is marked finished, so the submissions are
                # graded when it works again. Wait longer each time, up to 5 minutes.
                log(f"grading stopped, nothing lost; retrying in {min(pause * 4, 300):g} s: "
                    f"{type(err).__name__}: {err}")
                pause = min(pause * 4, 300)
            for _ in range(int(pause * 10)):
                if self.stopping:
                    break
                time.sleep(0.1)
        log("stopped")
