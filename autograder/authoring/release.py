"""``release``: regenerate lessons/ from solutions/ with nbgrader generate_assignment."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import nbformat

from autograder import course
from autograder.notebook import without_marker


def _generate(aids: list[str], root: Path) -> dict[str, str]:
    """Run GenerateAssignment for each id inside the throwaway course ``root``.

    Returns the nbgrader log per assignment; raises RuntimeError on failure.
    """
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    cfg = course.nbgrader_config(root)
    logs = {}
    for aid in aids:
        (root / "source" / aid).mkdir(parents=True, exist_ok=True)
        source = nbformat.read(course.SOLUTIONS / aid / f"{aid}.ipynb", as_version=4)
        nbformat.write(untag_markers(source), root / "source" / aid / f"{aid}.ipynb")
        coursedir = CourseDirectory(config=cfg)
        coursedir.assignment_id = aid
        app = GenerateAssignment(coursedir=coursedir, config=cfg)
        app.force = True
        app.create_assignment = True
        result = capture_log(app)
        if not result["success"]:
            raise RuntimeError(f"generate_assignment {aid} failed:\n{result.get('log', '')}\n{result.get('error', '')}")
        logs[aid] = result.get("log", "")
    return logs


IGNORE_TAG = "nbval-ignore-output"


def untag_markers(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Move the ``# NBVAL_IGNORE_OUTPUT`` line of each code cell into the cell's tags (nbval reads
    either), so that the student's code starts with code, not with a note for the test runner."""
    for cell in nb.cells:
        code = without_marker(cell.source) if cell.cell_type == "code" else cell.source
        if code == cell.source:
            continue
        cell.source = code
        tags = cell.metadata.setdefault("tags", [])
        if IGNORE_TAG not in tags:
            tags.append(IGNORE_TAG)
    return nb


def normalize(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop what varies from run to run, so a release is byte-for-byte reproducible."""
    nb.metadata.pop("widgets", None)  # widget state holds random model ids
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


#: The cells tagged ``colab`` in solutions/ (a note on Colab, and an install cell that is only a
#: comment there) are filled in from ``course.COURSE_REPO`` by :func:`colab_cells`.
COLAB_TAG = "colab"
COLAB_BADGE = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
               "(https://colab.research.google.com/github/{repo}/blob/main/lessons/{aid}/{aid}.ipynb)")
COLAB_INSTALL = """# Only needed in Google Colab: install the course's helper package. Anywhere else this cell does nothing.
import subprocess
import sys

if "google.colab" in sys.modules:
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "git+https://github.com/{repo}"], check=True)"""
REPO_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")


def colab_cells(nb: nbformat.NotebookNode, aid: str, repo: str) -> nbformat.NotebookNode:
    """The cells tagged ``colab``: with a repository ``repo`` ("owner/name"), the markdown one gets
    the "Open in Colab" badge of lesson ``aid`` on top and the code one installs from ``repo``;
    with ``repo == ""`` both are left out, as a link to no repository would be broken."""
    if repo and not REPO_NAME.fullmatch(repo):
        raise ValueError(f"course.COURSE_REPO must be a GitHub repository as owner/name, or empty: {repo!r}")
    cells = []
    for cell in nb.cells:
        if COLAB_TAG not in cell.metadata.get("tags", []):
            cells.append(cell)
        elif repo:
            if cell.cell_type == "markdown":
                cell.source = COLAB_BADGE.format(repo=repo, aid=aid) + "\n\n" + cell.source
            else:
                cell.source = COLAB_INSTALL.format(repo=repo)
            cells.append(cell)
    nb.cells = cells
    return nb


def release(dest: Path = course.LESSONS, aids: list[str] | None = None, root: Path | None = None) -> list[Path]:
    """Write the student version of each assignment to ``dest/NN_slug/NN_slug.ipynb``.

    ``root`` keeps the throwaway course (with its gradebook) when given; the grader uses
    that to get points and locked cells from the released assignment.
    """
    aids = aids or course.assignments()
    written = []
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        work = Path(root) if root else Path(tmp)
        _generate(aids, work)
        for aid in aids:
            nb = nbformat.read(work / "release" / aid / f"{aid}.ipynb", as_version=4)
            out = Path(dest) / aid / f"{aid}.ipynb"
            out.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(normalize(colab_cells(nb, aid, course.COURSE_REPO)), out)
            written.append(out)
    return written


def _template_key(aids: list[str]) -> str:
    """What a release of ``aids`` depends on: the solutions notebooks, the grader's code (the
    course config and the release step included) and the versions of the tools that write it."""
    import hashlib
    import sys

    import nbconvert
    import nbgrader

    h = hashlib.sha256(json.dumps([sys.version, nbgrader.__version__, nbformat.__version__,
                                   nbconvert.__version__, sorted(aids)]).encode())
    for aid in sorted(aids):
        h.update((course.SOLUTIONS / aid / f"{aid}.ipynb").read_bytes())
    for path in sorted(course.HERE.glob("**/*.py")):
        h.update(str(path.relative_to(course.HERE)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def _private_dir(path: Path) -> bool:
    """Create ``path`` (mode 0700) if needed; True if it is a folder of ours that nobody else
    can read (it holds the solutions and the hidden tests)."""
    import stat

    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o077


def release_template(root: Path, aids: list[str]) -> str:
    """Release ``aids`` into the throwaway course ``root`` (gradebook.db with their points and
    locked cells, source/, release/, lessons/), as :func:`release` does; the grader grades
    against it. A release is kept in the private folder ``$AUTOGRADER_CACHE/releases`` under
    the digest of everything it depends on (:func:`_template_key`), so a later batch of the
    same assignments copies it instead of running nbgrader again (lessons 01–05 on the course
    machine: 0.005 s instead of 0.7 s, 2.8 s before nbgrader's schema head was read in-process).
    Returns "cached" or "released"."""
    aids = sorted(aids)
    cache = course.cache_root() / "releases"
    entry = cache / _template_key(aids) if _private_dir(cache) else None
    if entry is not None and (entry / "gradebook.db").is_file():
        shutil.copytree(entry, root, dirs_exist_ok=True)
        return "cached"
    release(dest=Path(root) / "lessons", aids=aids, root=Path(root))
    if entry is not None:
        tmp = None
        try:
            tmp = Path(tempfile.mkdtemp(prefix=".new-", dir=cache))
            shutil.copytree(root, tmp, dirs_exist_ok=True)
            tmp.rename(entry)  # atomic; another batch that got there first keeps its copy
        except OSError:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)  # a cache that cannot be written costs time, never a grade
    return "released"


def release_digest(template: Path, aid: str) -> str:
    """sha256 of what grading an assignment depends on: its source (solutions, visible and
    hidden tests) and its released notebook (in the template ``release_template`` built)."""
    h = hashlib.sha256()
    for path in (course.SOLUTIONS / aid / f"{aid}.ipynb", template / "release" / aid / f"{aid}.ipynb"):
        h.update(path.read_bytes())
    return h.hexdigest()


def release_points(template: Path, aid: str) -> tuple[float, float]:
    """(total, autograded) points of the released assignment, from the template gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{template / 'gradebook.db'}") as gb:
        total = auto = 0.0
        for notebook in gb.find_assignment(aid).notebooks:
            for cell in notebook.grade_cells:
                total += float(cell.max_score)
                if cell.cell_type == "code":
                    auto += float(cell.max_score)
        return total, auto
