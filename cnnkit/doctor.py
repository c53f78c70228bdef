"""Environment doctor: is this machine ready for the course?

``check_environment()`` prints one table: the Python, TensorFlow, Keras (and its
backend), numpy and nbgrader versions; whether Fashion-MNIST was found and where;
the CPU/GPU that Keras's backend sees; fast or full mode. Anything missing gets the
exact command that fixes it, in the same table. The first code cell of lesson 01 runs it,
and so do ``python -m cnnkit.doctor`` and ``make doctor`` (exit status 1 if something
essential is missing).

Every heavy import (TensorFlow, Keras, nbgrader) happens inside the check that needs it,
so a missing or broken package becomes a row of the table, never a crash; this holds
with ``KERAS_BACKEND=jax`` or without TensorFlow installed.
"""

from __future__ import annotations

import importlib
import os
import platform
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from . import data, modes

#: The repository root when cnnkit runs from a clone (``pip install -e .``), else None.
_REPO = Path(__file__).resolve().parents[1]
REPO: Path | None = _REPO if (_REPO / "requirements.txt").is_file() and (_REPO / "Makefile").is_file() else None

OK, NOTE, MISSING, BROKEN = "ok", "note", "MISSING", "BROKEN"
#: Statuses that make ``check_environment()`` return False and ``python -m cnnkit.doctor`` exit 1.
PROBLEMS = (MISSING, BROKEN)


@dataclass
class Row:
    """One line of the table. ``status`` is ok, note (works; worth knowing), MISSING or BROKEN."""

    check: str
    status: str
    details: str
    fix: str = ""


def _in_colab() -> bool:
    return "google.colab" in sys.modules


def _python() -> str:
    """The interpreter, quoted for a shell."""
    return shlex.quote(sys.executable)


def _pin(dist: str) -> str:
    """The requirement for ``dist`` as requirements.txt pins it for this platform (else the bare name)."""
    if REPO is not None:
        try:
            from packaging.requirements import Requirement
        except ImportError:  # packaging ships with pip's users almost always; fall back to the name
            return dist
        for line in (REPO / "requirements.txt").read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            try:
                req = Requirement(line)
            except Exception:
                continue
            if req.name.lower() == dist.lower() or (dist == "tensorflow" and req.name == "tensorflow-cpu"):
                if req.marker is None or req.marker.evaluate():
                    return f"{req.name}{req.specifier}"
    return dist


def _pip_fix(dist: str) -> str:
    return f'{_python()} -m pip install "{_pin(dist)}"'


def _import(name: str):
    """Import a module; return (module, None) or (None, 'ErrorName: message')."""
    try:
        return importlib.import_module(name), None
    except Exception as err:  # ImportError, but a broken install can raise anything
        msg = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return None, f"{type(err).__name__}: {msg}"[:160]


def _check_python() -> Row:
    version = platform.python_version()
    if sys.version_info < (3, 10):
        return Row("Python", BROKEN, f"{version} is too old; the course needs 3.10 or newer",
                   "install Python 3.11, then: make setup")
    return Row("Python", OK, f"{version} ({sys.executable})")


def _check_numpy() -> Row:
    np, err = _import("numpy")
    if np is None:
        return Row("numpy", MISSING, f"cannot be imported ({err})", _pip_fix("numpy"))
    return Row("numpy", OK, np.__version__)


def _check_tensorflow() -> tuple[Row, object]:
    tf, err = _import("tensorflow")
    if tf is None:
        absent = err.startswith(("ModuleNotFoundError", "ImportError"))
        return Row("TensorFlow", MISSING if absent else BROKEN,
                   f"{'not installed' if absent else 'broken'} ({err}); the lessons' Keras backend and the hidden "
                   "tests use it", _pip_fix("tensorflow")), None
    return Row("TensorFlow", OK, getattr(tf, "__version__", "?")), tf


