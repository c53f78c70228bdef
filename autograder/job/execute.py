"""The execute step used for grading: nbgrader's Execute, hardened.

- **Timeouts and crashes don't end the notebook.** A cell that runs past its time limit
  (``cell_limits`` by :func:`cell_key`, else ``timeout``), or during which the kernel
  dies (``os._exit``, a segfault, the memory cap), gets an error output
  (``CellTimeoutError`` / ``KernelDied``); the kernel is restarted, the cells before it
  are replayed (outputs discarded), and execution goes on with the next cell. Later
  exercises are graded; the broken one scores 0. Each cell's wall time is kept in
  ``cell.metadata["autograder"]["seconds"]``.
- **Output is capped** per cell while it streams in, so 10⁷ printed lines or a 50 MB
  image cannot exhaust the grader's memory.
- **Hidden tests print nothing into the notebook.** A test cell with hidden tests runs
  as up to three executions in the same kernel: the visible checks, the hidden tests
  (``store_history=False``), the rest (``passed(...)``), stopping at the first error as
  one cell would. What the hidden part prints (student code can read the test that
  calls it and print it) is kept out of the cell's outputs; the instructor's copy has
  it in ``cell.metadata["autograder"]["hidden_outputs"]``. A hidden failure becomes one
  error output: its name, and its message without any line that quotes a hidden test.
- **Test cells use the grader's names, not the student's.** Before and after each part
  of a test cell, a silent guard request (:mod:`autograder.job.guard`, installed in
  the kernel from its source before any student code) restores what student code may have patched
  or rebound: the names the release's own cells import (``trusted_imports``; bound to
  the module objects the import system loaded, and their ``sys.modules`` entries),
  builtins and names shadowing them, numpy's functions, IPython's traceback display,
  input/AST transformers and event callbacks. What the guard finds changed *after* a
  part was changed while the test ran: the cell then fails (``TestTampered``).
- **What student code hands a test is data.** The same guard request makes plain what
  the tests read from the student (``answer_names``): answer functions return their
  results through :mod:`autograder.job.plain` (exact numpy and Python types, Keras
  models of Keras's own classes), answer variables are converted, and a value that would
  decide its own comparison is refused with a message. What the conversion noted about a
  class the student wrote goes to ``cell.metadata["autograder"]["flags"]``.
- **stderr in a test cell is not a failure.** nbgrader zeroes a test cell that printed
  to stderr (a DeprecationWarning, say); here only an error counts.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import re
import time
from pathlib import Path

from nbclient.exceptions import CellExecutionComplete, CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import output_from_msg
from nbgrader.preprocessors import Execute
from traitlets import Bool, Dict, Integer, List, Unicode

from autograder.job.preprocessors import hidden_keys, quotes
from autograder.notebook import BEGIN_WORDS, END_WORDS, cell_key, is_test_cell

#: autograder/job/guard.py and plain.py, which run inside the kernel from their source
#: (the sandbox has no course repository to import them from).
GUARD_SOURCE = Path(__file__).with_name("guard.py").read_text(encoding="utf-8")
PLAIN_SOURCE = Path(__file__).with_name("plain.py").read_text(encoding="utf-8")

#: The kernel's first lines (IPKernelApp.exec_lines): run guard.py's source and install it.
GUARD_SETUP = """\
def _course_guard_setup(source, *args):
    import types
    module = types.ModuleType("_course_guard_source")
    exec(compile(source, "<the grader's guard.py>", "exec"), module.__dict__)
    module.install(*args)
