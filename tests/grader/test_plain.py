"""autograder.job.plain in a plain interpreter: what student code hands a test is made
plain (exact numpy and Python types), whatever object it was, and a value that would
decide its own comparison never reaches a check.

The same module runs inside the grader's kernels (tests/grader/test_hostile.py grades students
who try it, through the real grader and sandbox)."""

from __future__ import annotations

import collections
import dataclasses
import types

import numpy as np
import pytest

from autograder.job import plain as plain_module
from autograder.job.plain import NotPlain, Plain, Refused, answer_function


@pytest.fixture
def plain():
    """As in a kernel, where the classes below would be the student's (__main__)."""
    return Plain(np, student_modules=("__main__", __name__))


# --- the liars ---------------------------------------------------------------------------
class LiarArray(np.ndarray):
    """An array whose numpy functions and comparisons always agree."""

    def __array_function__(self, func, types_, args, kwargs):
        return True

    def __eq__(self, other):
        return True

    def __getitem__(self, index):
        return LiarArray.__new__(LiarArray, (1,))


class Agree(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__

    def __int__(self):
        return 3


class AgreeFloat(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__

    def __float__(self):
        return 1.0


class Shape(tuple):
    def __eq__(self, other):
        return True

    __hash__ = tuple.__hash__

    def __iter__(self):
        return iter((3, 3))


class Rows(list):
    def __getitem__(self, index):
        return 12

    def __len__(self):
        return 8


class Everything:
    def __eq__(self, other):
        return True


class Masked:
    """Claims to be an ndarray to isinstance."""

    @property
    def __class__(self):
        return np.ndarray


def test_ndarray_subclass_becomes_an_exact_copy_of_its_data(plain):
    liar = (np.arange(4, dtype=np.float64) / 256).view(LiarArray)
    out = plain(liar, "normalize returned")
    assert type(out) is np.ndarray and out.dtype == np.float64
    assert np.array_equal(out, np.arange(4) / 256) and not np.allclose(out, np.arange(4) / 255)
    out[0] = 7  # a copy: the student's object is untouched
    assert np.ndarray.view(liar, np.ndarray)[0] == 0
    assert plain.flags == ["normalize returned a test_plain.LiarArray, a subclass of numpy.ndarray that defines "
                           "__eq__, __getitem__, __array_function__ (graded as a plain numpy array)"]


def test_int_float_tuple_list_dict_subclasses_give_the_value_they_hold(plain):
    got = plain(Agree(0), "output_size returned")
    assert type(got) is int and got == 0, "the int's own value, not what its __int__ says"
    got = plain(AgreeFloat(0.5), "at_3_2 is")
    assert type(got) is float and got == 0.5
    got = plain(Shape((1, 2)), "same_padding returned")
    assert type(got) is tuple and got == (1, 2), "read with tuple's own methods, not the subclass's __iter__"
    got = plain(Rows([((26, 26, 32), Agree(320))]), "mnist_table is")
    assert type(got) is list and got == [((26, 26, 32), 320)] and type(got[0][1]) is int
    got = plain(collections.OrderedDict(a=Agree(1)), "layer_budget returned")
    assert type(got) is dict and got == {"a": 1} and type(got["a"]) is int
    assert len(plain.flags) == 6 and all("subclass of" in f for f in plain.flags), plain.flags
    assert not any("OrderedDict" in f for f in plain.flags), "the standard library's own classes are not reported"


def test_plain_values_pass_unchanged_and_keep_their_identity(plain):
    array = np.arange(6).reshape(2, 3)
    nested = [((26, 26, 32), 320), ((13, 13, 32), 0)]
    for value in (None, True, 3, 2.5, 1j, "relu", b"x", np.float32(0.5), np.int64(3), np.bool_(True), array, nested,
                  (1, 2), {"type": "conv"}):
        assert plain(value, "f returned") is value
    assert type(plain(np.int64(3), "f returned")) is np.int64, "numpy scalars stay numpy scalars (int(...) hints)"
    assert plain.flags == []


def test_numpy_subclasses_are_converted_without_a_flag(plain):
    out = plain(np.ma.masked_array([1.0, 2.0], mask=[0, 1]), "f returned")
    assert type(out) is np.ndarray and out.tolist() == [1.0, 2.0]
    with pytest.warns(PendingDeprecationWarning):  # numpy's word on np.matrix
        assert type(plain(np.matrix([[1, 2]]), "f returned")) is np.ndarray
    assert plain.flags == []


@pytest.mark.parametrize("value, words", [
    (Everything(), "a test_plain.Everything object"),
    (Masked(), "a test_plain.Masked object"),
    (np.array([Everything()], dtype=object), "dtype object"),
    ({1, 2}, "a set object"),
    (lambda: 1, "a function object"),
])
def test_anything_else_is_refused_with_a_message_the_student_understands(plain, value, words):
    with pytest.raises(NotPlain) as err:
        plain(value, "normalize returned")
    assert str(err.value).startswith("normalize returned") and words in str(err.value), str(err.value)


def test_a_refused_class_that_defines_protocols_is_flagged_and_a_dataclass_is_not(plain):
    with pytest.raises(NotPlain):
        plain(Everything(), "f returned")
    assert plain.flags == ["f returned a test_plain.Everything, a class that defines __eq__ (refused)"]

    @dataclasses.dataclass
    class Point:
        x: int

    plain.flags.clear()
    with pytest.raises(NotPlain):
        plain(Point(1), "f returned")
    assert plain.flags == [], "dataclasses generate __eq__; an honest student is not accused"
    Pair = collections.namedtuple("Pair", "a b")
    assert plain(Pair(1, 2), "f returned") == (1, 2)
    assert "defines" not in plain.flags[0], plain.flags


def test_a_class_made_with_type_is_caught_like_a_class_statement(plain):
    Lie = type("Lie", (int,), {"__eq__": lambda self, other: True, "__hash__": int.__hash__})
    assert plain(Lie(5), "f returned") == 5 and type(plain(Lie(5), "f returned")) is int
    assert "defines __eq__" in plain.flags[0]


def test_deep_nesting_is_refused(plain):
    value: list = []
    for _ in range(plain_module.MAX_DEPTH + 2):
        value = [value]
    with pytest.raises(NotPlain, match="nested"):
        plain(value, "f returned")


def test_answer_function_returns_plain_results_and_passes_exceptions_through(plain):
    def output_size(n, f):
        if f > n:
            raise ValueError("kernel larger than the input")
        return Agree(n - f + 1)

    wrapped = answer_function(plain, "output_size", output_size)
    got = wrapped(5, 3)
    assert type(got) is int and got == 3 and wrapped.__name__ == "output_size" and wrapped.__wrapped__ is output_size
    with pytest.raises(ValueError, match="kernel larger"):
        wrapped(2, 3)


def test_refused_raises_its_message_on_any_use():
    r = Refused("mnist_table is a Rows object …")
    for use in (lambda: r == 1, lambda: len(r), lambda: r[0], lambda: list(r), lambda: bool(r), lambda: r.shape,
                lambda: int(r), lambda: np.asarray(r) + 1, lambda: r()):
        with pytest.raises(NotPlain, match="mnist_table is a Rows object"):
            use()
    assert "mnist_table" in repr(r)


# --- Keras models ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keras():
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


def small_model(keras, cls=None):
    cls = cls or keras.Sequential
    return cls([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3), keras.layers.Flatten(),
                keras.layers.Dense(3, activation="softmax")])


def test_keras_models_of_keras_classes_pass_unchanged(plain, keras):
    model = small_model(keras)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(np.zeros((2, 4, 4, 1)), np.zeros(2), verbose=0)
    assert plain(model, "build_cnn_model returned") is model
    inputs = keras.Input((4,))
    functional = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    assert plain(functional, "build_lenet returned") is functional and plain.flags == []


def test_a_lying_keras_model_is_refused_and_flagged(plain, keras):
    class Counted(keras.Sequential):
        def count_params(self):
            return 101_770

    with pytest.raises(NotPlain, match="Counted, a class written in the notebook"):
        plain(small_model(keras, Counted), "build_dense_model returned")
    assert plain.flags and "refused" in plain.flags[0]

    class Wide(keras.layers.Dense):
        pass

    model = keras.Sequential([keras.Input((3,)), Wide(2)])
    with pytest.raises(NotPlain, match="Wide"):
        plain(model, "build_dense_model returned")

    model = small_model(keras)
    model.count_params = lambda: 101_770
    with pytest.raises(NotPlain, match="count_params replaced on the instance"):
        plain(model, "build_dense_model returned")
    layer = small_model(keras)
    layer.layers[0].compute_output_shape = lambda shape: (None, 26, 26, 32)
    with pytest.raises(NotPlain, match="compute_output_shape"):
        plain(layer, "build_cnn_model returned")


def test_the_source_runs_as_the_kernel_runs_it():
    """The guard execs this module's source text in a fresh namespace (no import of autograder)."""
    from autograder.job.execute import PLAIN_SOURCE

    module = types.ModuleType("fresh")
    exec(compile(PLAIN_SOURCE, "<the grader's plain.py>", "exec"), module.__dict__)
    fresh = module.Plain(np, student_modules=("__main__", __name__))
    assert type(fresh(Agree(0), "f returned")) is int and fresh.flags
