"""What the course's text tells a reader holds.

Every ``python -m MODULE`` quoted in the lessons, the README or docs/ names a module that
``python -m`` can run from the repository, and every ``make TARGET`` quoted in a code span
or block is a target of the Makefile. A renamed module or target breaks a test here, not a
student's first command.

The README's table of lessons gives, per lesson, the points that its notebook grades.
Every lesson ends with 2–4 references to read next, each a link with a line on why.
Sizes are written in one notation (n, k, s, p), stated once in lesson 03.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys

import pytest

from conftest import ASSIGNMENTS, LESSONS, REPO, SOLUTIONS, cell_source, load, notebook

#: ``python -m X``, ``python3.12 -m X``, ``.venv/bin/python -m X``, ``py -3.12 -m X``.
PYTHON_M = re.compile(r"(?<![\w-])(?:python[\d.]*(?:\.exe)?|py(?:\s+-[\d.]+)?)\s+-m\s+([A-Za-z_][\w.]*[A-Za-z_\d])")
#: ``make`` at the start of a command (line start, after ; && || | ( or sudo), then its words.
MAKE = re.compile(r"(?:^|[;&|(]|\bsudo\b)[ \t]*(?:\$[ \t]+)?make((?:[ \t]+[^\s;&|#()`]+)*)", re.M)
FENCED = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.M | re.S)
INLINE = re.compile(r"(`+)(.+?)\1", re.S)
COMMENT = re.compile(r"(?:^|[ \t])#.*$", re.M)  # a shell or Python comment: prose, not a command


def course_documents() -> dict[str, str]:
    """Path (relative to the repository) -> markdown text, for the README, docs/*.md and every
    lesson notebook (its markdown cells as they are, its code cells as fenced blocks)."""
    docs = {"README.md": (REPO / "README.md").read_text(encoding="utf-8")}
    for path in sorted((REPO / "docs").glob("*.md")):
        docs[path.relative_to(REPO).as_posix()] = path.read_text(encoding="utf-8")
    for path in sorted(LESSONS.glob("*/*.ipynb")):
        docs[path.relative_to(REPO).as_posix()] = notebook_markdown(json.loads(path.read_text(encoding="utf-8")))
    return docs


def notebook_markdown(nb: dict) -> str:
    parts = []
    for cell in nb["cells"]:
        source = cell_source(cell)
        parts.append(source if cell["cell_type"] == "markdown" else f"```\n{source}\n```")
    return "\n\n".join(parts)


def code_snippets(markdown: str) -> list[str]:
    """The fenced blocks and inline code spans of a markdown text: where commands are quoted."""
    blocks = [m.group(1) for m in FENCED.finditer(markdown)]
    prose = FENCED.sub("\n", markdown)
    return blocks + [m.group(2) for m in INLINE.finditer(prose)]


def quoted_modules(markdown: str) -> set[str]:
    """Every module named by ``python -m MODULE`` anywhere in the text."""
    return set(PYTHON_M.findall(markdown))


def quoted_make_targets(markdown: str) -> set[str]:
    """Every target named by a ``make`` command quoted in a code span or block; variables
    (``NB=…``), options, bracketed optional arguments and ``…`` placeholders are not targets."""
    targets = set()
    for snippet in code_snippets(markdown):
        for m in MAKE.finditer(COMMENT.sub("", snippet)):
            targets.update(word for word in m.group(1).split()
                           if "=" not in word and not word.startswith(("-", "[", "<", "$", "…", "...")))
    return targets


def makefile_targets(makefile: str) -> set[str]:
    targets = set()
    for m in re.finditer(r"^([^\s:#=][^:=\n]*?)[ \t]*::?(?!=)", makefile, re.M):
        targets.update(m.group(1).split())
    return targets


