"""Where the course lives, and the nbgrader configuration every command shares."""

from __future__ import annotations

import os
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SOLUTIONS = REPO / "solutions"
LESSONS = REPO / "lessons"
CONFIG_FILE = HERE / "nbgrader_config.py"
COURSE_ID = "pixels-to-lenet"

#: Environment for every kernel the course tooling starts: fast mode, quiet TF, no downloads.
KERNEL_ENV = {
    "COURSE_MODE": "fast",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "FASHION_MNIST_NO_DOWNLOAD": "1",
    "PYTHONHASHSEED": "0",
}


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
    return PyFileConfigLoader(CONFIG_FILE.name, path=str(HERE)).load_config()


def course_dir() -> Path:
    """The course folder nbgrader's formgrader works in (``autograded/``, ``feedback/``):
    ``$COURSE_DIR``, else ``autograder/`` (``CourseDirectory.root`` of the course config)."""
    return Path(course_config().CourseDirectory.root)


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
