"""autograder.job.guard as a module, in a plain interpreter: installed into a real IPython
shell (no kernel), it undoes what student code patches or rebinds and makes the answers plain.
Each case runs in a fresh Python (the guard patches sys.meta_path and builtins of its process).
The same module runs inside the grader's kernels: tests/grader/test_hostile.py grades through it."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO

SCRIPT = r'''
import json, sys
from IPython.core.interactiveshell import InteractiveShell
from autograder.job import guard
from autograder.job.execute import PLAIN_SOURCE

shell = InteractiveShell.instance()
shell.run_cell("import numpy as np")
installed = guard.install(["import numpy as np"], ["normalize", "at_3_2"], PLAIN_SOURCE, ip=shell)
restore = sys.modules["_course_guard"].restore
restore()
shell.run_cell(STUDENT)
before = restore()  # before a test: what the student changed since the last test
ns = shell.user_ns
out = {"before": before, "np_is_numpy": ns["np"] is sys.modules["numpy"], "len": len([1, 2]),
       "normalize": type(ns["normalize"]).__name__, "at_3_2": [type(ns["at_3_2"]).__name__, repr(ns["at_3_2"])]}
try:
    out["called"] = repr(ns["normalize"](3))
except Exception as err:
    out["called"] = type(err).__name__ + ": " + str(err)
shell.run_cell(DURING_TEST)
out["after"] = restore()  # after a test part: what changed while it ran
print(json.dumps(out))
'''

STUDENT = '''
import builtins
np = "not numpy"
builtins.len = lambda x: 0
class Agree(int):
    def __eq__(self, other):
        return True
    __hash__ = int.__hash__
def normalize(x):
    return Agree(x + 1)
at_3_2 = Agree(-7)
'''


def run(student: str, during_test: str = "") -> dict:
    code = f"STUDENT = {student!r}\nDURING_TEST = {during_test!r}\n" + SCRIPT
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_guard_restores_names_and_makes_answers_plain():
    out = run(STUDENT)
    changed, flags = out["before"]
    assert "np" in changed and "builtins.len" in changed, changed
    assert out["np_is_numpy"] and out["len"] == 2, "np and len are the real ones again"
    assert out["normalize"] == "Answer" and out["called"] == "4", "normalize's result is a plain int"
    assert out["at_3_2"] == ["int", "-7"], "the answer variable holds its plain value"
    assert any(f.startswith("at_3_2 is a Agree, a subclass of int that defines __eq__") for f in flags), flags
    assert out["after"][0] == [], "nothing changed during the (empty) test part"
    assert any(f.startswith("normalize returned a Agree") for f in out["after"][1]), out["after"]


def test_an_answer_rebound_while_a_test_runs_is_reported():
    out = run(STUDENT, during_test="normalize = lambda x: 0\nnp = 1")
    assert {"normalize", "np"} <= set(out["after"][0]), out["after"]


def test_a_refused_answer_raises_its_message_when_used():
    out = run("class Liar:\n    def __eq__(self, other):\n        return True\ndef normalize(x):\n    return Liar()\n"
              "at_3_2 = Liar()\n")
    assert out["called"].startswith("NotPlain: normalize returned a Liar object"), out["called"]
    assert out["at_3_2"][0] == "Refused" and "at_3_2 is a Liar object" in out["at_3_2"][1]
    assert any("defines __eq__ (refused)" in f for f in out["before"][1]), out["before"]
