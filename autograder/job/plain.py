"""What student code hands a test is data: :class:`Plain` makes it plain before any check
reads it, so that no object decides its own comparisons.

The execute step's guard runs this module's source inside the student's kernel (the
sandbox has no course repository to import it from) and applies it before each part of a
test cell: to what the student's answer functions return, and to answer variables
(``at_3_2``, ``mnist_table``). Keras models, wherever the notebook holds one, are checked
instead of converted. Here, in a plain interpreter, it is imported and unit-tested like
any module; it needs numpy, and Keras only once a notebook has loaded it.

What comes out:

- ``None``, and values whose type is exactly Python's ``bool``, ``int``, ``float``,
  ``complex``, ``str`` or ``bytes``, or exactly one of numpy's scalar types: unchanged,
  so a test may still say "convert with int(...)".
- An exact ``np.ndarray``: unchanged, unless its dtype is ``object`` (refused).
- An ``np.ndarray`` subclass: an exact ``np.ndarray`` copy of its data, read without
  calling any of the subclass's methods.
- Exact or subclassed ``tuple``, ``list`` and ``dict``: the exact built-in type,
  item by item. Subclasses of ``int``, ``float`` and ``str``: the exact built-in value
  they hold, read with the built-in type's own method (never theirs).
- A Keras model or layer: unchanged when it and every layer in it are Keras's own
  classes and no instance attribute hides one of their methods; refused otherwise.
- Anything else: refused, with a message the student understands (:class:`NotPlain`).

Subclasses that exist before student code runs (``np.matrix``, ``OrderedDict``, …) are
converted without a note. Each conversion of a class the student wrote (and each refusal of one that defines a
comparison, conversion or numpy protocol) is noted in :attr:`Plain.flags`: the grader
marks the row ``tampered`` so that an instructor looks.
"""

from __future__ import annotations

import sys

#: Methods that let an object answer a comparison, a conversion or a numpy function
#: itself; a class the student wrote that defines one and reaches a test is reported.
PROTOCOLS = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__", "__index__", "__int__",
             "__float__", "__len__", "__iter__", "__getitem__", "__array_function__", "__array_ufunc__",
             "__array__", "__class__")
#: Instance attributes Keras itself sets over a method of the same name.
KERAS_INSTANCE_ATTRS = frozenset({"build", "quantize", "loss"})
#: How deep lists, tuples and dicts may nest.
MAX_DEPTH = 32

_EXACT = (bool, int, float, complex, str, bytes)


class NotPlain(TypeError):
    """A value the grader will not read: the message says what it was and what to return."""


def _subclasses(cls) -> set:
    found, stack = set(), [cls]
    while stack:
        c = stack.pop()
        if c not in found:
            found.add(c)
            stack.extend(type.__subclasses__(c))
    return found


def _from_numpy(cls) -> bool:
    return (getattr(cls, "__module__", "") or "").split(".")[0] == "numpy"


def _name(cls) -> str:
    module = getattr(cls, "__module__", "") or ""
    name = getattr(cls, "__qualname__", None) or getattr(cls, "__name__", "?")
    return name if module in ("builtins", "__main__") else f"{module}.{name}"


def defined_protocols(cls, stop) -> list[str]:
    """The names of :data:`PROTOCOLS` that ``cls`` or a base below ``stop`` defines itself.
    Methods that ``dataclasses`` generated (an honest ``__eq__``) do not count."""
    found = []
    for klass in type.__dict__["__mro__"].__get__(cls):
        if klass is stop or klass is object:
            break
        own = type.__dict__["__dict__"].__get__(klass)
        for name in PROTOCOLS:
            if name in own and name not in found and not _generated_by_dataclass(klass, own[name]):
                found.append(name)
    return found


def _generated_by_dataclass(klass, method) -> bool:
    code = getattr(method, "__code__", None)
    return "__dataclass_fields__" in type.__dict__["__dict__"].__get__(klass) and code is not None \
        and code.co_filename == "<string>"


