"""The similarity report (autograder/reporting/similarity.py), with the real copydetect.

Batches are written where a grade run leaves them (testbed/similarity_batch.py): nothing is
executed. Per lesson 02–05 a class of six: the reference solution (``ref``), two students made
of the mutation tests' correct candidates (``alt0``: loops, ``alt1``: vectorised/einsum…), a
planted copy of ``ref`` and one of ``alt0`` (variables renamed, functions reordered, comments
and whitespace changed, a print added), and a student who handed in the release unchanged.

- planted copies rank above every other pair and are flagged;
- independent correct solutions (every other pair) are not flagged;
- two correct one-line normalize answers are not evidence, even when identical;
- the release's code never matches, and the reference model does not in build_* cells;
- a fingerprint never runs from one answer cell into the next;
- ``python -m autograder similarity OUT`` writes private pages without JavaScript (and a
  screenshot of one side-by-side page, kept in test-artifacts/similarity/).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from conftest import ASSIGNMENTS, LESSONS as LESSONS_DIR, REPO, notebook, run_autograder

from autograder.reporting.similarity import FLAG_SCORE, MIN_TOKENS, gather
from testbed import similarity_batch as batch

LESSONS = ["02_convolution", "03_padding_and_stride", "04_pooling", "05_relu_and_feature_maps"]
PLANTED = {("alt0", "copy_alt0"), ("copy_ref", "ref")}
ARTIFACTS = REPO / "test-artifacts" / "similarity"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--window-size=1200,1600"]


def _aid_with(grade_id: str) -> str:
    """The assignment whose release has this answer cell (lessons are renumbered now and then)."""
    for aid in ASSIGNMENTS:
        if notebook(LESSONS_DIR, aid).is_file() and grade_id in batch.released_answers(aid):
            return aid
    pytest.fail(f"no assignment has an answer cell {grade_id}")


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    out = tmp_path_factory.mktemp("similarity") / "out"
    out.mkdir()
    for aid in LESSONS:
        students = batch.independent_students(aid)
        students["copy_alt0"] = batch.copy_of(students["alt0"])
        students["copy_ref"] = batch.copy_of(students["ref"])
        students["blank"] = batch.released_answers(aid)
        batch.write_batch(out, aid, students)
    return out, {a.aid: a for a in gather(out)}


def _scores(assignment) -> dict[tuple[str, str], float]:
    return {(p.a, p.b): p.score for p in assignment.pairs}


@pytest.mark.parametrize("aid", LESSONS)
def test_planted_copies_rank_above_every_independent_pair(planted, aid):
    _, result = planted
    ranked = [(p.a, p.b) for p in result[aid].pairs]
    assert set(ranked[:2]) == PLANTED, f"{aid}: the first pairs are {ranked[:4]}: {_scores(result[aid])}"
    flagged = {(p.a, p.b) for p in result[aid].pairs if p.flagged}
    assert PLANTED <= flagged, f"{aid}: planted copies not flagged: {_scores(result[aid])}"


@pytest.mark.parametrize("aid", LESSONS)
def test_independent_solutions_are_not_flagged(planted, aid):
    _, result = planted
    wrongly = [(p.a, p.b, round(p.score, 2)) for p in result[aid].pairs if p.flagged and (p.a, p.b) not in PLANTED]
    assert not wrongly, f"{aid}: independent correct solutions flagged: {wrongly}"
    assert max(s for pair, s in _scores(result[aid]).items() if pair not in PLANTED) < FLAG_SCORE


def test_one_line_normalize_is_not_evidence(tmp_path):
    """Two students whose only answer is the same correct one-line normalize, letter for letter:
    the cell matches, but is too short to count, so the pair scores 0 and is not listed. (A
    shorter one-liner, ``np.asarray(image).astype(np.float32) / 255``, is under one k-gram and
    cannot match at all.)"""
    aid = _aid_with("normalize")
    released = batch.released_answers(aid)
    one_line = batch.fill(released["normalize"], "return np.asarray(image, dtype=np.float32) / np.float32(255.0)\n")
    batch.write_batch(tmp_path, aid, {"ana": {**released, "normalize": one_line},
                                      "ben": {**released, "normalize": one_line}})
    [result] = gather(tmp_path)
    [pair] = result.pairs
    [cell] = [c for c in pair.cells if c.grade_id == "normalize"]
    assert cell.score > 0.5, "the two one-liners should match (or this test shows nothing)"
    assert max(cell.a.tokens, cell.b.tokens) < MIN_TOKENS and not cell.counted
    assert pair.score == 0 and not pair.flagged and result.listed == []


def test_release_boilerplate_never_matches(planted, tmp_path):
    """The student who handed in the release unchanged shares nothing with anyone; in a cell
    full of given code (build_lenet) two different answers share nothing either."""
    _, result = planted
    for aid in LESSONS:
        for p in result[aid].pairs:
            if "blank" in (p.a, p.b):
                assert p.score == 0 and all(c.matched == 0 for c in p.cells), (aid, p.a, p.b)
    aid = _aid_with("build_lenet")
    released = batch.released_answers(aid)
    reference = batch.reference_answers(aid)["build_lenet"]
    other = batch.fill(released["build_lenet"], 'model.add(layers.Conv2D(filters=16, kernel_size=8, '
                       'activation="tanh"))\nmodel.add(layers.MaxPooling2D(3))\n')
    batch.write_batch(tmp_path, aid, {"ana": {**released, "build_lenet": reference},
                                      "ben": {**released, "build_lenet": other}})
    [result] = gather(tmp_path)
    [cell] = [c for c in result.pairs[0].cells if c.grade_id == "build_lenet"]
    assert cell.matched == 0, "the given lines of build_lenet matched"


def test_fingerprints_stay_in_their_cell(tmp_path):
    """Two independent answers (loops vs sliding_window_view) that end max_pool the same short way
    (``return out``) and start average_pool the same short way (``stride = stride or k``):
    each is shorter than a k-gram, so within each cell nothing matches. Fingerprints that ran on
    from max_pool into average_pool (over the given signature between them) would match."""
    aid = "04_pooling"
    students = batch.independent_students(aid)
    ana, ben = dict(students["alt0"]), dict(students["alt1"])
    ana["max_pool"] = ana["max_pool"].replace("return out[..., 0] if image.ndim == 2 else out", "return out")
    ben["max_pool"] = ben["max_pool"].replace("return windows.max(axis=(-2, -1))",
                                              "out = windows.max(axis=(-2, -1))\n    return out")
    ben["average_pool"] = ben["average_pool"].replace("stride = k if stride is None else stride",
                                                      "stride = stride or k")
    assert ana["max_pool"].rstrip().endswith("return out") and ben["max_pool"].rstrip().endswith("return out")
    assert "stride = stride or k" in ana["average_pool"] and "stride = stride or k" in ben["average_pool"]
    batch.write_batch(tmp_path, aid, {"ana": ana, "ben": ben})
    [result] = gather(tmp_path)
    assert [(c.grade_id, c.matched) for c in result.pairs[0].cells] == [("max_pool", 0), ("average_pool", 0)]


def test_spec_transcriptions_are_discounted(tmp_path):
    """Two students who both typed the specified Keras models, laid out in their own ways (one
    reformatted, the other with variables renamed and a print added too), are not flagged: code
    that matches the reference is no evidence between them."""
    aid = _aid_with("build_cnn_model")
    reference = batch.reference_answers(aid)
    spec = {gid: src for gid, src in reference.items() if gid.startswith("build_")}
    assert len(spec) >= 2
    ana = {gid: batch.reformat(src) for gid, src in spec.items()}
    batch.write_batch(tmp_path, aid, {"ana": {**reference, **ana}, "ben": {**reference, **batch.copy_of(spec)}})
    [result] = gather(tmp_path)
    [pair] = result.pairs
    assert all(c.counted for c in pair.cells if c.grade_id in spec), "both answers are long enough to count"
    cells = [(c.grade_id, round(c.score, 2), c.counted) for c in pair.cells]
    assert not pair.flagged and pair.score < FLAG_SCORE, cells


def test_cli_writes_private_pages(planted):
    out, result = planted
    proc = run_autograder("similarity", str(out), timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    folder = out / "similarity"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    pages = [p for p in folder.rglob("*") if p.is_file()]
    assert pages and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in pages)
    assert all(stat.S_IMODE(d.stat().st_mode) == 0o700 for d in folder.rglob("*") if d.is_dir())
    index = (folder / "index.html").read_text(encoding="utf-8")
    for aid in LESSONS:
        section = re.search(rf'<section id="{aid}">(.*?)</section>', index, re.S).group(1)
        first = re.findall(r"<tr class=\"flagged\"><td class=n>\d+</td><td>(\w+)</td><td>(\w+)</td>", section)
        assert set(first) == PLANTED, (aid, first)
        for p in result[aid].listed:
            assert (folder / p.page).is_file()
        assert "Numeric answers equal to another student's variant" in section
    for page in pages:
        assert not re.search(r"<script|javascript:|\son\w+=", page.read_text(encoding="utf-8"), re.I), page
    copy = (folder / "04_pooling" / "alt0--copy_alt0.html").read_text(encoding="utf-8")
    assert copy.count("<mark>") > 5 and "lines given by the release" in copy
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    shutil.copytree(folder, ARTIFACTS)
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: apt-get install chromium (CI's .ci/run installs it).", pytrace=False)
    shot = ARTIFACTS / "side-by-side.png"
    proc = subprocess.run([str(CHROMIUM), *CHROMIUM_ARGS, f"--screenshot={shot}",
                           (ARTIFACTS / "04_pooling" / "alt0--copy_alt0.html").as_uri()],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(out)})
    assert proc.returncode == 0 and shot.stat().st_size > 10_000, proc.stderr[-2000:]
