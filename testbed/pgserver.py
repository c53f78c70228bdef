"""A real, throwaway PostgreSQL server for tests (no mocks).

``PgServer`` runs ``initdb`` into a fresh temp dir, starts ``postgres`` as a direct child
(its own session, so its PID is known), waits until it accepts connections, and stops it
by PID with SIGINT (fast shutdown). The server listens on a Unix socket in the temp dir
only (``listen_addresses=''``); the port just names the socket file. Local connections
are trusted, so the test process connects as the superuser ``pgtest`` with no password.

PostgreSQL refuses to run as root, so under root both ``initdb`` and ``postgres`` run as
the unprivileged system user ``pgtest`` (created with ``useradd`` if missing); otherwise
they run as the current user.

Usage::

    with PgServer() as pg:
        pg.create_database("gradebook")
        engine = sqlalchemy.create_engine(pg.url("gradebook"))

As a pytest fixture (in a test module or conftest.py)::

    from testbed.pgserver import pg_server_fixture
    pg_server = pytest.fixture(scope="session")(pg_server_fixture)

If the PostgreSQL binaries are missing this raises RuntimeError (never a skip: CI installs
postgresql, and a skip would hide a broken CI).
"""

from __future__ import annotations

import getpass
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql

SYSTEM_USER = "pgtest"
SETTINGS = {  # fast and small: a test server keeps nothing worth an fsync
    "listen_addresses": "",
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "shared_buffers": "16MB",
    "max_connections": "50",
    "logging_collector": "off",
}


def pg_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/*/bin holding initdb and postgres."""
    found = [Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")
             if os.access(Path(p) / "initdb", os.X_OK) and os.access(Path(p) / "postgres", os.X_OK)]
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin: "
                           "run `apt-get install postgresql` (tests need a real server)")
    return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)


def free_port() -> int:
    """A port that is free on 127.0.0.1 right now (bind to port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> pwd.struct_passwd:
    """The account the server runs as: ``pgtest`` under root (created if missing), else us."""
    if os.geteuid() != 0:
        return pwd.getpwnam(getpass.getuser())
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        # check=False: a concurrent test process may have created it meanwhile; getpwnam decides.
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        SYSTEM_USER], check=False, capture_output=True)
        return pwd.getpwnam(SYSTEM_USER)


class PgServer:
    """A throwaway PostgreSQL server in a temp dir; a context manager."""

    def __init__(self, settings: dict[str, str] | None = None) -> None:
        """``settings``: extra or overriding ``-c`` server settings."""
        self.settings = {**SETTINGS, **(settings or {})}
        self.bin = pg_bin_dir()
        self.account = _run_as()
        self.user = self.account.pw_name  # the DB superuser name given to initdb
        self.port = free_port()
        self.base: Path | None = None  # temp dir: data/, the socket, server.log
        self.proc: subprocess.Popen | None = None

    # --- paths and URLs -------------------------------------------------------------
    @property
    def data(self) -> Path:
        assert self.base, "server not started"
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.base, "server not started"
        return self.base

    @property
    def log(self) -> Path:
        return self.socket_dir / "server.log"

    @property
    def pid(self) -> int:
        """The postmaster's PID (our direct child)."""
        assert self.proc, "server not running"
        return self.proc.pid

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL (psycopg 3) over the Unix socket."""
        return f"postgresql+psycopg://{self.user}@/{dbname}?host={self.socket_dir}&port={self.port}"

    def connect(self, dbname: str = "postgres", **kw) -> psycopg.Connection:
        return psycopg.connect(host=str(self.socket_dir), port=self.port, user=self.user,
                               dbname=dbname, **kw)

    def create_database(self, name: str) -> None:
        with self.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    # --- lifecycle ------------------------------------------------------------------
    def _popen(self, args: list[str], **kw) -> subprocess.Popen:
        """Run ``args`` as the server account (setuid/setgid in the child, no supplementary groups)."""
        if os.geteuid() == 0:
            kw.update(user=self.account.pw_uid, group=self.account.pw_gid, extra_groups=[])
        env = {**os.environ, "LC_ALL": "C", "HOME": str(self.base)}
        return subprocess.Popen(args, env=env, cwd=self.base, **kw)

    def start(self) -> PgServer:
        """initdb on first call, then start postgres and wait until it accepts connections."""
        if self.proc and self.proc.poll() is None:
            return self
        if self.base is None:
            self.base = Path(tempfile.mkdtemp(prefix="pgtest-", dir="/tmp"))  # short: socket paths max ~100 chars
            os.chown(self.base, self.account.pw_uid, self.account.pw_gid)
            os.chmod(self.base, 0o700)
            init = self._popen([str(self.bin / "initdb"), "-D", str(self.data), "-U", self.user,
                                "--auth-local=trust", "--auth-host=reject", "-E", "UTF8",
                                "--locale=C", "--no-sync", "--no-instructions"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            try:
                out, _ = init.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                init.kill()
                init.wait()
                raise
            if init.returncode:
                raise RuntimeError(f"initdb failed ({init.returncode}):\n{out}")
        args = [str(self.bin / "postgres"), "-D", str(self.data), "-k", str(self.socket_dir),
                "-p", str(self.port)]
        for key, value in self.settings.items():
            args += ["-c", f"{key}={value}"]
        with open(self.log, "ab") as log:
            self.proc = self._popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self._wait_ready(timeout=30)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.proc.returncode} while starting; "
                                   f"last lines of {self.log}:\n{self._log_tail()}")
            try:
                self.connect(connect_timeout=2).close()
                return
            except psycopg.OperationalError as e:
                if time.monotonic() > deadline:
                    self._kill()
                    raise RuntimeError(f"postgres not accepting connections after {timeout} s: {e}\n"
                                       f"{self._log_tail()}") from e
                time.sleep(0.05)

    def _log_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def _kill(self, grace: float = 20) -> None:
        """SIGINT (fast shutdown) to the postmaster's PID; SIGKILL its session after ``grace`` s."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: only the server's processes
            proc.wait()

    def shutdown(self) -> None:
        """Stop the server by PID and keep its data (``start()`` brings it back): an outage."""
        self._kill()

    def restart(self) -> PgServer:
        """Fast shutdown by PID, wait for exit, start again on the same data dir and port."""
        self._kill()
        return self.start()

    def stop(self) -> None:
        """Stop the server and remove its temp dir; safe to call twice."""
        self._kill()
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None

    def __enter__(self) -> PgServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


def pg_server_fixture() -> Iterator[PgServer]:
    """Generator for a pytest fixture: ``pg_server = pytest.fixture(scope="session")(pg_server_fixture)``.
    Yields a started PgServer and stops it (removing its temp dir) at teardown."""
    with PgServer() as server:
        yield server