#: Run in a fresh interpreter from the repository root, as ``python -m`` would be: looking a
#: module up can import its parents, and looking up pip makes setuptools' distutils shim step
#: aside for the rest of the process.
FIND_SPECS = """
import importlib.util, json, sys
def runs(name):
    try:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations is not None:
            spec = importlib.util.find_spec(name + ".__main__")
        return spec is not None
    except ImportError:  # a parent package that is missing
        return False
print(json.dumps({name: runs(name) for name in sys.argv[1:]}))
"""


@functools.lru_cache(maxsize=None)
def _runnable(names: tuple[str, ...]) -> dict[str, bool]:
    out = subprocess.run([sys.executable, "-c", FIND_SPECS, *names], cwd=REPO, capture_output=True, text=True,
                         check=True, timeout=120).stdout
    return json.loads(out)


def module_runs(name: str) -> bool:
    """Whether ``python -m name`` run from the repository root finds something to run: a module,
    or a package with a ``__main__``."""
    return _runnable((name,))[name]


def missing_modules(markdown: str) -> list[str]:
    names = tuple(sorted(quoted_modules(markdown)))
    runnable = _runnable(names) if names else {}
    return [name for name in names if not runnable[name]]


def missing_make_targets(markdown: str, makefile: str) -> list[str]:
    return sorted(quoted_make_targets(markdown) - makefile_targets(makefile))


DOCUMENTS = course_documents()


def test_the_extractors_find_what_they_should():
    text = ("Run `python -m cnnkit.doctor`, then `make check NB=x.ipynb`.\n\n```bash\n"
            "sudo make hub ROSTER=r.csv   # (make does this)\npy -3.12 -m venv .venv\n"
            "apt-get install -y git make python3-venv\ncd x && make release\n```\n"
            "Any `make …` and `python -m …` works.\n"
            "We make the function right; make and bash are missing.\n")
    assert quoted_modules(text) == {"cnnkit.doctor", "venv"}
    assert quoted_make_targets(text) == {"check", "hub", "release"}
    assert {"lab", "check", "release", "hub"} <= makefile_targets((REPO / "Makefile").read_text())
    assert module_runs("autograder") and module_runs("benchmarks.training") and module_runs("pip")
    assert not module_runs("cnnkit.bench") and not module_runs("no_such_package.bench")


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_every_quoted_python_m_module_exists(name):
    missing = missing_modules(DOCUMENTS[name])
    assert not missing, (f"{name} tells the reader to run `python -m` {', '.join(missing)}, "
                         "which python cannot find from the repository root")


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_every_quoted_make_target_exists(name):
    missing = missing_make_targets(DOCUMENTS[name], (REPO / "Makefile").read_text(encoding="utf-8"))
    assert not missing, f"{name} quotes `make` {', '.join(missing)}, which the Makefile does not define"


#: A row of the README's table of lessons: | 07 | [title](lessons/08_lenet/08_lenet.ipynb) | exercises |
README_ROW = re.compile(r"^\|\s*(\d+)\s*\|\s*\[[^\]]*\]\((lessons/[^)]+?\.ipynb)\)\s*\|(.*)\|\s*$", re.M)


def readme_points(readme: str) -> dict[str, int]:
    """Notebook path -> the points its row of the README's table adds up to: every
    parenthesised number that opens an exercise's points, as in `relu` (1), a written
    answer (2, manual) or (3: the VGG16 table)."""
    return {m.group(2): sum(int(n) for n in re.findall(r"\((\d+)\b", m.group(3)))
            for m in README_ROW.finditer(readme)}


def graded_points(nb: dict) -> int:
    """What nbgrader grades in a notebook: the points of every cell marked grade: true."""
    return sum(cell["metadata"]["nbgrader"].get("points", 0) for cell in nb["cells"]
               if cell["metadata"].get("nbgrader", {}).get("grade"))


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_readme_points_per_lesson_equal_the_notebooks(aid):
    rows = readme_points((REPO / "README.md").read_text(encoding="utf-8"))
    path = notebook(LESSONS, aid).relative_to(REPO).as_posix()
    assert path in rows, f"README.md's table of lessons has no row linking {path}"
    graded = graded_points(load(notebook(LESSONS, aid)))
    assert rows[path] == graded, (f"README.md gives {aid} {rows[path]} points, but its notebook grades {graded}: "
                                  "a graded cell is missing from the row, or a number is wrong")


