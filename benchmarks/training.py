"""The course's training benchmark: how fast this machine trains lessons 7 and 8's models.

    python -m benchmarks.training                 # matmul bound + two epochs of each model (about 5 minutes)
    python -m benchmarks.training --variants      # + other settings: what was tried (+10 minutes)
    python -m benchmarks.training --notebooks     # + every solutions notebook executed in fast and full mode,
                                           #   timed, and the full-mode test accuracies they print (long)
    KERAS_BACKEND=jax python -m benchmarks.training --notebooks --notebooks-dir DIR --only 07 08 09
                                           # on a GPU machine without TensorFlow (see the README)
    python -m benchmarks.training --targets       # only the course's training targets (about 3 minutes)

It prints one table, measured in one run:

- **the bound:** numpy float32 matrix product (4096×4096), in GFLOP/s: what this machine's
  BLAS reaches on the most favourable dense arithmetic;
- **per model** (dense, CNN, improved CNN, LeNet): seconds for one epoch on all 60,000 training
  images (after a warm-up that traces the training step), the GFLOP/s that represents and its
  fraction of the bound. FLOPs per epoch = 60,000 × forward multiply-adds per image × 2 FLOPs
  × 3 (a training step costs about three forward passes: forward, gradient with respect to the
  inputs, gradient with respect to the weights). Multiply-adds are counted from the built Keras
  model (conv: output values × k·k·C_in; dense: units × inputs), as lesson 9 does;
- **with --notebooks:** the full-mode test accuracy of each model, read from the line each
  lesson prints ("CNN: test accuracy 91.23% after 10 epochs ..."), and the time to execute all
  solutions notebooks in each mode.

With another Keras backend on a machine with a GPU (``KERAS_BACKEND=jax``), the bound is a
float32 matrix product on the GPU with that backend's default precision, and the TensorFlow-only
variants are skipped.

With ``--targets`` it prints, instead of the table, one line per model for the course's
training targets (issue 22): the improved CNN must reach 92.0% test accuracy in at most 120 s of
training, LeNet 88.0% in at most 60 s, in full mode on the course's 2-core machine. Each model is
trained exactly as its lesson trains it in full mode: the same 55,000 training images, validated
on the 5,000 after them at the end of every epoch, the lesson's epochs and batch size, seed 0;
``fit`` alone is timed, and the accuracy is measured on the 10,000 test images. The lines name
the machine's CPU (from /proc/cpuinfo) and its load average, since the machine may be shared.

The models are the course's own: their builder functions are read from the solutions
notebooks at run time (this package holds no solution), with the constants the lessons define
before them (batch sizes, epochs, the number of training steps a schedule runs over). Each model is timed in a fresh Python process, so that settings read once at
start-up (``TF_ENABLE_ONEDNN_OPTS``, thread counts) apply. The machine may be shared: the
table prints the load average before and after, and timings taken under load are slower.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
TRAIN_IMAGES = 60_000

#: name -> (assignment, builder function, regex for the batch size in that notebook, input side)
MODELS: dict[str, tuple[str, str, str, int]] = {
    "dense": ("07_fashion_mnist_cnn", "build_dense_model", r"^BATCH = (\d+)", 28),
    "CNN": ("07_fashion_mnist_cnn", "build_cnn_model", r"^BATCH = (\d+)", 28),
    "improved CNN": ("07_fashion_mnist_cnn", "build_improved_cnn", r"^BATCH = (\d+)", 28),
    "LeNet": ("08_lenet", "build_lenet", r"^LENET_BATCH = (\d+)", 32),
}

#: --targets: name -> (test accuracy, seconds of training) to reach in full mode (issue 22), and the
#: lesson's names of its epochs and batch size.
TARGETS: dict[str, tuple[float, float, str, str]] = {
    "improved CNN": (0.920, 120.0, "EPOCHS_IMPROVED", "BATCH"),
    "LeNet": (0.880, 60.0, "LENET_EPOCHS", "LENET_BATCH"),
}

#: The one-line constants of a lesson that its builders and training cells use, in notebook order.
CONSTANT_LINE = re.compile(r"^((?:N_TRAIN|N_VAL|N_TEST|BATCH|EPOCHS_IMPROVED|IMPROVED_STEPS|LENET_BATCH|"
                           r"LENET_LEARNING_RATE|LENET_EPOCHS|LENET_STEPS) = .+)$", re.M)

#: Other settings, for --variants (what was tried): label -> (model, environment, worker options).
VARIANTS: dict[str, tuple[str, dict[str, str], dict]] = {
    "CNN, TensorFlow's default CPU kernels (oneDNN off)": ("CNN", {"TF_ENABLE_ONEDNN_OPTS": "0"}, {}),
    "CNN, batch 512": ("CNN", {}, {"batch": 512}),
    "CNN, jit_compile=True (XLA)": ("CNN", {}, {"jit": True}),
    "CNN, tf.data cache + prefetch": ("CNN", {}, {"tfdata": True}),
    "CNN, 2 intra-op threads, 1 inter-op thread": ("CNN", {}, {"threads": True}),
    "CNN, steps_per_execution=32": ("CNN", {}, {"spe": 32}),
    "CNN, 2 intra-op/1 inter-op threads + steps_per_execution=32": ("CNN", {}, {"threads": True, "spe": 32}),
    "LeNet, batch 128": ("LeNet", {}, {"batch": 128}),
    "LeNet, batch 128, oneDNN off": ("LeNet", {"TF_ENABLE_ONEDNN_OPTS": "0"}, {"batch": 128}),
}


# --- the pieces ------------------------------------------------------------------------------

def matmul_gflops(n: int = 4096, repeats: int = 5) -> float:
    """Best GFLOP/s of a float32 n×n matrix product with numpy (2·n³ FLOPs each)."""
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    a @ b  # warm-up: threads start, pages are touched
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def accelerator() -> str | None:
    """The GPU that Keras's backend trains on, e.g. "NVIDIA H100 80GB HBM3 (jax)"; None on a CPU."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        devices = [d for d in jax.devices() if d.platform != "cpu"]
        return f"{devices[0].device_kind} (jax {jax.__version__})" if devices else None
    if backend == "torch":
        import torch

        return f"{torch.cuda.get_device_name(0)} (torch {torch.__version__})" if torch.cuda.is_available() else None
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return f"{gpus[0].name} (tensorflow)" if gpus else None
    return None


