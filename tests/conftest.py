"""Shared fixtures. The environment (fast mode, offline, quiet TF) is set by the
course_env plugin that pyproject.toml loads."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
LESSONS = REPO / "lessons"
ASSIGNMENTS = sorted(p.name for p in SOLUTIONS.iterdir() if (p / f"{p.name}.ipynb").is_file())


def notebook(root: Path, aid: str) -> Path:
    return root / aid / f"{aid}.ipynb"


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def marked_lines(source: str, begin: str, end: str, min_len: int = 12) -> list[str]:
    """Stripped lines between ``### BEGIN X`` and ``### END X`` markers, skipping short
    or generic ones that may legitimately appear elsewhere."""
    lines, inside = [], False
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            s = line.strip()
            if len(s) >= min_len and not s.startswith(("#", "import ", "from ")):
                lines.append(s)
    return lines


def cell_source(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def run_autograder(*args: str, timeout: int = 3000) -> subprocess.CompletedProcess:
    """Run ``python -m autograder ARGS`` the way an instructor does."""
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def html_text(path: Path) -> str:
    """Visible text of an HTML file (tags stripped, entities decoded)."""
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text()))


@pytest.fixture(scope="session")
def released(tmp_path_factory) -> Path:
    """A fresh release of every assignment into a temp folder."""
    dest = tmp_path_factory.mktemp("release")
    proc = run_autograder("release", "--dest", str(dest))
    assert proc.returncode == 0, proc.stderr
    return dest


def copy_as_submission(src: Path, subs: Path, student: str, aid: str) -> Path:
    dest = subs / student / aid / f"{aid}.ipynb"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dest)
    return dest