def further_reading(nb: dict) -> list[str] | None:
    """The items of the "Further reading" cell that closes a lesson, or None if it has none."""
    last = nb["cells"][-1]
    source = cell_source(last)
    if last["cell_type"] != "markdown" or not source.startswith("## Further reading"):
        return None
    return [line[2:] for line in source.splitlines() if line.startswith("- ")]


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_every_lesson_ends_with_further_reading(aid):
    refs = further_reading(load(notebook(LESSONS, aid)))
    assert refs is not None, f"lessons/{aid} does not end with a \"## Further reading\" cell"
    assert 2 <= len(refs) <= 4, f"lessons/{aid}: {len(refs)} references under Further reading, expected 2 to 4"
    for ref in refs:
        assert re.match(r"\[[^\]]+\]\(https://[^)\s]+\)", ref) and "): " in ref, (
            f"lessons/{aid}: a further-reading item should open with a [title](https://…) link and say, "
            f"after a colon, why to read it: {ref[:80]!r}")


#: What a maintainer writes and a student should not have to read (issue 22, "Maintainers' remarks
#: in student prose"): nbval's markers, the test runner, CI, CPU instruction sets, why a cell's output
#: is not compared. They belong in code comments or docs/.
MAINTAINER_MARKERS = re.compile(
    r"NBVAL|nbval|pytest|\bCI\b|\bAVX|\bSSE\d|instruction set|"
    r"tests? (?:don't|do not|doesn't|does not|never) compare|capped at \d|fast mode's \d", re.I)


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_student_prose_carries_no_maintainers_remarks(aid):
    found = []
    for cell in load(notebook(LESSONS, aid))["cells"]:
        if cell["cell_type"] == "markdown":
            text = cell_source(cell)
            found += [f"cell {cell['id']}: …{text[max(0, m.start() - 60):m.end() + 60]}…"
                      for m in MAINTAINER_MARKERS.finditer(text)]
    assert not found, (f"lessons/{aid}: a maintainer's remark in the student's text (move it to a code "
                       "comment or docs/):\n" + "\n".join(found))


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_every_lesson_states_the_time_the_course_computes(aid):
    """Issue 22: each lesson's time is computed the same way (autograder.authoring.times:
    reading at 150 words/min, 10 minutes per graded exercise, full-mode training on two cores)."""
    import nbformat

    from autograder.authoring.times import TIME_LINE, parts, time_line

    nb = nbformat.read(LESSONS / aid / f"{aid}.ipynb", as_version=4)
    stated = TIME_LINE.search(nb.cells[0].source)
    assert stated, f"{aid}: the title cell states no **Time:**"
    expected = time_line(parts(nb, aid))
    assert stated.group(0) == expected, f"{aid} states {stated.group(0)!r}; the course computes {expected!r}"
    assert parts(nb, aid)["total"] <= 90, f"{aid} takes {parts(nb, aid)['total']} minutes, over the course's 90"