def accelerator_matmul_gflops(n: int = 8192, chain: int = 10, repeats: int = 3) -> float:
    """Best GFLOP/s of float32 n×n matrix products on the backend's GPU (its default precision)."""
    import keras

    ops = keras.ops
    a = keras.random.uniform((n, n), seed=0)
    b = keras.random.uniform((n, n), seed=1) / n

    def run() -> float:
        c = a
        for _ in range(chain):
            c = ops.matmul(c, b)
        return float(ops.convert_to_numpy(c[0, 0]))  # waits for the whole chain

    run()  # warm-up: compilation, memory
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 * chain / best / 1e9


def training_gflops(seconds_per_epoch: float, forward_macs: float, images: int = TRAIN_IMAGES) -> float:
    """GFLOP/s of an epoch: images × forward multiply-adds × 2 FLOPs × 3 (forward + backward) / seconds."""
    return images * forward_macs * 2 * 3 / seconds_per_epoch / 1e9


def forward_macs(model) -> int:
    """Forward multiply-adds per image of a built Keras model (Conv2D and Dense layers)."""
    total = 0
    for layer in model.layers:
        config = layer.get_config()
        outputs = int(np.prod(layer.output.shape[1:]))
        if "filters" in config and "kernel_size" in config:
            kh, kw = config["kernel_size"]
            total += outputs * kh * kw * int(layer.input.shape[-1])
        elif "units" in config:
            total += outputs * int(layer.input.shape[-1])
    return total


def notebook_code(aid: str) -> list[tuple[dict, str]]:
    """(nbgrader metadata, source) of every code cell of a solutions notebook."""
    nb = json.loads((SOLUTIONS / aid / f"{aid}.ipynb").read_text())
    cells = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            cells.append((cell.get("metadata", {}).get("nbgrader", {}), src))
    return cells


class Mode:
    """Stands in for ``cnnkit.modes`` in a namespace: ``pick`` answers for one mode, whatever $COURSE_MODE says."""

    def __init__(self, mode: str):
        if mode not in ("fast", "full"):
            raise ValueError(f"mode {mode!r}: use fast or full")
        self._mode = mode

    def mode(self) -> str:
        return self._mode

    def is_fast(self) -> bool:
        return self._mode == "fast"

    def pick(self, fast, full):
        return fast if self._mode == "fast" else full


