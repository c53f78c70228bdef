"""The candidate answers to the graded exercises of lessons 02–05, written apart from the
solutions notebooks: for each exercise, wrong ones (one per mistake the course names that applies)
in ``WRONG``, wrong ones only the hidden tests can catch in ``HIDDEN_ONLY``, and at least two
correct ones (loops, vectorised numpy, other formulas) in ``RIGHT``.

tests/course/test_exercise_mutations.py runs the lessons' test cells against every one of them; the
similarity report's tests and benchmark (testbed/similarity_batch.py) make independent students
of the correct ones. Each entry is ``(aid, test id, label, {name: candidate}[, message pattern])``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cnnkit.checks import shape_str


# ---------------------------------------------------------------------------------------------
# Lesson 02 · Convolution by hand
# ---------------------------------------------------------------------------------------------

def _same_shape(patch, kernel):
    if np.shape(patch) != np.shape(kernel):
        raise ValueError(f"shape {np.shape(patch)} vs shape {np.shape(kernel)}")


def apply_kernel_loops(patch, kernel):
    _same_shape(patch, kernel)
    total = 0.0
    for i in range(np.shape(patch)[0]):
        for j in range(np.shape(patch)[1]):
            total += float(patch[i, j]) * float(kernel[i, j])
    return total


def apply_kernel_einsum(patch, kernel):
    patch, kernel = np.asarray(patch, float), np.asarray(kernel, float)
    if patch.shape != kernel.shape:
        raise ValueError(f"{shape_str(patch.shape)} patch vs {shape_str(kernel.shape)} kernel")
    return float(np.einsum("ij,ij->", patch, kernel))


def apply_kernel_flipped(patch, kernel):
    _same_shape(patch, kernel)
    return float(np.sum(np.asarray(patch, float) * np.asarray(kernel, float)[::-1, ::-1]))


def apply_kernel_uint8(patch, kernel):
    _same_shape(patch, kernel)
    return np.sum(patch * kernel)  # uint8 * uint8 wraps around


def apply_kernel_in_place(patch, kernel):
    _same_shape(patch, kernel)
    patch *= kernel
    return float(patch.sum())


def apply_kernel_no_shape_check(patch, kernel):
    return float(np.sum(np.asarray(patch, float) * np.asarray(kernel, float)))


def convolve_at_loops(image, kernel, row, col):
    h, w = image.shape
    kh, kw = kernel.shape
    total = 0.0
    for i in range(kh):
        for j in range(kw):
            y, x = row + i - (kh - 1) // 2, col + j - (kw - 1) // 2
            if y in range(h) and x in range(w):
                total += float(image[y, x]) * float(kernel[i, j])
    return total


def convolve_at_padded(image, kernel, row, col):
    kh, kw = kernel.shape
    padded = np.pad(np.asarray(image, np.float64), ((kh // 2, kh // 2), (kw // 2, kw // 2)))
    return float(np.sum(padded[row:row + kh, col:col + kw] * kernel))


def _convolve_at_variant(image, kernel, row, col, *, flip=False, top_left=False, low=0, wrap=False, as_float=True):
    h, w = image.shape
    kh, kw = kernel.shape
    if flip:
        kernel = kernel[::-1, ::-1]
    total = image.dtype.type(0) if not as_float else 0.0
    for i in range(kh):
        for j in range(kw):
            y, x = (row + i, col + j) if top_left else (row - kh // 2 + i, col - kw // 2 + j)
            inside = (y < h and x < w) if wrap else (low <= y < h and low <= x < w)
            if inside:
                total += (float(image[y, x]) * float(kernel[i, j])) if as_float else image[y, x] * kernel[i, j]
    return float(total)


def convolve_at_flipped(image, kernel, row, col):
    return _convolve_at_variant(image, kernel, row, col, flip=True)


def convolve_at_top_left(image, kernel, row, col):
    return _convolve_at_variant(image, kernel, row, col, top_left=True)


def convolve_at_off_by_one(image, kernel, row, col):
    return _convolve_at_variant(image, kernel, row, col, low=1)


def convolve_at_negative_index(image, kernel, row, col):
    return _convolve_at_variant(image, kernel, row, col, wrap=True)


def convolve_at_uint8(image, kernel, row, col):
    return _convolve_at_variant(image, kernel, row, col, as_float=False)


def conv2d_valid_loops(image, kernel):
    kh, kw = kernel.shape
    out = np.empty((image.shape[0] - kh + 1, image.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = sum(float(image[i + a, j + b]) * float(kernel[a, b]) for a in range(kh) for b in range(kw))
    return out


def conv2d_valid_vectorised(image, kernel):
    windows = sliding_window_view(np.asarray(image, np.float64), kernel.shape)
    return np.einsum("ijab,ab->ij", windows, np.asarray(kernel, np.float64))


def _conv2d_valid_variant(image, kernel, *, flip=False, shrink=0, out=None):
    kh, kw = kernel.shape
    oh, ow = image.shape[0] - kh + 1 - shrink, image.shape[1] - kw + 1 - shrink
    if flip:
        kernel = kernel[::-1, ::-1]
    if out == "zeros_like":
        result = np.zeros_like(image)[:oh, :ow]
    elif out == "view":
        result = image[:oh, :ow]  # a view: writing into it overwrites the caller's image
    else:
        result = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            result[i, j] = np.sum(np.asarray(image[i:i + kh, j:j + kw], np.float64) * kernel)
    return result


def conv2d_valid_flipped(image, kernel):
    return _conv2d_valid_variant(image, kernel, flip=True)


def conv2d_valid_off_by_one(image, kernel):
    return _conv2d_valid_variant(image, kernel, shrink=1)


def conv2d_valid_uint8(image, kernel):
    return _conv2d_valid_variant(image, kernel, out="zeros_like")


def conv2d_valid_in_place(image, kernel):
    return _conv2d_valid_variant(image, kernel, out="view")


EXAMPLE_6x6 = np.array([[0, 0, 237, 226, 217, 223], [145, 204, 228, 207, 213, 221], [220, 222, 217, 226, 200, 205],
                        [208, 209, 200, 159, 245, 193], [205, 220, 240, 80, 150, 255], [194, 215, 217, 241, 65, 73]])
SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])


def _by_hand(r, c, top_left=False, flip=False):
    r0, c0 = (r, c) if top_left else (r - 1, c - 1)
    kernel = SOBEL_X[::-1, ::-1] if flip else SOBEL_X
    return int(np.sum(EXAMPLE_6x6[r0:r0 + 3, c0:c0 + 3] * kernel))


# ---------------------------------------------------------------------------------------------
# Lesson 03 · Padding and stride
# ---------------------------------------------------------------------------------------------

def _pairs(pad):
    return ((pad, pad), (pad, pad)) if np.ndim(pad) == 0 else tuple(tuple(int(v) for v in pair) for pair in pad)


def zero_pad_np_pad(image, pad):
    return np.pad(image, list(_pairs(pad)) + [(0, 0)] * (np.ndim(image) - 2), mode="constant")


def zero_pad_row_by_row(image, pad):
    (top, bottom), (left, right) = _pairs(pad)
    h, w = image.shape[:2]
    out = np.zeros((h + top + bottom, w + left + right) + image.shape[2:], dtype=image.dtype)
    for r in range(h):
        out[top + r, left:left + w] = image[r]
    return out


def zero_pad_channels_too(image, pad):
    return np.pad(image, pad)  # an int pads every axis, the channel axis included


def zero_pad_one_side(image, pad):
    (top, _), (left, _) = _pairs(pad)
    h, w = image.shape[:2]
    out = np.zeros((h + top, w + left) + image.shape[2:], dtype=image.dtype)
    out[top:, left:] = image
    return out


def zero_pad_swapped_pairs(image, pad):
    rows, cols = _pairs(pad)
    return zero_pad_np_pad(image, (cols, rows))


def zero_pad_float_output(image, pad):
    (top, bottom), (left, right) = _pairs(pad)
    h, w = image.shape[:2]
    out = np.zeros((h + top + bottom, w + left + right) + image.shape[2:])
    out[top:top + h, left:left + w] = image
    return out


def _check_padding(padding):
    if padding not in ("valid", "same"):
        raise ValueError(padding)


def output_size_math(n, k, stride=1, padding="valid"):
    _check_padding(padding)
    return math.floor((n - k) / stride) + 1 if padding == "valid" else math.ceil(n / stride)


def output_size_count(n, k, stride=1, padding="valid"):
    _check_padding(padding)
    return len(range(0, n - k + 1, stride)) if padding == "valid" else len(range(0, n, stride))


def output_size_ceil_valid(n, k, stride=1, padding="valid"):
    _check_padding(padding)
    return math.ceil((n - k) / stride) + 1 if padding == "valid" else math.ceil(n / stride)


def output_size_floor_same(n, k, stride=1, padding="valid"):
    _check_padding(padding)
    return (n - k) // stride + 1 if padding == "valid" else n // stride


def output_size_no_stride(n, k, stride=1, padding="valid"):
    _check_padding(padding)
    return n - k + 1 if padding == "valid" else n


def output_size_no_plus_one(n, k, stride=1, padding="valid"):
    _check_padding(padding)
    return (n - k) // stride if padding == "valid" else math.ceil(n / stride)


def output_size_true_division(n, k, stride=1, padding="valid"):
    _check_padding(padding)
    return (n - k) / stride + 1 if padding == "valid" else math.ceil(n / stride)


def same_padding_math(n, k, stride=1):
    total = max((math.ceil(n / stride) - 1) * stride + k - n, 0)
    return total // 2, total - total // 2


def same_padding_simulated(n, k, stride=1):
    last_start = (len(range(0, n, stride)) - 1) * stride
    missing = last_start + k - n
    total = missing if missing > 0 else 0
    return total >> 1, (total + 1) >> 1


def same_padding_no_stride(n, k, stride=1):
    total = k - 1
    return total // 2, total - total // 2


def same_padding_extra_before(n, k, stride=1):
    total = max((math.ceil(n / stride) - 1) * stride + k - n, 0)
    return total - total // 2, total // 2


def same_padding_floor(n, k, stride=1):
    total = max((n // stride - 1) * stride + k - n, 0)
    return total // 2, total - total // 2


def same_padding_negative(n, k, stride=1):
    total = (math.ceil(n / stride) - 1) * stride + k - n
    return total // 2, total - total // 2


def same_padding_floats(n, k, stride=1):
    total = max((math.ceil(n / stride) - 1) * stride + k - n, 0)
    return math.floor(total / 2), total - math.floor(total / 2) * 1.0


def _conv2d_variant(image, kernel, stride=1, padding="valid", *, flip=False, ignore_stride=False, plus_one=1,
                    rounding=math.floor, extra_before=False, out=None):
    _check_padding(padding)
    kernel = np.asarray(kernel, np.float64)
    if flip:
        kernel = kernel[::-1, ::-1]
    if ignore_stride:
        stride = 1
    kh, kw = kernel.shape
    if padding == "same":
        (a, b), (c, d) = same_padding_math(image.shape[0], kh, stride), same_padding_math(image.shape[1], kw, stride)
        if extra_before:
            (a, b), (c, d) = (b, a), (d, c)
        image = np.pad(image, ((a, b), (c, d)))
    oh = rounding((image.shape[0] - kh) / stride) + plus_one
    ow = rounding((image.shape[1] - kw) / stride) + plus_one
    if out == "zeros_like":
        result = np.zeros((oh, ow), dtype=image.dtype)
    elif out == "view":
        result = image[:oh, :ow]
    else:
        result = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = np.asarray(image[i * stride:i * stride + kh, j * stride:j * stride + kw], np.float64)
            result[i, j] = np.sum(window * kernel)
    return result


def conv2d_loops(image, kernel, stride=1, padding="valid"):
    return _conv2d_variant(np.asarray(image, np.float64), kernel, stride, padding)


def conv2d_vectorised(image, kernel, stride=1, padding="valid"):
    _check_padding(padding)
    image, kernel = np.asarray(image, np.float64), np.asarray(kernel, np.float64)
    if padding == "same":
        image = np.pad(image, (same_padding_math(image.shape[0], kernel.shape[0], stride),
                               same_padding_math(image.shape[1], kernel.shape[1], stride)))
    windows = sliding_window_view(image, kernel.shape)[::stride, ::stride]
    return np.einsum("ijab,ab->ij", windows, kernel)


def conv2d_scipy_then_subsample(image, kernel, stride=1, padding="valid"):
    from scipy import signal

    _check_padding(padding)
    image = np.asarray(image, np.float64)
    if padding == "same":
        image = np.pad(image, (same_padding_math(image.shape[0], kernel.shape[0], stride),
                               same_padding_math(image.shape[1], kernel.shape[1], stride)))
    return signal.correlate2d(image, np.asarray(kernel, np.float64), mode="valid")[::stride, ::stride]


def conv2d_flipped(image, kernel, stride=1, padding="valid"):
    return _conv2d_variant(np.asarray(image, np.float64), kernel, stride, padding, flip=True)


def conv2d_stride_ignored(image, kernel, stride=1, padding="valid"):
    return _conv2d_variant(np.asarray(image, np.float64), kernel, stride, padding, ignore_stride=True)


def conv2d_off_by_one(image, kernel, stride=1, padding="valid"):
    return _conv2d_variant(np.asarray(image, np.float64), kernel, stride, padding, plus_one=0)


def conv2d_ceil(image, kernel, stride=1, padding="valid"):
    return _conv2d_variant(np.asarray(image, np.float64), kernel, stride, padding, rounding=math.ceil)


def conv2d_extra_zero_before(image, kernel, stride=1, padding="valid"):
    return _conv2d_variant(np.asarray(image, np.float64), kernel, stride, padding, extra_before=True)


def conv2d_uint8(image, kernel, stride=1, padding="valid"):
    return _conv2d_variant(np.asarray(image), kernel, stride, padding, out="zeros_like")


def conv2d_in_place(image, kernel, stride=1, padding="valid"):
    return _conv2d_variant(np.asarray(image), kernel, stride, padding, out="view")


# ---------------------------------------------------------------------------------------------
# Lesson 04 · Pooling
# ---------------------------------------------------------------------------------------------

def max_pool_loops(image, k=2, stride=None):
    stride = stride or k
    image = np.asarray(image)
    planes = image[..., None] if image.ndim == 2 else image
    oh, ow = (planes.shape[0] - k) // stride + 1, (planes.shape[1] - k) // stride + 1
    out = np.empty((oh, ow, planes.shape[2]), dtype=image.dtype)
    for c in range(planes.shape[2]):
        for i in range(oh):
            for j in range(ow):
                values = [planes[i * stride + a, j * stride + b, c] for a in range(k) for b in range(k)]
                out[i, j, c] = max(values)
    return out[..., 0] if image.ndim == 2 else out


def max_pool_vectorised(image, k=2, stride=None):
    stride = k if stride is None else stride
    windows = sliding_window_view(np.asarray(image), (k, k), axis=(0, 1))[::stride, ::stride]
    return windows.max(axis=(-2, -1))


def _pool_variant(image, k=2, stride=None, *, reduce="max", default_stride=None, ignore_stride=False, plus_one=1,
                  rounding=math.floor, across_channels=False, sort_in_place=False, divide_in_place=False,
                  as_float=True, zeros_like=False):
    if stride is None:
        stride = default_stride or k
    if ignore_stride:
        stride = k
    image = np.asarray(image)
    oh = rounding((image.shape[0] - k) / stride) + plus_one
    ow = rounding((image.shape[1] - k) / stride) + plus_one
    extra = () if across_channels else image.shape[2:]
    dtype = image.dtype if (zeros_like or reduce == "max") else np.float64
    out = np.zeros((oh, ow) + extra, dtype=dtype)
    for i in range(oh):
        for j in range(ow):
            window = image[i * stride:i * stride + k, j * stride:j * stride + k]
            if sort_in_place:
                window.sort(axis=1)
            if divide_in_place:
                window /= k * k
                out[i, j] = window.sum(axis=(0, 1))
                continue
            if not as_float:
                window = window.astype(np.float64)
            axes = None if across_channels else (0, 1)
            if reduce == "max":
                out[i, j] = window.max(axis=axes)
            elif reduce == "floordiv":
                out[i, j] = window.sum(axis=axes) // (k * k)
            else:
                out[i, j] = window.astype(np.float64).mean(axis=axes)
    return out


def max_pool_stride_ignored(image, k=2, stride=None):
    return _pool_variant(image, k, stride, ignore_stride=True)


def max_pool_default_stride_one(image, k=2, stride=None):
    return _pool_variant(image, k, stride, default_stride=1)


def max_pool_off_by_one(image, k=2, stride=None):
    return _pool_variant(image, k, stride, plus_one=0)


def max_pool_ceil(image, k=2, stride=None):
    return _pool_variant(image, k, stride, rounding=math.ceil)


def max_pool_across_channels(image, k=2, stride=None):
    return _pool_variant(image, k, stride, across_channels=True)


def max_pool_channels_first(image, k=2, stride=None):
    image = np.asarray(image)
    if image.ndim == 2:
        return _pool_variant(image, k, stride)
    return np.stack([_pool_variant(image[c], k, stride) for c in range(image.shape[0])])


def max_pool_sorts_in_place(image, k=2, stride=None):
    return _pool_variant(image, k, stride, sort_in_place=True)


def average_pool_loops(image, k=2, stride=None):
    stride = stride or k
    image = np.asarray(image)
    planes = image[..., None] if image.ndim == 2 else image
    oh, ow = (planes.shape[0] - k) // stride + 1, (planes.shape[1] - k) // stride + 1
    out = np.empty((oh, ow, planes.shape[2]))
    for c in range(planes.shape[2]):
        for i in range(oh):
            for j in range(ow):
                total = 0.0
                for a in range(k):
                    for b in range(k):
                        total += float(planes[i * stride + a, j * stride + b, c])
                out[i, j, c] = total / (k * k)
    return out[..., 0] if image.ndim == 2 else out


def average_pool_vectorised(image, k=2, stride=None):
    stride = k if stride is None else stride
    windows = sliding_window_view(np.asarray(image, np.float64), (k, k), axis=(0, 1))[::stride, ::stride]
    return windows.mean(axis=(-2, -1))


def average_pool_sum_of_slices_uint8(image, k=2, stride=None):
    stride = stride or k
    image = np.asarray(image)
    oh, ow = (image.shape[0] - k) // stride + 1, (image.shape[1] - k) // stride + 1
    total = sum(image[a::stride, b::stride][:oh, :ow] for a in range(k) for b in range(k))  # uint8 + uint8 wraps
    return total / (k * k)


def average_pool_stride_ignored(image, k=2, stride=None):
    return _pool_variant(image, k, stride, reduce="mean", ignore_stride=True)


def average_pool_off_by_one(image, k=2, stride=None):
    return _pool_variant(image, k, stride, reduce="mean", plus_one=0)


def average_pool_ceil(image, k=2, stride=None):
    return _pool_variant(image, k, stride, reduce="mean", rounding=math.ceil)


def average_pool_across_channels(image, k=2, stride=None):
    return _pool_variant(image, k, stride, reduce="mean", across_channels=True)


def average_pool_divides_in_place(image, k=2, stride=None):
    return _pool_variant(image, k, stride, reduce="mean", divide_in_place=True)


def average_pool_integer_division(image, k=2, stride=None):
    return _pool_variant(image, k, stride, reduce="floordiv")


def average_pool_zeros_like(image, k=2, stride=None):
    return _pool_variant(image, k, stride, reduce="mean", zeros_like=True)


def average_pool_takes_max(image, k=2, stride=None):
    return _pool_variant(image, k, stride, reduce="max").astype(np.float64)


# ---------------------------------------------------------------------------------------------
# Lesson 05 · ReLU and feature maps
# ---------------------------------------------------------------------------------------------

def relu_maximum(x):
    return np.maximum(x, 0)


def relu_mask(x):
    return x * (x > 0)


def relu_loops(x):
    out = np.array(x, copy=True)
    for index in np.ndindex(out.shape):
        if out[index] < 0:
            out[index] = 0
    return out


def relu_in_place(x):
    x[x < 0] = 0
    return x


def relu_abs(x):
    return np.abs(x)


def relu_clipped_at_one(x):
    return np.clip(x, 0, 1)


def relu_float64(x):
    return np.maximum(x, 0).astype(np.float64)


# max_via_relu candidates call the notebook's relu by name; here that name is a correct relu. (The cell
# reads the name "relu" from the candidate's code, so it must be called relu.)
relu = relu_maximum


def _with_relu(fn):
    return {"max_via_relu": fn, "relu": relu_maximum}


def max_via_relu_from_b(a, b):
    return b + relu(a - b)


def max_via_relu_from_a(a, b):
    return a + relu(b - a)


def max_via_relu_split_b(a, b):
    return relu(a - b) + relu(b) - relu(-b)


def max_via_relu_numpy(a, b):
    return np.maximum(a, b)


def max_via_relu_where(a, b):
    return np.where(a > b, a, b)


def max_via_relu_compare(a, b):
    return a + (b - a) * (b > a)


def max_via_relu_in_place(a, b):
    a -= b
    return b + relu(a)


def max_via_relu_min(a, b):
    return a - relu(a - b)  # that is the minimum


def _same_pads(n, f, stride):
    total = max((math.ceil(n / stride) - 1) * stride + f - n, 0)
    return total // 2, total - total // 2


def _conv_layer_variant(x, kernels, biases, stride=1, padding="valid", *, bias=True, flip=False, ignore_stride=False,
                        pad_channels=False, channels_first=False, out_dtype=None, plus_one=1, extra_before=False):
    _check_padding(padding)
    x = np.asarray(x)
    kernels = np.asarray(kernels, np.float64)
    if flip:
        kernels = kernels[::-1, ::-1]
    if ignore_stride:
        stride = 1
    kh, kw, _, c_out = kernels.shape
    if padding == "same":
        rows, cols = _same_pads(x.shape[0], kh, stride), _same_pads(x.shape[1], kw, stride)
        if extra_before:
            rows, cols = rows[::-1], cols[::-1]
        x = np.pad(x, (rows, cols, rows if pad_channels else (0, 0)))
    oh, ow = (x.shape[0] - kh) // stride + plus_one, (x.shape[1] - kw) // stride + plus_one
    out = np.zeros((oh, ow, c_out), dtype=out_dtype or np.float64)
    for i in range(oh):
        for j in range(ow):
            window = np.asarray(x[i * stride:i * stride + kh, j * stride:j * stride + kw], np.float64)
            out[i, j] = np.tensordot(window, kernels, axes=3) + (biases if bias else 0)
    return np.moveaxis(out, -1, 0) if channels_first else out


def conv_layer_loops(x, kernels, biases, stride=1, padding="valid"):
    x = np.asarray(x, np.float64)
    kh, kw, c_in, c_out = kernels.shape
    if padding == "same":
        x = np.pad(x, (_same_pads(x.shape[0], kh, stride), _same_pads(x.shape[1], kw, stride), (0, 0)))
    oh, ow = (x.shape[0] - kh) // stride + 1, (x.shape[1] - kw) // stride + 1
    out = np.empty((oh, ow, c_out))
    for i in range(oh):
        for j in range(ow):
            for k in range(c_out):
                total = float(biases[k])
                for a in range(kh):
                    for b in range(kw):
                        for c in range(c_in):
                            total += x[i * stride + a, j * stride + b, c] * kernels[a, b, c, k]
                out[i, j, k] = total
    return out


def conv_layer_einsum(x, kernels, biases, stride=1, padding="valid"):
    _check_padding(padding)
    x = np.asarray(x, np.float64)
    kh, kw = kernels.shape[:2]
    if padding == "same":
        x = np.pad(x, (_same_pads(x.shape[0], kh, stride), _same_pads(x.shape[1], kw, stride), (0, 0)))
    windows = sliding_window_view(x, (kh, kw), axis=(0, 1))[::stride, ::stride]  # (H', W', C_in, kh, kw)
    return np.einsum("ijcab,abck->ijk", windows, np.asarray(kernels, np.float64)) + biases


def conv_layer_per_channel_scipy(x, kernels, biases, stride=1, padding="valid"):
    from scipy import signal

    x = np.asarray(x, np.float64)
    kh, kw, c_in, c_out = kernels.shape
    if padding == "same":
        x = np.pad(x, (_same_pads(x.shape[0], kh, stride), _same_pads(x.shape[1], kw, stride), (0, 0)))
    maps = [sum(signal.correlate2d(x[:, :, c], kernels[:, :, c, k], mode="valid") for c in range(c_in)) + biases[k]
            for k in range(c_out)]
    return np.stack(maps, axis=-1)[::stride, ::stride]


def conv_layer_no_bias(x, kernels, biases, stride=1, padding="valid"):
    return _conv_layer_variant(x, kernels, biases, stride, padding, bias=False)


def conv_layer_flipped(x, kernels, biases, stride=1, padding="valid"):
    return _conv_layer_variant(x, kernels, biases, stride, padding, flip=True)


def conv_layer_stride_ignored(x, kernels, biases, stride=1, padding="valid"):
    return _conv_layer_variant(x, kernels, biases, stride, padding, ignore_stride=True)


def conv_layer_pads_channels(x, kernels, biases, stride=1, padding="valid"):
    return _conv_layer_variant(x, kernels, biases, stride, padding, pad_channels=True)


def conv_layer_channels_first(x, kernels, biases, stride=1, padding="valid"):
    return _conv_layer_variant(x, kernels, biases, stride, padding, channels_first=True)


def conv_layer_uint8(x, kernels, biases, stride=1, padding="valid"):
    return _conv_layer_variant(x, kernels, biases, stride, padding, out_dtype=np.asarray(x).dtype)


def conv_layer_off_by_one(x, kernels, biases, stride=1, padding="valid"):
    return _conv_layer_variant(x, kernels, biases, stride, padding, plus_one=0)


def conv_layer_extra_zero_before(x, kernels, biases, stride=1, padding="valid"):
    return _conv_layer_variant(x, kernels, biases, stride, padding, extra_before=True)


def _kernel_hw(kernel_size):
    return (kernel_size, kernel_size) if isinstance(kernel_size, (int, np.integer)) else tuple(kernel_size)


def conv_params_formula(kernel_size, in_channels, filters):
    kh, kw = _kernel_hw(kernel_size)
    return (kh * kw * in_channels + 1) * filters


def conv_params_prod(kernel_size, in_channels, filters):
    weights = int(np.prod(np.broadcast_to(kernel_size, (2,)))) * in_channels * filters
    return weights + filters


def conv_params_no_bias(kernel_size, in_channels, filters):
    kh, kw = _kernel_hw(kernel_size)
    return kh * kw * in_channels * filters


def conv_params_no_channels(kernel_size, in_channels, filters):
    kh, kw = _kernel_hw(kernel_size)
    return (kh * kw + 1) * filters


def conv_params_bias_per_input(kernel_size, in_channels, filters):
    kh, kw = _kernel_hw(kernel_size)
    return kh * kw * in_channels * filters + in_channels


def dense_params_formula(in_features, units):
    return (in_features + 1) * units


def dense_params_sum(in_features, units):
    return in_features * units + units


def dense_params_no_bias(in_features, units):
    return in_features * units


def dense_params_bias_per_input(in_features, units):
    return in_features * units + in_features


def mnist_table(conv_bias=1, dense_bias=1, padding="valid", rounding=math.floor, pool_params=0, as_numpy=False):
    """The shape/parameter table of the lesson's convnet, built from formulas with switchable mistakes."""
    rows, (h, w, c) = [], (28, 28, 1)
    for kind, n in [("conv", 32), ("pool", 2), ("conv", 64), ("pool", 2), ("conv", 64)]:
        if kind == "conv":
            params = (9 * c + conv_bias) * n if conv_bias else 9 * c * n
            h, w, c = (h, w, n) if padding == "same" else (h - 2, w - 2, n)
        else:
            params = pool_params
            h, w = rounding(h / 2), rounding(w / 2)
        rows.append(([h, w, c] if as_numpy else (h, w, c), np.int64(params) if as_numpy else params))
    flat = h * w * c
    rows.append(((flat,), 0))
    rows.append(((64,), (flat + 1) * 64 if dense_bias else flat * 64))
    rows.append(((10,), (64 + 1) * 10 if dense_bias else 64 * 10))
    return rows


