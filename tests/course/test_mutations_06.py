"""The test cells of lesson 06 (how a CNN learns) fail on wrong answers, naming the mistake, and pass
correct ones.

Every test cell of the lesson is taken from its solutions notebook and executed (``exec``) in a fresh
namespace holding what the notebook defines before it (numpy, TensorFlow, scipy's ``signal``, the
check helpers, the given forward passes ``conv2d`` and ``conv_layer``, ``sobel_x`` and
``make_crops``) and a candidate implementation, as in tests/course/test_exercise_mutations.py:

- **wrong candidates**, one per mistake the lesson names (one-sided differences, x left modified,
  h far too large or too small, float32; relu masked with its output or at the wrong side of 0;
  the gradient spread over the pooling window, overlapping windows that overwrite, ties; no flip
  for dx, db not summed, dkernel from the output, swapped channel axes; an uphill step, a sum
  where the loss is a mean; an ignored stride in the receptive field…). The *visible* part of the
  cell must raise ``AssertionError`` with a message that names the mistake.
- **correct alternatives**, at least two per exercise, a loop and a vectorised one, written
  independently of the notebook's solutions: the *whole* cell, hidden tests included, must pass.

Exercise 6.2 (``relu_backward``) is optional and not graded: its check cell has no hidden part, and
the whole cell is what the wrong candidates must fail.

The candidates reach the cells as the grader hands them over: through autograder.job.plain.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal

import cnnkit  # noqa: F401  (quiet TensorFlow before it loads)
import tensorflow as tf
from autograder.job.plain import Plain, answer_function
from cnnkit import modes
from cnnkit.checks import passed, rel_error
from cnnkit.data import load_fashion_mnist
from conftest import SOLUTIONS, cell_source, load, notebook

AID = "06_how_a_cnn_learns"
HIDDEN = "### BEGIN HIDDEN TESTS"
PLAIN = Plain(np)
#: Cells the test cells rely on, executed once into the base namespace (by cell id).
GIVEN_CELLS = ("forward-passes", "crops")
#: The optional exercise's check cell: not graded, no hidden part.
RELU_CHECK = "check-relu-backward"


def cells_by_key() -> dict[str, str]:
    """grade_id of every graded test cell, and the id of the other cells, -> source."""
    out = {}
    for cell in load(notebook(SOLUTIONS, AID))["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        out[meta["grade_id"] if meta.get("grade") and not meta.get("solution") else cell["id"]] = cell_source(cell)
    return out


CELLS = cells_by_key()
TEST_IDS = sorted(k for k in CELLS if k.startswith("test_"))
_BASE: dict = {}


def base_namespace() -> dict:
    if not _BASE:
        (x_train, _), _ = load_fashion_mnist()
        ns = {"__name__": "__test_cell__", "np": np, "tf": tf, "signal": signal, "passed": passed,
              "rel_error": rel_error, "modes": modes, "x_train": x_train, "crop": (x_train[0] / 255)[14:20, 10:16]}
        for cid in GIVEN_CELLS:
            exec(compile(CELLS[cid], f"<{AID}:{cid}>", "exec"), ns)
        _BASE.update(ns)
    return dict(_BASE)


def as_graded(candidate: dict) -> dict:
    """The candidate as the grader's guard hands it to the tests (see tests/course/test_exercise_mutations.py)."""
    return {name: answer_function(PLAIN, name, value) if callable(value) else PLAIN(value, f"{name} is")
            for name, value in candidate.items()}


def run_cell(key: str, candidate: dict, visible_only: bool) -> None:
    source = CELLS[key]
    if key != RELU_CHECK:
        assert HIDDEN in source, f"{AID}/{key} has no hidden tests"
    if visible_only:
        source = source.split(HIDDEN)[0]
    namespace = {**base_namespace(), **as_graded(candidate)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(source, f"<{AID}:{key}>", "exec"), namespace)


# The forward pass the candidates of gradient_step call, as the notebook's given cell defines it.
def conv2d(x, kernel):
    return signal.correlate2d(np.asarray(x, dtype=np.float64), np.asarray(kernel, dtype=np.float64), mode="valid")


# ---------------------------------------------------------------------------------------------
# 6.1 numerical_gradient
# ---------------------------------------------------------------------------------------------

def numerical_gradient_nditer(f, x, h=1e-5):
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        plus = f(x)
        x[ix] = old - h
        minus = f(x)
        x[ix] = old
        grad[ix] = (plus - minus) / (2 * h)
        it.iternext()
    return grad