_course_guard_setup(__GUARD__, __IMPORTS__, __ANSWERS__, __PLAIN__)
del _course_guard_setup
"""

GUARD_CALL = "__import__('sys').modules['_course_guard'].restore()"
PASS_LINE = "\npass\n"  # ends a part that is not the cell's last: it displays no value


def split_test_cell(source: str) -> list[tuple[bool, str]] | None:
    """A test cell's code as (hidden, code) parts, in order, without the marker lines;
    None if a part is not valid Python on its own (a marker inside a block)."""
    from IPython.core.inputtransformer2 import TransformerManager

    parts: list[tuple[bool, list[str]]] = [(False, [])]
    for line in source.splitlines(keepends=True):
        if BEGIN_WORDS in line:
            parts.append((True, []))
        elif END_WORDS in line:
            parts.append((False, []))
        else:
            parts[-1][1].append(line)
    out = []
    for hidden, lines in parts:
        code = "".join(lines)
        try:
            body = ast.parse(TransformerManager().transform_cell(code)).body
        except SyntaxError:
            return None
        if body:
            out.append((hidden, code))
    return out


_NAME = re.compile(r"^[A-Za-z_][\w.]{0,79}$")


def hidden_error(ename: str, evalue: str, keys) -> tuple[str, str]:
    """An error raised during hidden tests, as the student may see it: the name, and the
    message without its lines that quote a hidden test, capped."""
    ename = ename if _NAME.match(ename or "") and not quotes(ename, keys) else "Error"
    text = str(evalue)
    if quotes(text, keys):  # keep what comes before the first line that quotes (or starts to)
        lines = text.splitlines()
        cut = next(i for i in range(len(lines) + 1) if quotes("\n".join(lines[:i + 1]), keys))
        if cut < len(lines) and not quotes(lines[cut], keys):
            cut = 0  # a quote spread over lines: where it starts is unknown
        text = "\n".join(lines[:cut]).rstrip() + "\n[the rest quoted the hidden test and was removed]"
    if len(text) > 500:
        text = text[:500] + " …"
    return ename, text.strip()


class GuardedExecute(Execute):
    """nbgrader's Execute with restarts after crashes and timeouts, output caps, guards,
    and hidden tests run apart."""

    max_output_bytes = Integer(2_000_000, help="output kept per cell; the rest is dropped").tag(config=True)
    guard = Bool(True, help="restore patched numpy/builtins/IPython state before each test cell").tag(config=True)
    max_restarts = Integer(5, help="kernel restarts allowed per notebook").tag(config=True)
    cell_limits = Dict(help="seconds allowed per cell, by cell_key(); other cells get `timeout`").tag(config=True)
    trusted_imports = List(Unicode(), help="import statements of the release's own cells: the names they bind "
                                           "are rebound to the real objects before each test").tag(config=True)
    answer_names = List(Unicode(), help="names the tests read that only the student's cells bind: what they hold or "
                                        "return is made plain before each test (autograder.job.plain)").tag(config=True)
    start_failure_file = Unicode("", help="where to write why the kernel did not start, if it did not: no student "
                                          "code has run then, so the grading environment is at fault (the worker "
                                          "reads it)").tag(config=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A timeout raises here so that we can restart the kernel, instead of nbclient
        # interrupting and then waiting on a kernel that may ignore the interrupt.
        self.interrupt_on_timeout = False
        self.raise_on_iopub_timeout = False
        self.timeout_func = self._timeout_for
        self._budget: float | None = None
        self._sinks: dict[int, tuple] = {}
        self._flags: list[str] = []

    def _limit(self, cell):
        return self.cell_limits.get(cell_key(cell), self.timeout)

    def _timeout_for(self, cell):
        return self._budget if self._budget is not None else self._limit(cell)

    # --- kernel start-up: save the originals before any student code runs ---------
    def start_new_kernel(self, **kwargs):
        if self.guard and not any("exec_lines" in a for a in self.extra_arguments):
            values = {"GUARD": GUARD_SOURCE, "IMPORTS": list(self.trusted_imports),
                      "ANSWERS": list(self.answer_names), "PLAIN": PLAIN_SOURCE}
            setup = re.sub(r"__(GUARD|IMPORTS|ANSWERS|PLAIN)__", lambda m: repr(values[m.group(1)]), GUARD_SETUP)
            self.extra_arguments = [*self.extra_arguments, f"--IPKernelApp.exec_lines={setup}"]
        return super().start_new_kernel(**kwargs)

    # --- the main loop --------------------------------------------------------------
    def preprocess(self, nb, resources=None, km=None):
        from nbclient import NotebookClient

        NotebookClient.__init__(self, nb, km)
        # That re-initialisation reloads the course config (interrupt_on_timeout = True for
        # nbgrader's own commands): set the grader's timeout handling again.
        self.interrupt_on_timeout = False
        self.raise_on_iopub_timeout = False
        self.timeout_func = self._timeout_for
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self._bytes: dict = {}
        self._completed: list[int] = []
        self._restarts = 0
        self._gave_up = False
        self._keys = hidden_keys(nb)
        self._sinks = {}  # id(cell copy) -> (the copy, its outputs): executions whose outputs stay out
        with contextlib.ExitStack() as kernel:
            try:
                kernel.enter_context(self.setup_kernel())
                self.wait_for_reply(self.kc.kernel_info())
            except Exception as err:
                if self.start_failure_file:
                    Path(self.start_failure_file).write_text(f"{type(err).__name__}: {err}"[:300])
                raise
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
        self._spent = 0.0
        try:
            if is_test_cell(cell):
                self._run_test(cell, index)
            else:
                self._execute(cell, index, store_history=True)
            self._completed.append(index)
        except CellTimeoutError:
            cell.outputs.append(self._error("CellTimeoutError", f"this cell ran longer than {self._limit(cell)} s and was stopped"))
            self._restart(index)
        except DeadKernelError:
            cell.outputs.append(self._error(
                "KernelDied", "the kernel died while running this cell (os._exit, a crash, or the memory cap); "
                              "it was restarted"))
            self._restart(index)
        finally:
            cell.metadata.setdefault("autograder", {})["seconds"] = round(self._spent, 2)

    def _execute(self, cell, index: int, store_history: bool, sink: bool = False) -> dict | None:
        """Execute one cell (or part of one); return the kernel's execute_reply. With
        ``sink``, its outputs go to ``self._sinks[id(cell)]`` only, never into the notebook,
        late messages after a timeout included."""
        self._reply = None
        if sink:
            self._sinks[id(cell)] = (cell, [])
            self._bytes.pop(("sink", index), None)
        start = time.monotonic()
        try:
            self.execute_cell(cell, index, store_history=store_history)
        finally:
            self._spent += time.monotonic() - start
            self._budget = None
        return self._reply

    def _sunk(self, cell) -> list:
        return self._sinks.get(id(cell), (None, []))[1]

    # --- test cells: visible part, hidden part, rest --------------------------------
    def _run_test(self, cell, index: int) -> None:
        parts = split_test_cell(cell.source)
        if parts is None:  # cannot be split: run it whole, as hidden
            parts = [(True, cell.source)]
        limit = self._limit(cell)
        outputs: list = []
        hidden_outputs: list = []
        count = None
        history = True
        self._flags: list[str] = []
        try:
            if self.guard and self._guard() is None:
                outputs.append(self._error("GuardError", "the grader's guard could not run before this test; "
                                                          "the test does not count"))
                return
            for i, (hidden, code) in enumerate(parts):
                last = i == len(parts) - 1
                part = copy.deepcopy(cell)
                part.source = code if last else code.rstrip("\n") + PASS_LINE
                part.outputs = []
                if limit:
                    self._budget = limit - self._spent
                    if self._budget <= 0:
                        raise CellTimeoutError("time limit used up by the parts before")
                try:
                    reply = self._execute(part, index, store_history=history and not hidden, sink=hidden)
                finally:  # what came out before a timeout or crash is kept too
                    if hidden:
                        hidden_outputs += self._sunk(part)
                    else:
                        if history:  # the first visible part is the one in IPython's history
                            history, count = False, part.get("execution_count")
                        outputs += part.outputs
                content = (reply or {}).get("content", {})
                if content.get("status") == "error":
                    if hidden:
                        outputs.append(self._error(*hidden_error(content.get("ename", "Error"),
                                                                 content.get("evalue", ""), self._keys)))
                    if self.guard:
                        self._guard()  # what the plain conversion noted during the failed part
                    return
                if hidden and last:  # a number as the cell's value is nbgrader's partial credit
                    outputs += [o for o in self._sunk(part) if o.get("output_type") == "execute_result"
                                and _is_number(o.get("data", {}).get("text/plain", ""))]
                if self.guard:
                    changed = self._guard()
                    if changed is None or changed:
                        what = ", ".join(changed or ["the grader's guard"])[:300]
                        outputs.append(self._error("TestTampered", f"changed while this test ran: {what}; "
                                                                   "the test does not count"))
                        return
        finally:
            cell.outputs = outputs
            cell.execution_count = count
            if hidden_outputs:
                cell.metadata.setdefault("autograder", {})["hidden_outputs"] = hidden_outputs
            if self._flags:
                cell.metadata.setdefault("autograder", {})["flags"] = self._flags
            self.nb.cells[index] = cell

    def _guard(self) -> list[str] | None:
        """Restore what student code changed, in the kernel; the list of what was, or None
        if the guard could not run."""
        try:
            msg_id = self.kc.execute("", silent=True, store_history=False, user_expressions={"g": GUARD_CALL})
            reply = self.wait_for_reply(msg_id)
            value = reply["content"]["user_expressions"]["g"]
            if value.get("status") != "ok":
                return None
            found = ast.literal_eval(value["data"]["text/plain"])
            changed, flags = found if isinstance(found, list) and len(found) == 2 else (None, [])
            if isinstance(flags, list):
                self._flags += [str(f)[:300] for f in flags if str(f)[:300] not in self._flags]
            return [str(c) for c in changed] if isinstance(changed, list) else None
        except (CellTimeoutError, DeadKernelError):
            raise
        except Exception as err:  # a guard failure must not stop grading
            self.log.warning("guard failed: %s", err)
            return None

    def _restart(self, index: int) -> None:
        spent = self._spent  # the replays are not the cell's time
        try:
            self._restart_kernel(index)
        finally:
            self._spent = spent

    def _restart_kernel(self, index: int) -> None:
        self._restarts += 1
        self._budget = None
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
            original = self.nb.cells[j]
            try:
                self._execute(copy.deepcopy(original), j, store_history=False, sink=True)
            except (CellTimeoutError, DeadKernelError):
                self._completed.remove(j)
                return self._restart_kernel(index)
            finally:
                self.nb.cells[j] = original  # replayed outputs are discarded

    # --- outputs ---------------------------------------------------------------------
    @staticmethod
    def _error(ename: str, evalue: str) -> NotebookNode:
        return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])

    def process_message(self, msg, cell, cell_index):
        entry = self._sinks.get(id(cell))
        if entry is None or entry[0] is not cell:
            return super().process_message(msg, cell, cell_index)
        # Sink mode (hidden tests, replays): keep the outputs aside; no display-id updates
        # of other cells, no widget state, no output widgets.
        kind, content = msg["msg_type"], msg["content"]
        if kind == "status" and content.get("execution_state") == "idle":
            raise CellExecutionComplete()
        if kind in ("stream", "display_data", "execute_result", "error"):
            key = ("sink", cell_index)
            used = self._bytes.get(key, 0)
            self._bytes[key] = used + len(str(content))
            if used + len(str(content)) <= self.max_output_bytes:
                try:
                    entry[1].append(output_from_msg(msg))
                except ValueError:
                    pass
        return None

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
        self._reply = kwargs.get("execute_reply")
        if id(kwargs["cell"]) in self._sinks:
            return  # nbgrader would copy the reply's error into the outputs
        super().on_cell_executed(**kwargs)
        cell = kwargs["cell"]
        if is_test_cell(cell):
            for out in cell.outputs:
                if out.get("output_type") == "stream" and out.get("name") == "stderr":
                    out["name"] = "stdout"  # a warning is not a failed test


def _is_number(text) -> bool:
    try:
        float("".join(text) if isinstance(text, list) else text)
        return True
    except (TypeError, ValueError):
        return False