# ---------------------------------------------------------------------------------------------
# Wrong answers only the hidden tests can catch (the visible checks cannot cover everything)
# ---------------------------------------------------------------------------------------------

def conv2d_square_kernel_padding(image, kernel, stride=1, padding="valid"):
    """Pads both axes for the kernel's height: right for square kernels only."""
    image, kernel = np.asarray(image, np.float64), np.asarray(kernel, np.float64)
    if padding == "same":
        pads = same_padding_math(image.shape[0], kernel.shape[0], stride), same_padding_math(image.shape[1], kernel.shape[0], stride)
        image = np.pad(image, pads)
    windows = sliding_window_view(image, kernel.shape)[::stride, ::stride]
    return np.einsum("ijab,ab->ij", windows, kernel)


def conv_layer_square_kernel_padding(x, kernels, biases, stride=1, padding="valid"):
    x = np.asarray(x, np.float64)
    kh = kernels.shape[0]
    if padding == "same":
        x = np.pad(x, (_same_pads(x.shape[0], kh, stride), _same_pads(x.shape[1], kh, stride), (0, 0)))
    windows = sliding_window_view(x, kernels.shape[:2], axis=(0, 1))[::stride, ::stride]
    return np.einsum("ijcab,abck->ijk", windows, np.asarray(kernels, np.float64)) + biases


