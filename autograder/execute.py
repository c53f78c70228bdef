"""The execute step used for grading: nbgrader's Execute, hardened.

- **Timeouts and crashes don't end the notebook.** A cell that runs past the per-cell
  timeout, or during which the kernel dies (``os._exit``, a segfault, the memory cap),
  gets an error output (``CellTimeoutError`` / ``KernelDied``); the kernel is restarted,
  the cells before it are replayed (outputs discarded), and execution goes on with the
  next cell. Later exercises are graded; the broken one scores 0.
- **Output is capped** per cell while it streams in, so 10⁷ printed lines or a 50 MB
  image cannot exhaust the grader's memory.
- **Guard before every test cell.** A silent request restores what student code may
  have patched: numpy's comparison and testing functions, builtins, IPython's
  traceback display, input/AST transformers and event callbacks (saved by a start-up
  line that runs before any student code).
- **stderr in a test cell is not a failure.** nbgrader zeroes a test cell that printed
  to stderr (a DeprecationWarning, say); here only an error counts.
"""

from __future__ import annotations

import copy

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer

GUARD_SETUP = r'''
def _course_guard_install():
    import builtins, sys, types
    import numpy, numpy.testing
    ip = get_ipython()
    g = types.ModuleType("_course_guard")
    g.np = {n: getattr(numpy, n) for n in ("allclose", "isclose", "array_equal", "array_equiv", "all", "any",
                                          "abs", "max", "min", "sum", "asarray", "array", "isfinite")}
    g.npt = {n: getattr(numpy.testing, n) for n in dir(numpy.testing) if n.startswith("assert")}
    g.builtins = dict(vars(builtins))
    g.cleanup = list(ip.input_transformers_cleanup)
    g.post = list(ip.input_transformers_post)
    g.ast = list(ip.ast_transformers)
    g.events = {k: list(v) for k, v in ip.events.callbacks.items()}
    g.excepthook = sys.excepthook
    def restore():
        for k, v in g.np.items():
            setattr(numpy, k, v)
        for k, v in g.npt.items():
            setattr(numpy.testing, k, v)
        for k in list(vars(builtins)):
            if k not in g.builtins:
                delattr(builtins, k)
        for k, v in g.builtins.items():
            if vars(builtins).get(k) is not v:
                setattr(builtins, k, v)
        for attr in ("showtraceback", "_showtraceback", "showsyntaxerror", "run_cell", "run_cell_async",
                     "run_ast_nodes", "run_code", "transform_cell", "transform_ast", "should_run_async"):
            ip.__dict__.pop(attr, None)
        ip.input_transformers_cleanup[:] = g.cleanup
        ip.input_transformers_post[:] = g.post
        ip.ast_transformers[:] = g.ast
        for k, v in g.events.items():
            ip.events.callbacks[k][:] = v
        sys.excepthook = g.excepthook
        return "restored"
    g.restore = restore
    sys.modules["_course_guard"] = g
_course_guard_install()
del _course_guard_install
'''

GUARD_CALL = "__import__('sys').modules['_course_guard'].restore()"


def _is_test_cell(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


class GuardedExecute(Execute):
    """nbgrader's Execute with restarts after crashes and timeouts, output caps and guards."""

    max_output_bytes = Integer(2_000_000, help="output kept per cell; the rest is dropped").tag(config=True)
    guard = Bool(True, help="restore patched numpy/builtins/IPython state before each test cell").tag(config=True)
    max_restarts = Integer(5, help="kernel restarts allowed per notebook").tag(config=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A timeout raises here so that we can restart the kernel, instead of nbclient
        # interrupting and then waiting on a kernel that may ignore the interrupt.
        self.interrupt_on_timeout = False
        self.raise_on_iopub_timeout = False

    # --- kernel start-up: save the originals before any student code runs ---------
    def start_new_kernel(self, **kwargs):
        if self.guard and not any("exec_lines" in a for a in self.extra_arguments):
            self.extra_arguments = [*self.extra_arguments, f"--IPKernelApp.exec_lines={GUARD_SETUP}"]
        return super().start_new_kernel(**kwargs)

    # --- the main loop --------------------------------------------------------------
    def preprocess(self, nb, resources=None, km=None):
        from nbclient import NotebookClient

        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self._bytes: dict[int, int] = {}
        self._completed: list[int] = []
        self._restarts = 0
        self._gave_up = False
        with self.setup_kernel():
            self.wait_for_reply(self.kc.kernel_info())
            for index, cell in enumerate(self.nb.cells):
                self._run(cell, index)
        self.set_widgets_metadata()
        return self.nb, self.resources

    def _run(self, cell, index: int) -> None:
        if cell.cell_type != "code" or not cell.source.strip():
            return
        if self._gave_up:
            cell.outputs = [self._error("KernelDied", "not run: the kernel kept dying, grading stopped here")]
            return
        if self.guard and _is_test_cell(cell):
            self._guard()
        try:
            self.execute_cell(cell, index, store_history=True)
            self._completed.append(index)
        except CellTimeoutError:
            cell.outputs.append(self._error("CellTimeoutError", f"this cell ran longer than {self.timeout} s and was stopped"))
            self._restart(index)
        except DeadKernelError:
            cell.outputs.append(self._error(
                "KernelDied", "the kernel died while running this cell (os._exit, a crash, or the memory cap); "
                              "it was restarted"))
            self._restart(index)

    def _guard(self) -> None:
        try:
            msg_id = self.kc.execute("", silent=True, store_history=False, user_expressions={"g": GUARD_CALL})
            self.wait_for_reply(msg_id)
        except Exception as err:  # a guard failure must not stop grading
            self.log.warning("guard failed: %s", err)

    def _restart(self, index: int) -> None:
        self._restarts += 1
        self._cleanup_kernel()
        if self._restarts > self.max_restarts:
            self._gave_up = True
            return
        self.km = self.create_kernel_manager()
        self.start_new_kernel()
        self.start_new_kernel_client()
        self.wait_for_reply(self.kc.kernel_info())
        for j in list(self._completed):  # rebuild the state the later cells need
            if j >= index:
                continue
            try:
                self.execute_cell(copy.deepcopy(self.nb.cells[j]), j, store_history=False)
            except (CellTimeoutError, DeadKernelError):
                self._completed.remove(j)
                return self._restart(index)

    # --- outputs ---------------------------------------------------------------------
    @staticmethod
    def _error(ename: str, evalue: str) -> NotebookNode:
        return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])

    def output(self, outs, msg, display_id, cell_index):
        size = len(str(msg.get("content", "")))
        used = self._bytes.get(cell_index, 0)
        self._bytes[cell_index] = used + size
        if used + size > self.max_output_bytes:
            if used <= self.max_output_bytes:
                outs.append(NotebookNode(output_type="stream", name="stdout",
                                         text=f"\n[output truncated: more than {self.max_output_bytes:,} bytes]\n"))
            if msg["msg_type"] == "error":  # errors always count
                return super().output(outs, msg, display_id, cell_index)
            return None
        return super().output(outs, msg, display_id, cell_index)

    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)
        cell = kwargs["cell"]
        if _is_test_cell(cell):
            for out in cell.outputs:
                if out.get("output_type") == "stream" and out.get("name") == "stderr":
                    out["name"] = "stdout"  # a warning is not a failed test