class Plain:
    """The converter, made before any student code runs (it remembers numpy's own types)."""

    def __init__(self, numpy, modules=None, student_modules=("__main__",)):
        self.np = numpy
        self.ndarray = numpy.ndarray
        # numpy's own scalar types, and every subclass of an array or built-in type that
        # exists before any student code runs (np.matrix, OrderedDict…): converted, never
        # reported.
        self.scalars = frozenset(c for c in _subclasses(numpy.generic) if _from_numpy(c))
        self.student_modules = frozenset(student_modules)
        self.known = frozenset(c for base in (numpy.ndarray, int, float, str, tuple, list, dict)
                               for c in _subclasses(base) if c.__module__ not in self.student_modules)
        self.modules = sys.modules if modules is None else modules
        self.flags: list[str] = []

    # --- the entry point ---------------------------------------------------------------
    def __call__(self, value, what: str):
        """``value`` made plain; ``what`` starts the messages, e.g. "normalize returned"."""
        return self._convert(value, what, 0)

    def flag(self, text: str) -> None:
        if text not in self.flags:
            self.flags.append(text)

    def _convert(self, value, what: str, depth: int):
        kind = type(value)
        if value is None or kind in _EXACT or kind in self.scalars:
            return value
        if kind is self.ndarray:
            return self._array(value, what)
        if kind is tuple or kind is list:
            return self._sequence(value, kind, what, depth)
        if kind is dict:
            return self._dict(value, what, depth)
        if issubclass(kind, self.ndarray):
            self._note(what, kind, self.ndarray, "a plain numpy array")
            return self._array(self.ndarray.copy(self.ndarray.view(value, self.ndarray)), what)
        for base, read in ((int, int.__int__), (float, float.__float__), (str, str.__str__)):
            if issubclass(kind, base) and not issubclass(kind, self.np.generic):
                self._note(what, kind, base, f"a plain {base.__name__}")
                return read(value)
        if issubclass(kind, tuple):
            self._note(what, kind, tuple, "a plain tuple")
            return self._sequence(tuple.__getitem__(value, slice(None)), tuple, what, depth)
        if issubclass(kind, list):
            self._note(what, kind, list, "a plain list")
            return self._sequence(list.__getitem__(value, slice(None)), list, what, depth)
        if issubclass(kind, dict):
            self._note(what, kind, dict, "a plain dict")
            return self._dict(dict(dict.items(value)), what, depth)
        keras_problem = self.keras_problem(value)
        if keras_problem == "":
            return value
        protocols = defined_protocols(kind, object)
        if protocols:
            self.flag(f"{what} a {_name(kind)}, a class that defines {', '.join(protocols)} (refused)")
        raise NotPlain(f"{what} a Keras model, but {keras_problem}" if keras_problem else (
            f"{what} a {_name(kind)} object. The grader reads only plain values: numbers, strings, None, "
            "numpy arrays and numpy numbers, and tuples, lists and dicts of them (and Keras models where one is asked for)."))

    # --- pieces --------------------------------------------------------------------------
    def _array(self, array, what: str):
        if array.dtype.hasobject:
            raise NotPlain(f"{what} a numpy array of dtype {array.dtype}, which holds Python objects; "
                           "return an array of numbers (e.g. float64 or int64).")
        return array

    def _sequence(self, items, kind, what: str, depth: int):
        if depth >= MAX_DEPTH:
            raise NotPlain(f"{what} {kind.__name__}s nested more than {MAX_DEPTH} deep.")
        out = [self._convert(v, what, depth + 1) for v in items]
        if type(items) is kind and all(a is b for a, b in zip(out, items)):
            return items  # nothing to change: keep the very object
        return kind(out)

    def _dict(self, items, what: str, depth: int):
        if depth >= MAX_DEPTH:
            raise NotPlain(f"{what} dicts nested more than {MAX_DEPTH} deep.")
        pairs = [(self._convert(k, what, depth + 1), self._convert(v, what, depth + 1)) for k, v in dict.items(items)]
        if all(a is k and b is v for (a, b), (k, v) in zip(pairs, dict.items(items))):
            return items
        return dict(pairs)

    def _note(self, what: str, kind, base, graded_as: str) -> None:
        if kind in self.known or self._library_class(kind):
            return
        protocols = defined_protocols(kind, base)
        defines = f" that defines {', '.join(protocols)}" if protocols else ""
        self.flag(f"{what} a {_name(kind)}, a subclass of {_name(base)}{defines} (graded as {graded_as})")

    # --- Keras ------------------------------------------------------------------------------
    def keras_problem(self, value) -> str | None:
        """None if ``value`` is no Keras layer or model; "" if it is one made of Keras's own
        classes only; otherwise what is wrong, as a message for the student."""
        keras = self.modules.get("keras")
        layer_class = getattr(getattr(keras, "layers", None), "Layer", None)
        if not isinstance(layer_class, type) or not issubclass(type(value), layer_class):
            return None
        try:
            layers = list(layer_class._flatten_layers(value, include_self=True, recursive=True))
        except Exception as err:  # a model that cannot even list its layers
            return f"the model's layers could not be listed ({type(err).__name__}); build it from Keras's own classes."
        for layer in layers:
            kind = type(layer)
            if not self._keras_class(kind):
                self.flag(f"a Keras model holds a {_name(kind)}, a class written in the notebook (refused)")
                return (f"the model holds a {_name(kind)}, a class written in the notebook, not one of Keras's own. "
                        "Build the model from Keras's classes: keras.Sequential([...]) or keras.Model(inputs, outputs) "
                        "with keras.layers.")
            hidden = self._instance_overrides(layer)
            if hidden:
                self.flag(f"a Keras {kind.__name__} has {', '.join(hidden)} replaced on the instance (refused)")
                return (f"the model's {kind.__name__} has {', '.join(hidden)} replaced on the instance; "
                        "the grader reads only what Keras itself computes.")
        return ""

    def _library_class(self, kind) -> bool:
        """A class that a library module holds under its name (np.ma.MaskedArray, loaded
        later than the kernel started), not one the student wrote."""
        module = getattr(kind, "__module__", "") or ""
        return module not in self.student_modules and getattr(self.modules.get(module), kind.__name__, None) is kind

    def _keras_class(self, kind) -> bool:
        module = getattr(kind, "__module__", "") or ""
        return (module == "keras" or module.startswith("keras.")) and self._library_class(kind)

    @staticmethod
    def _instance_overrides(obj) -> list[str]:
        try:
            own = object.__getattribute__(obj, "__dict__")
        except AttributeError:
            return []
        out = []
        for key in list(own):
            if key in KERAS_INSTANCE_ATTRS or not isinstance(key, str):
                continue
            for klass in type.__dict__["__mro__"].__get__(type(obj)):
                if key in type.__dict__["__dict__"].__get__(klass):
                    out.append(key)
                    break
        return out


