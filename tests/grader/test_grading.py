"""The real grading command, end to end: full marks for the solutions, 0 for the blank
lessons, partial credit for a wrong answer, and a clear status for a broken file."""

from __future__ import annotations

import contextlib
import csv
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import (ASSIGNMENTS, LESSONS, REPO, SOLUTIONS, cell_source, copy_as_submission, html_text,
                      load, marked_lines, notebook, run_autograder)


@pytest.fixture(scope="session")
def batch(tmp_path_factory):
    """One batch through `python -m autograder grade`, as an instructor would run it."""
    subs = tmp_path_factory.mktemp("submitted")
    out = tmp_path_factory.mktemp("graded")
    for aid in ASSIGNMENTS:
        copy_as_submission(notebook(SOLUTIONS, aid), subs, "reference", aid)
        copy_as_submission(notebook(LESSONS, aid), subs, "blank", aid)
    # A wrong normalize (divides by 256): the rest of lesson 01 is right.
    wrong = notebook(SOLUTIONS, "01_pixels").read_text()
    assert "np.asarray(image).astype(np.float32) / np.float32(255)" in wrong
    wrong = wrong.replace("np.asarray(image).astype(np.float32) / np.float32(255)", "np.asarray(image) / 256")
    (subs / "wrong_normalize" / "01_pixels").mkdir(parents=True)
    (subs / "wrong_normalize" / "01_pixels" / "01_pixels.ipynb").write_text(wrong)
    # Invalid JSON: a notebook cut off half-way, as a crashed upload leaves it.
    text = notebook(LESSONS, "01_pixels").read_text()
    (subs / "broken_json" / "01_pixels").mkdir(parents=True)
    (subs / "broken_json" / "01_pixels" / "01_pixels.ipynb").write_text(text[: len(text) // 2])
    # A student folder without the notebook.
    (subs / "no_notebook" / "01_pixels").mkdir(parents=True)

    proc = run_autograder("grade", str(subs), "--out", str(out), "--jobs", "2")
    assert proc.returncode == 0, f"the batch must complete:\n{proc.stdout}\n{proc.stderr}"
    with open(out / "grades.csv") as f:
        rows = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(f)}
    return {"out": out, "rows": rows, "stdout": proc.stdout}


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_reference_solution_scores_full_marks(batch, aid):
    row = batch["rows"][("reference", aid)]
    assert row["status"] == "graded", row
    assert float(row["auto_max_score"]) > 0
    assert float(row["auto_score"]) == float(row["auto_max_score"]), row


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_blank_lesson_scores_zero(batch, aid):
    row = batch["rows"][("blank", aid)]
    assert row["status"] == "graded", row
    assert float(row["score"]) == 0 and float(row["manual_pending"]) == 0, row


def test_wrong_normalize_scores_in_between(batch):
    row = batch["rows"][("wrong_normalize", "01_pixels")]
    assert row["status"] == "graded"
    assert 0 < float(row["auto_score"]) < float(row["auto_max_score"]), row


def test_invalid_json_is_ungradable_not_zero(batch):
    row = batch["rows"][("broken_json", "01_pixels")]
    assert row["status"].startswith("ungradable: invalid notebook"), row


def test_missing_notebook_is_reported(batch):
    assert batch["rows"][("no_notebook", "01_pixels")]["status"] == "missing"


def test_summary_printed_per_student(batch):
    for student in ("reference", "blank", "wrong_normalize", "broken_json", "no_notebook"):
        assert student in batch["stdout"]


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_feedback_hides_hidden_tests(batch, aid):
    hidden, elsewhere = [], set()
    for cell in load(notebook(SOLUTIONS, aid))["cells"]:
        hidden += marked_lines(cell_source(cell), "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", min_len=20)
        if "BEGIN HIDDEN TESTS" not in cell_source(cell):  # the student's own code may share a line
            elsewhere |= {ln.strip() for ln in cell_source(cell).splitlines()}
    hidden = [ln for ln in hidden if ln not in elsewhere]
    assert hidden
    for student in ("reference", "blank"):
        page = batch["out"] / "feedback" / student / aid / f"{aid}.html"
        assert page.is_file(), f"no feedback for {student}/{aid}"
        text = html_text(page)
        assert "HIDDEN TESTS" not in text
        for line in hidden:
            assert line not in text, f"feedback for {student}/{aid} shows hidden test line {line!r}"


def test_check_command_passes_solutions_and_names_failures():
    ok = run_autograder("check", str(notebook(SOLUTIONS, "01_pixels")))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "All 3 test cells passed" in ok.stdout
    blank = run_autograder("check", str(notebook(LESSONS, "01_pixels")))
    assert blank.returncode == 1
    assert "❌ Exercise 1.1 · normalize" in blank.stdout and "not written yet" in blank.stdout


def test_standard_nbgrader_commands_work_with_the_course_config(tmp_path):
    """The README's by-hand route: nbgrader's own CLI run from autograder/."""
    shutil.copytree(REPO / "autograder", tmp_path / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(SOLUTIONS / "01_pixels", tmp_path / "solutions" / "01_pixels")
    course = tmp_path / "autograder"
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    env.pop("COURSE_DIR", None)  # the course folder is the copied autograder/, as for an instructor

    def nbgrader(*args):
        proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
        return proc

    nbgrader("generate_assignment", "01_pixels", "--force")
    released = tmp_path / "lessons" / "01_pixels" / "01_pixels.ipynb"
    assert "BEGIN SOLUTION" not in released.read_text()
    sub = course / "submitted" / "alice" / "01_pixels"
    sub.mkdir(parents=True)
    shutil.copy2(notebook(SOLUTIONS, "01_pixels"), sub / "01_pixels.ipynb")
    nbgrader("autograde", "01_pixels")
    nbgrader("generate_feedback", "01_pixels")
    feedback = course / "feedback" / "alice" / "01_pixels" / "01_pixels.html"
    assert "HIDDEN TESTS" not in html_text(feedback)
    nbgrader("export", "--to", str(tmp_path / "grades.csv"))
    grades = list(csv.DictReader(open(tmp_path / "grades.csv")))
    assert grades[0]["student_id"] == "alice" and float(grades[0]["raw_score"]) == 8.0, grades


def test_two_batches_on_one_machine_never_share_a_job_uid(tmp_path, monkeypatch):
    """Each batch claims its job uids with a lock; a batch's sweep of leftover processes
    (kill_uid) therefore never hits another batch's kernels (an instructor and a TA
    grading at once). A uid is free again once its holder is gone."""
    from autograder.sandbox import kernel as sandbox

    monkeypatch.setattr(sandbox, "UID_LOCKS", tmp_path / "locks")
    first, held = sandbox.claim_uids(2)
    second, held2 = sandbox.claim_uids(2)
    assert first == [61000, 61001] and second == [61002, 61003]
    for f in held:
        f.close()
    third, held3 = sandbox.claim_uids(3)
    assert third == [61000, 61001, 61004]
    for f in held2 + held3:
        f.close()


def test_scratch_folders_of_dead_processes_are_swept_and_live_ones_kept(tmp_path, monkeypatch):
    """A grading process's scratch folder (copies of the release and of submissions) is held
    by a lock while the process lives; the next one removes those nobody holds (left by a
    grader killed outright), never a live one's, another user's, or one without a lock."""
    from autograder.job import scratch

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(scratch.tempfile, "tempdir", None)  # read TMPDIR again
    mine, held = scratch.make()
    assert mine.parent == tmp_path and oct(mine.stat().st_mode & 0o777) == "0o700"
    dead = subprocess.run([sys.executable, "-c", "from autograder.job import scratch; print(scratch.make()[0])"],
                          cwd=REPO, capture_output=True, text=True, env=dict(os.environ, TMPDIR=str(tmp_path)))
    dead = Path(dead.stdout.strip())
    assert dead.is_dir(), "a process that ends leaves its folder, held by nobody"
    unlocked = tmp_path / "autograder-older"
    unlocked.mkdir()
    keep = [mine, unlocked]
    if os.geteuid() == 0:
        theirs = tmp_path / "autograder-theirs"
        theirs.mkdir()
        (theirs / ".held").touch()
        os.chown(theirs, 61999, 61999)
        keep.append(theirs)
    assert scratch.sweep() == [dead]
    assert all(k.is_dir() for k in keep) and not dead.exists()
    held.close()
    assert scratch.sweep() == [mine]


def test_a_grading_worker_holds_its_slots_uid_while_it_lives(tmp_path, monkeypatch):
    """A worker inherits the lock on its slot's job uid: a grader killed outright lets go of
    its own hold at once, but no other batch can claim the uid (and then have its kernels
    killed by the old worker's sweep) until the worker has gone too."""
    from autograder.job.slots import _WorkerProcess
    from autograder.sandbox import kernel as sandbox

    monkeypatch.setattr(sandbox, "UID_LOCKS", tmp_path / "locks")
    (uid,), held = sandbox.claim_uids(1, first=61700)
    worker = _WorkerProcess("fast", tmp_path / "worker.log", held[0])
    held[0].close()  # what the grader's death does to its own hold
    try:
        with pytest.raises(RuntimeError, match="no free job uid"):
            sandbox.claim_uids(1, first=uid, span=1)
    finally:
        worker.close()
    again, held = sandbox.claim_uids(1, first=uid, span=1)
    assert again == [uid]
    held[0].close()


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root (CI runs as root)")
def test_a_claimed_uid_is_swept_of_what_a_dead_batch_left(tmp_path, monkeypatch):
    """A uid is swept when a batch claims it: a process a batch killed outright left on it
    (normally none) cannot meet the new batch's kernels."""
    from autograder.sandbox import kernel as sandbox

    monkeypatch.setattr(sandbox, "UID_LOCKS", tmp_path / "locks")
    uid = 61710

    def drop() -> None:
        os.setgid(uid)
        os.setuid(uid)

    left = subprocess.Popen(["sleep", "300"], preexec_fn=drop, start_new_session=True)
    reaper = threading.Thread(target=left.wait)  # as the machine's init would reap an orphan
    reaper.start()
    try:
        assert sandbox._pids_of(uid) == [left.pid]
        claimed, held = sandbox.claim_uids(1, first=uid)
        held[0].close()
        assert claimed == [uid]
        reaper.join(timeout=10)
        assert left.returncode == -9, "the claim did not kill what was left on the uid"
    finally:
        left.kill()
        left.wait()


@contextlib.asynccontextmanager
async def sandboxed_client(where: Path, uid: int):
    """A kernel started in the sandbox as ``uid`` (job folder ``where``/jail, working folder
    ``where``/work), its manager and a ready client; the kernel is killed at the end."""
    from autograder.sandbox.kernel import SandboxKernelManager

    (where / "work").mkdir(parents=True, exist_ok=True)
    km = SandboxKernelManager(job_dir=str(where / "jail"), uid=uid, kernel_name="python3")
    await km.start_kernel(cwd=str(where / "work"))
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=120)
        yield km, kc
    finally:
        kc.stop_channels()
        if km.has_kernel:
            await km.shutdown_kernel(now=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root (CI runs as root)")
def test_a_killed_sandboxed_kernel_leaves_no_process_of_its_uid(tmp_path):
    """Killing a sandboxed kernel (the grader does once its last cell has run) leaves nothing
    of the job's uid behind, not even a zombie waiting for the machine's init to reap it: the
    slot's next job starts on that uid straight away. The kernel here also started a child
    process and threads, as TensorFlow's do."""
    import asyncio

    from autograder.sandbox.kernel import _pids_of, claim_uids

    (uid,), held = claim_uids(1, first=61500)

    async def run() -> tuple[list[int], list[int]]:
        async with sandboxed_client(tmp_path, uid) as (km, kc):
            reply = await kc.execute_interactive(
                "import subprocess, threading, time\n"
                "child = subprocess.Popen(['sleep', '300'])\n"
                "for _ in range(8): threading.Thread(target=time.sleep, args=(300,), daemon=True).start()\n"
                "x = bytearray(300 * 1024 * 1024)", timeout=60)
            assert reply["content"]["status"] == "ok", reply["content"]
            running = _pids_of(uid)
            await km.shutdown_kernel(now=True)
            return running, _pids_of(uid)

    try:
        running, after = asyncio.run(run())
    finally:
        for f in held:
            f.close()
    assert len(running) >= 2, f"the kernel and its child should run as uid {uid}: {running}"
    assert after == [], f"processes of uid {uid} left right after the kill: {after}"


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root (CI runs as root)")
def test_a_sandboxed_kernel_starts_under_a_long_temporary_folder(tmp_path):
    """A job's folder lies under TMPDIR, which may be long; a Unix socket's path may not exceed
    107 bytes. The kernel's sockets live in a short folder of the job uid's own instead
    (a TMPDIR of 60 characters once made every kernel fail to start)."""
    import asyncio

    from autograder.sandbox.kernel import claim_uids

    deep = tmp_path / ("a-long-temporary-folder-" * 4) / "job-folder"
    (uid,), held = claim_uids(1, first=61500)

    async def run() -> dict:
        async with sandboxed_client(deep, uid) as (_, kc):
            return (await kc.execute_interactive("import os; assert os.getuid() != 0", timeout=60))["content"]

    try:
        assert len(str(deep / "jail")) > 110
        reply = asyncio.run(run())
    finally:
        for f in held:
            f.close()
    assert reply["status"] == "ok", reply


def test_the_graders_private_folders_refuse_what_others_could_write(tmp_path):
    """The job uids' locks and the kernels' sockets live in folders only the grader may write
    to: a folder made in advance by someone else, open to others, or a link is refused."""
    from autograder.sandbox.kernel import private_dir

    assert private_dir(tmp_path / "fine").is_dir()
    open_to_all = tmp_path / "open"
    open_to_all.mkdir()
    open_to_all.chmod(0o777)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "fine")
    for bad in (open_to_all, link):
        with pytest.raises(RuntimeError, match="not a folder of the grader's own"):
            private_dir(bad)
    if os.geteuid() == 0:
        theirs = tmp_path / "theirs"
        theirs.mkdir(mode=0o700)
        os.chown(theirs, 61999, 61999)
        with pytest.raises(RuntimeError, match="owner uid 61999"):
            private_dir(theirs)


def test_feedback_exporter_keeps_compiled_templates_and_writes_the_same_page(tmp_path):
    """The grading worker's feedback exporter compiles nbconvert's templates and highlights a
    given piece of code once per process (autograder.job.feedback), and writes the same
    page as nbconvert's HTMLExporter."""
    import nbformat
    from nbconvert.exporters import HTMLExporter
    from traitlets.config import Config

    from autograder.job import feedback

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Exercise 1"),
                                         nbformat.v4.new_code_cell("print(1)", outputs=[
                                             nbformat.v4.new_output("stream", text="1\n")]),
                                         nbformat.v4.new_code_cell("x = [2]")])
    cfg = Config()
    cfg.HTMLExporter.template_name = "classic"
    plain, _ = HTMLExporter(config=cfg).from_notebook_node(nb)
    first, _ = feedback.FeedbackExporter(config=cfg).from_notebook_node(nb)
    compiled, highlighted = dict(feedback.COMPILED._store), dict(feedback.HIGHLIGHTED)
    assert compiled, "no template was kept"
    assert any(key[1] == "print(1)" for key in highlighted), "the code cell's highlighting was not kept"
    second, _ = feedback.FeedbackExporter(config=cfg).from_notebook_node(nb)
    assert feedback.COMPILED._store == compiled, "the second exporter compiled the templates again"
    assert feedback.HIGHLIGHTED == highlighted, "the second page highlighted the same code again"
    assert first == second == plain
    worker_cfg = Config()
    from autograder.job import worker
    from autograder.job.contract import Limits, WorkerJob

    job = WorkerJob(workspace=str(tmp_path), assignment="01_pixels", student="", mode="fast",
                    limits=Limits(cell_timeout=30, mem_mb=4096, nproc=256), sandbox=False)
    src = tmp_path / "source" / "01_pixels"
    src.mkdir(parents=True)
    shutil.copy2(notebook(SOLUTIONS, "01_pixels"), src / "01_pixels.ipynb")
    worker._configure(worker_cfg, job)
    assert worker_cfg.GenerateFeedback.exporter_class == "autograder.job.feedback.FeedbackExporter"


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox needs root (CI runs as root)")
def test_sandboxed_kernels_start_with_the_prebuilt_font_cache(tmp_path):
    """Every sandboxed kernel starts in a fresh, empty home; the grader seeds it with
    matplotlib's font cache built once per batch, so no kernel scans the fonts again."""
    import asyncio

    from autograder.sandbox.kernel import SandboxKernelManager, build_home_seed, claim_uids

    code = ("import logging\nrecords = []\nh = logging.Handler()\nh.emit = records.append\n"
            "log = logging.getLogger('matplotlib.font_manager')\nlog.addHandler(h)\nlog.setLevel(logging.INFO)\n"
            "import matplotlib.font_manager\n"
            "print('rebuilt' if any('generated new fontManager' in r.getMessage() for r in records) else 'cached')")
    seed = tmp_path / "seed"
    assert build_home_seed(seed, "fast").wait() == 0
    assert list(seed.glob(".matplotlib/fontlist-*.json"))

    async def run(home_seed: str, uid: int, where: Path) -> str:
        where.mkdir()
        km = SandboxKernelManager(job_dir=str(where / "jail"), uid=uid, kernel_name="python3", home_seed=home_seed)
        await km.start_kernel(cwd=str(where))
        kc = km.client()
        kc.start_channels()
        out: list[str] = []
        try:
            await kc.wait_for_ready(timeout=120)
            await kc.execute_interactive(code, timeout=60, output_hook=lambda m: out.append(m["content"].get("text", "")))
        finally:
            await km.shutdown_kernel(now=True)
            kc.stop_channels()
        return "".join(out).strip()

    (uid,), held = claim_uids(1, first=61500)
    try:
        assert asyncio.run(run(str(seed), uid, tmp_path / "seeded")) == "cached"
        assert asyncio.run(run("", uid, tmp_path / "bare")) == "rebuilt"  # the control: an empty home
    finally:
        for f in held:
            f.close()


def test_grading_processes_skip_jsonschemas_iri_parsers_and_still_validate_notebooks():
    """autograder keeps rfc3987-syntax (38 Lark parsers built at import, 0.8 s of CPU per
    process) out of its processes; nbformat's validation, which never uses those formats,
    still rejects a broken notebook."""
    code = ("import sys, autograder, nbformat\n"
            "from nbformat.validator import ValidationError\n"
            "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('x = 1')])\n"
            "nbformat.validate(nb)\n"
            "nb.cells[0]['cell_type'] = 'nonsense'\n"
            "try:\n    nbformat.validate(nb)\nexcept ValidationError:\n    print('rejected')\n"
            "import jsonschema._format\n"
            "print(sorted(k for k in sys.modules if k.startswith(('rfc3987_syntax', 'lark')) and sys.modules[k]))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["rejected", "[]"], proc.stdout
