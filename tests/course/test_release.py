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


# Student code starts with code (issue 22, item 8): the maintainers' nbval marker of solutions/ becomes
# the cell's nbval-ignore-output tag in lessons/, which nbval reads just the same.
@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_lessons_show_students_no_nbval_marker(aid):
    solution = {c["id"]: cell_source(c) for c in load(notebook(SOLUTIONS, aid))["cells"]}
    marked = [cid for cid, src in solution.items() if src.startswith("# NBVAL_IGNORE_OUTPUT")]
    for cell in load(notebook(LESSONS, aid))["cells"]:
        assert "NBVAL" not in cell_source(cell), f"lessons/{aid}/{cell['id']} shows students nbval's marker"
        tagged = "nbval-ignore-output" in cell.get("metadata", {}).get("tags", [])
        assert tagged == (cell["id"] in marked), (
            f"lessons/{aid}/{cell['id']}: tagged nbval-ignore-output {tagged}, marked in solutions/ {not tagged}")


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


def _children() -> list[str]:
    """Command lines of this process's live children."""
    import os

    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid == os.getpid():
                found.append(open(f"/proc/{entry}/cmdline").read().replace("\0", " "))
        except (OSError, ValueError, IndexError):
            continue
    return found


@pytest.mark.parametrize("shutdown", ["graceful", "immediate"])
def test_course_executor_leaves_no_kernel_running(tmp_path, shutdown):
    """Each notebook the course executor runs gets its own kernel, stopped once the notebook is
    done (nbclient leaves running a kernel whose manager it was handed)."""
    import nbformat

    from autograder.authoring.runner import execute

    before = [c for c in _children() if "ipykernel" in c]
    for _ in range(2):
        execute(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")]), cwd=tmp_path,
                timeout=60, shutdown_kernel=shutdown)
    assert [c for c in _children() if "ipykernel" in c] == before


def test_solved_notebooks_keep_solutions_and_drop_hidden_tests(tmp_path):
    """`python -m autograder solved DIR` (the GPU benchmark's notebooks): solutions and visible
    tests kept, hidden tests removed, no outputs."""
    from autograder.cli import main

    assert main(["solved", str(tmp_path), "08_lenet"]) == 0
    nb = json.loads((tmp_path / "08_lenet" / "08_lenet.ipynb").read_text())
    text = "".join("".join(c["source"]) for c in nb["cells"])
    source = json.loads((SOLUTIONS / "08_lenet" / "08_lenet.ipynb").read_text())
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
        nbformat.v4.new_output("stream", name="stderr", text="WARNING: All log messages before absl::InitializeLog() "
                               "is called are written to STDERR\n"),
        nbformat.v4.new_output("stream", name="stderr", text="I0000 00:00:1764151262.123456   12345 "
                               "cpu_feature_guard.cc:210] This TensorFlow binary is optimized\nUserWarning: real\n"),
        nbformat.v4.new_output("stream", name="stdout", text="2026-11-26 10:01:02.345678: I printed by the lesson\n"),
    ]
    nb = nbformat.v4.new_notebook(cells=[cell])
    drop_tf_log_lines(nb)
    assert [(o.name, o.text) for o in nb.cells[0].outputs] == [
        ("stderr", "UserWarning: real\n"), ("stdout", "2026-11-26 10:01:02.345678: I printed by the lesson\n")]


def test_gradebook_schema_version_is_read_in_process_as_alembic_gives_it():
    """New gradebooks are stamped with the head of nbgrader's migrations, read in-process
    (autograder.course.alembic_head_in_process) instead of by running ``alembic heads``:
    both must give the same version, or nbgrader would later migrate (or refuse) them."""
    import nbgrader.api

    from autograder import course

    course.alembic_head_in_process()
    fast = nbgrader.api.get_alembic_version
    assert getattr(fast, "in_process", False)
    head = fast.original()  # nbgrader's own: the `alembic heads` command
    assert len(head) >= 12 and fast() == head


def test_a_batch_reuses_a_private_cached_release_and_never_a_stale_one(tmp_path, monkeypatch):
    """The grader's template release is kept in $AUTOGRADER_CACHE/releases (0700: it holds
    the solutions and hidden tests) and reused only for the same solutions and grader code:
    a changed solution is released again; a cache folder others can read is not used."""
    import shutil

    from autograder import course
    from autograder.authoring.release import release_digest, release_template

    monkeypatch.setenv("AUTOGRADER_CACHE", str(tmp_path / "cache"))
    aids = ["01_pixels", "04_pooling"]
    assert release_template(tmp_path / "first", aids) == "released"
    assert (tmp_path / "cache" / "releases").stat().st_mode & 0o777 == 0o700
    assert release_template(tmp_path / "second", aids) == "cached"
    for aid in aids:
        assert release_digest(tmp_path / "second", aid) == release_digest(tmp_path / "first", aid)
        assert (tmp_path / "second" / "release" / aid / f"{aid}.ipynb").read_bytes() == \
            (tmp_path / "first" / "release" / aid / f"{aid}.ipynb").read_bytes()
    assert (tmp_path / "second" / "gradebook.db").read_bytes() == (tmp_path / "first" / "gradebook.db").read_bytes()

    # A solution changed (a new hidden test, say): its release is made again, never reused.
    solutions = tmp_path / "solutions"
    for aid in aids:
        shutil.copytree(course.SOLUTIONS / aid, solutions / aid)
    path = solutions / "04_pooling" / "04_pooling.ipynb"
    path.write_text(path.read_text() + "\n")
    monkeypatch.setattr(course, "SOLUTIONS", solutions)
    assert release_template(tmp_path / "third", aids) == "released"
    monkeypatch.setattr(course, "SOLUTIONS", REPO / "solutions")

    # A cache folder that others can read is not used, though it holds this very release;
    # and nothing more of the solutions is written there.
    entries = sorted((tmp_path / "cache" / "releases").iterdir())
    assert len(entries) == 2
    (tmp_path / "cache" / "releases").chmod(0o755)
    assert release_template(tmp_path / "fourth", aids) == "released"
    assert sorted((tmp_path / "cache" / "releases").iterdir()) == entries