_VISIBLE_ANSWERS = {(5, 3, 1, "valid"): 3, (28, 3, 1, "valid"): 26, (5, 3, 2, "valid"): 2, (6, 3, 2, "valid"): 2,
                    (5, 3, 2, "same"): 3, (7, 3, 3, "same"): 3, (5, 4, 1, "same"): 5, (5, 5, 1, "valid"): 1,
                    (5, 1, 3, "valid"): 2}


def output_size_memorised(n, k, stride=1, padding="valid"):
    """Knows the visible examples by heart; otherwise uses the valid formula for both paddings."""
    _check_padding(padding)
    return _VISIBLE_ANSWERS.get((n, k, stride, padding), (n - k) // stride + 1)


HIDDEN_ONLY = [
    ("03_padding_and_stride", "test_output_size", "memorised visible answers", {"output_size": output_size_memorised}),
    ("03_padding_and_stride", "test_conv2d", "'same' padding right for square kernels only",
     {"conv2d": conv2d_square_kernel_padding}),
    ("05_relu_and_feature_maps", "test_conv_layer", "'same' padding right for square kernels only",
     {"conv_layer": conv_layer_square_kernel_padding}),
]


# ---------------------------------------------------------------------------------------------
# The catalogue: (lesson, test cell, label, namespace entries, message pattern for wrong ones)
# ---------------------------------------------------------------------------------------------

FLIP = r"flip"
OFF_BY_ONE = r"off[ -]by[ -]one"
UINT8 = r"uint8.*wrap|wrap.*uint8"
IN_PLACE = r"in place"
STRIDE = r"stride (argument )?was ignored"
FLOOR_CEIL = r"floor|ceil"
CHANNEL_AXIS = r"channel axis"
BIAS = r"bias is missing"

WRONG = [
    ("02_convolution", "test_apply_kernel", "kernel flip", {"apply_kernel": apply_kernel_flipped}, FLIP),
    ("02_convolution", "test_apply_kernel", "uint8 overflow", {"apply_kernel": apply_kernel_uint8}, UINT8),
    ("02_convolution", "test_apply_kernel", "in-place modification", {"apply_kernel": apply_kernel_in_place}, IN_PLACE),
    ("02_convolution", "test_apply_kernel", "no shape check (broadcasting)", {"apply_kernel": apply_kernel_no_shape_check},
     r"broadcast.*raise ValueError"),
    ("02_convolution", "test_hand_values", "kernel flip", {"at_3_2": _by_hand(3, 2, flip=True), "at_4_4": _by_hand(4, 4)}, FLIP),
    ("02_convolution", "test_hand_values", "off-by-one bounds (window not centred)",
     {"at_3_2": _by_hand(3, 2, top_left=True), "at_4_4": _by_hand(4, 4)}, OFF_BY_ONE),
    ("02_convolution", "test_hand_values", "arithmetic slip", {"at_3_2": _by_hand(3, 2), "at_4_4": _by_hand(4, 4) + 10},
     r"Recompute those 6"),
    ("02_convolution", "test_convolve_at", "kernel flip", {"convolve_at": convolve_at_flipped}, FLIP),
    ("02_convolution", "test_convolve_at", "off-by-one bounds (0 < y)", {"convolve_at": convolve_at_off_by_one}, OFF_BY_ONE),
    ("02_convolution", "test_convolve_at", "window not centred", {"convolve_at": convolve_at_top_left}, OFF_BY_ONE),
    ("02_convolution", "test_convolve_at", "negative index wraps", {"convolve_at": convolve_at_negative_index},
     r"negative index wrapped"),
    ("02_convolution", "test_convolve_at", "uint8 overflow", {"convolve_at": convolve_at_uint8}, UINT8),
    ("02_convolution", "test_conv2d_valid", "kernel flip", {"conv2d_valid": conv2d_valid_flipped}, FLIP),
    ("02_convolution", "test_conv2d_valid", "off-by-one bounds", {"conv2d_valid": conv2d_valid_off_by_one}, OFF_BY_ONE),
    ("02_convolution", "test_conv2d_valid", "uint8 overflow (zeros_like output)", {"conv2d_valid": conv2d_valid_uint8}, UINT8),
    ("02_convolution", "test_conv2d_valid", "in-place modification (output is a view)",
     {"conv2d_valid": conv2d_valid_in_place}, IN_PLACE),
    ("03_padding_and_stride", "test_zero_pad", "padding on the channel axis", {"zero_pad": zero_pad_channels_too},
     CHANNEL_AXIS),
    ("03_padding_and_stride", "test_zero_pad", "padding one side only", {"zero_pad": zero_pad_one_side}, r"only one side"),
    ("03_padding_and_stride", "test_zero_pad", "(top, bottom) and (left, right) swapped", {"zero_pad": zero_pad_swapped_pairs},
     r"swapped"),
    ("03_padding_and_stride", "test_zero_pad", "float output (dtype lost)", {"zero_pad": zero_pad_float_output}, r"dtype"),
    ("03_padding_and_stride", "test_output_size", "ceil instead of floor (valid)", {"output_size": output_size_ceil_valid},
     FLOOR_CEIL),
    ("03_padding_and_stride", "test_output_size", "floor instead of ceil (same)", {"output_size": output_size_floor_same},
     FLOOR_CEIL),
    ("03_padding_and_stride", "test_output_size", "stride ignored", {"output_size": output_size_no_stride}, STRIDE),
    ("03_padding_and_stride", "test_output_size", "off-by-one (no + 1)", {"output_size": output_size_no_plus_one}, OFF_BY_ONE),
    ("03_padding_and_stride", "test_output_size", "true division (float result)", {"output_size": output_size_true_division},
     r"return an int"),
    ("03_padding_and_stride", "test_same_padding", "stride ignored", {"same_padding": same_padding_no_stride}, STRIDE),
    ("03_padding_and_stride", "test_same_padding", "extra zero before", {"same_padding": same_padding_extra_before},
     r"extra zero before"),
    ("03_padding_and_stride", "test_same_padding", "floor instead of ceil", {"same_padding": same_padding_floor}, FLOOR_CEIL),
    ("03_padding_and_stride", "test_same_padding", "negative padding (no max)", {"same_padding": same_padding_negative},
     r"never negative"),
    ("03_padding_and_stride", "test_same_padding", "float padding", {"same_padding": same_padding_floats}, r"must be ints"),
    ("03_padding_and_stride", "test_conv2d", "kernel flip", {"conv2d": conv2d_flipped}, FLIP),
    ("03_padding_and_stride", "test_conv2d", "stride ignored", {"conv2d": conv2d_stride_ignored}, STRIDE),
    ("03_padding_and_stride", "test_conv2d", "off-by-one bounds", {"conv2d": conv2d_off_by_one}, OFF_BY_ONE),
    ("03_padding_and_stride", "test_conv2d", "ceil instead of floor (valid)", {"conv2d": conv2d_ceil}, FLOOR_CEIL),
    ("03_padding_and_stride", "test_conv2d", "extra zero before (symmetric-style padding)",
     {"conv2d": conv2d_extra_zero_before}, r"extra zero after"),
    ("03_padding_and_stride", "test_conv2d", "uint8 overflow", {"conv2d": conv2d_uint8}, UINT8),
    ("03_padding_and_stride", "test_conv2d", "in-place modification (output is a view)", {"conv2d": conv2d_in_place}, IN_PLACE),
    ("04_pooling", "test_max_pool", "stride ignored", {"max_pool": max_pool_stride_ignored}, STRIDE),
    ("04_pooling", "test_max_pool", "default stride 1", {"max_pool": max_pool_default_stride_one}, r"default stride"),
    ("04_pooling", "test_max_pool", "off-by-one bounds", {"max_pool": max_pool_off_by_one}, OFF_BY_ONE),
    ("04_pooling", "test_max_pool", "ceil instead of floor (partial windows)", {"max_pool": max_pool_ceil}, FLOOR_CEIL),
    ("04_pooling", "test_max_pool", "pooling across the channel axis", {"max_pool": max_pool_across_channels}, CHANNEL_AXIS),
    ("04_pooling", "test_max_pool", "channels-first", {"max_pool": max_pool_channels_first}, r"channels-first"),
    ("04_pooling", "test_max_pool", "in-place modification (sorts the window)", {"max_pool": max_pool_sorts_in_place}, IN_PLACE),
    ("04_pooling", "test_average_pool", "stride ignored", {"average_pool": average_pool_stride_ignored}, STRIDE),
    ("04_pooling", "test_average_pool", "off-by-one bounds", {"average_pool": average_pool_off_by_one}, OFF_BY_ONE),
    ("04_pooling", "test_average_pool", "ceil instead of floor (partial windows)", {"average_pool": average_pool_ceil}, FLOOR_CEIL),
    ("04_pooling", "test_average_pool", "averaging across the channel axis", {"average_pool": average_pool_across_channels},
     CHANNEL_AXIS),
    ("04_pooling", "test_average_pool", "in-place modification (window /= size²)", {"average_pool": average_pool_divides_in_place},
     IN_PLACE),
    ("04_pooling", "test_average_pool", "uint8 overflow (sum of uint8 slices)", {"average_pool": average_pool_sum_of_slices_uint8},
     UINT8),
    ("04_pooling", "test_average_pool", "uint8 output (zeros_like)", {"average_pool": average_pool_zeros_like}, r"dtype uint8"),
    ("04_pooling", "test_average_pool", "integer division", {"average_pool": average_pool_integer_division}, r"integer division"),
    ("04_pooling", "test_average_pool", "max instead of mean", {"average_pool": average_pool_takes_max}, r"maxima"),
    ("05_relu_and_feature_maps", "test_relu", "in-place modification", {"relu": relu_in_place}, IN_PLACE),
    ("05_relu_and_feature_maps", "test_relu", "absolute value", {"relu": relu_abs}, r"\|x\|"),
    ("05_relu_and_feature_maps", "test_relu", "clipped at 1", {"relu": relu_clipped_at_one}, r"no upper limit"),
    ("05_relu_and_feature_maps", "test_relu", "dtype changed", {"relu": relu_float64}, r"dtype"),
    ("05_relu_and_feature_maps", "test_max_via_relu", "np.maximum", _with_relu(max_via_relu_numpy), r"only relu"),
    ("05_relu_and_feature_maps", "test_max_via_relu", "np.where", _with_relu(max_via_relu_where), r"only relu"),
    ("05_relu_and_feature_maps", "test_max_via_relu", "comparison and multiplication", _with_relu(max_via_relu_compare),
     r"compares values"),
    ("05_relu_and_feature_maps", "test_max_via_relu", "in-place modification", _with_relu(max_via_relu_in_place), IN_PLACE),
    ("05_relu_and_feature_maps", "test_max_via_relu", "the minimum instead", _with_relu(max_via_relu_min), r"by hand"),
    ("05_relu_and_feature_maps", "test_conv_layer", "missing bias", {"conv_layer": conv_layer_no_bias}, BIAS),
    ("05_relu_and_feature_maps", "test_conv_layer", "kernel flip", {"conv_layer": conv_layer_flipped}, FLIP),
    ("05_relu_and_feature_maps", "test_conv_layer", "stride ignored", {"conv_layer": conv_layer_stride_ignored}, STRIDE),
    ("05_relu_and_feature_maps", "test_conv_layer", "padding on the channel axis", {"conv_layer": conv_layer_pads_channels},
     CHANNEL_AXIS),
    ("05_relu_and_feature_maps", "test_conv_layer", "channels-first output", {"conv_layer": conv_layer_channels_first},
     r"channels-first"),
    ("05_relu_and_feature_maps", "test_conv_layer", "off-by-one bounds", {"conv_layer": conv_layer_off_by_one}, OFF_BY_ONE),
    ("05_relu_and_feature_maps", "test_conv_layer", "extra zero before (symmetric-style padding)",
     {"conv_layer": conv_layer_extra_zero_before}, r"extra zero goes after"),
    ("05_relu_and_feature_maps", "test_conv_layer", "uint8 overflow (output in the input's dtype)", {"conv_layer": conv_layer_uint8},
     UINT8),
    ("05_relu_and_feature_maps", "test_conv_params", "missing bias", {"conv_params": conv_params_no_bias}, BIAS),
    ("05_relu_and_feature_maps", "test_conv_params", "input channels ignored", {"conv_params": conv_params_no_channels},
     r"ignored the input channels"),
    ("05_relu_and_feature_maps", "test_conv_params", "one bias per input channel", {"conv_params": conv_params_bias_per_input},
     r"one bias per filter"),
    ("05_relu_and_feature_maps", "test_dense_params", "missing bias", {"dense_params": dense_params_no_bias}, BIAS),
    ("05_relu_and_feature_maps", "test_dense_params", "one bias per input", {"dense_params": dense_params_bias_per_input},
     r"one bias per unit"),
    ("05_relu_and_feature_maps", "test_mnist_table", "missing bias (convolutions)", {"mnist_table": mnist_table(conv_bias=0)},
     BIAS),
    ("05_relu_and_feature_maps", "test_mnist_table", "missing bias (dense)", {"mnist_table": mnist_table(dense_bias=0)}, BIAS),
    ("05_relu_and_feature_maps", "test_mnist_table", "'same' instead of 'valid'", {"mnist_table": mnist_table(padding="same")},
     r"not 'same'"),
    ("05_relu_and_feature_maps", "test_mnist_table", "ceil instead of floor in pooling",
     {"mnist_table": mnist_table(rounding=math.ceil)}, FLOOR_CEIL),
    ("05_relu_and_feature_maps", "test_mnist_table", "parameters for pooling", {"mnist_table": mnist_table(pool_params=4)},
     r"no weights"),
]

RIGHT = [
    ("02_convolution", "test_apply_kernel", "loops", {"apply_kernel": apply_kernel_loops}),
    ("02_convolution", "test_apply_kernel", "einsum", {"apply_kernel": apply_kernel_einsum}),
    ("02_convolution", "test_hand_values", "integers", {"at_3_2": -236, "at_4_4": 216}),
    ("02_convolution", "test_hand_values", "floats", {"at_3_2": -236.0, "at_4_4": 216.0}),
    ("02_convolution", "test_convolve_at", "loops with range()", {"convolve_at": convolve_at_loops}),
    ("02_convolution", "test_convolve_at", "np.pad and a slice", {"convolve_at": convolve_at_padded}),
    ("02_convolution", "test_conv2d_valid", "loops, scalar products", {"conv2d_valid": conv2d_valid_loops}),
    ("02_convolution", "test_conv2d_valid", "sliding_window_view + einsum", {"conv2d_valid": conv2d_valid_vectorised}),
    ("03_padding_and_stride", "test_zero_pad", "np.pad", {"zero_pad": zero_pad_np_pad}),
    ("03_padding_and_stride", "test_zero_pad", "row by row", {"zero_pad": zero_pad_row_by_row}),
    ("03_padding_and_stride", "test_output_size", "math.floor / math.ceil", {"output_size": output_size_math}),
    ("03_padding_and_stride", "test_output_size", "count the window starts", {"output_size": output_size_count}),
    ("03_padding_and_stride", "test_same_padding", "math.ceil", {"same_padding": same_padding_math}),
    ("03_padding_and_stride", "test_same_padding", "simulate the last window", {"same_padding": same_padding_simulated}),
    ("03_padding_and_stride", "test_conv2d", "loops", {"conv2d": conv2d_loops}),
    ("03_padding_and_stride", "test_conv2d", "sliding_window_view + einsum", {"conv2d": conv2d_vectorised}),
    ("03_padding_and_stride", "test_conv2d", "scipy correlate2d, then [::s, ::s]", {"conv2d": conv2d_scipy_then_subsample}),
    ("04_pooling", "test_max_pool", "loops, channel by channel", {"max_pool": max_pool_loops}),
    ("04_pooling", "test_max_pool", "sliding_window_view + max", {"max_pool": max_pool_vectorised}),
    ("04_pooling", "test_average_pool", "loops, channel by channel", {"average_pool": average_pool_loops}),
    ("04_pooling", "test_average_pool", "sliding_window_view + mean", {"average_pool": average_pool_vectorised}),
    ("05_relu_and_feature_maps", "test_relu", "np.maximum", {"relu": relu_maximum}),
    ("05_relu_and_feature_maps", "test_relu", "x * (x > 0)", {"relu": relu_mask}),
    ("05_relu_and_feature_maps", "test_relu", "loop over every element", {"relu": relu_loops}),
    ("05_relu_and_feature_maps", "test_max_via_relu", "b + relu(a − b)", _with_relu(max_via_relu_from_b)),
    ("05_relu_and_feature_maps", "test_max_via_relu", "a + relu(b − a)", _with_relu(max_via_relu_from_a)),
    ("05_relu_and_feature_maps", "test_max_via_relu", "relu(a − b) + relu(b) − relu(−b)", _with_relu(max_via_relu_split_b)),
    ("05_relu_and_feature_maps", "test_conv_layer", "six nested loops", {"conv_layer": conv_layer_loops}),
    ("05_relu_and_feature_maps", "test_conv_layer", "sliding_window_view + einsum", {"conv_layer": conv_layer_einsum}),
    ("05_relu_and_feature_maps", "test_conv_layer", "scipy per channel, summed", {"conv_layer": conv_layer_per_channel_scipy}),
    ("05_relu_and_feature_maps", "test_conv_params", "(kh·kw·C_in + 1)·filters", {"conv_params": conv_params_formula}),
    ("05_relu_and_feature_maps", "test_conv_params", "np.prod of the kernel size", {"conv_params": conv_params_prod}),
    ("05_relu_and_feature_maps", "test_dense_params", "(in + 1)·units", {"dense_params": dense_params_formula}),
    ("05_relu_and_feature_maps", "test_dense_params", "in·units + units", {"dense_params": dense_params_sum}),
    ("05_relu_and_feature_maps", "test_mnist_table", "tuples of ints", {"mnist_table": mnist_table()}),
    ("05_relu_and_feature_maps", "test_mnist_table", "lists and numpy ints", {"mnist_table": mnist_table(as_numpy=True)}),
]
