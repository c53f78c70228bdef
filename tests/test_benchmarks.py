"""The benchmark's arithmetic and plumbing (python -m benchmarks.training), without timing anything long:
no wall-clock assertions, no training."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    ("LeNet", 439_336, 27_226, None),
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
