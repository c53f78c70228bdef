"""lessons/ is generated from solutions/ and leaks nothing."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from conftest import (ASSIGNMENTS, LESSONS, REPO, SOLUTIONS, cell_source, load, marked_lines,
                      notebook)

VOLATILE_CELL_KEYS = {"execution", "collapsed", "scrolled", "jupyter"}


def normalized(nb: dict) -> dict:
    for cell in nb["cells"]:
        for key in VOLATILE_CELL_KEYS:
            cell.get("metadata", {}).pop(key, None)
        cell["source"] = cell_source(cell)
    nb["metadata"].pop("language_info", None)
    return nb


def test_every_solution_has_a_lesson_and_back():
    lessons = sorted(p.name for p in LESSONS.iterdir() if p.is_dir())
    assert ASSIGNMENTS, "no solutions/NN_slug/NN_slug.ipynb found"
    assert lessons == ASSIGNMENTS, "lessons/ and solutions/ must hold the same assignments; run `make release`"


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_lessons_in_sync_with_release(released, aid):
    fresh = normalized(load(notebook(released, aid)))
    committed = normalized(load(notebook(LESSONS, aid)))
    assert fresh == committed, f"lessons/{aid} is out of date or hand-edited: run `make release` and commit"


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_release_is_byte_for_byte_reproducible(released, aid):
    assert notebook(released, aid).read_bytes() == notebook(LESSONS, aid).read_bytes(), (
        "releasing twice must leave `git status` clean")


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_lessons_carry_no_solutions_hidden_tests_or_outputs(aid):
    solution = {c["id"]: c for c in load(notebook(SOLUTIONS, aid))["cells"]}
    lesson = load(notebook(LESSONS, aid))
    text = notebook(LESSONS, aid).read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"lessons/{aid} contains {marker!r}"
    n_solution_cells = 0
    for cell in lesson["cells"]:
        assert not cell.get("outputs"), f"lessons/{aid}: cell {cell['id']} has outputs"
        src = solution[cell["id"]]
        meta = src.get("metadata", {}).get("nbgrader", {})
        lesson_src = cell_source(cell)
        if meta.get("solution") and src["cell_type"] == "code":
            n_solution_cells += 1
            assert "raise NotImplementedError()" in lesson_src, f"{aid}/{cell['id']}: no stub for the student"
            for line in marked_lines(cell_source(src), "BEGIN SOLUTION", "END SOLUTION", min_len=8):
                assert line not in lesson_src, f"{aid}/{cell['id']}: solution line leaked: {line!r}"
        if meta.get("solution") and src["cell_type"] == "markdown":
            assert cell_source(src).strip()[:60] not in lesson_src, f"{aid}/{cell['id']}: model answer leaked"
        for line in marked_lines(cell_source(src), "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
            assert line not in text, f"{aid}: hidden test line leaked: {line!r}"
    assert n_solution_cells > 0, f"{aid} has no graded solution cell"


def graded_functions() -> dict[str, str]:
    """name -> solution body of every function defined in a solution cell."""
    found = {}
    for aid in ASSIGNMENTS:
        for cell in load(notebook(SOLUTIONS, aid))["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell["cell_type"] == "code" and meta.get("solution"):
                tree = ast.parse(cell_source(cell))
                for node in ast.walk(tree):
                    if isinstance(node, ast.FunctionDef):
                        found[node.name] = cell_source(cell)
    return found


def test_helper_package_holds_no_solution():
    functions = graded_functions()
    assert functions, "no graded functions found"
    helper_sources = {p: p.read_text() for p in (REPO / "cnnkit").rglob("*.py")}
    for path, text in helper_sources.items():
        defined = {n.name for n in ast.walk(ast.parse(text)) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        clash = defined & set(functions)
        assert not clash, f"{path.name} defines {sorted(clash)}, which students must write themselves"
        for name, source in functions.items():
            for line in marked_lines(source, "BEGIN SOLUTION", "END SOLUTION", min_len=30):
                assert line not in text, f"{path.name} contains a line of the solution to {name}: {line!r}"


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_solution_notebooks_follow_the_course_format(aid):
    nb = load(notebook(SOLUTIONS, aid))
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    first = cell_source(nb["cells"][0])
    assert first.startswith(f"# Lesson {int(aid[:2])} ·"), "the title cell reads 'Lesson N · Title'"
    ids = [c["id"] for c in nb["cells"]]
    assert len(ids) == len(set(ids))
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader")
        src = cell_source(cell)
        if cell["cell_type"] == "code":
            assert cell.get("outputs") is not None
            for out in cell.get("outputs", []):
                assert out.get("output_type") != "error", f"{aid}/{cell['id']} stored an error"
                assert out.get("name") != "stderr" or "NBVAL_IGNORE_OUTPUT" in src, (
                    f"{aid}/{cell['id']} stored stderr output: {''.join(out.get('text', ''))[:200]}")
        if meta and meta.get("grade") and not meta.get("solution"):
            assert "BEGIN HIDDEN TESTS" in src, f"{aid}/{cell['id']}: every test cell needs hidden tests"
            assert src.rstrip().splitlines()[-1].startswith("passed("), (
                f"{aid}/{cell['id']}: a test cell ends by printing its ✅ line")


def test_course_executor_runs_output_widgets(tmp_path):
    """Lesson 02's explorer draws into an ipywidgets Output in full mode; the course executor
    (python -m autograder execute, the benchmark) must run it and keep no widget state."""
    pytest.importorskip("ipywidgets")
    import nbformat

    from autograder.authoring.runner import execute

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import ipywidgets as widgets\n"
        "from IPython.display import clear_output, display\n"
        "frame = widgets.Output()\n"
        "with frame:\n"
        "    clear_output(wait=True)\n"
        "    print('first frame')\n"
        "display(frame)\n"
        "print('after the widget')")])
    execute(nb, cwd=tmp_path, mode="full", timeout=120)
    texts = [out.get("text", "") for out in nb.cells[0].outputs if out.output_type == "stream"]
    assert "after the widget\n" in texts, nb.cells[0].outputs
    assert "widgets" not in nb.metadata, "widget state (random model ids) left in the notebook"


def test_solved_notebooks_keep_solutions_and_drop_hidden_tests(tmp_path):
    """`python -m autograder solved DIR` (the GPU benchmark's notebooks): solutions and visible
    tests kept, hidden tests removed, no outputs."""
    from autograder.cli import main

    assert main(["solved", str(tmp_path), "07_lenet"]) == 0
    nb = json.loads((tmp_path / "07_lenet" / "07_lenet.ipynb").read_text())
    text = "".join("".join(c["source"]) for c in nb["cells"])
    source = json.loads((SOLUTIONS / "07_lenet" / "07_lenet.ipynb").read_text())
    solution_cells = ["".join(c["source"]) for c in source["cells"] if c["metadata"].get("nbgrader", {}).get("solution")]
    assert solution_cells and all(src in text for src in solution_cells)
    assert "BEGIN HIDDEN TESTS" not in text and "import tensorflow" not in text
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")


def test_tf_log_lines_never_become_stored_outputs():
    """`make solutions` on a CPU where oneDNN is on by default: TensorFlow prints a
    time-stamped C++ log line to stderr once per process. Stored, it would differ on every
    run and fail nbval (whose kernels do not show it), so the course executor drops it and
    keeps real stderr text."""
    import nbformat

    from autograder.authoring.runner import drop_tf_log_lines

    cell = nbformat.v4.new_code_cell("import tensorflow")
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="2026-11-26 10:01:02.345678: I tensorflow/core/util/"
                               "port.cc:153] oneDNN custom operations are on.\n"),
        nbformat.v4.new_output("stream", name="stderr", text="I0000 00:00:1764151262.123456   12345 "
                               "cpu_feature_guard.cc:210] This TensorFlow binary is optimized\nUserWarning: real\n"),
        nbformat.v4.new_output("stream", name="stdout", text="2026-11-26 10:01:02.345678: I printed by the lesson\n"),
    ]
    nb = nbformat.v4.new_notebook(cells=[cell])
    drop_tf_log_lines(nb)
    assert [(o.name, o.text) for o in nb.cells[0].outputs] == [
        ("stderr", "UserWarning: real\n"), ("stdout", "2026-11-26 10:01:02.345678: I printed by the lesson\n")]