# Lessons 06-08 became 07-09 when "How a CNN learns" became lesson 06 (issue 21). No old name may
# be left: a gradebook, hub or benchmark that still used one would grade or time nothing.
OLD_SLUGS = ("06_fashion_mnist_cnn", "07_lenet", "08_architecture_budgets", "test_mutations_06_08")


def test_no_old_lesson_slug_is_left_anywhere():
    import subprocess

    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.splitlines()
    found = []
    for name in tracked:
        path = REPO / name
        if name == "tests/course/test_release.py" or not path.is_file():
            continue
        hits = [old for old in OLD_SLUGS if old in name]
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            text = ""
        hits += [old for old in OLD_SLUGS if old in text]
        if hits:
            found.append(f"{name}: {sorted(set(hits))}")
    assert not found, "old lesson names left after the renumbering:\n" + "\n".join(found)
    from autograder import course

    assert not set(course.assignments()) & set(OLD_SLUGS), course.assignments()


# The Colab badge and install cell need the course's published repository (GitHub owner/name).
# They once named the placeholder COURSE_REPO: a broken link in every lesson (issue 22, item 9).
COLAB_BADGE = "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"


def test_colab_cells_name_the_configured_repository_and_no_placeholder(tmp_path, monkeypatch):
    """With no repository configured (``course.COURSE_REPO = ""``) the lessons carry neither the
    badge nor the install cell; once one is configured, the release writes it into both."""
    from autograder import course
    from autograder.authoring.release import release

    for folder in (LESSONS, SOLUTIONS):
        for aid in ASSIGNMENTS:
            text = notebook(folder, aid).read_text()
            placeholder = "COURSE_REPO" if folder == LESSONS else "github.com/COURSE_REPO"
            assert placeholder not in text, f"{folder.name}/{aid} names the placeholder COURSE_REPO"
            assert "colab.research.google.com/github" not in text, f"{folder.name}/{aid} links to Colab itself"
    if not course.COURSE_REPO:
        for aid in ASSIGNMENTS:
            text = notebook(LESSONS, aid).read_text()
            assert "google.colab" not in text and "colab-badge" not in text, (
                f"lessons/{aid} has a Colab cell, but no course repository is configured")

    monkeypatch.setattr(course, "COURSE_REPO", "someone/pixels-course")
    aid = "01_pixels"
    (out,) = release(dest=tmp_path, aids=[aid])
    cells = load(out)["cells"]
    solution = load(notebook(SOLUTIONS, aid))["cells"]
    badge = f"{COLAB_BADGE}(https://colab.research.google.com/github/someone/pixels-course/blob/main/lessons/{aid}/{aid}.ipynb)"
    assert cell_source(cells[1]).startswith(badge + "\n"), cell_source(cells[1])
    install = cell_source(cells[2])
    assert '"git+https://github.com/someone/pixels-course"' in install and 'if "google.colab" in sys.modules:' in install
    assert [c["id"] for c in cells] == [c["id"] for c in solution], "the Colab cells stay where solutions/ has them"
    assert sum("colab-badge" in cell_source(c) for c in cells) == 1

    monkeypatch.setattr(course, "COURSE_REPO", "not a repository")
    with pytest.raises(ValueError, match="owner/name"):
        release(dest=tmp_path, aids=[aid])


# Figures for everyone (issue 22, item 6): a screen reader reads a figure's alt text from its output's
# metadata, {"image/png": {"alt": ...}}, as cnnkit.plotting.show writes it. Every lesson.
ALT_TEXT_LESSONS = ASSIGNMENTS


@pytest.mark.parametrize("aid", ALT_TEXT_LESSONS)
def test_every_figure_has_alt_text(aid):
    missing, figures = [], 0
    for cell in load(notebook(SOLUTIONS, aid))["cells"]:
        for out in cell.get("outputs", []):
            if "image/png" not in out.get("data", {}):
                continue
            figures += 1
            alt = out.get("metadata", {}).get("image/png", {}).get("alt", "")
            if len(alt) < 60 or alt.lstrip().startswith("<Figure"):
                missing.append(f"cell {cell['id']}: {alt!r}")
    assert figures, f"solutions/{aid} stores no figure: execute it (make solutions)"
    assert not missing, (f"solutions/{aid}: figures without alt text; show them with cnnkit.plotting.show(fig, alt), "
                         "saying what the figure shows, in words, with its key numbers:\n" + "\n".join(missing))
