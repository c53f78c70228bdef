"""The class's Unix accounts, from a roster (``python -m autograder hub users roster.csv``).

nbgrader's exchange trusts file ownership: a submission in ``inbound/`` is the student's
whose Unix account owns it. So every student has a real account (PAM logs them in to the
hub; the LocalProcessSpawner starts their server as them), in the group
``pixels-students``; instructors are in ``pixels-instructors`` only. Home folders are
0700 (Debian's useradd would make them 0755: readable by every other student).

New accounts get a random initial password, written to a root-only file (0600), never
printed. Existing accounts keep theirs; their groups and home mode are put right.
"""

from __future__ import annotations

import csv
import grp
import os
import pwd
import re
import secrets
import subprocess
from pathlib import Path

from autograder.batch.intake import read_roster_rows
from autograder.hub.layout import INSTRUCTORS, STUDENTS, Layout, ensure_groups

#: Unix user names that are safe everywhere (useradd's default rule, lower case).
NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def read_roster(path: Path) -> list[str]:
    """The roster's student ids (the grader's roster, autograder.batch.intake), each one
    usable as a Unix user name."""
    ids = [r["student_id"] for r in read_roster_rows(path)]
    bad = [i for i in ids if not NAME.match(i)]
    if bad:
        raise SystemExit(f"error: not usable as Unix user names (lower case letters, digits, _ and -, "
                         f"at most 32): {', '.join(map(repr, bad))}")
    return ids


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _ensure(name: str, group: str, other: str) -> str | None:
    """Create ``name`` in ``group`` (never in ``other``); return its new password, or None
    if the account existed."""
    password = None
    if not _exists(name):
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "--groups", group, name], check=True)
        password = secrets.token_urlsafe(12)
        subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)
    else:
        subprocess.run(["usermod", "--append", "--groups", group, name], check=True)
        if other in subprocess.run(["id", "-nG", name], capture_output=True, text=True).stdout.split():
            subprocess.run(["gpasswd", "--delete", name, other], check=True, capture_output=True)
    home = Path(pwd.getpwnam(name).pw_dir)
    if home.is_dir():
        os.chmod(home, 0o700)
    return password


def _read_passwords(layout: Layout) -> dict[str, str]:
    if not layout.passwords.is_file():
        return {}
    with open(layout.passwords, newline="") as f:
        return {r["user"]: r["initial_password"] for r in csv.DictReader(f)}


def _write_passwords(layout: Layout, rows: dict[str, str]) -> None:
    """Root only (0600), with Unix line endings: the csv module's default is CRLF, and a
    password read with ``cut`` or ``awk`` then ends in ``\\r``, which PAM refuses."""
    layout.root.mkdir(parents=True, exist_ok=True)
    fd = os.open(layout.passwords, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["user", "initial_password"])
        writer.writerows(sorted(rows.items()))


def _save_passwords(layout: Layout, new: dict[str, str]) -> None:
    _write_passwords(layout, {**_read_passwords(layout), **new})


def create(students: list[str], instructors: list[str], layout: Layout) -> list[str]:
    """Create (or put right) the accounts; return one line per account."""
    if os.geteuid() != 0:
        raise SystemExit("hub users needs root: it creates Unix accounts")
    ensure_groups()
    lines, new = [], {}
    for name, group, other in [(s, STUDENTS, INSTRUCTORS) for s in students] + \
                              [(i, INSTRUCTORS, STUDENTS) for i in instructors]:
        password = _ensure(name, group, other)
        if password:
            new[name] = password
        lines.append(f"{name:<16} {group:<20} {'created' if password else 'existed: groups and home checked'}")
    if new:
        _save_passwords(layout, new)
        lines.append(f"initial passwords of the {len(new)} new account(s): {layout.passwords} (root only, 0600)")
    lines += enroll(students, layout)
    return lines


def enroll(students: list[str], layout: Layout) -> list[str]:
    """Put the students in the course gradebook, so that the formgrader's Manage Students and
    the exports list the whole class, those who have not submitted included."""
    if not layout.course.is_dir():
        return [f"not in the gradebook yet ({layout.course} is missing): run hub setup, then hub users again"]
    from nbgrader.api import Gradebook

    from autograder import course
    from autograder.hub.exchange import _group_writable, db_url

    with Gradebook(db_url(layout), course.COURSE_ID) as gb:
        for sid in students:
            gb.update_or_create_student(sid)
    _group_writable(layout.course)
    return [f"{len(students)} student(s) in the course gradebook"]


def remove(names: list[str], layout: Layout) -> list[str]:
    """Delete the accounts and their homes (their processes are killed first), their lines in
    the passwords file, and the class's groups once nobody is left in them."""
    lines = []
    for name in names:
        if _exists(name):
            subprocess.run(["pkill", "-KILL", "-u", name], capture_output=True)
            subprocess.run(["userdel", "--remove", name], capture_output=True)
            lines.append(f"{name}: removed")
    if layout.passwords.is_file():
        _write_passwords(layout, {u: p for u, p in _read_passwords(layout).items() if u not in names})
    for group in (STUDENTS, INSTRUCTORS):
        if _empty(group):
            subprocess.run(["groupdel", group], check=True, capture_output=True)
            lines.append(f"group {group} removed (nobody left in it)")
    return lines


def _empty(group: str) -> bool:
    """Does ``group`` exist with no member, and as nobody's primary group?"""
    try:
        g = grp.getgrnam(group)
    except KeyError:
        return False
    return not g.gr_mem and not any(u.pw_gid == g.gr_gid for u in pwd.getpwall())
