"""The offline Fashion-MNIST loader, on small IDX files the tests write themselves,
and on the real files."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from cnnkit import data
from cnnkit.data import DataError, load_fashion_mnist

FIX_WORDS = ["make data", "apt-get install dataset-fashion-mnist", "FASHION_MNIST_DIR",
             "keras.datasets.fashion_mnist.load_data()"]


def write_idx(path, magic, count, rows=28, cols=28, truncate=False):
    if magic == data.IMAGE_MAGIC:
        header = struct.pack(">IIII", magic, count, rows, cols)
        payload = (np.arange(count * rows * cols) % 251).astype(np.uint8).tobytes()
    else:
        header = struct.pack(">II", magic, count)
        payload = (np.arange(count) % 10).astype(np.uint8).tobytes()
    blob = gzip.compress(header + payload, compresslevel=1)
    path.write_bytes(blob[: len(blob) // 2] if truncate else blob)


def make_dataset(folder, **override):
    folder.mkdir(parents=True, exist_ok=True)
    specs = {"x_train": (data.IMAGE_MAGIC, 60_000), "y_train": (data.LABEL_MAGIC, 60_000),
             "x_test": (data.IMAGE_MAGIC, 10_000), "y_test": (data.LABEL_MAGIC, 10_000)}
    for key, name in data.FILES.items():
        magic, count = specs[key]
        kwargs = override.get(key, {})
        if kwargs is None:
            continue  # leave this file out
        write_idx(folder / name, kwargs.get("magic", magic), kwargs.get("count", count),
                  truncate=kwargs.get("truncate", False))
    return folder


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Point every search location at empty temp folders; clear the loader's cache."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.setenv("FASHION_MNIST_NO_DOWNLOAD", "1")
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no_debian")
    data._load_cached.cache_clear()
    yield
    data._load_cached.cache_clear()


def assert_clear_error(err: DataError, *needles: str):
    text = str(err)
    for needle in (*needles, *FIX_WORDS):
        assert needle in text, f"the error should mention {needle!r}:\n{text}"
    shows_chain = err.__cause__ is not None or (err.__context__ is not None and not err.__suppress_context__)
    assert not shows_chain, "no raw gzip/URL traceback may be chained to the error"


def test_valid_directory_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(make_dataset(tmp_path / "fm")))
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    assert x_train.shape == (60_000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60_000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10_000, 28, 28) and y_test.shape == (10_000,)
    assert y_test[:12].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert x_train[0, 0, :3].tolist() == [0, 1, 2]


def test_search_order_prefers_env_dir_then_keras_cache(tmp_path, monkeypatch):
    make_dataset(tmp_path / "keras_home" / "datasets" / "fashion-mnist")
    assert data.find_data_dir()[0] == "Keras cache"
    monkeypatch.setenv("FASHION_MNIST_DIR", str(make_dataset(tmp_path / "fm")))
    assert data.find_data_dir() == ("$FASHION_MNIST_DIR", tmp_path / "fm")


def test_returns_fresh_copies(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(make_dataset(tmp_path / "fm")))
    (x_train, _), _ = load_fashion_mnist()
    x_train[:] = 0
    (again, _), _ = load_fashion_mnist()
    assert again[0, 0, 1] == 1, "a lesson that edits the arrays in place must not spoil the next load"


def test_missing_file_gives_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(make_dataset(tmp_path / "fm", y_test=None)))
    with pytest.raises(DataError) as info:
        load_fashion_mnist()
    assert_clear_error(info.value, "t10k-labels-idx1-ubyte.gz is missing")


def test_truncated_gzip_gives_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(make_dataset(tmp_path / "fm", x_train={"truncate": True})))
    with pytest.raises(DataError) as info:
        load_fashion_mnist()
    assert_clear_error(info.value, "train-images-idx3-ubyte.gz", "truncated")


def test_wrong_magic_number_gives_clear_error(tmp_path, monkeypatch):
    # A label file where the image file should be: magic 2049 instead of 2051.
    monkeypatch.setenv("FASHION_MNIST_DIR", str(make_dataset(tmp_path / "fm", x_test={"magic": data.LABEL_MAGIC})))
    with pytest.raises(DataError) as info:
        load_fashion_mnist()
    assert_clear_error(info.value, "magic number 2049, expected 2051")


def test_wrong_count_gives_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHION_MNIST_DIR", str(make_dataset(tmp_path / "fm", y_train={"count": 59_999})))
    with pytest.raises(DataError) as info:
        load_fashion_mnist()
    assert_clear_error(info.value, "59999 items, expected 60000")


def test_nothing_found_and_no_download(tmp_path):
    with pytest.raises(DataError) as info:
        load_fashion_mnist()
    assert_clear_error(info.value, "none of the four files was found", "downloading is switched off")


def test_link_keras_cache(tmp_path):
    source = make_dataset(tmp_path / "debian")
    target = data.link_keras_cache(source)
    assert target == tmp_path / "keras_home" / "datasets" / "fashion-mnist"
    for name in data.FILES.values():
        assert (target / name).is_symlink() and (target / name).resolve() == (source / name).resolve()
    assert data.find_data_dir()[0] == "Keras cache"


def test_class_names():
    assert len(data.CLASS_NAMES) == 10 and data.CLASS_NAMES[0] == "T-shirt/top" and data.CLASS_NAMES[9] == "Ankle boot"


def test_real_files_match_keras_loader(tmp_path, monkeypatch):
    """The real data: ours equals keras.datasets.fashion_mnist.load_data() read offline
    through a Keras cache linked to the Debian files (nothing downloads)."""
    real = data.Path("/usr/share/datasets/fashion-mnist")
    assert real.is_dir(), "the Debian package dataset-fashion-mnist must be installed (make data)"
    data.link_keras_cache(real)
    ours = load_fashion_mnist()
    import keras

    theirs = keras.datasets.fashion_mnist.load_data()
    for (a, b), (c, d) in [(ours[0], theirs[0]), (ours[1], theirs[1])]:
        assert a.dtype == c.dtype == np.uint8 and np.array_equal(a, c)
        assert b.dtype == d.dtype and np.array_equal(b, d)
    assert ours[0][0].shape == (60_000, 28, 28)