def numerical_gradient_basis(f, x, h=1e-5):
    base = np.asarray(x, dtype=np.float64)
    grad = np.empty(base.size)
    for i in range(base.size):
        step = np.zeros(base.size)
        step[i] = h
        step = step.reshape(base.shape)
        grad[i] = (f(base + step) - f(base - step)) / (2 * h)
    return grad.reshape(base.shape)


def numerical_gradient_one_sided(f, x, h=1e-5):
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    f0 = f(x)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        grad[ix] = (f(x) - f0) / h
        x[ix] = old
    return grad


def numerical_gradient_not_restored(f, x, h=1e-5):
    """Probes the caller's array itself and leaves every entry at x − h."""
    grad = np.zeros(np.shape(x))
    for ix in np.ndindex(np.shape(x)):
        x[ix] += h
        plus = f(x)
        x[ix] -= 2 * h
        grad[ix] = (plus - f(x)) / (2 * h)
    return grad


def numerical_gradient_copy_not_restored(f, x, h=1e-5):
    """Works on a copy, but never puts an entry back: later probes see earlier entries moved."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        x[ix] += h
        plus = f(x)
        x[ix] -= 2 * h
        grad[ix] = (plus - f(x)) / (2 * h)
    return grad


def _centred(f, x, h, divide_by=2.0, dtype=np.float64):
    x = np.array(x, dtype=dtype)
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        old = x[ix]
        x[ix] = old + h
        plus = f(x)
        x[ix] = old - h
        minus = f(x)
        x[ix] = old
        grad[ix] = (plus - minus) / (divide_by * h)
    return grad


def numerical_gradient_ignores_h(f, x, h=1e-5):
    return _centred(f, x, 1e-5)


def numerical_gradient_h_too_large(f, x, h=1e-2):
    return _centred(f, x, h)


def numerical_gradient_h_too_small(f, x, h=1e-12):
    return _centred(f, x, h)


def numerical_gradient_float32(f, x, h=1e-5):
    return _centred(f, x, h, dtype=np.asarray(x).dtype)


def numerical_gradient_divides_by_h(f, x, h=1e-5):
    return _centred(f, x, h, divide_by=1.0)


# ---------------------------------------------------------------------------------------------
# 6.2 relu_backward (optional)
# ---------------------------------------------------------------------------------------------

def relu_backward_where(dout, x):
    return np.where(np.asarray(x) > 0, np.asarray(dout, dtype=np.float64), 0.0)


def relu_backward_loops(dout, x):
    out = np.zeros(np.shape(x))
    for ix in np.ndindex(np.shape(x)):
        if x[ix] > 0:
            out[ix] = dout[ix]
    return out


def relu_backward_times_output(dout, x):
    return dout * np.maximum(x, 0)


def relu_backward_dout_sign(dout, x):
    return np.where(dout > 0, dout, 0.0)


def relu_backward_at_zero(dout, x):
    return np.where(x >= 0, dout, 0.0)


def relu_backward_in_place(dout, x):
    dout[x <= 0] = 0
    return dout


# ---------------------------------------------------------------------------------------------
# 6.3 max_pool_backward
# ---------------------------------------------------------------------------------------------

def max_pool_backward_loops(dout, x, k=2, stride=None):
    step = stride or k
    x = np.asarray(x, dtype=np.float64)
    dx = np.zeros_like(x)
    for c in range(x.shape[2]):
        for i in range(dout.shape[0]):
            for j in range(dout.shape[1]):
                window = x[i * step:i * step + k, j * step:j * step + k, c]
                flat = int(np.argmax(window))
                dx[i * step + flat // k, j * step + flat % k, c] += dout[i, j, c]
    return dx


def max_pool_backward_vectorised(dout, x, k=2, stride=None):
    step = k if stride is None else stride
    x = np.asarray(x, dtype=np.float64)
    out_h, out_w, channels = np.shape(dout)
    windows = sliding_window_view(x, (k, k), axis=(0, 1))[::step, ::step][:out_h, :out_w]  # (H', W', C, s, s)
    winner = windows.reshape(out_h, out_w, channels, k * k).argmax(axis=-1)
    rows = np.arange(out_h)[:, None, None] * step + winner // k
    cols = np.arange(out_w)[None, :, None] * step + winner % k
    chans = np.broadcast_to(np.arange(channels), winner.shape)
    dx = np.zeros_like(x)
    np.add.at(dx, (rows, cols, chans), dout)
    return dx


def _pool_variant(dout, x, k=2, stride=None, *, spread=False, overwrite=False, ignore_stride=False, ties="first",
                  across_channels=False):
    step = k if (stride is None or ignore_stride) else stride
    x = np.asarray(x, dtype=np.float64)
    dx = np.zeros_like(x)
    for i in range(dout.shape[0]):
        for j in range(dout.shape[1]):
            for c in range(x.shape[2]):
                rs, cs = slice(i * step, i * step + k), slice(j * step, j * step + k)
                window = x[rs, cs, c]
                if spread:
                    dx[rs, cs, c] += dout[i, j, c] / window.size
                    continue
                if across_channels:
                    block = x[rs, cs, :]
                    a, b, _ = np.unravel_index(np.argmax(block), block.shape)
                elif ties == "all":
                    dx[rs, cs, c] += dout[i, j, c] * (window == window.max())
                    continue
                elif ties == "last":
                    a, b = np.argwhere(window == window.max())[-1]
                else:
                    a, b = np.unravel_index(np.argmax(window), window.shape)
                if overwrite:
                    dx[i * step + a, j * step + b, c] = dout[i, j, c]
                else:
                    dx[i * step + a, j * step + b, c] += dout[i, j, c]
    return dx


def max_pool_backward_spread(dout, x, k=2, stride=None):
    return _pool_variant(dout, x, k, stride, spread=True)


def max_pool_backward_overwrites(dout, x, k=2, stride=None):
    return _pool_variant(dout, x, k, stride, overwrite=True)


def max_pool_backward_stride_ignored(dout, x, k=2, stride=None):
    return _pool_variant(dout, x, k, stride, ignore_stride=True)


def max_pool_backward_every_tie(dout, x, k=2, stride=None):
    return _pool_variant(dout, x, k, stride, ties="all")


def max_pool_backward_last_tie(dout, x, k=2, stride=None):
    return _pool_variant(dout, x, k, stride, ties="last")


def max_pool_backward_across_channels(dout, x, k=2, stride=None):
    return _pool_variant(dout, x, k, stride, across_channels=True)


# ---------------------------------------------------------------------------------------------
# 6.4 conv2d_backward
# ---------------------------------------------------------------------------------------------

def conv2d_backward_loops(dout, x, kernel):
    """Scatter each output position's gradient back over its window."""
    x = np.asarray(x, dtype=np.float64)
    kh, kw = np.shape(kernel)
    dx, dkernel = np.zeros(x.shape), np.zeros((kh, kw))
    for i in range(dout.shape[0]):
        for j in range(dout.shape[1]):
            dx[i:i + kh, j:j + kw] += dout[i, j] * kernel
            dkernel += dout[i, j] * x[i:i + kh, j:j + kw]
    return dx, dkernel, float(dout.sum())


