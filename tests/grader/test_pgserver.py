"""testbed/pgserver.py: a real PostgreSQL server started, restarted and stopped by PID."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from testbed import pgserver
from testbed.pgserver import PgServer, pg_server_fixture

pg_server = pytest.fixture(pg_server_fixture)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def rows(url: str) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT id, name FROM student ORDER BY id")).all()
    finally:
        engine.dispose()


def test_start_restart_stop_keeps_data() -> None:
    pg = PgServer()
    with pg:
        assert pg.pid == int((pg.data / "postmaster.pid").read_text().split()[0])
        if os.geteuid() == 0:  # the server never runs as root
            uid = int(next(l for l in open(f"/proc/{pg.pid}/status") if l.startswith("Uid:")).split()[1])
            assert uid == pg.account.pw_uid != 0
        pg.create_database("gradebook")
        engine = sa.create_engine(pg.url("gradebook"))
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE student (id int PRIMARY KEY, name text)"))
            conn.execute(sa.text("INSERT INTO student VALUES (:id, :name)"),
                         [{"id": 1, "name": "ada"}, {"id": 2, "name": "alan"}])
            assert conn.execute(sa.text("SELECT current_database()")).scalar() == "gradebook"
        engine.dispose()

        old_pid, port, base = pg.pid, pg.port, pg.base
        pg.restart()
        assert pg.pid != old_pid and gone(old_pid)
        assert (pg.port, pg.base) == (port, base)
        assert rows(pg.url("gradebook")) == [(1, "ada"), (2, "alan")]
        pid = pg.pid
    assert gone(pid)
    assert not base.exists()
    pg.stop()  # a second stop is harmless


def test_two_servers_at_once() -> None:
    with PgServer() as a, PgServer() as b:
        assert a.port != b.port and a.pid != b.pid and a.base != b.base
        a.create_database("only_in_a")
        with b.connect() as conn:
            names = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        assert "only_in_a" not in names
        with a.connect() as conn:
            assert conn.execute("SELECT 1 FROM pg_database WHERE datname = 'only_in_a'").fetchone()


def test_fixture_yields_running_server(pg_server: PgServer) -> None:
    with pg_server.connect() as conn:
        assert conn.execute("SELECT current_user").fetchone() == (pg_server.user,)


def test_early_exit_reports_log() -> None:
    pg = PgServer({"max_connections": "not-a-number"})
    with pytest.raises(RuntimeError, match=r"postgres exited .*\n(.|\n)*max_connections"):
        pg.start()
    base = pg.base
    pg.stop()
    assert not base.exists()


def test_missing_binaries_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pgserver.glob, "glob", lambda pattern: [])
    with pytest.raises(RuntimeError, match="apt-get install postgresql"):
        PgServer()
