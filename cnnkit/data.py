"""Fashion-MNIST from real files, offline first.

``load_fashion_mnist()`` returns exactly what ``keras.datasets.fashion_mnist.load_data()``
returns, ``(x_train, y_train), (x_test, y_test)`` as uint8 arrays, but looks for the
four IDX files in this order:

1. ``$FASHION_MNIST_DIR``
2. ``$KERAS_HOME/datasets/fashion-mnist`` (default ``~/.keras/datasets/fashion-mnist``)
3. ``/usr/share/datasets/fashion-mnist`` (Debian package ``dataset-fashion-mnist``)
4. Keras's own download, which fills the cache of step 2 (needs internet; off when
   ``$FASHION_MNIST_NO_DOWNLOAD`` is set, as in CI and tests).

A folder that holds none of the files is skipped. A folder that holds some of them
but not a valid set (a missing, truncated or foreign file) stops the search with one
:class:`DataError` that names the file, the problem and every fix.

Run ``python -m cnnkit.data`` to see where the data is found, and
``python -m cnnkit.data link`` to link the Debian files into the Keras cache so that
``keras.datasets.fashion_mnist.load_data()`` works offline too.
"""

from __future__ import annotations

import gzip
import os
import struct
import sys
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

#: The ten labels, in label order (label 0 is "T-shirt/top").
CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

#: The four files, as Fashion-MNIST, Keras and Debian name them.
FILES: dict[str, str] = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
IMAGE_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABEL_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
COUNTS = {"train": 60_000, "t10k": 10_000}
ROWS = COLS = 28

FIXES = """How to make the data available (any one of these):
  1. make data            (as root: installs the Debian package dataset-fashion-mnist
                           and links it into the Keras cache)
  2. sudo apt-get install dataset-fashion-mnist   (Debian/Ubuntu; files land in /usr/share/datasets/fashion-mnist)
  3. export FASHION_MNIST_DIR=/path/to/folder      (a folder holding the four .gz files:
                           train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
                           t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz)
  4. with internet: python -c "import keras; keras.datasets.fashion_mnist.load_data()"
                           (Keras downloads the files into its cache; delete a broken cached file first)"""


class DataError(RuntimeError):
    """Fashion-MNIST could not be loaded. The message names the problem and every fix."""


