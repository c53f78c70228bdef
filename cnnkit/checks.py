"""Small helpers for the visible test cells. None of them solves an exercise."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def passed(name: str) -> None:
    """Print the line a test cell ends with when every visible check passed."""
    print(f"✅ {name}: all visible checks passed")


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest relative error between two arrays, as CS231n reports it.

    Around 1e-7 or smaller means "the same up to float32 rounding".
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def shape_str(shape: tuple[int, ...]) -> str:
    """Format a shape the way the messages print it: ``5×5`` or ``28×28×3``."""
    return "×".join(str(int(s)) for s in shape)


# --- Keras architectures -----------------------------------------------------------------
# What a visible check compares: the layer type and the settings a lesson's prose specifies.
# The expected list is written in the lesson itself (it restates the exercise text).

#: The settings compared, in the order messages print them.
LAYER_KEYS: tuple[str, ...] = ("filters", "kernel_size", "pool_size", "strides", "padding", "units",
                               "activation", "rate", "output_shape", "params")
_PAIRS = ("kernel_size", "pool_size", "strides")


def layer_facts(layer) -> dict:
    """The facts about a built Keras layer that the course checks.

    Parameters
    ----------
    layer : a layer of a model built with ``keras.Input`` (so its output shape is known).

    Returns
    -------
    dict
        ``type`` (class name, e.g. ``"Conv2D"``), the settings of ``LAYER_KEYS`` that the
        layer has (``kernel_size``, ``pool_size`` and ``strides`` as pairs, ``activation`` by
        name), ``output_shape`` without the batch axis, and ``params`` (``count_params()``).
    """
    config = layer.get_config()
    facts: dict = {"type": type(layer).__name__}
    for key in LAYER_KEYS[:-2]:
        if key in config:
            value = config[key]
            if isinstance(value, dict):  # a serialized activation object
                value = value.get("config", {}).get("name", value.get("class_name"))
            facts[key] = tuple(value) if isinstance(value, list) else value
    try:
        facts["output_shape"] = tuple(layer.output.shape[1:])
    except (AttributeError, ValueError):
        pass
    facts["params"] = int(layer.count_params()) if layer.built else 0
    return facts


def _normal(key: str, value):
    if key in _PAIRS and isinstance(value, int):
        return (value, value)
    if isinstance(value, list):
        return tuple(value)
    return value


def _describe(facts: dict) -> str:
    shown = [f"{k}={'×'.join(map(str, v)) if k in _PAIRS + ('output_shape',) else v}"
             for k, v in facts.items() if k != "type"]
    return f"{facts['type']}({', '.join(shown)})"


def architecture_problems(model, expected: Sequence[dict]) -> list[str]:
    """Compare a model's layers, in order, with a list of expected layer facts.

    Parameters
    ----------
    model : a Keras model built with ``keras.Input`` (Sequential or functional; the
        InputLayer is not counted).
    expected : one dict per layer, each with ``type`` and any keys of ``LAYER_KEYS``;
        only the keys given are compared.

    Returns
    -------
    list of str
        One message per wrong, missing or extra layer, naming the layer, what it is and
        what was expected; empty if everything matches.
    """
    # A functional model lists its InputLayer among its layers; a Sequential one does not.
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    problems = []
    for i, want in enumerate(expected):
        want = {k: _normal(k, v) for k, v in want.items()}
        if i >= len(layers):
            problems.append(f"layer {i}: missing. Expected {_describe(want)}.")
            continue
        got = layer_facts(layers[i])
        where = f"layer {i} ({got['type']} {layers[i].name!r})"
        if got["type"] != want["type"]:
            problems.append(f"{where}: is a {got['type']}, expected {_describe(want)}.")
            continue
        wrong = [f"{k} is {got.get(k)!r}, expected {v!r}" for k, v in want.items()
                 if k != "type" and _normal(k, got.get(k)) != v]
        if wrong:
            problems.append(f"{where}: " + "; ".join(wrong) + ".")
    if len(layers) > len(expected):
        extra = ", ".join(type(layer).__name__ for layer in layers[len(expected):])
        problems.append(f"layers {len(expected)}–{len(layers) - 1}: {len(layers) - len(expected)} extra ({extra}); "
                        f"expected {len(expected)} layers in all.")
    return problems


def check_architecture(model, expected: Sequence[dict], name: str = "model") -> None:
    """Print one ✅/❌ line per expected layer; raise AssertionError naming every wrong layer.

    Parameters
    ----------
    model : a Keras model built with ``keras.Input``.
    expected : as for :func:`architecture_problems`.
    name : how the messages call the model.
    """
    problems = architecture_problems(model, expected)
    for i, want in enumerate(expected):
        bad = [p for p in problems if p.startswith(f"layer {i} ") or p.startswith(f"layer {i}:")]
        print(f"{'❌' if bad else '✅'} layer {i}: {want['type']}")
    if problems:
        raise AssertionError(f"{name} differs from the specification:\n  " + "\n  ".join(problems))
