"""One grading job, in its own process: autograde one student's notebook for one
assignment inside a throwaway course folder, write its feedback, and print the scores.

    python -m autograder.worker WORKSPACE ASSIGNMENT STUDENT

The workspace holds gradebook.db and source/ copied from the released assignment, and
submitted/STUDENT/ASSIGNMENT/. The result is printed as one line starting with
``RESULT_MARKER``; the student's kernel cannot write to this process's stdout.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

RESULT_MARKER = "AUTOGRADER-RESULT "


def _reason(result: dict) -> str:
    """The most telling line of a failed nbgrader run."""
    text = (result.get("log") or "") + "\n" + (result.get("error") or "")
    errors = [ln.strip() for ln in text.splitlines() if ln.startswith("[ERROR]") or "Error:" in ln]
    reason = errors[-1] if errors else "nbgrader failed"
    return " ".join(re.sub(r"^\[ERROR\]\s*", "", reason).split())[:300]


def run(ws: Path, aid: str, sid: str) -> dict:
    from nbgrader.api import Gradebook
    from nbgrader.converters import Autograde, GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log

    from . import course

    cfg = course.nbgrader_config(ws)

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
        return {"ok": False, "reason": _reason(result), "log": result.get("log", "")[-4000:]}
    feedback = capture_log(app_for(GenerateFeedback))

    grades = []
    with Gradebook(cfg.CourseDirectory.db_url) as gb:
        submission = gb.find_submission(aid, sid)
        for notebook in submission.notebooks:
            for g in notebook.grades:
                grades.append({
                    "notebook": notebook.name,
                    "cell": g.name,
                    "score": float(g.score or 0.0),
                    "max_score": float(g.max_score or 0.0),
                    "auto_score": None if g.auto_score is None else float(g.auto_score),
                    "needs_manual_grade": bool(g.needs_manual_grade),
                })
    return {"ok": True, "grades": grades, "feedback_ok": bool(feedback["success"]),
            "feedback_error": "" if feedback["success"] else _reason(feedback)}


def main(argv: list[str]) -> int:
    ws, aid, sid = Path(argv[0]), argv[1], argv[2]
    try:
        out = run(ws, aid, sid)
    except Exception as err:  # report, never crash the batch
        out = {"ok": False, "reason": f"{type(err).__name__}: {err}"[:300]}
    print(RESULT_MARKER + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