#: Issue 22, "one notation": lesson 03 names the input's side n, the kernel's (or pooling window's)
#: side k, the stride s and the padding per side p, and every lesson writes sizes that way. The old
#: forms must not come back into any lesson's prose: the kernel as f (⌊(n − f)/s⌋, f×f, (f, f, C_in…)),
#: the window as `size` ((n − size)), the input as H inside the output-size formula (⌊(H − …).
OLD_NOTATION = re.compile(r"⌊\s*\(\s*[HW]\b|\((?:n|H|W)\s*[−-]\s*(?:f|size)\)|\bf\s*[×·]\s*f\b|\(f,\s*f,")
OUTPUT_SIZE = "⌊(n + 2p − k)/s⌋ + 1"
#: The solution and the hidden tests, which the release takes out of what the student sees.
STUDENT_HIDDEN = re.compile(r"### BEGIN SOLUTION.*?### END SOLUTION|### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", re.S)
#: The finished output-size rule, in prose or code: what must not sit next to the output_size exercise.
FINISHED_RULE = re.compile(r"⌊\s*\(\s*n|⌈\s*n\s*/\s*s\s*⌉|floor\(\s*\(\s*n|ceil\(\s*n|\(n\s*[−-]\s*k\)\s*//|\(n\s*\+\s*s\s*[−-]\s*1\)")


def old_notation(nb: dict) -> list[str]:
    """Where a notebook's markdown still writes sizes the old way, with some context."""
    found = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            text = cell_source(cell)
            found += [f"cell {cell.get('id')}: …{text[max(0, m.start() - 40):m.end() + 40]}…"
                      for m in OLD_NOTATION.finditer(text)]
    return found


def notation_problems_of_lesson_03(nb: dict) -> list[str]:
    """What lesson 03 owes the notation: one box that names n, k, s and p and explains ⌊ ⌋ and ⌈ ⌉;
    the output-size formula with p, stated after the output_size exercise; and no finished rule in
    the exercise's header, its graded cell or its test cell (STYLE.md, "Exercises that measure
    understanding")."""
    cells = nb["cells"]
    problems = []
    boxes = [cell_source(c) for c in cells if c["cell_type"] == "markdown" and "**Notation" in cell_source(c)]
    if len(boxes) != 1:
        problems.append(f"{len(boxes)} cells state the notation (**Notation…), expected 1")
    elif not all(part in boxes[0] for part in ("**n**", "**k**", "**s**", "**p**", "⌊x⌋", "⌈x⌉")):
        problems.append("the notation box does not name n, k, s and p and explain ⌊x⌋ and ⌈x⌉")
    [at] = [i for i, c in enumerate(cells) if c["metadata"].get("nbgrader", {}).get("grade_id") == "output_size"]
    for cell in cells[at - 1:at + 2]:
        seen = STUDENT_HIDDEN.sub("", cell_source(cell))  # what the released lesson shows the student
        problems += [f"cell {cell.get('id')} gives the output_size exercise away: …{m.group(0)}…"
                     for m in FINISHED_RULE.finditer(seen)]
    if not any(OUTPUT_SIZE in cell_source(c) for c in cells[at + 2:] if c["cell_type"] == "markdown"):
        problems.append(f"no markdown after the output_size exercise states {OUTPUT_SIZE}")
    if any(OUTPUT_SIZE in cell_source(c) for c in cells[:at + 2]):
        problems.append(f"{OUTPUT_SIZE} appears before the student has written output_size")
    return problems


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_every_lesson_writes_sizes_in_the_course_notation(aid):
    found = old_notation(load(notebook(SOLUTIONS, aid)))
    assert not found, (f"solutions/{aid} writes sizes in an old notation; lesson 03's is n, k, s, p, "
                       f"with output side {OUTPUT_SIZE}:\n" + "\n".join(found))


def test_lesson_03_states_the_notation_and_lets_the_student_derive_the_formula():
    problems = notation_problems_of_lesson_03(load(notebook(SOLUTIONS, "03_padding_and_stride")))
    assert not problems, "lesson 03: " + "; ".join(problems)


