"""Releasing lessons to the class through nbgrader's exchange (``hub release``), as root."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from autograder import course
from autograder.hub.layout import Layout


def hub_config(layout: Layout):
    """The course's nbgrader config as the hub's instructors and service see it."""
    cfg = course.course_config()
    cfg.CourseDirectory.root = str(layout.course)
    cfg.Exchange.root = str(layout.exchange)
    return cfg


def db_url(layout: Layout) -> str:
    from autograder.gradebook.merge import course_db_url

    return course_db_url(None, layout.course)


def release(aid: str, layout: Layout, due: str | None = None) -> list[str]:
    """Copy lessons/AID (the generated student version) to the exchange's outbound, with
    nbgrader's ExchangeReleaseAssignment; record the due date in the course gradebook
    (nbgrader's collect and the formgrader compute lateness from it)."""
    from nbgrader.api import Gradebook
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default import ExchangeReleaseAssignment

    if aid not in course.assignments():
        raise SystemExit(f"error: unknown assignment {aid!r}; known: {course.assignments()}")
    cfg = hub_config(layout)
    coursedir = CourseDirectory(config=cfg)
    coursedir.assignment_id = aid
    app = ExchangeReleaseAssignment(coursedir=coursedir, config=cfg)
    app.force = True
    app.start()
    lines = [f"released {aid} to {layout.course_exchange / 'outbound' / aid}"]
    with Gradebook(db_url(layout), course.COURSE_ID) as gb:
        kwargs = {}
        if due:
            when = datetime.fromisoformat(due)
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            kwargs["duedate"] = when.astimezone(timezone.utc).replace(tzinfo=None)
        gb.update_or_create_assignment(aid, **kwargs)
        if due:
            lines.append(f"due {kwargs['duedate'].isoformat()} UTC (recorded in the course gradebook)")
    _group_writable(layout.course)
    return lines


def _group_writable(folder: Path) -> None:
    """The gradebook is written by root (the service) and by instructors (the formgrader)."""
    import os

    for path in [folder, *folder.glob("gradebook.db*")]:
        os.chown(path, -1, os.stat(folder).st_gid)
        os.chmod(path, (os.stat(path).st_mode | 0o060) & ~0o007)