def conv2d_backward_scipy(dout, x, kernel):
    """dx: full convolution with the kernel (flipped); dkernel: x cross-correlated with dout."""
    x = np.asarray(x, dtype=np.float64)
    return (signal.convolve2d(dout, kernel, mode="full"), signal.correlate2d(x, dout, mode="valid"),
            np.sum(dout).item())


def conv2d_backward_vectorised(dout, x, kernel):
    x = np.asarray(x, dtype=np.float64)
    kh, kw = np.shape(kernel)
    dkernel = np.einsum("ijab,ij->ab", sliding_window_view(x, (kh, kw)), dout)
    padded = np.pad(dout, ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    dx = np.einsum("ijab,ab->ij", sliding_window_view(padded, (kh, kw)), np.asarray(kernel)[::-1, ::-1])
    return dx, dkernel, float(np.sum(dout))


def conv2d_backward_no_flip(dout, x, kernel):
    dx, dkernel, dbias = conv2d_backward_scipy(dout, x, kernel)
    return signal.correlate2d(dout, kernel, mode="full"), dkernel, dbias


def conv2d_backward_bias_not_summed(dout, x, kernel):
    dx, dkernel, _ = conv2d_backward_scipy(dout, x, kernel)
    return dx, dkernel, np.array(dout, dtype=np.float64)


def conv2d_backward_bias_averaged(dout, x, kernel):
    dx, dkernel, _ = conv2d_backward_scipy(dout, x, kernel)
    return dx, dkernel, float(np.mean(dout))


def conv2d_backward_kernel_from_output(dout, x, kernel):
    dx, _, dbias = conv2d_backward_scipy(dout, x, kernel)
    kh, kw = np.shape(kernel)
    out = conv2d(x, kernel)
    return dx, signal.correlate2d(np.pad(out, ((0, kh - 1), (0, kw - 1))), dout, mode="valid"), dbias


def conv2d_backward_transposed_kernel(dout, x, kernel):
    dx, dkernel, dbias = conv2d_backward_scipy(dout, x, kernel)
    return dx, dkernel.T, dbias


def conv2d_backward_integer_dx(dout, x, kernel):
    kh, kw = np.shape(kernel)
    dx = np.zeros_like(x)  # an integer x gives an integer dx: fractions are cut off
    for i in range(dout.shape[0]):
        for j in range(dout.shape[1]):
            dx[i:i + kh, j:j + kw] += (dout[i, j] * kernel).astype(dx.dtype)
    return dx, signal.correlate2d(np.asarray(x, dtype=np.float64), dout, mode="valid"), float(np.sum(dout))


# ---------------------------------------------------------------------------------------------
# 6.5 conv_layer_backward
# ---------------------------------------------------------------------------------------------

def conv_layer_backward_per_channel(dout, x, kernels):
    """Loops over every (input channel, filter) pair, one-channel gradients from scipy."""
    x = np.asarray(x, dtype=np.float64)
    kh, kw, c_in, c_out = kernels.shape
    dx, dkernels = np.zeros(x.shape), np.zeros(kernels.shape)
    for c in range(c_in):
        for k in range(c_out):
            dx[:, :, c] += signal.convolve2d(dout[:, :, k], kernels[:, :, c, k], mode="full")
            dkernels[:, :, c, k] = signal.correlate2d(x[:, :, c], dout[:, :, k], mode="valid")
    return dx, dkernels, dout.sum(axis=(0, 1))


def conv_layer_backward_einsum(dout, x, kernels):
    x = np.asarray(x, dtype=np.float64)
    kh, kw = kernels.shape[:2]
    windows = sliding_window_view(x, (kh, kw), axis=(0, 1))                # (H', W', C_in, kh, kw)
    dkernels = np.einsum("ijcab,ijk->abck", windows, dout)
    padded = np.pad(dout, ((kh - 1, kh - 1), (kw - 1, kw - 1), (0, 0)))
    dx = np.einsum("ijkab,abck->ijc", sliding_window_view(padded, (kh, kw), axis=(0, 1)), kernels[::-1, ::-1])
    return dx, dkernels, np.einsum("ijk->k", dout)


def conv_layer_backward_swapped_layout(dout, x, kernels):
    dx, dkernels, dbiases = conv_layer_backward_einsum(dout, x, kernels)
    return dx, dkernels.transpose(0, 1, 3, 2), dbiases


def conv_layer_backward_dx_per_filter(dout, x, kernels):
    """dx with one channel per filter: swapped channel axes."""
    kh, kw = kernels.shape[:2]
    dx = np.zeros(x.shape[:2] + (kernels.shape[3],))
    for k in range(kernels.shape[3]):
        dx[:, :, k] = signal.convolve2d(dout[:, :, k], kernels[:, :, 0, k], mode="full")
    _, dkernels, dbiases = conv_layer_backward_einsum(dout, x, kernels)
    return dx, dkernels, dbiases


def conv_layer_backward_bias_total(dout, x, kernels):
    dx, dkernels, _ = conv_layer_backward_einsum(dout, x, kernels)
    return dx, dkernels, float(np.sum(dout))


def conv_layer_backward_bias_not_summed(dout, x, kernels):
    dx, dkernels, _ = conv_layer_backward_einsum(dout, x, kernels)
    return dx, dkernels, np.array(dout)


def conv_layer_backward_no_flip(dout, x, kernels):
    _, dkernels, dbiases = conv_layer_backward_einsum(dout, x, kernels)
    kh, kw = kernels.shape[:2]
    padded = np.pad(dout, ((kh - 1, kh - 1), (kw - 1, kw - 1), (0, 0)))
    dx = np.einsum("ijkab,abck->ijc", sliding_window_view(padded, (kh, kw), axis=(0, 1)), kernels)
    return dx, dkernels, dbiases


# ---------------------------------------------------------------------------------------------
# 6.6 gradient_step (its candidates call a correct conv2d_backward, as a student's own)
# ---------------------------------------------------------------------------------------------

conv2d_backward = conv2d_backward_loops


def gradient_step_loop(kernel, images, targets, lr):
    total = np.size(targets)
    grad, loss = np.zeros(np.shape(kernel)), 0.0
    for image, target in zip(images, targets):
        error = conv2d(image, kernel) - target
        loss += float(np.sum(error * error))
        grad += conv2d_backward(error, image, kernel)[1]
    return kernel - lr * 2 * grad / total, loss / total


def gradient_step_batched(kernel, images, targets, lr):
    errors = np.stack([conv2d(image, kernel) for image in images]) - targets
    douts = 2 * errors / errors.size
    grad = sum(conv2d_backward(d, image, kernel)[1] for d, image in zip(douts, images))
    return np.asarray(kernel, dtype=np.float64) - lr * grad, float(np.mean(errors ** 2))


def _step_variant(kernel, images, targets, lr, *, sign=1.0, loss_scale=1.0, grad_scale=1.0, loss_after=False,
                  in_place=False):
    new_kernel, loss = gradient_step_batched(kernel, images, targets, lr)
    step = (np.asarray(kernel, dtype=np.float64) - new_kernel) * grad_scale
    new_kernel = kernel - sign * step
    if loss_after:
        loss = gradient_step_batched(new_kernel, images, targets, lr)[1]
    if in_place:
        kernel -= step
        new_kernel = kernel
    return new_kernel, loss * loss_scale


def gradient_step_uphill(kernel, images, targets, lr):
    return _step_variant(kernel, images, targets, lr, sign=-1.0)


def gradient_step_sum_loss(kernel, images, targets, lr):
    return _step_variant(kernel, images, targets, lr, loss_scale=np.size(targets), grad_scale=np.size(targets))


def gradient_step_gradient_of_sum(kernel, images, targets, lr):
    return _step_variant(kernel, images, targets, lr, grad_scale=np.size(targets))


def gradient_step_summed_over_images(kernel, images, targets, lr):
    return _step_variant(kernel, images, targets, lr, grad_scale=len(images))


def gradient_step_no_factor_two(kernel, images, targets, lr):
    return _step_variant(kernel, images, targets, lr, grad_scale=0.5)


def gradient_step_loss_after(kernel, images, targets, lr):
    return _step_variant(kernel, images, targets, lr, loss_after=True)


def gradient_step_in_place(kernel, images, targets, lr):
    return _step_variant(kernel, images, targets, lr, in_place=True)


# ---------------------------------------------------------------------------------------------
# 6.7 receptive_field
# ---------------------------------------------------------------------------------------------

def receptive_field_forward(layers):
    size, spacing = 1, 1
    for k, s in layers:
        size += (k - 1) * spacing
        spacing *= s
    return size


def receptive_field_backward(layers):
    """From the output pixel down: r input pixels of a layer need (r − 1)·s + k pixels below it."""
    r = 1
    for k, s in reversed(list(layers)):
        r = (r - 1) * s + k
    return r


def receptive_field_stride_ignored(layers):
    return 1 + sum(k - 1 for k, _ in layers)


def receptive_field_own_stride(layers):
    size, spacing = 1, 1
    for k, s in layers:
        size += (k - 1) * spacing * s
        spacing *= s
    return size


def receptive_field_sum_of_sizes(layers):
    return sum(k for k, _ in layers) if layers else 1


def receptive_field_reversed(layers):
    return receptive_field_forward(list(reversed(layers)))


def receptive_field_float(layers):
    return float(receptive_field_forward(layers))


# ---------------------------------------------------------------------------------------------
# The catalogue
# ---------------------------------------------------------------------------------------------

IN_PLACE = r"in place"
WRONG = [
    ("test_numerical_gradient", "one-sided differences", {"numerical_gradient": numerical_gradient_one_sided}, r"one-sided"),
    ("test_numerical_gradient", "x left modified (the caller's array)", {"numerical_gradient": numerical_gradient_not_restored},
     r"x left modified"),
    ("test_numerical_gradient", "x left modified (entries never put back)",
     {"numerical_gradient": numerical_gradient_copy_not_restored}, r"x left modified"),
    ("test_numerical_gradient", "h argument ignored", {"numerical_gradient": numerical_gradient_ignores_h}, r"argument h"),
    ("test_numerical_gradient", "h far too large", {"numerical_gradient": numerical_gradient_h_too_large}, r"h far too large"),
    ("test_numerical_gradient", "h far too small", {"numerical_gradient": numerical_gradient_h_too_small}, r"h far too small"),
    ("test_numerical_gradient", "float32 where float64 is needed", {"numerical_gradient": numerical_gradient_float32},
     r"float32.*float64"),
    ("test_numerical_gradient", "divided by h instead of 2h", {"numerical_gradient": numerical_gradient_divides_by_h}, r"2h"),
    (RELU_CHECK, "multiplied by the output relu(x)", {"relu_backward": relu_backward_times_output}, r"output relu\(x\)"),
    (RELU_CHECK, "masked with the sign of dout", {"relu_backward": relu_backward_dout_sign}, r"sign of dout"),
    (RELU_CHECK, "wrong side at exactly 0 (x >= 0)", {"relu_backward": relu_backward_at_zero}, r"exactly 0.*x > 0"),
    (RELU_CHECK, "in-place modification", {"relu_backward": relu_backward_in_place}, IN_PLACE),
    ("test_max_pool_backward", "gradient spread over the window (average pooling)",
     {"max_pool_backward": max_pool_backward_spread}, r"average pooling"),
    ("test_max_pool_backward", "overlapping windows overwrite instead of adding",
     {"max_pool_backward": max_pool_backward_overwrites}, r"overwrite instead of adding"),
    ("test_max_pool_backward", "stride ignored", {"max_pool_backward": max_pool_backward_stride_ignored},
     r"stride argument was ignored"),
    ("test_max_pool_backward", "ties: every tied maximum", {"max_pool_backward": max_pool_backward_every_tie},
     r"every tied maximum"),
    ("test_max_pool_backward", "ties: the last maximum", {"max_pool_backward": max_pool_backward_last_tie},
     r"first maximum"),
    ("test_max_pool_backward", "window across channels", {"max_pool_backward": max_pool_backward_across_channels},
     r"channel axis"),
    ("test_conv2d_backward", "no flip for dx", {"conv2d_backward": conv2d_backward_no_flip}, r"no flip"),
    ("test_conv2d_backward", "db not summed over positions", {"conv2d_backward": conv2d_backward_bias_not_summed},
     r"not summed over positions"),
    ("test_conv2d_backward", "db averaged", {"conv2d_backward": conv2d_backward_bias_averaged}, r"summed over positions, not averaged"),
    ("test_conv2d_backward", "dkernel from the output instead of the input",
     {"conv2d_backward": conv2d_backward_kernel_from_output}, r"from the output instead of the input"),
    ("test_conv2d_backward", "dkernel transposed", {"conv2d_backward": conv2d_backward_transposed_kernel}, r"transposed"),
    ("test_conv2d_backward", "integer dx for an integer x", {"conv2d_backward": conv2d_backward_integer_dx}, r"integer"),
    ("test_conv_layer_backward", "swapped channel axes (dkernels layout)",
     {"conv_layer_backward": conv_layer_backward_swapped_layout}, r"swapped channel axes"),
    ("test_conv_layer_backward", "swapped channel axes (dx per filter)",
     {"conv_layer_backward": conv_layer_backward_dx_per_filter}, r"swapped channel axes"),
    ("test_conv_layer_backward", "db summed over the filters too", {"conv_layer_backward": conv_layer_backward_bias_total},
     r"summed over the filters"),
    ("test_conv_layer_backward", "db not summed over positions", {"conv_layer_backward": conv_layer_backward_bias_not_summed},
     r"not summed over positions"),
    ("test_conv_layer_backward", "no flip for dx", {"conv_layer_backward": conv_layer_backward_no_flip}, r"no flip"),
    ("test_gradient_step", "uphill step", {"gradient_step": gradient_step_uphill}, r"up the gradient"),
    ("test_gradient_step", "loss summed, not averaged", {"gradient_step": gradient_step_sum_loss}, r"their mean"),
    ("test_gradient_step", "gradient of the sum", {"gradient_step": gradient_step_gradient_of_sum}, r"8 times too big"),
    ("test_gradient_step", "gradient summed over images", {"gradient_step": gradient_step_summed_over_images},
     r"summed over the 2 images"),
    ("test_gradient_step", "factor 2 missing", {"gradient_step": gradient_step_no_factor_two}, r"2·error"),
    ("test_gradient_step", "loss after the step", {"gradient_step": gradient_step_loss_after}, r"after the step"),
    ("test_gradient_step", "in-place update of the kernel", {"gradient_step": gradient_step_in_place}, IN_PLACE),
    ("test_receptive_field", "stride ignored", {"receptive_field": receptive_field_stride_ignored}, r"stride was ignored"),
    ("test_receptive_field", "a layer's own stride counted", {"receptive_field": receptive_field_own_stride},
     r"own stride does not widen"),
    ("test_receptive_field", "off by one (sizes added)", {"receptive_field": receptive_field_sum_of_sizes}, r"off by one"),
    ("test_receptive_field", "layers in reverse order", {"receptive_field": receptive_field_reversed}, r"reverse order"),
    ("test_receptive_field", "float result", {"receptive_field": receptive_field_float}, r"must return an int"),
]

RIGHT = [
    ("test_numerical_gradient", "np.nditer, restore each entry", {"numerical_gradient": numerical_gradient_nditer}),
    ("test_numerical_gradient", "a step array per entry (vectorised probes)", {"numerical_gradient": numerical_gradient_basis}),
    (RELU_CHECK, "np.where", {"relu_backward": relu_backward_where}),
    (RELU_CHECK, "loop over every element", {"relu_backward": relu_backward_loops}),
    ("test_max_pool_backward", "loops, flat argmax", {"max_pool_backward": max_pool_backward_loops}),
    ("test_max_pool_backward", "sliding_window_view + argmax + np.add.at", {"max_pool_backward": max_pool_backward_vectorised}),
    ("test_conv2d_backward", "loops over output positions", {"conv2d_backward": conv2d_backward_loops}),
    ("test_conv2d_backward", "scipy convolve2d / correlate2d", {"conv2d_backward": conv2d_backward_scipy}),
    ("test_conv2d_backward", "sliding_window_view + einsum", {"conv2d_backward": conv2d_backward_vectorised}),
    ("test_conv_layer_backward", "loops over channel pairs", {"conv_layer_backward": conv_layer_backward_per_channel}),
    ("test_conv_layer_backward", "sliding_window_view + einsum", {"conv_layer_backward": conv_layer_backward_einsum}),
    ("test_gradient_step", "loop over the images", {"gradient_step": gradient_step_loop}),
    ("test_gradient_step", "stacked errors", {"gradient_step": gradient_step_batched}),
    ("test_receptive_field", "forward, with the spacing", {"receptive_field": receptive_field_forward}),
    ("test_receptive_field", "backward from the output pixel", {"receptive_field": receptive_field_backward}),
]


def _ids(cases):
    return [f"{key}-{label}" for key, label, *_ in cases]


@pytest.mark.parametrize("key, label, candidate, pattern", WRONG, ids=_ids(WRONG))
def test_visible_checks_name_the_mistake(key, label, candidate, pattern):
    with pytest.raises(AssertionError) as info:
        run_cell(key, candidate, visible_only=True)
    message = str(info.value)
    assert re.search(pattern, message, re.I | re.S), (
        f"{AID}/{key} failed the wrong candidate ({label}), but its message does not name the mistake "
        f"(no match for {pattern!r}):\n{message}")


@pytest.mark.parametrize("key, label, candidate", RIGHT, ids=_ids(RIGHT))
def test_correct_alternatives_pass_every_check(key, label, candidate, capsys):
    run_cell(key, candidate, visible_only=False)
    assert "✅" in capsys.readouterr().out


def test_every_test_cell_is_covered():
    """Each test cell of the lesson (and the optional exercise's check) meets at least one wrong and
    two correct candidates."""
    assert len(TEST_IDS) == 6, TEST_IDS
    for key in [*TEST_IDS, RELU_CHECK]:
        assert [c for c in WRONG if c[0] == key], f"{key}: no wrong candidate"
        assert len([c for c in RIGHT if c[0] == key]) >= 2, f"{key}: fewer than two correct alternatives"


ISSUE_MISTAKES = ["one-sided", "x left modified", "h far too large", "h far too small", "float32", "output relu(x)",
                  "exactly 0", "average pooling", "overwrite instead of adding", "ties", "no flip for dx",
                  "db not summed", "dkernel from the output", "swapped channel axes"]


def test_every_mistake_of_the_issue_is_tried():
    labels = " | ".join(label for _, label, _, _ in WRONG)
    for mistake in ISSUE_MISTAKES:
        assert mistake in labels, f"no wrong candidate for {mistake!r}"