#: Exercises whose finished rule the lesson used to print next to them (the lesson review, §3:
#: "exercises that are transcription"). The rule may come after the exercise's test cell, where it
#: sums up what the student found; before it, in the exercise's header, docstring or visible
#: messages, it turns the exercise into copying.
FINISHED_RULES = {
    ("03_padding_and_stride", "same_padding"):
        r"\(\s*⌈\s*n\s*/\s*s\s*⌉\s*[−-]\s*1\s*\)\s*[·*]\s*s|ceil\(\s*n\s*/|total\s*//\s*2|⌊\s*total\s*/\s*2\s*⌋",
    ("05_relu_and_feature_maps", "max_via_relu"): r"\b[ab]\s*\+\s*relu\(\s*[ab]\s*[−-]\s*[ab]\s*\)",
    ("05_relu_and_feature_maps", "conv_params"):
        r"\(\s*k[hw]?\s*[·*]\s*k[hw]?\s*[·*]\s*(?:C_in|in_channels)\s*\+\s*1\s*\)",
    ("05_relu_and_feature_maps", "dense_params"): r"\(\s*in(?:_features)?\s*\+\s*1\s*\)\s*[·*]\s*units",
}


def rule_placement_problems(nb: dict, grade_id: str, rule: str) -> list[str]:
    """Where a notebook shows an exercise's finished rule to the student before the exercise's
    test cell has run, and whether it states the rule anywhere after it."""
    cells, pattern = nb["cells"], re.compile(rule)
    [test_at] = [i for i, c in enumerate(cells) if c["metadata"].get("nbgrader", {}).get("grade_id") == f"test_{grade_id}"]
    problems = [f"cell {cell.get('id')} shows it before the exercise is done: …{m.group(0)}…"
                for cell in cells[:test_at + 1] for m in pattern.finditer(STUDENT_HIDDEN.sub("", cell_source(cell)))]
    if not any(pattern.search(cell_source(c)) for c in cells[test_at + 1:] if c["cell_type"] == "markdown"):
        problems.append("no markdown after the exercise states the rule")
    return problems


@pytest.mark.parametrize("aid, grade_id", sorted(FINISHED_RULES))
def test_an_exercise_s_rule_comes_after_the_exercise(aid, grade_id):
    problems = rule_placement_problems(load(notebook(SOLUTIONS, aid)), grade_id, FINISHED_RULES[aid, grade_id])
    assert not problems, f"{aid}, {grade_id}: " + "; ".join(problems)


def hand_values_shown(nb: dict) -> list[str]:
    """Where lesson 02 shows a student the answers of Exercise 2.2 (the two values computed by
    hand) before the next exercise begins: in a cell's visible source, other than the solution's,
    or in a stored output, which the student's own run of the lesson would print too. (Once
    convolve_at is written, the lesson prints the whole feature map: that is after the exercise.)"""
    graded = [i for i, c in enumerate(nb["cells"]) if c["metadata"].get("nbgrader", {}).get("solution")]
    at = [i for i in graded if nb["cells"][i]["metadata"]["nbgrader"].get("grade_id") == "hand_values"][0]
    cells = nb["cells"][:min([i for i in graded if i > at], default=len(nb["cells"]))]
    answer = cells[at]
    values = re.findall(r"^\s*at_\d_\d\s*=\s*(-?\d+)", cell_source(answer), re.M)
    assert len(values) == 2, f"the solution of hand_values assigns {values}, expected two integers"
    shown = []
    for cell in cells:
        texts = [] if cell is answer else [STUDENT_HIDDEN.sub("", cell_source(cell))]
        texts += ["".join(o.get("text", "")) + json.dumps(o.get("data", {}).get("text/plain", ""))
                  for o in cell.get("outputs", [])]
        shown += [f"cell {cell.get('id')} shows {v}" for v in values for t in texts
                  if re.search(rf"(?<![\d.\-]){re.escape(v)}(?![\d.])", t)]
    return shown


def test_the_hand_computed_values_are_shown_nowhere_in_lesson_02():
    shown = hand_values_shown(load(notebook(SOLUTIONS, "02_convolution")))
    assert not shown, "lesson 02 gives Exercise 2.2 away: " + "; ".join(shown)
