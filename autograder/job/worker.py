"""Grading jobs, in a process of their own: autograde one student's notebook for one
assignment inside a throwaway course folder, write its feedback, and save the result;
with ``--serve``, job after job in the same process.

    python -m autograder.job.worker JOB.json              # one job
    python -m autograder.job.worker --serve STATUS_FD GRADER_PID   # job after job (what grade uses)

JOB.json (a :class:`~autograder.job.contract.WorkerJob`, written by :mod:`autograder.job.slots`)
names the workspace, assignment, student, mode, caps and the file to write the result to. The workspace holds gradebook.db and
source/ copied from the released assignment, and submitted/STUDENT/ASSIGNMENT/. The
result (a :class:`~autograder.job.contract.JobResult`) goes to a file in a root-only folder;
nothing the student's kernel prints or writes can reach it.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import NoReturn

import nbformat

from autograder import course
from autograder.job.contract import JobResult, WorkerJob
from autograder.notebook import ANSI, EXERCISE, GRADER_ERRORS, answer_names, cell_key, release_imports, without_marker

# nbgrader, the execute step and the sandbox (3.5 s of imports) load where they are used: a
# serving worker starts watching its grader first (_die_with), then loads them before its first job.


def _reason(result: dict) -> str:
    """The most telling line of a failed nbgrader run."""
    text = (result.get("log") or "") + "\n" + (result.get("error") or "")
    lines = [ln.strip() for ln in text.splitlines()]
    raised = [ln for ln in lines if re.match(r"^[\w.]+(Error|Exception|Exit):", ln) and "NbGraderException" not in ln]
    errors = raised or [ln for ln in lines if ln.startswith("[ERROR]")]
    reason = errors[-1] if errors else "nbgrader failed"
    return " ".join(re.sub(r"^\[ERROR\]\s*", "", reason).split())[:300]


def _configure(cfg, job: WorkerJob) -> None:
    """Grading settings: hardened execute step, caps, and the sandbox when asked for."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute

    from autograder.job.execute import GuardedExecute

    defaults = Autograde.class_traits()["autograde_preprocessors"].default()
    cfg.Autograde.autograde_preprocessors = [GuardedExecute if p is Execute else p for p in defaults]
    cfg.GuardedExecute.timeout = job.limits.cell_timeout
    # Time limits per cell, from the canary's run of the reference (autograder.batch.canary).
    cfg.GuardedExecute.cell_limits = job.limits.cell_limits
    # Why the kernel did not start, if it did not: no student code ran, the environment is at fault.
    cfg.GuardedExecute.start_failure_file = str(Path(job.workspace) / "kernel-start-failure.txt")
    # Once the last cell has run, nothing of the kernel is needed: kill it at once (its
    # namespace goes with it) instead of asking it to shut down and polling until it has,
    # which cost 0.65 s per notebook (measured 2026-12-01, lessons 01-05, in the sandbox).
    cfg.GuardedExecute.shutdown_kernel = "immediate"
    cfg.GuardedExecute.startup_timeout = 120
    # The names the release's own cells import (np, passed, …): each test runs with the
    # grader's binding of them, never the student's. The source notebook also has the
    # hidden tests' imports.
    source = Path(job.workspace) / "source" / job.assignment / f"{job.assignment}.ipynb"
    released = nbformat.read(source, as_version=4)
    cfg.GuardedExecute.trusted_imports = release_imports(released)
    # The names the tests read from the student alone: what they return or hold is made
    # plain (exact numpy and Python types) before a test sees it.
    cfg.GuardedExecute.answer_names = answer_names(released)
    cfg.LimitOutput.max_lines = 1000
    cfg.GenerateFeedback.exporter_class = "autograder.job.feedback.FeedbackExporter"
    if job.sandbox:
        from autograder.sandbox.kernel import SandboxKernelManager

        cfg.GuardedExecute.kernel_manager_class = SandboxKernelManager
        cfg.SandboxKernelManager.job_dir = job.job_dir
        cfg.SandboxKernelManager.uid = job.uid
        cfg.SandboxKernelManager.mem_mb = job.limits.mem_mb
        cfg.SandboxKernelManager.nproc = job.limits.nproc
        cfg.SandboxKernelManager.mode = job.mode
        cfg.SandboxKernelManager.workdir_name = job.assignment
        cfg.SandboxKernelManager.home_seed = job.home_seed