def notebook_constants(aid: str, mode: str | None = None) -> dict:
    """The lesson's constants (``N_TRAIN``, ``BATCH``, ``EPOCHS_IMPROVED``, ``LENET_STEPS`` ...) in ``mode``.

    Each one-line definition (:data:`CONSTANT_LINE`) of the notebook's code cells is executed in
    order, with ``modes`` answering for ``mode`` (default: $COURSE_MODE, as the notebook would).
    Returns the namespace: numpy, keras, ``modes`` and the constants.
    """
    import keras

    from cnnkit import modes

    namespace = {"np": np, "keras": keras, "modes": Mode(mode or modes.mode())}
    for _, src in notebook_code(aid):
        for m in CONSTANT_LINE.finditer(src):
            exec(compile(m.group(1), f"<{aid} constants>", "exec"), namespace)  # noqa: S102 (our own notebook)
    return namespace


def load_builder(aid: str, name: str, mode: str | None = None):
    """The function ``name`` from the solution cells of solutions/aid, executed with numpy, keras and
    the lesson's constants in ``mode`` (:func:`notebook_constants`)."""
    namespace = notebook_constants(aid, mode)
    for meta, src in notebook_code(aid):
        if meta.get("solution"):
            exec(compile(src, f"<{aid}>", "exec"), namespace)  # noqa: S102 (our own course notebook)
    if name not in namespace:
        raise LookupError(f"solutions/{aid} defines no {name}()")
    return namespace[name]


def lesson_batch(aid: str, pattern: str) -> int:
    """The batch size a lesson trains with, read from its notebook (e.g. ``BATCH = 128``)."""
    for _, src in notebook_code(aid):
        m = re.search(pattern, src, flags=re.M)
        if m:
            return int(m.group(1))
    raise LookupError(f"no batch size matching {pattern!r} in solutions/{aid}")


# --- one model, in its own process -------------------------------------------------------------

def worker(name: str, batch: int | None = None, jit: bool = False, tfdata: bool = False, threads: bool = False,
           spe: int = 1, repeats: int = 2) -> dict:
    """Time training epochs of a course model on all 60,000 images; return the figures (the fastest epoch)."""
    from cnnkit.speed import fast_cpu

    fast_cpu()
    import keras

    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(2)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    from cnnkit.data import load_fashion_mnist

    aid, builder, batch_pattern, side = MODELS[name]
    batch = batch or lesson_batch(aid, batch_pattern)
    (x, y), _ = load_fashion_mnist()
    x = (x.astype(np.float32) / 255)[..., None]
    if side == 32:
        x = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)))
    keras.utils.set_random_seed(0)
    model = load_builder(aid, builder)()
    if jit or spe > 1:  # recompiled with the lesson's optimizer, loss and metric
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      **({"jit_compile": True} if jit else {}), steps_per_execution=spe)
    if tfdata:
        import tensorflow as tf

        data = tf.data.Dataset.from_tensor_slices((x, y)).cache().shuffle(10_000, seed=0).batch(batch).prefetch(tf.data.AUTOTUNE)
        warm = data.take(5)
    else:
        data, warm = None, None
    # Warm-up: the first steps trace and compile the training step.
    if tfdata:
        model.fit(warm, epochs=1, verbose=0)
    else:
        model.fit(x[: 5 * spe * batch], y[: 5 * spe * batch], batch_size=batch, epochs=1, verbose=0)
    epochs, cpu = [], []  # the fastest of `repeats` epochs: on a shared machine, the least disturbed one
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        if tfdata:
            model.fit(data, epochs=1, verbose=0)
        else:
            model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        epochs.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
    best = int(np.argmin(epochs))
    return {"model": name, "batch": batch, "seconds": epochs[best], "cores": cpu[best] / epochs[best],
            "all_seconds": epochs, "cpu_seconds": cpu, "load": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "macs": forward_macs(model), "params": model.count_params()}


def run_worker(name: str, env: dict[str, str] | None = None, target: bool = False, **options) -> dict:
    """Run :func:`worker` (or, with ``target``, :func:`target_worker`) in a fresh process, so that
    start-up settings apply; return its figures."""
    cmd = [sys.executable, "-m", "benchmarks.training", "--target-worker" if target else "--worker", name,
           "--options", json.dumps(options)]
    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, cwd=REPO)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"benchmark worker {name} {options} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1])


