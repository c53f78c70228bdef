"""The test cells of lessons 02–05 fail on wrong answers, naming the mistake, and pass correct ones.

Every graded test cell is taken from its solutions notebook and executed (``exec``) in a fresh
namespace holding numpy, the course's check helpers and a candidate implementation:

- **wrong candidates**, one per mistake the course names that applies to the exercise (kernel flip,
  off-by-one bounds, floor vs ceil in the output size, ignored stride, padding on the channel axis,
  missing bias, uint8 overflow, in-place modification, and a few more). The *visible* part of the cell
  must raise ``AssertionError`` with a message that names the mistake: a student without the hidden
  tests is told what went wrong.
- **correct alternatives**, at least two per exercise, written differently from the solution (loops,
  vectorised numpy, other formulas). The *whole* cell, hidden tests included, must pass: the tests
  accept every correct answer, not only ours.
- a few **wrong answers that only the hidden tests can catch** (memorised visible answers, padding that
  is right for square kernels only): the visible part passes, the whole cell must fail.

The candidates (testbed/candidates.py) are independent of the notebooks' solution cells. They
reach the test cells as the grader hands them over: through autograder.job.plain.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from autograder.job.plain import Plain, answer_function
from cnnkit.checks import passed, rel_error, shape_str
from conftest import SOLUTIONS, cell_source, load, notebook
from testbed.candidates import HIDDEN_ONLY, RIGHT, WRONG

HIDDEN = "### BEGIN HIDDEN TESTS"
PLAIN = Plain(np)
LESSONS = ["02_convolution", "03_padding_and_stride", "04_pooling", "05_relu_and_feature_maps"]


def graded_test_cells(aid: str) -> dict[str, str]:
    """grade_id -> source of every autograded test cell of a solutions notebook."""
    cells = {}
    for cell in load(notebook(SOLUTIONS, aid))["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "code" and meta.get("grade") and not meta.get("solution"):
            cells[meta["grade_id"]] = cell_source(cell)
    return cells


_CELLS: dict[str, dict[str, str]] = {}


def cell(aid: str, test_id: str, visible_only: bool) -> str:
    if aid not in _CELLS:
        _CELLS[aid] = graded_test_cells(aid)
    source = _CELLS[aid][test_id]
    assert HIDDEN in source, f"{aid}/{test_id} has no hidden tests"
    return source.split(HIDDEN)[0] if visible_only else source


def as_graded(candidate: dict) -> dict:
    """The candidate as the grader's guard hands it to the tests: functions return their results
    made plain, variables are made plain (autograder.job.plain). Right answers must keep their
    marks and wrong ones their messages through it."""
    return {name: answer_function(PLAIN, name, value) if callable(value) else PLAIN(value, f"{name} is")
            for name, value in candidate.items()}


def run_cell(aid: str, test_id: str, candidate: dict, visible_only: bool) -> None:
    namespace = {"__name__": "__test_cell__", "np": np, "passed": passed, "rel_error": rel_error,
                 "shape_str": shape_str, **as_graded(candidate)}
    code = compile(cell(aid, test_id, visible_only), f"<{aid}:{test_id}>", "exec")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # uint8 overflow warnings of the wrong candidates
        exec(code, namespace)


def _ids(cases):
    return [f"{aid[:2]}-{test_id}-{label}" for aid, test_id, label, *_ in cases]


@pytest.mark.parametrize("aid, test_id, label, candidate, pattern", WRONG, ids=_ids(WRONG))
def test_visible_checks_name_the_mistake(aid, test_id, label, candidate, pattern):
    with pytest.raises(AssertionError) as info:
        run_cell(aid, test_id, candidate, visible_only=True)
    message = str(info.value)
    assert re.search(pattern, message, re.I | re.S), (
        f"{aid}/{test_id} failed the wrong candidate ({label}), but its message does not name the mistake "
        f"(no match for {pattern!r}):\n{message}")


@pytest.mark.parametrize("aid, test_id, label, candidate", HIDDEN_ONLY, ids=_ids(HIDDEN_ONLY))
def test_hidden_tests_catch_what_visible_checks_miss(aid, test_id, label, candidate):
    run_cell(aid, test_id, candidate, visible_only=True)  # the visible checks pass...
    with pytest.raises(AssertionError):
        run_cell(aid, test_id, candidate, visible_only=False)  # ...and the hidden tests fail


@pytest.mark.parametrize("aid, test_id, label, candidate", RIGHT, ids=_ids(RIGHT))
def test_correct_alternatives_pass_every_check(aid, test_id, label, candidate, capsys):
    run_cell(aid, test_id, candidate, visible_only=False)
    assert "✅" in capsys.readouterr().out


def test_every_graded_cell_is_covered():
    """Each test cell of lessons 02–05 meets at least one wrong and two correct candidates."""
    for aid in LESSONS:
        if not notebook(SOLUTIONS, aid).is_file():
            continue
        for test_id in graded_test_cells(aid):
            wrong = [c for c in WRONG if c[:2] == (aid, test_id)]
            right = [c for c in RIGHT if c[:2] == (aid, test_id)]
            assert wrong, f"{aid}/{test_id}: no wrong candidate"
            assert len(right) >= 2, f"{aid}/{test_id}: fewer than two correct alternatives"


ISSUE_MISTAKES = ["kernel flip", "off-by-one bounds", "floor", "stride ignored", "padding on the channel axis", "missing bias",
                  "uint8 overflow", "in-place modification"]


def test_every_named_mistake_is_tried():
    """Each mistake the course names has at least one wrong candidate."""
    labels = " | ".join(label for _, _, label, _, _ in WRONG)
    for mistake in ISSUE_MISTAKES:
        assert mistake in labels, f"no wrong candidate for {mistake!r}"