def keras_cache_dir() -> Path:
    """``$KERAS_HOME/datasets/fashion-mnist``, with Keras's default ``~/.keras``."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets" / "fashion-mnist"


def candidate_dirs() -> list[tuple[str, Path]]:
    """The folders searched, in order, each with a label saying where it came from."""
    dirs: list[tuple[str, Path]] = []
    if os.environ.get("FASHION_MNIST_DIR"):
        dirs.append(("$FASHION_MNIST_DIR", Path(os.environ["FASHION_MNIST_DIR"])))
    dirs.append(("Keras cache", keras_cache_dir()))
    dirs.append(("Debian package dataset-fashion-mnist", DEBIAN_DIR))
    return dirs


def _fail(problem: str) -> DataError:
    searched = "\n".join(f"  - {label}: {path}" for label, path in candidate_dirs())
    return DataError(f"Fashion-MNIST could not be loaded: {problem}\n\nFolders searched, in order:\n{searched}\n\n{FIXES}")


def read_idx(path: Path, magic: int, count: int) -> np.ndarray:
    """Read one gzipped IDX file and check its magic number, its counts and its length.

    Parameters
    ----------
    path : the ``.gz`` file.
    magic : 2051 for images, 2049 for labels.
    count : the number of items expected (60,000 or 10,000).

    Returns
    -------
    np.ndarray
        uint8, shape ``(count, 28, 28)`` for images and ``(count,)`` for labels.
    """
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise _fail(f"{path} is missing.") from None
    except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
        raise _fail(f"{path} is not a complete gzip file ({type(err).__name__}: {err}); it is truncated or corrupt.") from None

    header_len = 16 if magic == IMAGE_MAGIC else 8
    if len(raw) < header_len:
        raise _fail(f"{path} is too short to hold an IDX header ({len(raw)} bytes).")
    found_magic, found_count = struct.unpack(">II", raw[:8])
    if found_magic != magic:
        kind = "image" if magic == IMAGE_MAGIC else "label"
        raise _fail(f"{path} has magic number {found_magic}, expected {magic} for an IDX {kind} file; it is not the right file.")
    if found_count != count:
        raise _fail(f"{path} says it holds {found_count} items, expected {count}.")
    shape: tuple[int, ...] = (count,)
    if magic == IMAGE_MAGIC:
        rows, cols = struct.unpack(">II", raw[8:16])
        if (rows, cols) != (ROWS, COLS):
            raise _fail(f"{path} holds {rows}×{cols} images, expected {ROWS}×{COLS}.")
        shape = (count, ROWS, COLS)
    expected_len = header_len + int(np.prod(shape))
    if len(raw) != expected_len:
        raise _fail(f"{path} holds {len(raw)} bytes after decompression, expected {expected_len}; it is truncated.")
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(shape).copy()


def _has_any(folder: Path) -> bool:
    return any((folder / name).exists() or (folder / name).is_symlink() for name in FILES.values())


def _load_from(folder: Path):
    arrays = {}
    for key, name in FILES.items():
        split = "train" if "train" in key else "t10k"
        magic = IMAGE_MAGIC if key.startswith("x") else LABEL_MAGIC
        arrays[key] = read_idx(folder / name, magic, COUNTS[split])
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def find_data_dir() -> tuple[str, Path] | None:
    """The first searched folder that holds any of the four files, or None."""
    for label, folder in candidate_dirs():
        if _has_any(folder):
            return label, folder
    return None


def _download_allowed() -> bool:
    return not os.environ.get("FASHION_MNIST_NO_DOWNLOAD")


@lru_cache(maxsize=1)
def _load_cached(cache_key: tuple[str, ...]):
    found = find_data_dir()
    if found is not None:
        return _load_from(found[1])
    if not _download_allowed():
        raise _fail("none of the four files was found, and downloading is switched off ($FASHION_MNIST_NO_DOWNLOAD is set).")
    try:
        import keras

        keras.datasets.fashion_mnist.load_data()
    except Exception as err:  # no internet, proxy, disk full...: one clear message instead
        raise _fail(f"none of the four files was found, and Keras's download failed ({type(err).__name__}: {err}).") from None
    return _load_from(keras_cache_dir())


def load_fashion_mnist():
    """Load Fashion-MNIST as ``(x_train, y_train), (x_test, y_test)``, uint8.

    Shapes: x_train (60000, 28, 28), y_train (60000,), x_test (10000, 28, 28),
    y_test (10000,). Identical to ``keras.datasets.fashion_mnist.load_data()``.
    The arrays are cached per search path; each call returns fresh copies, so a
    lesson that edits them in place cannot spoil the next call.

    Raises
    ------
    DataError
        With the problem and every fix spelled out, if no valid set of files is found.

    Examples
    --------
    >>> (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    >>> x_train.shape, CLASS_NAMES[y_train[0]]
    ((60000, 28, 28), 'Ankle boot')
    """
    key = tuple(str(p) for _, p in candidate_dirs())
    (a, b), (c, d) = _load_cached(key)
    return (a.copy(), b.copy()), (c.copy(), d.copy())


def link_keras_cache(source: Path = DEBIAN_DIR) -> Path:
    """Symlink the four files from ``source`` into the Keras cache; return the cache folder.

    Existing valid files in the cache are left alone; broken links are replaced.
    """
    target = keras_cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    for name in FILES.values():
        src, dst = source / name, target / name
        if not src.exists():
            raise _fail(f"{src} is missing, so the Keras cache cannot be linked to it.")
        if dst.is_symlink() and not dst.exists():
            dst.unlink()
        if not dst.exists():
            dst.symlink_to(src)
    return target


def main(argv: list[str] | None = None) -> int:
    """``python -m cnnkit.data [status|link]``."""
    argv = sys.argv[1:] if argv is None else argv
    cmd = argv[0] if argv else "status"
    try:
        if cmd == "link":
            print(f"Linked Fashion-MNIST into the Keras cache: {link_keras_cache()}")
        elif cmd != "status":
            print("usage: python -m cnnkit.data [status|link]", file=sys.stderr)
            return 2
        found = find_data_dir()
        if found is None:
            raise _fail("none of the four files was found.")
        (x_train, _), (x_test, _) = load_fashion_mnist()
        print(f"Fashion-MNIST found ({found[0]}): {found[1]}: {len(x_train):,} train and {len(x_test):,} test images.")
        return 0
    except DataError as err:
        print(err, file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
