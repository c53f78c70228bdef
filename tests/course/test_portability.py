"""Portability check: no stored notebook output may depend on the machine that made it.

``pytest`` (nbval) compares every stored output with a fresh run on *this* machine, so an
output that prints float round-off passes here and fails on a machine whose CPU has another
instruction set: lesson 05 stored ``max |difference| = 4.3e-07`` from an AVX2 machine, and
CI's AVX-512 machine printed 5.3e-07 (issue #10). This module runs nbval once more with every
arithmetic library held one instruction set *below* this machine's best (AVX-512 → AVX2,
AVX2 → SSE4.1, read from /proc/cpuinfo) and on one thread, and compares with the stored
outputs, so the developer sees such a cell fail before CI does:

- ``ONEDNN_MAX_CPU_ISA``: oneDNN, TensorFlow's CPU kernels. It applies even where TensorFlow's
  oneDNN ops are off (``TF_ENABLE_ONEDNN_OPTS=0``, the default on CPUs without AVX512_VNNI,
  AVX512_BF16, AVX_VNNI or AMX), because TensorFlow's Eigen matrix products call oneDNN's sgemm.
- ``NPY_DISABLE_CPU_FEATURES``: numpy's own SIMD loops. Only numpy's dispatch targets can be
  disabled (numpy 2.x: X86_V3, X86_V4, AVX512_ICL, AVX512_SPR); a baseline feature is an
  error at import, any other name only an ImportWarning (hidden by default) and no effect,
  so the names are taken from ``numpy._core._multiarray_umath.__cpu_dispatch__``.
- ``OPENBLAS_CORETYPE``: the OpenBLAS kernels behind numpy's and scipy's matrix products.
- One thread: ``TF_NUM_INTRAOP_THREADS=1`` (TensorFlow's CPU thread pool, which oneDNN runs
  on) and ``OMP_NUM_THREADS=1`` / ``OPENBLAS_NUM_THREADS=1`` (OpenBLAS).

``test_check_catches_float_digits`` (always run, about 20 s) proves the check works on a tiny
notebook: a cell printing float32 round-off digits, stored from a native run, fails; the
same comparison printed as a fact passes. The sweep over every solutions notebook
(``test_solutions_portable``) takes minutes, so it runs only with ``COURSE_PORTABILITY=1``
(CI sets it): ``COURSE_PORTABILITY=1 .venv/bin/python -m pytest tests/course/test_portability.py``.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest

from conftest import ASSIGNMENTS, REPO, SOLUTIONS, notebook

SWEEP = os.environ.get("COURSE_PORTABILITY") == "1"

# One step below the machine's best: (name, /proc/cpuinfo flags it needs, ONEDNN_MAX_CPU_ISA value
# one level lower, OPENBLAS_CORETYPE one level lower, numpy dispatch targets to switch off).
_AVX512_TARGET = re.compile(r"^(X86_V4|AVX512)")                  # numpy 2.x groups, numpy 1.x features
_AVX_TARGET = re.compile(r"^(X86_V3|X86_V4|AVX|F16C|FMA3|FMA4|XOP)")
LEVELS = [
    ("AVX-512", {"avx512f", "avx512bw", "avx512vl", "avx512dq"}, "AVX2", "Haswell", _AVX512_TARGET),
    ("AVX2", {"avx2", "fma"}, "SSE41", "Nehalem", _AVX_TARGET),
]


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((l for l in text.splitlines() if l.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def restricted_env() -> tuple[dict[str, str], str]:
    """The environment variables that hold this machine one instruction set lower, on one
    thread, and a line saying what they do. Skips the test where there is no lower level
    to compare against (not x86-64, or a CPU without AVX2)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip(f"the portability check restricts x86-64 instruction sets; this is {platform.machine()}")
    flags = cpu_flags()
    for best, needs, onednn_isa, openblas_core, targets in LEVELS:
        if needs <= flags:
            break
    else:
        pytest.skip("this CPU has no AVX2: no lower instruction set to compare against")
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__
    except ImportError:  # numpy 1.x
        from numpy.core._multiarray_umath import __cpu_dispatch__

    disabled = [t for t in __cpu_dispatch__ if targets.match(t)]
    env = {
        "ONEDNN_MAX_CPU_ISA": onednn_isa,
        "NPY_DISABLE_CPU_FEATURES": " ".join(disabled),
        "OPENBLAS_CORETYPE": openblas_core,
        "TF_NUM_INTRAOP_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    if not disabled:
        del env["NPY_DISABLE_CPU_FEATURES"]
    return env, f"this CPU's best is {best}; restricted: " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())


