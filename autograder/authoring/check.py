"""``check NOTEBOOK``: the student's self-check.

Runs the notebook from top to bottom in a fresh kernel, then reports each exercise's
visible test cell: ✅ passed or ❌ failed, with the test's own message. Exits 1 if
any test cell failed, naming the exercises. (``nbgrader validate`` exits 0 even when
tests fail, which is why the course does this itself.)
"""

from __future__ import annotations

import sys
import tempfile
import shutil
from pathlib import Path

import nbformat

from autograder.authoring.runner import execute
from autograder.notebook import test_results

def check(path: Path, mode: str = "fast", stream=sys.stdout) -> int:
    """Run the self-check on ``path``; print a report; return the exit code (0 all passed)."""
    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as err:  # invalid JSON, not a notebook
        print(f"❌ {path} is not a readable notebook: {err}", file=stream)
        return 2
    with tempfile.TemporaryDirectory(prefix="check-") as tmp:
        for item in path.parent.iterdir():  # run beside copies of the notebook's own files
            if item.is_file() and item != path:
                shutil.copy2(item, tmp)
        execute(nb, cwd=Path(tmp), mode=mode, allow_errors=True)
    results = test_results(nb)
    if not results:
        print(f"❌ {path.name} has no test cells: is this a course notebook?", file=stream)
        return 2
    for r in results:
        mark = "✅" if r.ok else "❌"
        line = f"{mark} {r.exercise} [{r.grade_id}]"
        print(line + ("" if r.ok else f"\n     {r.message}"), file=stream)
    failed = [r for r in results if not r.ok]
    if failed:
        names = ", ".join(r.exercise for r in failed)
        print(f"\n{len(failed)} of {len(results)} test cells failed: {names}", file=stream)
        return 1
    print(f"\nAll {len(results)} test cells passed.", file=stream)
    return 0