def _grader_errors(notebook_path: Path) -> dict[str, list[str]]:
    """The exercises whose cells timed out, during which the kernel died, or whose test
    found its names changed while it ran (``TestTampered``, ``GuardError``); and under
    ``lied``, what the plain conversion noted about values that could lie, with their exercise."""
    nb = nbformat.read(notebook_path, as_version=4)
    exercise, found = "(before the first exercise)", {kind: [] for kind, _ in GRADER_ERRORS.values()}
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = EXERCISE.search(cell.source)
            if m:
                exercise = m.group(1).split("(")[0].strip()
        for out in cell.get("outputs", []):
            kind = GRADER_ERRORS.get(out.get("ename"), (None,))[0] if out.get("output_type") == "error" else None
            if kind and exercise not in found[kind]:
                found[kind].append(exercise)
        for flag in cell.get("metadata", {}).get("autograder", {}).get("flags", []):
            if not any(seen.startswith(flag + " (in ") for seen in found.setdefault("lied", [])):
                found["lied"].append(f"{flag} (in {exercise})")  # where it was first noted
    return found


def _executed(notebook_path: Path, source_path: Path) -> dict:
    """What the executed notebook says about the run itself: each code cell's seconds (by
    cell key, for the canary's time limits) and the first error, with whether it happened
    before any student-written code ran, in a cell left as released (then the grading
    environment is at fault, not the student)."""
    nb = nbformat.read(notebook_path, as_version=4)
    source = nbformat.read(source_path, as_version=4)
    # A cell counts as released if its code is: solutions' nbval marker line is not code.
    released = {without_marker(c.source) for c in source.cells if c.cell_type == "code"
                and not c.metadata.get("nbgrader", {}).get("solution")}
    seconds, first, student_ran = {}, None, False
    for index, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        spent = cell.metadata.get("autograder", {}).get("seconds")
        if spent is not None:
            seconds[cell_key(cell)] = spent
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors and first is None:
            evalue = ANSI.sub("", str(errors[0].get("evalue", ""))).strip().splitlines()
            first = {"index": index, "grade_id": meta.get("grade_id", ""), "ename": errors[0].get("ename", "Error"),
                     "evalue": (evalue[0] if evalue else "")[:300],
                     "environment": not student_ran and without_marker(cell.source) in released}
        if meta.get("solution") or without_marker(cell.source) not in released:
            student_ran = True
    return {"cell_seconds": seconds, "first_error": first}


def run(job: WorkerJob) -> JobResult:
    from nbgrader.converters import Autograde, GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    ws, aid, sid = Path(job.workspace), job.assignment, job.student
    cfg = course.nbgrader_config(ws)
    _configure(cfg, job)

    def app_for(cls):
        coursedir = CourseDirectory(config=cfg)
        coursedir.assignment_id = aid
        coursedir.student_id = sid
        app = cls(coursedir=coursedir, config=cfg)
        app.force = True
        return app

    auto = app_for(Autograde)
    auto.create_student = True
    result = capture_log(auto)
    if not result["success"]:
        log = (result.get("log") or "")[-4000:]
        start = Path(cfg.GuardedExecute.start_failure_file)
        if start.is_file():
            # Before any cell ran: no student is to blame, and every later one would fail alike.
            reason = f"the kernel did not start: {start.read_text()}"
            return JobResult.failed(reason, log=log, environment=reason)
        return JobResult.failed(_reason(result), log=log)
    feedback = capture_log(app_for(GenerateFeedback))
    executed = ws / "autograded" / sid / aid / f"{aid}.ipynb"
    ran = _executed(executed, ws / "source" / aid / f"{aid}.ipynb")
    return JobResult(ok=True, **_grades(cfg.CourseDirectory.db_url, aid, sid), **_grader_errors(executed), **ran,
                     environment=_released_failure(ran["first_error"]),
                     feedback_ok=bool(feedback["success"]),
                     feedback_error="" if feedback["success"] else _reason(feedback))