def _check_keras(tf_row: Row) -> tuple[Row, object]:
    backend_var = os.environ.get("KERAS_BACKEND")
    keras, err = _import("keras")
    if keras is None:
        if backend_var and backend_var != "tensorflow":
            return Row("Keras", BROKEN, f"import failed with KERAS_BACKEND={backend_var} ({err}); "
                       "the course runs on the TensorFlow backend",
                       "unset KERAS_BACKEND    (or, in a notebook: %env KERAS_BACKEND=tensorflow, then restart)"), None
        if tf_row.status in PROBLEMS:  # Keras's TensorFlow backend is what is missing
            return Row("Keras", BROKEN, f"cannot be imported without TensorFlow ({err})", tf_row.fix), None
        return Row("Keras", MISSING, f"cannot be imported ({err})", _pip_fix("keras")), None
    try:
        backend = keras.backend.backend()
    except Exception:  # very old or odd Keras
        backend = "unknown"
    row = Row("Keras", OK, f"{keras.__version__}, backend {backend}")
    if not str(keras.__version__).startswith("3."):
        row.status, row.fix = BROKEN, _pip_fix("keras")
        row.details += "; the course needs Keras 3"
    elif backend != "tensorflow":
        row.status = NOTE
        row.details += " (the course is tested on the TensorFlow backend; most cells work on others)"
    return row, keras


def _check_nbgrader() -> Row:
    # Read the installed version without importing nbgrader: the import costs seconds, and
    # this check runs as lesson 01's first cell every time the notebook is executed or graded.
    from importlib import metadata

    try:
        version, err = metadata.version("nbgrader"), None
    except metadata.PackageNotFoundError as exc:
        version, err = None, exc
    if version is None:
        if _in_colab():
            return Row("nbgrader", NOTE, "not installed: fine in Colab (no Validate button there; "
                       "the test cells still check your work)")
        return Row("nbgrader", MISSING, f"cannot be imported ({err}); JupyterLab's Validate button and "
                   "grading need it", _pip_fix("nbgrader"))
    return Row("nbgrader", OK, version)


def _data_fix() -> str:
    if REPO is not None:
        return f"cd {shlex.quote(str(REPO))} && make data"
    if _in_colab():
        return 'python -c "import keras; keras.datasets.fashion_mnist.load_data()"'
    return "sudo apt-get install dataset-fashion-mnist"


def _check_data() -> Row:
    found = data.find_data_dir()
    if found is None:
        if os.environ.get("FASHION_MNIST_NO_DOWNLOAD"):
            return Row("Fashion-MNIST", MISSING, "not found, and downloading is off ($FASHION_MNIST_NO_DOWNLOAD); "
                       "searched: " + ", ".join(str(p) for _, p in data.candidate_dirs()), _data_fix())
        return Row("Fashion-MNIST", NOTE, "not on this machine yet: load_fashion_mnist() will download it "
                   "with Keras (needs internet, about 30 MB)")
    label, folder = found
    try:
        (x_train, _), (x_test, _) = data.load_fashion_mnist()
    except data.DataError as err:
        problem = str(err).split("\n", 1)[0].replace("Fashion-MNIST could not be loaded: ", "")
        return Row("Fashion-MNIST", BROKEN, f"found in {folder} ({label}) but unusable: {problem}", _data_fix())
    return Row("Fashion-MNIST", OK, f"{folder} ({label}): {len(x_train):,} train + {len(x_test):,} test images")


def _device_names(backend: str, tf) -> tuple[list[str], str]:
    """(accelerators, who sees them) for the active Keras backend; never raises."""
    try:
        if backend == "tensorflow" and tf is not None:
            gpus = tf.config.list_physical_devices("GPU")
            return [d.name.replace("/physical_device:", "") for d in gpus], "TensorFlow"
        if backend == "jax":
            jax = importlib.import_module("jax")
            return [f"{d.platform}:{d.id}" for d in jax.devices() if d.platform != "cpu"], "JAX"
        if backend == "torch":
            torch = importlib.import_module("torch")
            n = torch.cuda.device_count() if torch.cuda.is_available() else 0
            return [f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(n)], "PyTorch"
    except Exception as err:
        return [], f"{backend} (device query failed: {type(err).__name__})"
    return [], backend


