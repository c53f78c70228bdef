"""Where a class on JupyterHub lives on the machine, and who may read what.

Everything is under one root (``$HUB_ROOT``, default ``/srv/pixels-to-lenet``)::

    exchange/                       nbgrader's exchange, root:root 1777 (anyone may create, nobody may
      pixels-to-lenet/              delete another's); the course folder in it is made here, root-owned,
        outbound/ 0755                so that no student can claim it before the first release
        inbound/  3733                drop box: setgid, sticky, write-only for students
        feedback/ 0711                feedback pages named by an unguessable hash
    course/                         the instructors' nbgrader course folder (gradebook.db, submitted/,
                                    autograded/, feedback/), root:pixels-instructors 2770
    hub/                            the hub's own state (database, cookie secret), root 0700
    service/                        the autograde service's work (received/, graded/, state), root 0700
    config/student/, config/instructor/
                                    the Jupyter config each kind of user's server starts with
    passwords.csv                   initial passwords of the accounts `hub users` made, root 0600

The checkout itself (solutions/, .git, tests/ ...) is closed to others; students' servers only
need the venv, the course package (cnnkit) and lessons/. :func:`prepare` does all of it and
returns the modes it changed, so that :func:`restore` can put them back.
"""

from __future__ import annotations

import grp
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from autograder import course, settings

STUDENTS = "pixels-students"
INSTRUCTORS = "pixels-instructors"

#: What of the checkout others (students' servers) may open: the venv their kernels run,
#: the course package, the released lessons, the hub's config (and its proxy), the README.
PUBLIC = {".venv", "cnnkit", "lessons", "jupyterhub-config", "README.md", "pyproject.toml", "requirements.txt"}
#: What instructors' servers read besides: the formgrader's source (solutions/) and the
#: course's nbgrader config (autograder/).
INSTRUCTOR_READ = {"solutions", "autograder"}


class Layout:
    def __init__(self, root: str | Path | None = None):
        self.root = settings.hub_root(root)
        self.exchange = self.root / "exchange"
        self.course = self.root / "course"
        self.hub = self.root / "hub"
        self.service = self.root / "service"
        self.config = self.root / "config"
        self.passwords = self.root / "passwords.csv"

    @property
    def course_exchange(self) -> Path:
        return self.exchange / course.COURSE_ID

    def config_path(self, instructor: bool) -> list[str]:
        """``JUPYTER_CONFIG_PATH`` of a user's server: its kind's folder, and for instructors
        the course's nbgrader config (source and release folders, feedback settings)."""
        if instructor:
            return [str(self.config / "instructor"), str(course.HERE)]
        return [str(self.config / "student")]

    def env(self) -> dict[str, str]:
        """What the hub passes to the autograde service and the instructors' servers."""
        return {settings.HUB_ROOT_ENV: str(self.root), settings.COURSE_DIR_ENV: str(self.course)}


def gid(name: str) -> int:
    return grp.getgrnam(name).gr_gid


def ensure_groups() -> list[str]:
    done = []
    for name in (STUDENTS, INSTRUCTORS):
        try:
            grp.getgrnam(name)
        except KeyError:
            subprocess.run(["groupadd", "--system", name], check=True)
            done.append(f"created group {name}")
    return done


def _mkdir(path: Path, mode: int, group: str | None = None) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, 0, gid(group) if group else 0)
    os.chmod(path, mode)


STUDENT_NBGRADER = '''\
# Students' servers: the course's exchange, nothing else of the course.
c = get_config()  # noqa
c.CourseDirectory.course_id = "{course_id}"
c.Exchange.root = "{exchange}"
# Validate runs every cell: training cells need the grader's 600 s, not nbgrader's 30 s.
c.Execute.timeout = 600
'''

INSTRUCTOR_NBGRADER = '''\
# Instructors' servers: the course folder (gradebook, submissions, feedback) and the exchange.
# The course's own settings (source = solutions/, release = lessons/) come from {course_config}.
c = get_config()  # noqa
c.CourseDirectory.course_id = "{course_id}"
c.CourseDirectory.root = "{course}"
c.Exchange.root = "{exchange}"
'''

#: Students' servers do not load the formgrader nor the course list (their lab hides the
#: buttons too). This is convenience, not the protection: the gradebook and submissions
#: are closed to students by Unix permissions, and another user's server answers 403.
STUDENT_SERVER = {"ServerApp": {"jpserver_extensions": {
    "nbgrader.server_extensions.formgrader": False,
    "nbgrader.server_extensions.course_list": False,
}}}


def write_configs(layout: Layout) -> None:
    for kind, text in (("student", STUDENT_NBGRADER), ("instructor", INSTRUCTOR_NBGRADER)):
        folder = layout.config / kind
        _mkdir(folder, 0o755)
        (folder / "nbgrader_config.py").write_text(text.format(
            course_id=course.COURSE_ID, exchange=layout.exchange, course=layout.course,
            course_config=course.CONFIG_FILE))
        os.chmod(folder / "nbgrader_config.py", 0o644)
    (layout.config / "student" / "jupyter_server_config.json").write_text(json.dumps(STUDENT_SERVER, indent=1) + "\n")
    os.chmod(layout.config / "student" / "jupyter_server_config.json", 0o644)