# --- the training targets: a model trained as its lesson trains it ----------------------------------

def lesson_data(name: str, mode: str = "full", limit: int | None = None):
    """(x_tr, y_tr), (x_val, y_val), (x_te, y_te) as the model's lesson prepares them in ``mode``.

    ``limit``: keep only the first ``limit`` images of each set (a smoke test's size).
    """
    from cnnkit.data import load_fashion_mnist

    aid, _, _, side = MODELS[name]
    c = notebook_constants(aid, mode)
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    n_tr, n_val, n_te = (min(n, limit or n) for n in (c["N_TRAIN"], c["N_VAL"], c["N_TEST"]))

    def prepare(images):
        x = (images.astype(np.float32) / 255)[..., None]
        return np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0))) if side == 32 else x

    return ((prepare(x_train[:n_tr]), y_train[:n_tr]), (prepare(x_train[55_000:55_000 + n_val]), y_train[55_000:55_000 + n_val]),
            (prepare(x_test[:n_te]), y_test[:n_te]))


def target_worker(name: str, mode: str = "full", limit: int | None = None, epochs: int | None = None) -> dict:
    """Train a course model as its lesson does (seed 0, its epochs and batch, validation every epoch).

    Times ``fit`` only; returns the seconds, the epochs, the batch, the test accuracy and the
    validation accuracy of each epoch. ``limit`` and ``epochs`` shrink the run for a smoke test.
    """
    from cnnkit.speed import fast_cpu

    fast_cpu()
    import keras

    aid, builder, _, _ = MODELS[name]
    _, _, epochs_name, batch_name = TARGETS[name]
    c = notebook_constants(aid, mode)
    epochs, batch = epochs or c[epochs_name], c[batch_name]
    (x_tr, y_tr), (x_val, y_val), (x_te, y_te) = lesson_data(name, mode, limit)
    keras.utils.set_random_seed(0)
    model = load_builder(aid, builder, mode)()
    start = time.perf_counter()
    history = model.fit(x_tr, y_tr, validation_data=(x_val, y_val), epochs=epochs, batch_size=batch, verbose=0)
    seconds = time.perf_counter() - start
    accuracy = float(np.mean(np.argmax(model.predict(x_te, batch_size=1000, verbose=0), axis=1) == y_te))
    return {"model": name, "mode": mode, "seconds": seconds, "epochs": len(history.epoch), "batch": batch,
            "images": len(x_tr), "accuracy": accuracy, "val_accuracy": [float(v) for v in history.history["val_accuracy"]]}


def target_line(r: dict) -> str:
    """One line of --targets: seconds, epochs, test accuracy, and whether the target is met."""
    goal, limit, _, _ = TARGETS[r["model"]]
    met = r["accuracy"] >= goal and r["seconds"] <= limit
    per_epoch = ", ".join(f"{v:.1%}" for v in r["val_accuracy"])
    return (f"{r['model']}: {r['seconds']:.1f} s of training, {r['epochs']} epochs of {r['images']:,} images in batches of "
            f"{r['batch']}, test accuracy {r['accuracy']:.2%}; target ≥ {goal:.1%} in ≤ {limit:.0f} s: "
            f"{'met' if met else 'NOT met'} (validation accuracy per epoch: {per_epoch})")


# --- whole notebooks -----------------------------------------------------------------------------

#: assignment -> error of the last execute_notebooks() call, for notebooks that stopped on an error
failures: dict[str, str] = {}

ACCURACY_LINE = re.compile(r"^(Dense|CNN|Improved CNN|LeNet): test accuracy ([\d.]+)% after (\d+) epochs", re.M)


