"""``release``: regenerate lessons/ from solutions/ with nbgrader generate_assignment."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import nbformat

from autograder import course


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
        shutil.copy2(course.SOLUTIONS / aid / f"{aid}.ipynb", root / "source" / aid / f"{aid}.ipynb")
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
            nbformat.write(normalize(nb), out)
            written.append(out)
    return written