def _remember(changes: list[dict], path: Path) -> None:
    st = os.lstat(path)
    changes.append({"path": str(path), "mode": stat.S_IMODE(st.st_mode), "gid": st.st_gid})


def lock_checkout(changes: list[dict]) -> list[str]:
    """Close the checkout to others but for :data:`PUBLIC`; let instructors read
    :data:`INSTRUCTOR_READ`. Top-level entries only: a closed folder closes all below it."""
    done = []
    repo = course.REPO
    _remember(changes, repo)
    os.chmod(repo, (os.stat(repo).st_mode & 0o7770) | 0o001)  # others may pass through, not list
    os.chown(repo, -1, gid(INSTRUCTORS))
    os.chmod(repo, stat.S_IMODE(os.stat(repo).st_mode) | 0o050)
    for entry in sorted(repo.iterdir()):
        if entry.is_symlink() or entry.name in PUBLIC:
            continue
        _remember(changes, entry)
        mode = stat.S_IMODE(os.lstat(entry).st_mode) & ~0o007
        if entry.name in INSTRUCTOR_READ:
            os.chown(entry, -1, gid(INSTRUCTORS))
            mode |= 0o050 if entry.is_dir() else 0o040
        os.chmod(entry, mode)
    done.append(f"{repo}: closed to others but for {', '.join(sorted(PUBLIC))}; "
                f"{', '.join(sorted(INSTRUCTOR_READ))} readable by {INSTRUCTORS}")
    return done


def open_interpreter(changes: list[dict]) -> list[str]:
    """Students' servers run the course venv's Python from this checkout: every folder above
    the checkout and above the real interpreter must let others pass (``x``, not list). A
    Python under /root (pyenv), or a checkout in a private folder, needs those folders opened
    that far; say so."""
    done = []
    real = Path(os.path.realpath(Path(sys.prefix) / "bin" / "python3"))
    folders = dict.fromkeys([*reversed(course.REPO.parents), *reversed(real.parents)])
    for folder in folders:
        mode = stat.S_IMODE(os.stat(folder).st_mode)
        if not mode & 0o001:
            _remember(changes, folder)
            os.chmod(folder, mode | 0o001)
            done.append(f"{folder}: others may pass through (o+x, no listing): students' servers run {real} "
                        f"and {course.REPO / 'cnnkit'}")
    return done


def quiet_lab() -> str:
    """JupyterLab of this venv does not ask students whether to fetch Jupyter's news (a pop-up
    over the Assignment List panel on first login): ``share/jupyter/lab/settings/overrides.json``."""
    path = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    data.setdefault("@jupyterlab/apputils-extension:notification", {}).update(
        {"fetchNews": "false", "checkForUpdates": False})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")
    return f"JupyterLab: no news or update pop-ups ({path})"


def prepare(layout: Layout) -> list[str]:
    """Make the layout above (idempotent). Returns one line per step. The modes it changed
    on the checkout are saved in hub/modes-before.json for :func:`restore`."""
    if os.geteuid() != 0:
        raise SystemExit("hub setup needs root: it creates groups, a root-owned exchange and the course folder")
    done = ensure_groups()
    _mkdir(layout.root, 0o755)
    _mkdir(layout.hub, 0o700)
    _mkdir(layout.service, 0o700)
    _mkdir(layout.exchange, 0o1777)
    _mkdir(layout.course_exchange, 0o755)
    _mkdir(layout.course_exchange / "outbound", 0o755)
    _mkdir(layout.course_exchange / "inbound", 0o3733)
    _mkdir(layout.course_exchange / "feedback", 0o711)
    _mkdir(layout.course, 0o2770, INSTRUCTORS)
    write_configs(layout)
    done.append(f"exchange {layout.exchange} (1777; {course.COURSE_ID}/inbound 3733, outbound 0755, feedback 0711)")
    done.append(f"course folder {layout.course} (root:{INSTRUCTORS} 2770); hub state and service folders 0700")
    saved = layout.hub / "modes-before.json"
    changes: list[dict] = json.loads(saved.read_text()) if saved.is_file() else []
    new: list[dict] = []
    done += lock_checkout(new)
    done += open_interpreter(new)
    done.append(quiet_lab())
    known = {c["path"] for c in changes}
    changes += [c for c in new if c["path"] not in known]   # keep the first (original) mode of each path
    saved.write_text(json.dumps(changes, indent=1))
    return done


def restore(layout: Layout) -> list[str]:
    """Put back the modes and groups :func:`prepare` changed on the checkout and above it."""
    saved = layout.hub / "modes-before.json"
    if not saved.is_file():
        return []
    done = []
    for c in json.loads(saved.read_text()):
        path = Path(c["path"])
        if path.exists():
            os.chown(path, -1, c["gid"], follow_symlinks=False)
            os.chmod(path, c["mode"])
            done.append(f"{path}: mode {c['mode']:o} restored")
    saved.unlink()
    return done