def _check_devices(keras, tf) -> Row:
    cores = os.cpu_count() or 1
    if keras is None:
        return Row("CPU/GPU", NOTE, f"{cores} CPU cores; Keras could not be imported, so no accelerator was queried")
    backend = keras.backend.backend()
    accelerators, seen_by = _device_names(backend, tf)
    if accelerators:
        return Row("CPU/GPU", OK, f"{cores} CPU cores; GPU seen by {seen_by}: {', '.join(accelerators)}")
    return Row("CPU/GPU", OK, f"{cores} CPU cores; no GPU seen by {seen_by}: CPU only")


def _check_mode() -> Row:
    try:
        current = modes.mode()
    except ValueError as err:
        return Row("Mode", BROKEN, str(err), f"export {modes.ENV_VAR}=full    (or unset {modes.ENV_VAR})")
    if current == "fast":
        return Row("Mode", OK, f"fast ({modes.ENV_VAR}=fast): small subsets and few epochs, as in CI and grading")
    return Row("Mode", OK, f"full: the whole data set and the full training budget ({modes.ENV_VAR}=fast for a quick run)")


def _rows() -> list[Row]:
    tf_row, tf = _check_tensorflow()
    keras_row, keras = _check_keras(tf_row)
    return [_check_python(), tf_row, keras_row, _check_numpy(), _check_nbgrader(), _check_data(),
            _check_devices(keras, tf), _check_mode()]


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = re.split(r"(?<=\s)", text), [], ""
    for word in words:
        if line and len(line) + len(word.rstrip()) > width:
            lines.append(line.rstrip())
            line = ""
        line += word
    return lines + [line.rstrip()] if line.strip() else lines or [""]


def _table(rows: list[Row], width: int = 100) -> str:
    c1 = max(len("check"), *(len(r.check) for r in rows))
    c2 = max(len("status"), *(len(r.status) for r in rows))
    c3 = max(40, width - c1 - c2 - 4)
    lines = [f"{'check':<{c1}}  {'status':<{c2}}  details", f"{'-' * c1}  {'-' * c2}  {'-' * c3}"]
    for r in rows:
        body = _wrap(r.details, c3)
        if r.fix:
            body += ["fix: " + r.fix]  # never wrapped: it is meant to be copied as one line
        for i, text in enumerate(body):
            lines.append(f"{r.check if i == 0 else '':<{c1}}  {r.status if i == 0 else '':<{c2}}  {text}".rstrip())
    return "\n".join(lines)


def check_environment() -> bool:
    """Print the environment table; return True when nothing essential is missing.

    Rows: Python, TensorFlow, Keras (with its backend), numpy, nbgrader, Fashion-MNIST
    (found or not, and where), CPU/GPU (as Keras's backend sees them) and the course
    mode. A row marked MISSING or BROKEN carries a ``fix:`` line with the exact command to run.

    Examples
    --------
    >>> ok = check_environment()  # doctest: +SKIP
    """
    rows = _rows()
    print("Environment check (cnnkit.doctor)")
    print(_table(rows))
    missing = [r.check for r in rows if r.status in PROBLEMS]
    if missing:
        print(f"\n{len(missing)} problem(s): {', '.join(missing)}. Run the fix line(s) above, "
              "then restart the kernel (Kernel > Restart) and run this cell again.")
    else:
        print("\nAll essential checks passed.")
    return not missing


def main(argv: list[str] | None = None) -> int:
    """``python -m cnnkit.doctor``: print the table; exit 1 if something essential is missing."""
    return 0 if check_environment() else 1


if __name__ == "__main__":
    raise SystemExit(main())
