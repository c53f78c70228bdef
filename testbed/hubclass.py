"""A real class on a real JupyterHub, for tests and benchmarks: ``hub setup`` in a temp
``$HUB_ROOT``, real Unix accounts from a roster (``hub users``; removed afterwards), a lesson
released through nbgrader's exchange, and ``jupyterhub -f jupyterhub-config/jupyterhub_config.py`` (its
proxy, the autograde service, the users' servers) on free loopback ports, stopped by PID.

Students act through their own accounts (``runuser``), with nbgrader's own commands, the
ones the Assignment List panel calls; the browser test drives the same panel in chromium.
"""

from __future__ import annotations

import csv
import grp
import http.cookiejar
import json
import os
import pwd
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(REPO))

from autograder.hub import accounts, layout as hub_layout  # noqa: E402
from autograder.hub.exchange import release  # noqa: E402


#: The lesson the hub's tests and benchmark hand in, and a right answer to its first exercise.
AID = "01_pixels"
NORMALIZE_OK = "return np.asarray(image).astype(np.float32) / np.float32(255)"


def answered(answers: dict[str, str] | None = None, solved: tuple[str, ...] = (), aid: str = AID) -> dict:
    """The released lesson with stubs replaced: ``answers`` maps a grade_id to the line that
    replaces its ``raise NotImplementedError()``; ``solved`` cells get the reference code."""
    nb = json.loads((REPO / "lessons" / aid / f"{aid}.ipynb").read_text())
    ref = {c["metadata"].get("nbgrader", {}).get("grade_id"): c["source"]
           for c in json.loads((REPO / "solutions" / aid / f"{aid}.ipynb").read_text())["cells"]}
    for c in nb["cells"]:
        gid = c["metadata"].get("nbgrader", {}).get("grade_id")
        src = "".join(c["source"])
        if gid in (answers or {}):
            assert "raise NotImplementedError()" in src, gid
            c["source"] = src.replace("raise NotImplementedError()", answers[gid])
        elif gid in solved:
            c["source"] = ref[gid]
    return nb


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HubClass:
    def __init__(self, root: Path, n_students: int = 3, log: Path | None = None, jobs: int = 1):
        self.root = Path(root)
        self.layout = hub_layout.Layout(self.root / "srv")
        tag = secrets.token_hex(2)
        self.students = [f"plt{tag}s{i}" for i in range(1, n_students + 1)]
        self.instructor = f"plt{tag}ins"
        self.log_path = log or (self.root / "jupyterhub.log")
        self.port, self.api_port, self.proxy_port = free_port(), free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.admin_token = secrets.token_hex(24)
        self.jobs = jobs
        self.proc: subprocess.Popen | None = None
        self.groups_before = {g: self._group_exists(g) for g in (hub_layout.STUDENTS, hub_layout.INSTRUCTORS)}
        self.passwords: dict[str, str] = {}

    @staticmethod
    def _group_exists(name: str) -> bool:
        try:
            grp.getgrnam(name)
            return True
        except KeyError:
            return False

    # --- setting up and tearing down ------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"HUB_ROOT": str(self.layout.root), "HUB_PORT": str(self.port), "HUB_API_PORT": str(self.api_port),
                    "HUB_PROXY_API_PORT": str(self.proxy_port), "HUB_ADMIN_TOKEN": self.admin_token,
                    "HUB_GRADING_JOBS": str(self.jobs)})
        env.pop("COURSE_DIR", None)
        env.pop("COURSE_DB_URL", None)
        return env

    def setup(self, aids=("01_pixels",), due: str | None = None) -> None:
        self.setup_lines = hub_layout.prepare(self.layout)
        roster = self.root / "roster.csv"
        roster.write_text("student_id\n" + "\n".join(self.students) + "\n")
        self.user_lines = accounts.create(self.students, [self.instructor], self.layout)
        with open(self.layout.passwords, newline="") as f:
            self.passwords = {r["user"]: r["initial_password"] for r in csv.DictReader(f)}
        for aid in aids:
            release(aid, self.layout, due)

    def start(self, timeout: float = 90) -> None:
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen([str(VENV_BIN / "jupyterhub"), "-f", str(REPO / "jupyterhub-config" / "jupyterhub_config.py")],
                                     cwd=self.layout.hub, env=self.env(), stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyterhub exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
            try:
                self.api("GET", "/hub/api/")
                if "watching" in self.log_text():
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyterhub did not answer within {timeout:g} s:\n{self.log_text()[-3000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        """SIGTERM to the hub (it stops the users' servers, the service and its proxy), then make
        sure nothing of it or of the test accounts is left."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        pid_file = self.layout.hub / "proxy.pid"
        if pid_file.is_file():
            try:
                os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        for user in self.students + [self.instructor]:
            subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True)
        if getattr(self, "log", None):
            self.log.close()

    def teardown(self) -> None:
        try:
            self.stop()
        finally:
            accounts.remove(self.students + [self.instructor], self.layout)
            hub_layout.restore(self.layout)
            for group, existed in self.groups_before.items():
                if not existed:
                    subprocess.run(["groupdel", group], capture_output=True)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.is_file() else ""

    # --- the hub's REST API ------------------------------------------------------------------
    def api(self, method: str, path: str, body=None, token: str | None = None, timeout: float = 30):
        """(status, parsed JSON or text) of a request to the hub (through its proxy)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Authorization": f"token {token or self.admin_token}"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read().decode(errors="replace")
                status = resp.status
        except urllib.error.HTTPError as err:
            raw, status = err.read().decode(errors="replace"), err.code
        try:
            return status, json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return status, raw

    def login(self, user: str, password: str) -> int:
        """Log in through the hub's login form (PAM), as a browser does; the status of the POST:
        302 (to the user's server) when PAM took the password, 403 when it did not."""
        jar = http.cookiejar.CookieJar()

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
        with opener.open(self.base + "/hub/login", timeout=30) as resp:
            form = resp.read().decode(errors="replace")
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', form)
        data = {"username": user, "password": password, **({"_xsrf": xsrf.group(1)} if xsrf else {})}
        req = urllib.request.Request(self.base + "/hub/login", data=urllib.parse.urlencode(data).encode())
        try:
            with opener.open(req, timeout=60) as resp:
                return resp.status
        except urllib.error.HTTPError as err:
            return err.code

    def token(self, user: str) -> str:
        """A new API token of ``user`` (made by the course-admin service)."""
        self.api("POST", "/hub/api/users", {"usernames": [user]})
        status, body = self.api("POST", f"/hub/api/users/{user}/tokens", {"note": "test", "expires_in": 3600})
        assert status in (200, 201), (status, body)
        return body["token"]

    def start_server(self, user: str, timeout: float = 120) -> None:
        self.api("POST", "/hub/api/users", {"usernames": [user]})
        status, body = self.api("POST", f"/hub/api/users/{user}/server")
        assert status in (201, 202, 400), (status, body)  # 400: already running
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body = self.api("GET", f"/hub/api/users/{user}")
            server = (body or {}).get("servers", {}).get("", {}) if status == 200 else {}
            if server.get("ready"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"{user}'s server did not start within {timeout:g} s:\n{self.log_text()[-3000:]}")

    # --- acting as a user ----------------------------------------------------------------------
    def home(self, user: str) -> Path:
        return Path(pwd.getpwnam(user).pw_dir)

    def as_user(self, user: str, *cmd: str, check: bool = False, student: bool = True, input: str | None = None,
                cwd: Path | None = None) -> subprocess.CompletedProcess:
        """Run ``cmd`` as ``user`` (runuser), with their server's Jupyter config path."""
        env_cfg = os.pathsep.join(self.layout.config_path(instructor=not student))
        full = ["runuser", "-u", user, "--", "env", f"HOME={self.home(user)}", f"JUPYTER_CONFIG_PATH={env_cfg}",
                f"PATH={VENV_BIN}:/usr/bin:/bin", *cmd]
        return subprocess.run(full, capture_output=True, text=True, check=check, input=input,
                              cwd=cwd or self.home(user))

    def nbgrader(self, user: str, *args: str) -> subprocess.CompletedProcess:
        return self.as_user(user, str(VENV_BIN / "nbgrader"), *args)

    def write_notebook(self, user: str, aid: str, nb: dict) -> None:
        """Save ``nb`` as the student's working copy (what JupyterLab's save does)."""
        self.as_user(user, "tee", f"{aid}/{aid}.ipynb", input=json.dumps(nb), check=True)

    def submit(self, user: str, aid: str) -> str:
        """nbgrader submit as ``user``; returns the submission's timestamp."""
        out = self.nbgrader(user, "submit", aid)
        assert out.returncode == 0, out.stdout + out.stderr
        line = next(ln for ln in (out.stdout + out.stderr).splitlines() if "Submitted as:" in ln)
        return line.split(f"{aid} ", 1)[1].strip()

    def feedback_done(self) -> dict[str, dict]:
        """The service's finished entries (service/state.json), by entry name."""
        path = self.layout.service / "state.json"
        return json.loads(path.read_text())["done"] if path.is_file() else {}

    def wait_feedback(self, user: str, aid: str, timestamp: str, timeout: float = 300) -> dict:
        """Wait until the service has finished ``user``'s submission of ``timestamp``; its state entry."""
        prefix = f"{user}+{aid}+{timestamp}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, entry in self.feedback_done().items():
                if name.startswith(prefix):
                    return entry
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"jupyterhub exited:\n{self.log_text()[-3000:]}")
            time.sleep(0.5)
        raise TimeoutError(f"no feedback for {prefix} within {timeout:g} s:\n{self.log_text()[-4000:]}")

    @staticmethod
    def released_at(entry: dict) -> float:
        """When the service released a submission's feedback (epoch seconds)."""
        from datetime import datetime

        return datetime.fromisoformat(entry["at"]).timestamp()

    def fetch_feedback(self, user: str, aid: str) -> list[Path]:
        out = self.nbgrader(user, "fetch_feedback", aid)
        assert out.returncode == 0, out.stdout + out.stderr
        return sorted((self.home(user) / aid / "feedback").glob("*/*.html"))
