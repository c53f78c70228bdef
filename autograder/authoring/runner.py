"""Execute a notebook with nbclient the way the course tooling does: fast mode by
default, quiet TensorFlow, no downloads, no timing metadata."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

from autograder import course


#: A TensorFlow/XLA C++ log line ("2026-11-26 10:01:02.345678: I tensorflow/core/util/port.cc:153] oneDNN
#: custom operations are on…", or absl's "I0000 00:00:1764151262.123 …"): printed once per process on CPUs
#: where oneDNN is on by default, with a time stamp, so never a stored output. nbval's kernels print it
#: too but nbval does not compare stderr it does not find stored. absl announces the first such line with
#: "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR".
TF_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] |[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ "
                         r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$)")


def drop_tf_log_lines(nb: nbformat.NotebookNode) -> None:
    """Remove TensorFlow's C++ log lines from stderr outputs (and outputs left empty)."""
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.outputs:
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                lines = [ln for ln in out.text.splitlines(keepends=True) if not TF_LOG_LINE.match(ln)]
                if not "".join(lines).strip():
                    continue
                out.text = "".join(lines)
            kept.append(out)
        cell.outputs = kept


def execute(nb: nbformat.NotebookNode, cwd: Path, mode: str = "fast", timeout: int = 600,
            allow_errors: bool = False, shutdown_kernel: str = "graceful") -> nbformat.NotebookNode:
    """Run every cell of ``nb`` in a fresh kernel started in ``cwd``; return ``nb`` with outputs.

    The kernel gets the course's environment (``course.KERNEL_ENV``) in the given mode.
    ``shutdown_kernel="immediate"`` kills it after the last cell instead of asking it to stop.
    """
    saved = dict(os.environ)
    os.environ.update(course.kernel_env(mode))
    try:
        with tempfile.TemporaryDirectory(prefix="kernel-") as sockets:
            # IPC sockets instead of TCP on loopback: private to this machine's file system.
            km = KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "k"))
            client = NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                                    record_timing=False, resources={"metadata": {"path": str(cwd)}},
                                    shutdown_kernel=shutdown_kernel)
            # Widget state must be stored while executing: nbclient's Output-widget mimic writes
            # into it and raises KeyError without it (lesson 02's explorer, full mode). It holds
            # random model ids, so it is dropped afterwards.
            try:
                client.execute()
            finally:
                # nbclient leaves a kernel it was handed running (it does not own its manager):
                # every notebook executed in this process kept a live kernel until the process ended.
                if km.has_kernel:
                    km.shutdown_kernel(now=shutdown_kernel == "immediate")
            nb.metadata.pop("widgets", None)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    drop_tf_log_lines(nb)
    return nb


def execute_in_place(path: Path, mode: str = "fast") -> None:
    """Execute a solutions notebook and store its outputs (the maintainer's step before committing)."""
    nb = nbformat.read(path, as_version=4)
    execute(nb, cwd=path.parent, mode=mode)
    nbformat.write(nb, path)
