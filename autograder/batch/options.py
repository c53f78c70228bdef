"""A grading batch's settings, with their defaults written once: ``python -m autograder grade``
takes its option defaults from here, and so does every other caller (the hub's service, tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Options:
    mode: str = "fast"
    timeout: int = 1800          # seconds per notebook
    cell_timeout: int = 600      # seconds per cell
    jobs: int = 1
    force: bool = False
    sandbox: str = "auto"        # auto | on | off
    mem_mb: int = 4096
    nproc: int = 256
    uid_base: int = 61000        # job uids are claimed from here on (autograder.sandbox.kernel.claim_uids)
    canary: bool = True          # grade the reference solution first; stop if it loses points
    db_url: str | None = None    # the course gradebook (None: autograder.gradebook.merge.course_db_url)
    course_dir: Path | None = None  # where autograded/ and feedback/ go for the formgrader (None: the course's)
