"""Where the course lives, and the nbgrader configuration every command shares."""

from __future__ import annotations

import os
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from autograder import settings

HERE = settings.PACKAGE
REPO = HERE.parent
SOLUTIONS = REPO / "solutions"
LESSONS = REPO / "lessons"
CONFIG_FILE = HERE / "nbgrader_config.py"
COURSE_ID = settings.COURSE_ID
#: The course's published GitHub repository, "owner/name" (e.g. "someone/pixels-to-lenet"), or "" while
#: it has none. The release writes it into each lesson's "Open in Colab" badge (which opens the lesson
#: from its ``main`` branch) and into the Colab install cell (pip installs ``cnnkit`` from it); with ""
#: it leaves both cells out, so no lesson carries a link that goes nowhere. Set it, then `make release`.
COURSE_REPO = ""

#: Environment for every kernel the course tooling starts: fast mode, quiet TF, no downloads.
KERNEL_ENV = {
    "COURSE_MODE": "fast",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "FASHION_MNIST_NO_DOWNLOAD": "1",
    "PYTHONHASHSEED": "0",
}


def cache_root() -> Path:
    """The grader's cache: ``$AUTOGRADER_CACHE``, else ``~/.cache/pixels-to-lenet`` (:mod:`autograder.settings`)."""
    return settings.cache_dir()


def assignments() -> list[str]:
    """Assignment ids (``NN_slug``), sorted: every solutions/ folder holding ``NN_slug.ipynb``."""
    return sorted(p.name for p in SOLUTIONS.iterdir() if (p / f"{p.name}.ipynb").is_file())


def nbgrader_config(root: Path, source: str = "source", release: str = "release") -> Config:
    """The course's nbgrader config, re-rooted at ``root`` (a throwaway course folder)."""
    cfg = course_config()
    cfg.CourseDirectory.root = str(root)
    cfg.CourseDirectory.source_directory = source
    cfg.CourseDirectory.release_directory = release
    cfg.CourseDirectory.db_url = f"sqlite:///{root / 'gradebook.db'}"
    return cfg


def course_config() -> Config:
    """The course's nbgrader config as an instructor's nbgrader command loads it."""
    alembic_head_in_process()
    return PyFileConfigLoader(CONFIG_FILE.name, path=str(HERE)).load_config()


def alembic_head_in_process() -> None:
    """Make nbgrader read its gradebook schema's version in this process.

    nbgrader stamps every new gradebook with the head of its migrations, which it gets by
    running the ``alembic heads`` command: a new Python that imports SQLAlchemy and alembic,
    1.5–2 s on the course machine (measured 2026-12-01), paid by every release, every new
    course gradebook and every test that makes one. The same answer, read from the same
    migration scripts in this process, takes 0.06 s. tests/course/test_release.py checks that both agree."""
    import nbgrader.api

    if getattr(nbgrader.api.get_alembic_version, "in_process", False):
        return

    def get_alembic_version() -> str:
        from alembic.script import ScriptDirectory
        from nbgrader.dbutil import ALEMBIC_DIR

        return ScriptDirectory(ALEMBIC_DIR).get_current_head()

    get_alembic_version.in_process = True
    get_alembic_version.original = nbgrader.api.get_alembic_version
    nbgrader.api.get_alembic_version = get_alembic_version


def course_dir(flag: str | Path | None = None) -> Path:
    """The course folder nbgrader's formgrader works in (``autograded/``, ``feedback/``):
    ``flag`` (--course-dir), else ``$COURSE_DIR``, else ``CourseDirectory.root`` of the course
    config, else ``autograder/`` (:mod:`autograder.settings`)."""
    return settings.course_dir(flag, lambda: course_config().CourseDirectory.root)


def configured_db_url() -> str | None:
    """``CourseDirectory.db_url`` when the course config sets one (else nbgrader's default:
    ``gradebook.db`` in the course folder)."""
    cfg = course_config().CourseDirectory
    return cfg.db_url if "db_url" in cfg and cfg.db_url else None


def kernel_env(mode: str = "fast") -> dict[str, str]:
    """os.environ plus the course kernel settings, in the given mode.

    ``PYTHONPATH`` puts this checkout first, so a kernel imports this checkout's ``cnnkit``
    as the grader does, whatever the venv's editable install points at (a venv shared
    with, or symlinked from, another clone of the course points at that clone).
    """
    env = dict(os.environ)
    env.update(KERNEL_ENV)
    env["COURSE_MODE"] = mode
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env