def sanitize_options() -> list[str]:
    """The --nbval-sanitize-with option of pyproject's addopts, if any: the check must sanitize
    the way the main run does (it replaces addopts to drop the rest)."""
    addopts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["addopts"]
    args = shlex.split(addopts)
    for i, arg in enumerate(args):
        if arg == "--nbval-sanitize-with":
            return [arg, str(REPO / args[i + 1])]
        if arg.startswith("--nbval-sanitize-with="):
            return ["--nbval-sanitize-with", str(REPO / arg.partition("=")[2])]
    return []


def run_nbval(path: Path, env: dict[str, str], timeout: int) -> tuple[dict[str, str], str]:
    """Run nbval on one notebook in a fresh pytest process whose environment (and so its
    kernel's) has ``env`` added; fast mode and the quiet log come from the course_env plugin.
    Returns each cell's outcome ({'Cell 3': 'PASSED' or 'FAILED', ...}) and pytest's output."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST")}
    full_env.update(env)
    cmd = [sys.executable, "-m", "pytest", "-c", str(REPO / "pyproject.toml"), "--rootdir", str(REPO),
           "-o", "addopts=", "-p", "no:cacheprovider", "-p", "course_env",
           "--nbval", "--nbval-current-env", "--nbval-cell-timeout=900", *sanitize_options(),
           "-rA", "--color=no", str(path)]
    proc = subprocess.run(cmd, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=timeout)
    output = proc.stdout + proc.stderr
    outcomes = {m[2]: m[1] for m in re.finditer(r"^(PASSED|FAILED|ERROR) \S*::(Cell \d+)", output, re.M)}
    assert outcomes, f"nbval reported no cells (exit {proc.returncode}):\n{output[-6000:]}"
    return outcomes, output


PROBE = r'''
import ctypes, glob, json, os
import numpy
try:
    from numpy._core._multiarray_umath import __cpu_features__
except ImportError:  # numpy 1.x
    from numpy.core._multiarray_umath import __cpu_features__
cores = []
for lib in sorted(glob.glob(os.path.join(os.path.dirname(numpy.__file__) + ".libs", "*openblas*.so*"))):
    for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename64_", "openblas_get_corename"):
        fn = getattr(ctypes.CDLL(lib), name, None)
        if fn is not None:
            fn.restype = ctypes.c_char_p
            cores.append(fn().decode())
            break
print(json.dumps({"features": __cpu_features__, "openblas": cores}))
'''


def test_restriction_reaches_numpy_and_openblas():
    """numpy ignores a feature name it cannot disable with only an ImportWarning (hidden by
    default): made an error here, so a wrong name fails instead of restricting nothing."""
    env, what = restricted_env()
    full_env = {**os.environ, **env}
    proc = subprocess.run([sys.executable, "-W", "error::ImportWarning", "-c", PROBE], env=full_env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"numpy refused the restriction ({what}):\n{proc.stderr[-3000:]}"
    probe = json.loads(proc.stdout)
    still_on = [f for f in env.get("NPY_DISABLE_CPU_FEATURES", "").split() if probe["features"].get(f)]
    assert not still_on, f"numpy still dispatches to {still_on} ({what})"
    for core in probe["openblas"]:  # numpy's bundled OpenBLAS, where it exports its core name
        assert core.lower() == env["OPENBLAS_CORETYPE"].lower(), f"OpenBLAS runs {core} kernels ({what})"


# --- the proof: the check fails on float digits and passes on the fact they stand for ---------

TINY_SETUP = '''\
import numpy as np
import keras

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
image = rng.random((28, 28, 1))                      # float64, like lesson 05's boot / 255
weights, offsets = rng.normal(size=(3, 3, 1, 4)), rng.normal(size=4)
layer = keras.layers.Conv2D(4, 3, strides=2, padding="same")
layer.build((None, 28, 28, 1))
layer.set_weights([weights.astype(np.float32), offsets.astype(np.float32)])
theirs = keras.ops.convert_to_numpy(layer(image[None].astype(np.float32)))[0]
padded = np.pad(image, ((0, 1), (0, 1), (0, 0)))    # TF's "same" padding for 28, 3, stride 2
windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3, 1))[::2, ::2, 0]   # (14, 14, 3, 3, 1)
ours = np.einsum("ijabc,abcf->ijf", windows, weights) + offsets                        # float64
difference = np.abs(ours - theirs).max()'''
# Lesson 05 printed the difference as {:.1e}; six digits make the proof hold on any pair of instruction sets.
OLD_STYLE = 'print(f"max |difference| = {difference:.6e} (float32 rounding)")  # the digits of the round-off'
NEW_STYLE = 'print("max |ours − Keras| below 1e-5 (float32 rounding):", bool(difference < 1e-5))'


def executed_natively(path: Path) -> None:
    """Execute the notebook at ``path`` in place on this machine, unrestricted, as
    ``python -m autograder execute`` does for solutions/ (minus its stored stderr: TensorFlow's
    time-stamped start-up log, which nbval's kernels do not show)."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    saved = dict(os.environ)
    os.environ.update({"TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONHASHSEED": "0"})
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    for cell in nb.cells:
        cell.outputs = [o for o in cell.get("outputs", []) if not (o.output_type == "stream" and o.name == "stderr")]
    nbformat.write(nb, path)


def test_check_catches_float_digits(tmp_path):
    env, what = restricted_env()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in (TINY_SETUP, OLD_STYLE, NEW_STYLE)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "float_digits.ipynb"
    nbformat.write(nb, path)
    executed_natively(path)
    stored = nbformat.read(path, as_version=4)
    assert "max |difference| = " in stored.cells[1].outputs[0].text, stored.cells[1].outputs
    assert stored.cells[2].outputs[0].text.endswith(": True\n"), stored.cells[2].outputs

    outcomes, output = run_nbval(path, env, timeout=300)
    detail = f"{what}\n{output[-4000:]}"
    assert outcomes.get("Cell 0") == "PASSED", f"the setup cell must run unchanged.\n{detail}"
    assert outcomes.get("Cell 1") == "FAILED", (
        f"the float32 round-off digits stored from a native run ({stored.cells[1].outputs[0].text.strip()}) came "
        f"out the same under the restricted instruction set: the restriction does not reach the kernel's arithmetic.\n{detail}")
    assert outcomes.get("Cell 2") == "PASSED", f"the comparison printed as a fact must not depend on the CPU.\n{detail}"


# --- the sweep: every solutions notebook, restricted ---------------------------------------------

@pytest.mark.skipif(not SWEEP, reason="the portability sweep takes minutes; set COURSE_PORTABILITY=1 to run it")
@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_solutions_portable(aid):
    env, what = restricted_env()
    outcomes, output = run_nbval(notebook(SOLUTIONS, aid), env, timeout=3600)
    failed = sorted((c for c, o in outcomes.items() if o != "PASSED"), key=lambda c: int(c.rsplit(" ", 1)[1]))
    assert not failed, (
        f"{aid}: {', '.join(failed)} printed something else with the arithmetic held one instruction set lower "
        f"({what}). A stored output must not show float round-off, timings or thread-dependent values: print the "
        f"fact the lesson teaches (e.g. 'max |difference| below 1e-5: True'), or mark a cell NBVAL_IGNORE_OUTPUT "
        f"only if it trains or times something.\n{output[-8000:]}")
