"""The grader's settings from outside its code, each resolved here, in one order:

    flag  >  environment variable  >  course config  >  default

The first that is set wins (``None`` and ``""`` count as unset). A flag is a command-line option
or an argument the caller was given; the course config is ``autograder/nbgrader_config.py``,
which the caller reads (:mod:`autograder.course`) and hands in as a function, called only when
the layers before it are unset.

===================  ============  =========================  =======================  ==========================
setting              flag          environment                course config            default
===================  ============  =========================  =======================  ==========================
gradebook URL        ``--db``      ``$COURSE_DB_URL``         CourseDirectory.db_url   ``gradebook.db`` (SQLite)
                                                                                       in the course folder
course folder        --course-dir  ``$COURSE_DIR``            CourseDirectory.root     ``autograder/``
cache                              ``$AUTOGRADER_CACHE``                               ``$XDG_CACHE_HOME`` (else
                                                                                       ``~/.cache``)/pixels-to-lenet
gradebook retry      ``retry_s``   ``$AUTOGRADER_DB_RETRY_S``                          120 s
hub root             ``root``      ``$HUB_ROOT``                                       ``/srv/pixels-to-lenet``
===================  ============  =========================  =======================  ==========================

Nothing is cached: each call reads the environment as it is then. The ground floor of the
package: this module imports nothing of it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

#: The course's id: nbgrader's ``course_id``, the exchange's folder, the cache's folder.
COURSE_ID = "pixels-to-lenet"
#: The package's folder: the course config lives here, and it is the default course folder.
PACKAGE = Path(__file__).resolve().parent

DB_URL_ENV = "COURSE_DB_URL"
COURSE_DIR_ENV = "COURSE_DIR"
CACHE_ENV = "AUTOGRADER_CACHE"
RETRY_ENV = "AUTOGRADER_DB_RETRY_S"
HUB_ROOT_ENV = "HUB_ROOT"

#: The gradebook's file in the course folder, when no URL is given (nbgrader's own default).
GRADEBOOK_FILE = "gradebook.db"
#: How long a merge into the gradebook keeps retrying while the database is unreachable (a
#: restart, a fail-over) before the batch stops, in seconds.
RETRY_S = 120.0
HUB_ROOT = "/srv/pixels-to-lenet"

Layer = Callable[[], Any]


def _set(value: Any) -> bool:
    return value is not None and value != ""


def resolve(flag: Any, env: str | None, configured: Layer | None = None, default: Any = None) -> Any:
    """The first set of: ``flag``, ``$env``, ``configured()``, ``default`` (or ``default()``
    when it is a function: computed only when it is needed)."""
    if _set(flag):
        return flag
    if env and _set(os.environ.get(env)):
        return os.environ[env]
    if configured is not None:
        value = configured()
        if _set(value):
            return value
    return default() if callable(default) else default


def environ(env: str) -> str | None:
    """``$env`` when it is set (the course config's own layer: nbgrader's commands read it too)."""
    return resolve(None, env)


def course_dir(flag: str | Path | None = None, configured: Layer | None = None) -> Path:
    """The course folder nbgrader's formgrader works in (``autograded/``, ``feedback/``, and
    the gradebook by default)."""
    return Path(resolve(flag, COURSE_DIR_ENV, configured, PACKAGE))


def db_url(flag: str | None = None, configured: Layer | None = None,
           course_dir: str | Path | Layer = PACKAGE) -> str:
    """The course gradebook's URL (any SQLAlchemy URL); by default SQLite, in ``course_dir``
    (a function: called only when the default is needed)."""
    def default() -> str:
        folder = course_dir() if callable(course_dir) else course_dir
        return f"sqlite:///{Path(folder) / GRADEBOOK_FILE}"

    return resolve(flag, DB_URL_ENV, configured, default)


def retry_s(flag: float | None = None) -> float:
    """How long a merge into the gradebook retries an unreachable database, in seconds."""
    return float(resolve(flag, RETRY_ENV, None, RETRY_S))


def cache_dir() -> Path:
    """The grader's cache (the canary's passes, the batch's releases)."""
    xdg = lambda: resolve(None, "XDG_CACHE_HOME", None, lambda: os.path.join(os.path.expanduser("~"), ".cache"))  # noqa: E731
    return Path(resolve(None, CACHE_ENV, None, lambda: os.path.join(xdg(), COURSE_ID)))


def hub_root(flag: str | Path | None = None) -> Path:
    """The root of a class on JupyterHub (autograder.hub.layout), resolved to an absolute path."""
    return Path(resolve(flag, HUB_ROOT_ENV, None, HUB_ROOT)).resolve()