def execute_notebooks(mode: str, keep: Path | None = None, source: Path | None = None, only: list[str] | None = None
                      ) -> tuple[float, dict[str, float], dict[str, tuple[float, int]]]:
    """Execute every solutions notebook in ``mode`` (copies; solutions/ is not written to).

    ``source``: another folder laid out like solutions/ (``NN_slug/NN_slug.ipynb``), e.g. the
    solved notebooks with their hidden tests removed, for a machine without TensorFlow.
    ``only``: assignment number prefixes to run, e.g. ["07", "08"].

    With ``keep``, the executed notebooks are saved as ``keep/MODE/NN_slug.ipynb``, e.g. to look
    at the full-mode learning curves.

    Returns the total seconds, the seconds per notebook, and the accuracies the notebooks
    print: {"CNN": (percent, epochs), ...}.
    """
    import nbformat

    from autograder import course
    from autograder.authoring.runner import execute

    per_notebook, accuracies = {}, {}
    failures.clear()
    source = Path(source) if source else course.SOLUTIONS
    aids = sorted(p.name for p in source.iterdir() if (p / f"{p.name}.ipynb").is_file())
    for aid in [a for a in aids if not only or a[:2] in only]:
        path = source / aid / f"{aid}.ipynb"
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        try:
            execute(nb, cwd=path.parent, mode=mode, timeout=3600)
        except Exception as err:  # a failing cell: report it, time the rest
            failures[aid] = f"{type(err).__name__}: {str(err).strip().splitlines()[-1][:200] if str(err).strip() else ''}"
        per_notebook[aid] = time.perf_counter() - start
        if keep is not None:
            (Path(keep) / mode).mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, Path(keep) / mode / f"{aid}.ipynb")
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                for m in ACCURACY_LINE.finditer(out.get("text", "") if isinstance(out.get("text"), str) else ""):
                    accuracies[m.group(1)] = (float(m.group(2)), int(m.group(3)))
        print(f"  {mode:>4} {aid}: {per_notebook[aid]:.0f} s", file=sys.stderr, flush=True)
    return sum(per_notebook.values()), per_notebook, accuracies


# --- the table -----------------------------------------------------------------------------------

def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else what platform knows)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return cpu


def machine_line() -> str:
    cpu = cpu_model()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{cpu}, {cores} cores for this process, {platform.system()} {platform.release()}"


def versions_line(onednn: str | None) -> str:
    import keras

    line = f"Python {platform.python_version()}, numpy {np.__version__}, "
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return (line + f"TensorFlow {tf.__version__}, Keras {keras.__version__} (tensorflow backend); model timings "
                f"with TF_ENABLE_ONEDNN_OPTS={onednn or 'unset'} unless a row says otherwise")
    return line + f"Keras {keras.__version__} ({keras.backend.backend()} backend), GPU: {accelerator() or 'none'}"


def share(fraction: float) -> str:
    """45% or, below 1%, 0.39% (a GPU's bound dwarfs these models)."""
    return f"{fraction:.0%}" if fraction >= 0.01 else f"{fraction:.2%}"


