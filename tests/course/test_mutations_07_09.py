"""The test cells of lessons 07–09 fail on wrong answers, naming the mistake, and pass correct ones.

Each graded test cell is taken from its solutions notebook and executed in a fresh namespace that
holds what the notebook defines before it (numpy, keras, the check helpers, LeNet's locked
``check_lenet``, lesson 9's ``VGG16_SPECS``) and a candidate implementation:

- **wrong candidates**, one per likely mistake: the *visible* part of the cell must raise
  ``AssertionError`` with a message that names it;
- **correct alternatives**, written differently from the solutions (functional API, other
  argument spellings, other formulas): the *whole* cell, hidden tests included, must pass.

The cells that judge trained models (improved CNN, LeNet's accuracy) are covered by nbval and the
grading round trip instead: they need the notebook's training.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import cnnkit  # noqa: F401  (quiet TensorFlow before keras)
import keras
from autograder.job.plain import Plain, answer_function
from cnnkit.checks import check_architecture, passed
from conftest import SOLUTIONS, cell_source, load, notebook

HIDDEN = "### BEGIN HIDDEN TESTS"
PLAIN = Plain(np)
L = keras.layers


def cells(aid: str) -> list[dict]:
    return load(notebook(SOLUTIONS, aid))["cells"]


def graded_cell(aid: str, grade_id: str, visible_only: bool) -> str:
    for cell in cells(aid):
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            source = cell_source(cell)
            assert HIDDEN in source
            return source.split(HIDDEN)[0] if visible_only else source
    raise LookupError(grade_id)


def base_namespace(aid: str) -> dict:
    ns = {"np": np, "keras": keras, "passed": passed, "check_architecture": check_architecture}
    for cell in cells(aid):
        src = cell_source(cell)
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id == "check_lenet" or "VGG16_SPECS = (" in src:
            exec(compile(src, f"<{aid}:{grade_id}>", "exec"), ns)
    return ns


def run(aid: str, grade_id: str, candidate: dict, visible_only: bool) -> None:
    # As the grader's guard hands it to the tests: results made plain, models checked.
    plain = {name: answer_function(PLAIN, name, value) if callable(value) else PLAIN(value, f"{name} is")
             for name, value in candidate.items()}
    ns = {**base_namespace(aid), **plain}
    exec(compile(graded_cell(aid, grade_id, visible_only), f"<{aid}:{grade_id}>", "exec"), ns)


def compiled(model: keras.Model, **kwargs) -> keras.Model:
    options = dict(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    options.update(kwargs)
    model.compile(**options)
    return model


# --- lesson 07 -------------------------------------------------------------------------------------

def dense_no_bias():
    return compiled(keras.Sequential([keras.Input((28, 28, 1)), L.Flatten(), L.Dense(128, activation="relu", use_bias=False),
                                      L.Dense(10, activation="softmax", use_bias=False)]))


def dense_not_compiled():
    return keras.Sequential([keras.Input((28, 28, 1)), L.Flatten(), L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")])


def dense_no_softmax():
    return compiled(keras.Sequential([keras.Input((28, 28, 1)), L.Flatten(), L.Dense(128, activation="relu"), L.Dense(10)]))


def dense_functional():
    inputs = keras.Input(shape=(28, 28, 1))
    hidden = L.Dense(128, activation=keras.activations.relu)(L.Flatten()(inputs))
    model = keras.Model(inputs, L.Dense(10, activation="softmax")(hidden))
    return compiled(model, optimizer=keras.optimizers.Adam(learning_rate=1e-3))


def cnn(padding="same", k=3, pool=L.MaxPooling2D):
    return compiled(keras.Sequential([
        keras.Input((28, 28, 1)), L.Conv2D(32, k, padding=padding, activation="relu"), pool(2),
        L.Conv2D(64, k, padding=padding, activation="relu"), pool(2), L.Flatten(),
        L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")]))


def cnn_functional():
    x = inputs = keras.Input(shape=(28, 28, 1))
    for filters in (32, 64):
        x = L.MaxPooling2D()(L.Conv2D(filters, kernel_size=(3, 3), strides=1, padding="same", activation="relu")(x))
    x = L.Dense(128, activation="relu")(L.Flatten()(x))
    return compiled(keras.Model(inputs, L.Dense(10, activation="softmax")(x)))


@pytest.mark.parametrize("builder, needle", [
    (dense_no_bias, "without biases"),
    (dense_not_compiled, "not compiled"),
    (dense_no_softmax, "expected 'softmax'"),
])
def test_dense_wrong_answers_are_named(builder, needle):
    with pytest.raises(AssertionError, match=needle):
        run("07_fashion_mnist_cnn", "test_build_dense_model", {"build_dense_model": builder}, visible_only=True)


@pytest.mark.parametrize("builder, needle", [
    (lambda: cnn(padding="valid"), "expected 'same'"),
    (lambda: cnn(k=5), r"kernel_size is \(5, 5\), expected \(3, 3\)"),
    (lambda: cnn(pool=L.AveragePooling2D), "is a AveragePooling2D, expected MaxPooling2D"),
])
def test_cnn_wrong_answers_are_named(builder, needle):
    with pytest.raises(AssertionError, match=needle):
        run("07_fashion_mnist_cnn", "test_build_cnn_model", {"build_cnn_model": builder}, visible_only=True)


def test_correct_alternatives_pass_lesson_06():
    run("07_fashion_mnist_cnn", "test_build_dense_model", {"build_dense_model": dense_functional}, visible_only=False)
    run("07_fashion_mnist_cnn", "test_build_cnn_model", {"build_cnn_model": cnn_functional}, visible_only=False)


# --- lesson 08 -------------------------------------------------------------------------------------

def lenet(second_block):
    def build():
        model = keras.Sequential([keras.Input((32, 32, 1)), L.Conv2D(6, (5, 5)), L.Activation("relu"), L.MaxPooling2D(2, strides=2)])
        for layer in second_block():
            model.add(layer)
        for layer in [L.Flatten(), L.Dense(120, activation="relu"), L.Dense(100, activation="relu"), L.Dense(10), L.Activation("softmax")]:
            model.add(layer)
        return compiled(model)
    return build


@pytest.mark.parametrize("block, needle", [
    (lambda: [L.Conv2D(16, 5), L.Activation("tanh"), L.MaxPooling2D(3, strides=3)], r"layer 3 .*kernel_size is \(5, 5\), expected \(8, 8\)"),
    (lambda: [L.Conv2D(16, 8), L.Activation("relu"), L.MaxPooling2D(3, strides=3)], "layer 4 .*activation is 'relu', expected 'tanh'"),
    (lambda: [L.Conv2D(16, 8), L.Activation("tanh"), L.MaxPooling2D(2)], r"layer 5 .*pool_size is \(2, 2\), expected \(3, 3\)"),
    (lambda: [L.Conv2D(16, 8, activation="tanh"), L.MaxPooling2D(3, strides=3)], "layer 3 .*activation is 'tanh', expected 'linear'"),
    (lambda: [L.Conv2D(6, 8), L.Activation("tanh"), L.MaxPooling2D(3, strides=3)], "filters is 6, expected 16"),
])
def test_lenet_wrong_second_blocks_are_named(block, needle):
    with pytest.raises(AssertionError, match=needle):
        run("08_lenet", "test_build_lenet", {"build_lenet": lenet(block)}, visible_only=True)


def test_lenet_correct_alternative_passes():
    block = lambda: [L.Conv2D(filters=16, kernel_size=8, padding="valid"), L.Activation(keras.activations.tanh), L.MaxPooling2D(3)]  # noqa: E731
    run("08_lenet", "test_build_lenet", {"build_lenet": lenet(block)}, visible_only=False)


def pad_wrong(before, after, channel_pad=False, batch_pad=False, dtype=None):
    def pad(images):
        x = np.asarray(images)
        x = x[..., None] if x.ndim == 3 else x
        out = np.pad(x, ((2 if batch_pad else 0, 2 if batch_pad else 0), (before, after), (before, after),
                         (0, 4) if channel_pad else (0, 0)))
        return out.astype(dtype) if dtype else out
    return pad


@pytest.mark.parametrize("candidate, needle", [
    (pad_wrong(1, 1), "one pixel per side"),
    (pad_wrong(0, 4), "not centred"),
    (pad_wrong(2, 2, channel_pad=True), "channel axis was padded"),
    (pad_wrong(2, 2, batch_pad=True), "batch axis"),
    (pad_wrong(2, 2, dtype=np.float32), "dtype changed"),
    (lambda images: np.pad(np.asarray(images), ((0, 0), (2, 2), (2, 2))), "channel axis"),
])
def test_pad_to_32_wrong_answers_are_named(candidate, needle):
    with pytest.raises(AssertionError, match=needle):
        run("08_lenet", "test_pad_to_32", {"pad_to_32": candidate}, visible_only=True)


def pad_by_slicing(images):
    x = np.asarray(images).reshape(len(images), 28, 28, 1)
    out = np.zeros((len(x), 32, 32, 1), dtype=x.dtype)
    out[:, 2:30, 2:30, :] = x
    return out


def test_pad_to_32_correct_alternative_passes():
    run("08_lenet", "test_pad_to_32", {"pad_to_32": pad_by_slicing}, visible_only=False)


# --- lesson 09 -------------------------------------------------------------------------------------

def budget(spec, shape, *, bias=1, same_is_valid=False, true_division=False, pool_channels=None, dense_last_axis=False,
           unknown_ok=False):
    """A layer_budget with one configurable mistake."""
    kind = spec["type"]
    if kind == "dense":
        n_in = shape[-1] if dense_last_axis else int(np.prod(shape))
        return (spec["units"],), (n_in + bias) * spec["units"], spec["units"]
    if kind not in ("conv", "pool"):
        if unknown_ok:
            return tuple(shape), 0, int(np.prod(shape))
        raise ValueError(kind)
    rows, cols, c_in = shape
    k = spec["k"]  # the kernel's or pooling window's side (lesson 3's notation)
    s = spec.get("stride", 1 if kind == "conv" else k)
    c_out = spec["filters"] if kind == "conv" else (pool_channels or c_in)
    params = (k * k * c_in + bias) * c_out if kind == "conv" else 0
    if spec.get("padding", "valid") == "same" and not same_is_valid:
        out_rows, out_cols = math.ceil(rows / s), math.ceil(cols / s)
    elif true_division:
        out_rows, out_cols = (rows - k) / s + 1, (cols - k) / s + 1
    else:
        out_rows, out_cols = (rows - k) // s + 1, (cols - k) // s + 1
    return (out_rows, out_cols, c_out), params, int(out_rows * out_cols * c_out)


@pytest.mark.parametrize("mistake, needle", [
    (dict(bias=0), "leaves out the biases"),
    (dict(same_is_valid=True), "'same' padding keeps 224"),
    (dict(true_division=True), "floor division"),
    (dict(pool_channels=1), "channel count stays 64"),
    (dict(dense_last_axis=True), "whole input flattened"),
    (dict(unknown_ok=True), "must raise ValueError"),
])
def test_layer_budget_wrong_answers_are_named(mistake, needle):
    candidate = lambda spec, shape: budget(spec, shape, **mistake)  # noqa: E731
    with pytest.raises(AssertionError, match=needle):
        run("09_architecture_budgets", "test_layer_budget", {"layer_budget": candidate}, visible_only=True)


def test_budget_correct_alternatives_pass():
    def network(specs, shape):
        rows = []
        for spec in specs:
            rows.append(budget(spec, tuple(shape)))
            shape = rows[-1][0]
        return rows, int(sum(r[1] for r in rows)), int(sum(r[2] for r in rows))

    run("09_architecture_budgets", "test_layer_budget", {"layer_budget": budget}, visible_only=False)
    run("09_architecture_budgets", "test_network_budget", {"layer_budget": budget, "network_budget": network}, visible_only=False)


@pytest.mark.parametrize("counts_input, chains, needle", [
    (True, True, "include the input image"),
    (False, False, "previous layer's output"),
])
def test_network_budget_wrong_answers_are_named(counts_input, chains, needle):
    def network(specs, shape):
        rows, current = [], tuple(shape)
        for spec in specs:
            rows.append(budget(spec, current if chains else tuple(shape)))
            if chains:
                current = rows[-1][0]
        acts = sum(r[2] for r in rows) + (int(np.prod(shape)) if counts_input else 0)
        return rows, sum(r[1] for r in rows), acts

    with pytest.raises(AssertionError, match=needle):
        run("09_architecture_budgets", "test_network_budget", {"layer_budget": budget, "network_budget": network}, visible_only=True)
