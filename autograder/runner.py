"""Execute a notebook with nbclient the way the course tooling does: fast mode by
default, quiet TensorFlow, no downloads, no timing metadata."""

from __future__ import annotations

import os
from pathlib import Path

import tempfile

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from . import course


def execute(nb: nbformat.NotebookNode, cwd: Path, mode: str = "fast", timeout: int = 600,
            allow_errors: bool = False) -> nbformat.NotebookNode:
    """Run every cell of ``nb`` in a fresh kernel started in ``cwd``; return ``nb`` with outputs.

    The kernel gets the course's environment (``course.KERNEL_ENV``) in the given mode.
    """
    saved = dict(os.environ)
    os.environ.update(course.kernel_env(mode))
    try:
        with tempfile.TemporaryDirectory(prefix="kernel-") as sockets:
            # IPC sockets instead of TCP on loopback: private to this machine's file system.
            km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "k"))
            client = NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                                    record_timing=False, resources={"metadata": {"path": str(cwd)}})
            # Widget state must be stored while executing: nbclient's Output-widget mimic writes
            # into it and raises KeyError without it (lesson 02's explorer, full mode). It holds
            # random model ids, so it is dropped afterwards.
            client.execute()
            nb.metadata.pop("widgets", None)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    return nb


def execute_in_place(path: Path, mode: str = "fast") -> None:
    """Execute a solutions notebook and store its outputs (the maintainer's step before committing)."""
    nb = nbformat.read(path, as_version=4)
    execute(nb, cwd=path.parent, mode=mode)
    nbformat.write(nb, path)
