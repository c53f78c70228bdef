"""The benchmark's arithmetic and plumbing (python -m benchmarks.training), without timing anything long:
no wall-clock assertions, and no training beyond one smoke epoch of LeNet on 128 images."""

from __future__ import annotations

from pathlib import Path

import pytest

import cnnkit  # noqa: F401  (quiet TensorFlow before keras)
import keras

from benchmarks import training as bench
from conftest import SOLUTIONS, cell_source, load, notebook


def test_training_gflops_arithmetic():
    # 60,000 images × 4.24 M MACs × 2 FLOPs × 3 passes = 1.5264 TFLOP per epoch; in 10 s that is 152.64 GFLOP/s.
    assert bench.training_gflops(10.0, 4.24e6) == pytest.approx(152.64)
    assert bench.training_gflops(2.0, 1e6, images=1000) == pytest.approx(1000 * 1e6 * 6 / 2 / 1e9)


def test_matmul_bound_is_positive_and_finite():
    gflops = bench.matmul_gflops(n=128, repeats=1)
    assert 0 < gflops < 1e5


@pytest.mark.parametrize("name, macs, params, batch", [
    ("dense", 101_632, 101_770, 128),
    ("CNN", 4_241_152, 421_642, 128),
    ("LeNet", 439_336, 27_226, 64),
])
def test_course_models_load_from_the_solutions(name, macs, params, batch):
    """The bench reads the builders from solutions/ (cnnkit holds no solution) and counts the
    forward multiply-adds that lesson 9 computes by hand."""
    aid, builder, pattern, _ = bench.MODELS[name]
    model = bench.load_builder(aid, builder)()
    assert model.count_params() == params
    assert bench.forward_macs(model) == macs
    found = bench.lesson_batch(aid, pattern)
    assert isinstance(found, int) and found > 0
    if batch is not None:
        assert found == batch


def test_improved_cnn_loads_and_has_the_plain_cnns_compute_scale():
    aid, builder, _, _ = bench.MODELS["improved CNN"]
    macs = bench.forward_macs(bench.load_builder(aid, builder)())
    assert 1e6 < macs < 2e7, "the improved CNN's recipe is meant to stay near the plain CNN's 4.24 M MACs"


def test_accuracy_lines_of_the_notebooks_match_what_the_bench_parses():
    """Each training cell of lessons 7 and 8 prints 'NAME: test accuracy X% after N epochs';
    the bench reads the full-mode accuracies from those lines."""
    found = {}
    for aid in ("07_fashion_mnist_cnn", "08_lenet"):
        for cell in load(notebook(SOLUTIONS, aid))["cells"]:
            for out in cell.get("outputs", []):
                text = out.get("text", "")
                text = text if isinstance(text, str) else "".join(text)
                for m in bench.ACCURACY_LINE.finditer(text):
                    found[m.group(1)] = (float(m.group(2)), int(m.group(3)))
    assert set(found) == {"Dense", "CNN", "Improved CNN", "LeNet"}, found
    assert all(0 < acc <= 100 and epochs > 0 for acc, epochs in found.values())


def test_bench_holds_no_course_builder():
    source = Path(bench.__file__).read_text()
    for aid in ("07_fashion_mnist_cnn", "08_lenet"):
        for cell in load(notebook(SOLUTIONS, aid))["cells"]:
            if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                assert "def build_" not in source
                for line in cell_source(cell).splitlines():
                    if "keras.layers." in line or "layers.Conv2D" in line:
                        assert line.strip() not in source, line


def test_share_of_the_bound_keeps_small_fractions_visible():
    assert bench.share(0.452) == "45%"
    assert bench.share(0.0039) == "0.39%"  # the CNN on an H100: not "0%"


