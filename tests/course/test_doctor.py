"""The environment doctor (cnnkit.doctor): one table, an exact fix for anything missing,
a non-zero exit when something essential is missing, and no crash on another Keras
backend or without TensorFlow."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys

import pytest

from cnnkit import data, doctor
from conftest import REPO

ROWS = ["Python", "TensorFlow", "Keras", "numpy", "nbgrader", "Fashion-MNIST", "CPU/GPU", "Mode"]


def run_doctor(*, code: str | None = None, **env: str) -> subprocess.CompletedProcess:
    """``python -m cnnkit.doctor`` (or ``python -c code``) with extra environment variables."""
    full_env = {**os.environ, **env}
    args = ["-c", code] if code else ["-m", "cnnkit.doctor"]
    return subprocess.run([sys.executable, *args], cwd=REPO, env=full_env, capture_output=True, text=True,
                          timeout=300)


def table_rows(text: str) -> dict[str, tuple[str, str]]:
    """check -> (status, details) from the printed table (first line of each row)."""
    rows = {}
    for line in text.splitlines():
        for name in ROWS:
            if line.startswith(name + " "):
                status, _, details = line[len(name):].strip().partition(" ")
                rows[name] = (status, details.strip())
    return rows


def test_cli_prints_every_row_and_exits_0_here():
    proc = run_doctor()
    assert proc.returncode == 0, f"the course machine has everything; doctor said:\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stdout + proc.stderr
    rows = table_rows(proc.stdout)
    assert list(rows) == ROWS, f"one row per check, in order; got {list(rows)}:\n{proc.stdout}"
    assert all(status == "ok" for status, _ in rows.values()), proc.stdout
    assert rows["TensorFlow"][1] == importlib.metadata.version("tensorflow-cpu" if sys.platform == "linux" else "tensorflow")
    assert rows["Keras"][1] == f"{importlib.metadata.version('keras')}, backend tensorflow"
    assert rows["numpy"][1] == importlib.metadata.version("numpy")
    assert rows["nbgrader"][1] == importlib.metadata.version("nbgrader")
    assert rows["Python"][1].startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")
    found = data.find_data_dir()
    assert found is not None and str(found[1]) in proc.stdout, "the data row says where the files are"
    assert "60,000 train + 10,000 test images" in " ".join(proc.stdout.split()), "the table may wrap the line"
    assert "CPU cores" in rows["CPU/GPU"][1]
    assert rows["Mode"][1].startswith("fast"), "the test suite runs in fast mode, and the doctor must say so"
    assert "fix:" not in proc.stdout, "nothing is missing, so nothing needs fixing"


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """Every place the loader searches is empty, and downloading is off."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.setenv("FASHION_MNIST_NO_DOWNLOAD", "1")
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no_debian")
    data._load_cached.cache_clear()
    yield
    data._load_cached.cache_clear()


def test_missing_data_is_essential_and_names_the_fix(no_data, capsys):
    assert doctor.check_environment() is False
    out = capsys.readouterr().out
    status, details = table_rows(out)["Fashion-MNIST"]
    assert status == "MISSING" and "not found" in details, out
    assert f"fix: cd {REPO} && make data" in out, out
    assert "1 problem(s): Fashion-MNIST" in out
    assert doctor.main([]) == 1


def test_missing_data_with_download_allowed_is_only_a_note(no_data, monkeypatch, capsys):
    """Colab's route: nothing on disk, Keras's download will fetch the files on first use."""
    monkeypatch.delenv("FASHION_MNIST_NO_DOWNLOAD")
    assert doctor.check_environment() is True
    status, details = table_rows(capsys.readouterr().out)["Fashion-MNIST"]
    assert status == "note" and "download it with Keras" in details


def test_broken_data_file_is_reported_not_raised(tmp_path, no_data, monkeypatch, capsys):
    folder = tmp_path / "fm"
    folder.mkdir()
    (folder / data.FILES["x_train"]).write_bytes(b"not a gzip file")
    monkeypatch.setenv("FASHION_MNIST_DIR", str(folder))
    assert doctor.check_environment() is False
    out = capsys.readouterr().out
    status, details = table_rows(out)["Fashion-MNIST"]
    assert status == "BROKEN" and str(folder) in details, out
    assert "make data" in out


def test_invalid_mode_is_reported_with_its_fix(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_MODE", "quick")
    assert doctor.check_environment() is False
    out = capsys.readouterr().out
    assert table_rows(out)["Mode"][0] == "BROKEN"
    assert "fix: export COURSE_MODE=full" in out


def test_other_keras_backend_does_not_crash():
    """KERAS_BACKEND=jax: Keras either runs on JAX (a note) or cannot import it (a fix); no traceback."""
    proc = run_doctor(KERAS_BACKEND="jax")
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert list(table_rows(proc.stdout)) == ROWS, proc.stdout
    status, details = table_rows(proc.stdout)["Keras"]
    try:
        import jax  # noqa: F401
        has_jax = True
    except ImportError:
        has_jax = False
    if has_jax:
        assert status == "note" and "backend jax" in details, proc.stdout
    else:
        assert status == "BROKEN" and "KERAS_BACKEND=jax" in details, proc.stdout
        assert "fix: unset KERAS_BACKEND" in proc.stdout
        assert proc.returncode == 1


def test_without_tensorflow_every_row_still_prints():
    """TensorFlow absent (simulated): its row and Keras's say so with the pinned pip command; exit 1."""
    code = ("import sys; sys.modules['tensorflow'] = None\n"
            "from cnnkit.doctor import main\nraise SystemExit(main())")
    proc = run_doctor(code=code)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    rows = table_rows(proc.stdout)
    assert list(rows) == ROWS, proc.stdout
    assert rows["TensorFlow"][0] == "MISSING" and rows["Keras"][0] == "BROKEN", proc.stdout
    name = "tensorflow-cpu" if sys.platform == "linux" else "tensorflow"
    pins = [ln.split(";")[0].strip() for ln in (REPO / "requirements.txt").read_text().splitlines()
            if ln.startswith(name + "==")]
    assert len(pins) == 1, f"requirements.txt pins {name} once"
    pin = pins[0]
    assert f'-m pip install "{pin}"' in proc.stdout, "the fix is the exact pinned install from requirements.txt"
    assert rows["numpy"][0] == "ok" and rows["Fashion-MNIST"][0] == "ok"
    assert proc.returncode == 1