def load_average() -> str:
    try:
        return "/".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def targets(mode: str = "full", **options) -> int:
    """--targets: train each model of :data:`TARGETS` in its own process (which sets oneDNN as the
    lessons do, unless the environment says otherwise); print a line for each."""
    started = datetime.now(timezone.utc)
    load_start = load_average()
    results = []
    for name in TARGETS:
        print(f"training {name} as its lesson does in {mode} mode ...", file=sys.stderr, flush=True)
        results.append(run_worker(name, target=True, mode=mode, **options))
    print(f"Training targets (python -m benchmarks.training --targets), {started:%Y-%m-%d %H:%M} UTC, {mode} mode")
    print(f"Machine: {machine_line()}")
    print(f"Load average (1/5/15 min) at start {load_start}, at end {load_average()}: timings taken under load are slower.")
    for r in results:
        print(target_line(r))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.training", description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", action="store_true", help="also time the CNN and LeNet with other settings")
    parser.add_argument("--notebooks", action="store_true", help="also execute every solutions notebook in fast and full mode")
    parser.add_argument("--notebooks-dir", type=Path, help="with --notebooks: execute the notebooks of this folder "
                        "(laid out like solutions/) instead of solutions/")
    parser.add_argument("--only", nargs="*", help="with --notebooks: only these lesson numbers, e.g. --only 07 08 09")
    parser.add_argument("--keep", type=Path, help="with --notebooks: save the executed notebooks in this folder")
    parser.add_argument("--repeats", type=int, default=2, help="epochs timed per model; the fastest counts (default 2)")
    parser.add_argument("--targets", action="store_true", help="only train the improved CNN and LeNet in full mode as "
                        "the lessons do, and say whether each meets the course's target (accuracy within seconds)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--target-worker", help=argparse.SUPPRESS)
    parser.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, **json.loads(args.options))))
        return 0
    if args.target_worker:
        print(json.dumps(target_worker(args.target_worker, **json.loads(args.options))))
        return 0
    if args.targets:
        return targets()

    from cnnkit.speed import ENV_VAR, fast_cpu

    user_setting = os.environ.get(ENV_VAR)
    fast_cpu()  # the workers inherit TF_ENABLE_ONEDNN_OPTS=1 unless the environment says otherwise
    worker_setting = os.environ.get(ENV_VAR)
    started = datetime.now(timezone.utc)
    load_start = load_average()
    print("measuring the matmul bound ...", file=sys.stderr, flush=True)
    gpu = accelerator()
    measure_bound = accelerator_matmul_gflops if gpu else matmul_gflops
    bound = measure_bound()
    rows = []
    for name in MODELS:
        print(f"timing {args.repeats} epochs of {name} ...", file=sys.stderr, flush=True)
        rows.append((name, run_worker(name, repeats=args.repeats)))
    if args.variants:
        import keras

        for label, (model, env, options) in VARIANTS.items():
            if keras.backend.backend() != "tensorflow" and (env or set(options) & {"jit", "tfdata", "threads"}):
                continue  # TensorFlow settings
            print(f"timing {label} ...", file=sys.stderr, flush=True)
            rows.append((label, run_worker(model, env=env, repeats=args.repeats, **options)))
    bound = max(bound, measure_bound())  # measured again at the end; the better of the two
    notebooks = {}
    if user_setting is None:  # notebook kernels get the course's environment, as students run them
        os.environ.pop(ENV_VAR, None)
    if args.notebooks:
        for mode in ("fast", "full"):
            print(f"executing every solutions notebook in {mode} mode ...", file=sys.stderr, flush=True)
            notebooks[mode] = (*execute_notebooks(mode, keep=args.keep, source=args.notebooks_dir, only=args.only),
                               dict(failures))
    accuracies = notebooks["full"][2] if "full" in notebooks else {}
    key = {"dense": "Dense", "CNN": "CNN", "improved CNN": "Improved CNN", "LeNet": "LeNet"}

    print(f"Training benchmark (python -m benchmarks.training{' --variants' if args.variants else ''}"
          f"{' --notebooks' if args.notebooks else ''}), {started:%Y-%m-%d %H:%M} UTC")
    print(f"Machine: {machine_line()}")
    print(f"Software: {versions_line(worker_setting)}")
    print(f"Load average (1/5/15 min) at start {load_start}, at end {load_average()}: the machine may be shared.")
    print()
    print("| what | batch | s/epoch (60k images) | cores busy | forward MACs/image | GFLOP/s | of the matmul bound | full-mode test accuracy |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    bound_label = ("float32 matmul 8192×8192 on the GPU, the backend's default precision (TF32 on NVIDIA; the bound)" if gpu
                   else "numpy float32 matmul 4096×4096 (the bound)")
    print(f"| {bound_label} | | | | | {bound:.1f} | 100% | |")
    for label, r in rows:
        gflops = training_gflops(r["seconds"], r["macs"])
        acc = accuracies.get(key.get(label, ""), None)
        acc_text = f"{acc[0]:.2f}% after {acc[1]} epochs" if acc else ("" if label not in key else "run with --notebooks")
        print(f"| {label} | {r['batch']} | {r['seconds']:.1f} | {r['cores']:.1f} | {r['macs'] / 1e6:.2f} M | {gflops:.1f} "
              f"| {share(gflops / bound)} | {acc_text} |")
    if notebooks:
        for mode in ("fast", "full"):
            total, per_nb, _, failed = notebooks[mode]
            parts = ", ".join(f"{aid[:2]} {s:.0f} s" for aid, s in per_nb.items())
            print(f"| all {len(per_nb)} solutions notebooks, {mode} mode | | {total:.0f} s in all ({parts}) | | | | | |")
            for aid, err in failed.items():
                print(f"| FAILED in {mode} mode: {aid} | | {err} | | | | | |")
    else:
        print("| all solutions notebooks, fast / full mode | | run with --notebooks | | | | | |")
    print()
    print(f"s/epoch: the fastest of {args.repeats} epochs after a warm-up; cores busy: CPU seconds / wall seconds of that "
          f"epoch (2.0 = both cores; less means other work took the rest, and the epoch ran slower). FLOPs per epoch = 60,000 × forward MACs × 2 × 3 "
          "(training ≈ 3 forward passes). The bound: the better of two matmul measurements (start, end). "
          "Accuracies: the lines the full-mode notebooks print, in this run.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