class Refused:
    """What an answer variable the grader refused is replaced by: any use raises the
    refusal's message (NotPlain), so the test that reads it fails saying why."""

    __slots__ = ("_message",)

    def __init__(self, message: str):
        object.__setattr__(self, "_message", message)

    def _refuse(self, *args, **kwargs):
        raise NotPlain(object.__getattribute__(self, "_message"))

    __getattr__ = __call__ = __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse
    __bool__ = __len__ = __iter__ = __getitem__ = __int__ = __float__ = __index__ = _refuse
    __array__ = __array_function__ = __array_ufunc__ = __hash__ = _refuse

    def __repr__(self) -> str:
        return f"<refused: {object.__getattribute__(self, '_message')}>"


class Answer:
    """A student's answer function as the tests call it: what it returns is made plain
    first. Every other attribute (``__code__``, ``__name__``, ``__doc__``…) is the
    function's own, so a test may still read how the function is written."""

    __slots__ = ("_plain", "_what", "_function", "__wrapped__")

    def __init__(self, plain: Plain, name: str, function):
        object.__setattr__(self, "_plain", plain)
        object.__setattr__(self, "_what", f"{name} returned")
        object.__setattr__(self, "_function", function)
        object.__setattr__(self, "__wrapped__", function)  # inspect.signature follows it

    def __call__(self, *args, **kwargs):
        return self._plain(self._function(*args, **kwargs), self._what)

    def __getattr__(self, attr):
        return getattr(object.__getattribute__(self, "_function"), attr)

    @property
    def __doc__(self):
        return getattr(self._function, "__doc__", None)

    def __repr__(self) -> str:
        return repr(self._function)


def answer_function(plain: Plain, name: str, function) -> Answer:
    """``function`` as the tests call it (:class:`Answer`)."""
    return Answer(plain, name, function)
