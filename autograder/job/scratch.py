"""A grading process's scratch folder in the temporary folder, and the sweep of those that
processes killed outright left behind.

A scratch folder holds copies of the release (the solutions and hidden tests) and of the
students' submissions, root-only. A grader killed with SIGKILL or by the OOM killer, or a
cluster worker lost mid-batch, cannot remove its own; the next grading process on the
machine does. Each folder is held by an flock on its ``.held`` file for as long as its
process lives (the OS lets go when the process ends, however it ends); a folder whose
lock is free belongs to nobody and is removed. Folders without ``.held`` (being made, or
made by an older grader) are left alone.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import IO

PREFIX = "autograder-"


def make() -> tuple[Path, IO]:
    """A new private scratch folder, and the open file that holds it (close it after removing
    the folder). Sweeps the abandoned ones first."""
    sweep()
    root = Path(tempfile.mkdtemp(prefix=PREFIX))  # mode 0700
    # Locked before it gets its name, so a sweep never sees a free ``.held`` in a live folder.
    lock = open(root / ".held-new", "w")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.rename(root / ".held-new", root / ".held")
    return root, lock


def sweep() -> list[Path]:
    """Remove the scratch folders in the temporary folder that this user owns and no live
    process holds; return them."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        try:
            st = folder.lstat()
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
                continue
            fd = os.open(folder / ".held", os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # its process is alive
        try:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        finally:
            os.close(fd)
    return removed
