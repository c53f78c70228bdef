"""Finish a course install on any operating system, without make or bash.

``python -m cnnkit.setup``, run with the course's ``.venv`` Python after
``pip install -r requirements.txt``, does what ``make setup`` does after its installs:

1. **Jupyter settings for students** (``python -m cnnkit.setup jupyter`` does only this;
   the Makefile calls it right after installing the requirements):

   - nbgrader's instructor tools (formgrader, create-assignment, course list) are
     switched off in JupyterLab; the Validate button and the assignment list stay;
   - ``<sys.prefix>/etc/jupyter/nbgrader_config.py`` gives Validate the grader's 600 s
     cell timeout. nbgrader's default, 30 s, stops the training cells of lessons 07
     and 08 (minutes each in full mode), and Validate then reports a timeout instead
     of the tests' messages.

2. **The data**: Fashion-MNIST wherever :mod:`cnnkit.data` finds it; the Debian
   package's files are linked into the Keras cache, as ``make data`` does, so that
   ``keras.datasets.fashion_mnist.load_data()`` works offline too; with none found,
   Keras downloads the files into its cache (needs internet; switched off when
   ``$FASHION_MNIST_NO_DOWNLOAD`` is set).

Both steps only write into this Python's environment (``sys.prefix``) and the Keras
cache, and both are safe to repeat. Exit status 1 if the data could not be made available.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from . import data

#: nbgrader's JupyterLab plugins for instructors, hidden from students.
INSTRUCTOR_PLUGINS: tuple[str, ...] = (
    "@jupyter/nbgrader:formgrader",
    "@jupyter/nbgrader:create-assignment",
    "@jupyter/nbgrader:course-list",
)

#: Seconds per cell for nbgrader's Validate button: the grader's cell timeout.
VALIDATE_TIMEOUT = 600

NBGRADER_CONFIG = f"""\
# Written by `python -m cnnkit.setup` (also run by `make setup`): nbgrader Validate in JupyterLab.
c = get_config()  # noqa
c.Execute.timeout = {VALIDATE_TIMEOUT}
"""


def nbgrader_config_path(prefix: str | Path | None = None) -> Path:
    """``<prefix>/etc/jupyter/nbgrader_config.py``, ``prefix`` defaulting to ``sys.prefix``.

    nbgrader's Validate handler reads every ``nbgrader_config.py`` on Jupyter's config
    path, which includes ``<sys.prefix>/etc/jupyter`` of the environment running JupyterLab.
    """
    return Path(sys.prefix if prefix is None else prefix) / "etc" / "jupyter" / "nbgrader_config.py"


def configure_jupyter(prefix: str | Path | None = None) -> list[str]:
    """Write the Validate timeout and hide nbgrader's instructor plugins; return what was done.

    Parameters
    ----------
    prefix : the environment to configure; ``sys.prefix`` (this Python's) by default.
        The plugins are always switched off for this Python's environment.

    Returns
    -------
    list[str]
        One line per step, for printing.
    """
    done = []
    config = nbgrader_config_path(prefix)
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(NBGRADER_CONFIG, encoding="utf-8")
    done.append(f"nbgrader Validate: {VALIDATE_TIMEOUT} s per cell ({config})")

    cmd = [sys.executable, "-m", "jupyterlab.labextensions", "disable", "--level=sys_prefix", *INSTRUCTOR_PLUGINS]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode == 0:
        done.append("JupyterLab: nbgrader's instructor tools switched off (formgrader, create-assignment, course list)")
    else:  # JupyterLab still works with them on; say so rather than stop
        last = (result.stderr or result.stdout).strip().splitlines()[-1:]
        done.append(f"JupyterLab: could not switch off nbgrader's instructor tools ({' '.join(last)}); "
                    "the lessons work all the same")
    return done


def ensure_data() -> str:
    """Make Fashion-MNIST available (link the Debian files or download); return where it is.

    Raises
    ------
    cnnkit.data.DataError
        With every fix spelled out, if no valid set of files is found and Keras cannot
        download it (no internet, or ``$FASHION_MNIST_NO_DOWNLOAD`` set).
    """
    found = data.find_data_dir()
    if found is not None and found[1] == data.DEBIAN_DIR:
        data.link_keras_cache()
    (x_train, _), (x_test, _) = data.load_fashion_mnist()  # downloads if nothing was found
    label, folder = data.find_data_dir() or ("?", Path("?"))
    return f"Fashion-MNIST found ({label}): {folder}: {len(x_train):,} train and {len(x_test):,} test images"


def main(argv: list[str] | None = None) -> int:
    """``python -m cnnkit.setup [all|jupyter|data]``."""
    argv = sys.argv[1:] if argv is None else argv
    step = argv[0] if argv else "all"
    if step not in ("all", "jupyter", "data"):
        print("usage: python -m cnnkit.setup [all|jupyter|data]", file=sys.stderr)
        return 2
    if step in ("all", "jupyter"):
        for line in configure_jupyter():
            print(line)
    if step in ("all", "data"):
        try:
            print(ensure_data())
        except data.DataError as err:
            print(err, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
