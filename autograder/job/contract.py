"""The job contract: what the batch hands a runner, what the grading process reads, and what
comes back. Every seam a job crosses speaks these types, never a dict whose keys each reader
guesses:

- :class:`Job`: one screened notebook and how to grade it (batch → runner; to a cluster
  worker as JSON, :meth:`Job.to_json`);
- :class:`WorkerJob`: the same job as one grading process reads it (``job.json``, written by
  :mod:`autograder.job.slots`, read by :mod:`autograder.job.worker`);
- :class:`JobResult`: what grading it gave (``result.json``, the worker's file, written
  whatever happens; back from a cluster worker as data), including ``environment``: why the
  grading environment, not the student, failed it;
- :class:`Status`: a row's verdict, as data (kind + detail); rendered to the strings of
  grades.csv/json by ``str()``, read back from them by :meth:`Status.parse`;
- :class:`BatchStopped`: raised when no student may be graded on (a runner that lost its
  grading machinery for good raises it too), with a help text that says what to do.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import nbformat


class BatchStopped(Exception):
    """Grading cannot go on: the message says why; ``help`` says what it means and what to do
    (the batch's texts are in :mod:`autograder.batch.stops`)."""

    def __init__(self, message: str, help: str = ""):
        super().__init__(message)
        self.help = help


@dataclass
class Limits:
    """The caps of one job: seconds per cell (``cell_limits`` by cell key, from the canary;
    ``cell_timeout`` for the others), memory and processes of the student's kernel."""

    cell_timeout: int
    mem_mb: int
    nproc: int
    cell_limits: dict[str, int] = field(default_factory=dict)


@dataclass
class Job:
    """One screened notebook to grade, and how."""

    notebook: nbformat.NotebookNode
    student: str
    assignment: str
    digest: str          # of the release it is graded against (a cluster worker checks its own)
    mode: str            # "fast" or "full"
    sandbox: str         # "auto", "on" or "off", as asked
    limits: Limits
    timeout: float                   # for the whole notebook
    template: Path | None = None     # the batch's release (local slots grade against it; never sent)

    def to_json(self) -> str:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "template"}
        data.update(notebook=nbformat.writes(self.notebook), limits=asdict(self.limits))
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Job:
        data = json.loads(text)
        data.update(notebook=nbformat.reads(data["notebook"], as_version=4), limits=Limits(**data["limits"]))
        return cls(**data)


@dataclass
class WorkerJob:
    """A job as the grading process reads it (``job.json``): its workspace (gradebook.db,
    source/ of the release, submitted/STUDENT/ASSIGNMENT/), the sandbox's settings and
    where to write the result."""

    workspace: str
    assignment: str
    student: str
    mode: str
    limits: Limits
    sandbox: bool                 # run the kernel in the sandbox (autograder.sandbox.kernel)
    job_dir: str = ""             # the kernel's private folder (sandbox)
    uid: int = 0                  # the kernel's job uid (sandbox)
    home_seed: str = ""           # a home to copy into the kernel's (sandbox; "" for none)
    result: str = ""              # where the worker writes its JobResult

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerJob:
        data = json.loads(text)
        return cls(**{**data, "limits": Limits(**data["limits"])})


@dataclass
class JobResult:
    """What grading one job gave. ``ok`` False: not graded, ``reason`` says why.

    ``environment`` is set when the grading environment, not the student, failed the job:
    the kernel did not start (``ok`` False), or a cell as released failed before any of the
    student's code ran (``ok`` True). Every later student would fail alike: the batch stops.
    """

    ok: bool
    reason: str = ""                       # why it was not graded (ok False)
    log: str = ""                          # the tail of nbgrader's log (ok False)
    environment: str | None = None         # what in the grading environment broke, if it did
    grades: list[dict] = field(default_factory=list)      # per graded cell: notebook, cell, score, max_score, auto_score, needs_manual_grade
    comments: list[dict] = field(default_factory=list)    # per solution cell: notebook, cell, auto_comment
    timeouts: list[str] = field(default_factory=list)     # exercises whose cells ran past their limit
    crashes: list[str] = field(default_factory=list)      # exercises during which the kernel died
    tampered: list[str] = field(default_factory=list)     # exercises whose test found its names changed
    lied: list[str] = field(default_factory=list)         # what the plain conversion noted, with its exercise
    cell_seconds: dict[str, float] = field(default_factory=dict)  # by cell key (the canary's limits)
    first_error: dict | None = None        # index, grade_id, ename, evalue, environment (released code, before the student's)
    feedback_ok: bool = True
    feedback_error: str = ""
    isolation: str = ""                    # how a cluster worker isolated it
    files: dict[str, bytes] = field(default_factory=dict)  # "feedback"/"autograded": the pages made (never in JSON)

    def to_json(self) -> str:
        return json.dumps({f.name: getattr(self, f.name) for f in fields(self) if f.name != "files"})

    @classmethod
    def from_json(cls, text: str) -> JobResult:
        return cls(**json.loads(text))

    def to_wire(self) -> dict:
        """Plain data, files included, for a channel that pickles (a Dask task's return): the
        two ends run their own checkouts, so no class of ours crosses."""
        return asdict(self)

    @classmethod
    def from_wire(cls, data: dict) -> JobResult:
        return cls(**data)

    @classmethod
    def failed(cls, reason: str, **more) -> JobResult:
        return cls(ok=False, reason=reason, **more)


@dataclass(frozen=True)
class Status:
    """A row's verdict: ``kind`` (one of :attr:`KINDS`) and its ``detail``. ``str()`` gives the
    status column of grades.csv/json; :meth:`parse` reads it back."""

    kind: str = "graded"
    detail: str = ""

    KINDS = ("graded", "feedback failed", "missing", "ungradable", "timeout", "tampered")
    _FORMS = {"graded": "graded", "feedback failed": "graded (feedback failed: {})", "missing": "missing",
              "ungradable": "ungradable: {}", "timeout": "timeout in {}", "tampered": "tampered: {}"}

    def __str__(self) -> str:
        return self._FORMS[self.kind].format(self.detail)

    @classmethod
    def parse(cls, text: str) -> Status:
        for kind, form in cls._FORMS.items():
            head, _, tail = form.partition("{}")
            if text == form or ("{}" in form and text.startswith(head) and text.endswith(tail)
                                and len(text) >= len(head) + len(tail)):
                return cls(kind, text[len(head):len(text) - len(tail)] if "{}" in form else "")
        raise ValueError(f"not a grading status: {text!r}")

    @property
    def word(self) -> str:
        """What the batch's closing line counts it under (the rendered text up to a colon or " in ")."""
        return str(self).split(":")[0].split(" in ")[0]