def _grades(db_url: str, aid: str, sid: str) -> dict[str, list[dict]]:
    """The job's grades and automatic comments, from its throwaway gradebook."""
    from nbgrader.api import Gradebook

    grades, comments = [], []
    with Gradebook(db_url) as gb:
        submission = gb.find_submission(aid, sid)
        for notebook in submission.notebooks:
            for c in notebook.comments:
                comments.append({"notebook": notebook.name, "cell": c.name, "auto_comment": c.auto_comment})
            for g in notebook.grades:
                grades.append({
                    "notebook": notebook.name,
                    "cell": g.name,
                    "score": float(g.score or 0.0),
                    "max_score": float(g.max_score or 0.0),
                    "auto_score": None if g.auto_score is None else float(g.auto_score),
                    "needs_manual_grade": bool(g.needs_manual_grade),
                })
    return {"grades": grades, "comments": comments}


def _released_failure(first: dict | None) -> str | None:
    """The environment's failure when a cell as released, before any student code, failed first."""
    if not first or not first["environment"]:
        return None
    return (f"cell {first['index']} (released code, before any of the student's) "
            f"raised {first['ename']}: {first['evalue']}")


def run_file(job_path: str) -> JobResult:
    """Grade the job described in ``job_path``; write its result file, whatever happens."""
    job = WorkerJob.from_json(Path(job_path).read_text())
    try:
        out = run(job)
    except Exception as err:  # report, never crash the batch
        out = JobResult.failed(f"{type(err).__name__}: {err}"[:300], log=traceback.format_exc()[-4000:])
    Path(job.result).write_text(out.to_json())
    return out


def _die_with(grader_pid: int) -> None:
    """Leave at once, mid-job or not, when the grader that started this worker is gone.

    A worker runs in a session of its own, so a grader killed outright (SIGKILL, the OOM
    killer, a closed terminal's group) does not take it along, and nothing else would stop
    it: it would finish the job in hand, and then its kill of the job uid's processes would
    hit a kernel of the next batch, which may have claimed that uid the moment the dead
    grader's lock went. Its kernel goes with it (the kernel's parent-death signal)."""
    def watch() -> None:
        while os.getppid() == grader_pid:
            time.sleep(0.2)
        os._exit(3)

    threading.Thread(target=watch, name="grader-watch", daemon=True).start()


def serve(status_fd: int, grader_pid: int | None = None) -> NoReturn:
    """Grade job after job: read a JOB.json path per line on stdin, answer "done" on ``status_fd``.

    One worker process per grading slot, reused for the whole batch, so that nbgrader and
    nbconvert (about 3.5 s of imports on the course machine) load once, not per notebook.
    The status channel is a pipe of its own: student kernels never inherit it, so nothing a
    kernel prints can pass for it. The grader kills and replaces a worker that overruns;
    a worker whose grader is gone stops (:func:`_die_with`).
    """
    if grader_pid is not None:
        _die_with(grader_pid)
    import nbgrader.converters  # noqa: F401  (load the heavy part before the first job)

    with os.fdopen(status_fd, "w", buffering=1) as status:
        for line in sys.stdin:
            if line.strip():
                out = run_file(line.strip())
                status.write("done\n")
                if not out.ok and out.environment:
                    # A kernel that failed to start can leave this process's ZeroMQ state
                    # broken (the next job hung in a context's teardown): the slot starts
                    # a fresh worker if grading goes on.
                    break
    # End of jobs: every result is written and closed. Leave without tearing down the
    # interpreter (nbgrader, SQLAlchemy, zmq), which the grader waited for: 0.4 s per worker.
    sys.stderr.flush()
    os._exit(0)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--serve"]:
        return serve(int(argv[1]), int(argv[2]) if len(argv) > 2 else None)
    run_file(argv[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