@pytest.mark.parametrize("aid, mode, expected", [
    ("07_fashion_mnist_cnn", "full", dict(N_TRAIN=55_000, N_VAL=5_000, N_TEST=10_000, BATCH=128, EPOCHS_IMPROVED=6,
                                          IMPROVED_STEPS=6 * 430)),
    ("07_fashion_mnist_cnn", "fast", dict(N_TRAIN=6_000, BATCH=128, EPOCHS_IMPROVED=3, IMPROVED_STEPS=3 * 47)),
    ("08_lenet", "full", dict(N_TRAIN=55_000, N_VAL=5_000, N_TEST=10_000, LENET_BATCH=64, LENET_EPOCHS=10,
                              LENET_STEPS=10 * 860)),
    ("08_lenet", "fast", dict(N_TRAIN=6_000, LENET_BATCH=64, LENET_EPOCHS=4, LENET_STEPS=4 * 94)),
])
def test_the_lessons_constants_are_read_in_either_mode(aid, mode, expected):
    """--targets trains with the lesson's own budget: its epochs, batch and the steps a schedule runs over,
    read from the notebook in the mode asked for, whatever $COURSE_MODE says."""
    constants = bench.notebook_constants(aid, mode)
    assert {k: constants[k] for k in expected} == expected


def test_the_builders_schedules_run_over_the_steps_of_the_mode():
    """The improved CNN's and LeNet's learning rates warm up and decay to about 0 over the steps that
    training runs in the mode asked for (not the full-mode budget)."""
    for name in bench.TARGETS:
        aid, builder, _, _ = bench.MODELS[name]
        steps = bench.notebook_constants(aid, "fast")["IMPROVED_STEPS" if name == "improved CNN" else "LENET_STEPS"]
        schedule = bench.load_builder(aid, builder, "fast")().optimizer._learning_rate  # Keras keeps the schedule there
        assert isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule), (name, schedule)
        rates = [float(schedule(step)) for step in (0, int(0.3 * steps), steps)]
        assert rates[0] < rates[1] / 10, (name, rates)  # the warm-up starts low
        assert rates[2] < rates[1] / 100, (name, rates)  # and the decay ends near 0, at the last step of this mode


def test_targets_smoke_trains_as_the_lesson_does_and_prints_one_line_per_model(monkeypatch, capsys):
    """One epoch of LeNet on 128 images through the target worker, then --targets' printing with the
    workers' results stood in for (the real run trains for minutes)."""
    r = bench.target_worker("LeNet", mode="fast", limit=128, epochs=1)
    assert (r["model"], r["epochs"], r["batch"], r["images"]) == ("LeNet", 1, 64, 128)
    assert r["seconds"] > 0 and 0 <= r["accuracy"] <= 1 and len(r["val_accuracy"]) == 1
    assert "NOT met" in bench.target_line(r)
    capsys.readouterr()

    fake = {"improved CNN": dict(seconds=101.5, epochs=8, batch=128, images=55_000, accuracy=0.9231,
                                 val_accuracy=[0.9] * 8),
            "LeNet": dict(seconds=61.0, epochs=10, batch=64, images=55_000, accuracy=0.897, val_accuracy=[0.89] * 10)}
    calls = []
    monkeypatch.setattr(bench, "run_worker", lambda name, target=False, **options: (
        calls.append((name, target, options)) or dict(fake[name], model=name, mode=options["mode"])))
    assert bench.main(["--targets"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert calls == [("improved CNN", True, {"mode": "full"}), ("LeNet", True, {"mode": "full"})]
    assert out[0].startswith("Training targets (python -m benchmarks.training --targets)") and "full mode" in out[0]
    assert out[1] == f"Machine: {bench.machine_line()}" and bench.cpu_model() in out[1]
    assert out[2].startswith("Load average (1/5/15 min) at start ")
    assert out[3].startswith("improved CNN: 101.5 s of training, 8 epochs of 55,000 images in batches of 128, "
                             "test accuracy 92.31%; target ≥ 92.0% in ≤ 120 s: met")
    assert out[4].startswith("LeNet: 61.0 s of training, 10 epochs") and "target ≥ 88.0% in ≤ 60 s: NOT met" in out[4]
