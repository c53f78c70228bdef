"""The grader's guard, installed in a student's kernel before any student code runs.

The execute step (autograder/job/execute.py) runs this module's source in the kernel
(the sandbox has no course repository to import it from) and calls :func:`install`; then,
before and after each part of each test cell, it evaluates ``restore()`` of the module
object the guard leaves in ``sys.modules["_course_guard"]``:

- the names the release imports (``np``, ``passed``…) are bound again to the module
  objects the import system loaded for them, and their ``sys.modules`` entries restored;
- builtins, names that shadow them, numpy's comparison functions, IPython's traceback
  display, input and AST transformers and event callbacks are restored;
- the answer names (what the tests read from the student alone) are made plain
  (:mod:`autograder.job.plain`): answer functions return plain results, answer
  variables are converted, Keras models anywhere in the namespace are checked.

``restore()`` returns ``[changed, flags]``: what had to be undone (after a test part, that
part changed it: the test does not count), and what the plain conversion noted since the
last call. In a plain interpreter the module imports like any other, and :func:`install`
takes an ``InteractiveShell`` (tests/grader/test_guard.py).
"""

import ast
import builtins
import copy
import sys
import types

MISSING = object()
#: numpy functions the tests compare with; restored before each test part.
NUMPY_FUNCTIONS = ("allclose", "isclose", "array_equal", "array_equiv", "all", "any", "abs", "max", "min", "sum",
                   "asarray", "array", "isfinite")
#: IPython methods student code could replace on the shell itself.
SHELL_METHODS = ("showtraceback", "_showtraceback", "showsyntaxerror", "run_cell", "run_cell_async", "run_ast_nodes",
                 "run_code", "transform_cell", "transform_ast", "should_run_async", "user_expressions",
                 "_format_user_obj")
#: Builtins IPython adds and removes itself.
QUIET = ("_", "exit", "quit", "get_ipython")
PRINTERS = ("type_printers", "deferred_printers", "singleton_printers")


def parse_imports(imports: list[str]):
    """(bindings, watch, wanted) of the release's import statements: (name, module, attr)
    per bound name, every dotted module path to watch, and the attributes wanted per module."""
    bindings, watch, wanted = [], set(), {}
    for stmt in imports:
        try:
            nodes = ast.parse(stmt).body
        except SyntaxError:
            continue
        for node in nodes:
            if isinstance(node, ast.Import):
                for a in node.names:
                    parts = a.name.split(".")
                    watch.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
                    bindings.append((a.asname, a.name, None) if a.asname else (parts[0], parts[0], None))
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                parts = node.module.split(".")
                watch.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
                for a in node.names:
                    if a.name != "*":
                        watch.add(node.module + "." + a.name)
                        wanted.setdefault(node.module, set()).add(a.name)
                        bindings.append((a.asname or a.name, node.module, a.name))
    return bindings, watch, wanted


class Recorder:
    """First on sys.meta_path: notes the module objects the import system loads for the
    watched names, so that the guard binds those and nothing a student put in their place."""

    def __init__(self, guard):
        self.guard = guard
        self.recording = {}

    def find_spec(self, name, path=None, target=None):
        guard = self.guard
        if name not in guard.watch or name in guard.genuine:
            return None
        try:
            for finder in sys.meta_path:
                find = getattr(finder, "find_spec", None)
                if finder is self or find is None:
                    continue
                spec = find(name, path, target)
                if spec is not None:
                    break
            else:
                return None
            guard.found.add(name)
            loader = copy.copy(spec.loader)
            loader.__class__ = self.recording_class(type(spec.loader))
            spec.loader = loader
            return spec
        except Exception:
            return None

    def recording_class(self, cls):
        if cls not in self.recording:
            keep = self.guard.keep

            def exec_module(loader, module, _cls=cls):
                _cls.exec_module(loader, module)
                keep(module.__name__, sys.modules.get(module.__name__, module))
            self.recording[cls] = type(cls.__name__, (cls,), {"exec_module": exec_module})
        return self.recording[cls]


class Guard:
    """What the kernel looked like before any student code ran, and how to get back to it."""

    def __init__(self, ip, imports, answers, plain_module):
        import numpy
        import numpy.testing

        self.ip, self.numpy, self.P = ip, numpy, plain_module
        self.plain = plain_module.Plain(numpy)
        self.answers = list(answers)
        self.given = {}    # answer name -> what the guard left bound to it (an Answer, a plain value, a Refused)
        self.checked = {}  # namespace name -> the Keras model or layer checked there
        self.np = {n: getattr(numpy, n) for n in NUMPY_FUNCTIONS}
        self.npt = {n: getattr(numpy.testing, n) for n in dir(numpy.testing) if n.startswith("assert")}
        self.builtins = dict(vars(builtins))
        self.cleanup, self.post = list(ip.input_transformers_cleanup), list(ip.input_transformers_post)
        self.ast = list(ip.ast_transformers)
        self.events = {k: list(v) for k, v in ip.events.callbacks.items()}
        self.excepthook = sys.excepthook
        self.ns, self.user_module = ip.user_ns, ip.user_module
        fmt = ip.display_formatter
        self.formatter = (fmt, dict(fmt.formatters))
        self.text_plain = fmt.formatters["text/plain"]
        self.printers = {k: dict(getattr(self.text_plain, k)) for k in PRINTERS}
        # Builtin names a user_ns entry may shadow, and what IPython itself put there.
        self.shadow = {k for k in vars(builtins) if not k.startswith("_")}
        self.ns0 = {k: self.ns[k] for k in self.shadow if k in self.ns}
        # The names the release imports, bound to what the import system loaded.
        self.bindings, self.watch, self.wanted = parse_imports(imports)
        self.genuine, self.attrs, self.found = {}, {}, set()
        for name in self.watch:
            if name in sys.modules:  # loaded before any student code: genuine
                self.keep(name, sys.modules[name])
                self.found.add(name)
        self.finder = Recorder(self)
        sys.meta_path.insert(0, self.finder)

    def keep(self, name, module):
        self.genuine[name] = module
        d = getattr(module, "__dict__", {})
        self.attrs[name] = {a: d[a] for a in self.wanted.get(name, ()) if a in d}

    def trusted(self) -> dict:
        """{name: object} the release's imports bind, as the import system loaded them."""
        out, clash = {}, set()
        for name, mod, attr in self.bindings:
            value = self.genuine.get(mod if attr is None else mod + "." + attr, MISSING)
            if value is MISSING and attr is not None:
                value = self.attrs.get(mod, {}).get(attr, MISSING)
            if value is MISSING:
                continue
            if name in out and out[name] is not value:
                clash.add(name)
            out[name] = value
        for name in clash:
            del out[name]
        return out

    # --- the steps of restore(): each appends what it had to undo ------------------------
    def restore_numpy(self, changed):
        for module, saved, prefix in ((self.numpy, self.np, "numpy."), (self.numpy.testing, self.npt, "numpy.testing.")):
            for k, v in saved.items():
                if getattr(module, k, None) is not v:
                    setattr(module, k, v)
                    changed.append(prefix + k)

    def restore_builtins(self, changed):
        for k in list(vars(builtins)):
            if k not in self.builtins:
                delattr(builtins, k)
                if k not in QUIET:
                    changed.append("builtins." + k)
        for k, v in self.builtins.items():
            if vars(builtins).get(k, MISSING) is not v:
                setattr(builtins, k, v)
                if k not in QUIET:
                    changed.append("builtins." + k)

    def restore_modules(self, changed):
        if sys.meta_path[:1] != [self.finder]:
            sys.meta_path[:] = [self.finder] + [f for f in sys.meta_path if f is not self.finder]
            changed.append("sys.meta_path")
        for name in self.watch:
            mod = sys.modules.get(name, MISSING)
            if name in self.genuine:
                if mod is not self.genuine[name]:
                    sys.modules[name] = self.genuine[name]
                    changed.append("sys.modules[%r]" % name)
            elif mod is not MISSING and name not in self.found:
                del sys.modules[name]  # put there by hand, not loaded: the next import loads the real one
                changed.append("sys.modules[%r]" % name)

    def restore_ipython(self, changed):
        ip = self.ip
        for attr in SHELL_METHODS:
            if ip.__dict__.pop(attr, None) is not None:
                changed.append("get_ipython()." + attr)
        ip.input_transformers_cleanup[:] = self.cleanup
        ip.input_transformers_post[:] = self.post
        ip.ast_transformers[:] = self.ast
        for k, v in self.events.items():
            ip.events.callbacks[k][:] = v
        sys.excepthook = self.excepthook
        fmt, formatters = self.formatter
        ip.display_formatter = fmt
        fmt.__dict__.pop("format", None)
        fmt.formatters.clear()
        fmt.formatters.update(formatters)
        for k, v in self.printers.items():
            getattr(self.text_plain, k).clear()
            getattr(self.text_plain, k).update(v)
        if ip.user_ns is not self.ns or ip.user_module is not self.user_module:
            ip.user_ns, ip.user_module = self.ns, self.user_module
            changed.append("get_ipython().user_ns")

    def restore_names(self, changed):
        ns = self.ns
        if ns.get("__builtins__") is not builtins:
            ns["__builtins__"] = builtins
            changed.append("__builtins__")
        names = self.trusted()
        for k, v in names.items():
            if ns.get(k, MISSING) is not v:
                ns[k] = v
                changed.append(k)
        for k in self.shadow:
            if k in names or k not in ns:
                continue
            if k not in self.ns0:
                del ns[k]
                changed.append(k)
            elif ns[k] is not self.ns0[k]:
                ns[k] = self.ns0[k]
                changed.append(k)

    def make_answer(self, name, value):
        """What the tests read under an answer's name: a function whose results are made
        plain, a Keras model that passed its check, a plain value, or a Refused."""
        P = self.P
        problem = self.plain.keras_problem(value)
        if problem == "":
            return value
        if problem is None and callable(value):
            return P.answer_function(self.plain, name, value)
        try:
            if problem:
                raise P.NotPlain(f"{name} is a Keras model, but {problem}")
            return self.plain(value, name + " is")
        except P.NotPlain as err:
            return P.Refused(str(err))

    def plain_answers(self, changed):
        ns = self.ns
        for name in self.answers:
            value = ns.get(name, MISSING)
            if value is MISSING:
                self.given.pop(name, None)
            elif name not in self.given or value is not self.given[name]:
                if name in self.given:  # rebound since the guard last ran (while a test ran, if called after one)
                    changed.append(name)
                self.given[name] = ns[name] = self.make_answer(name, value)
        for name, value in list(ns.items()):  # Keras models wherever the notebook keeps one
            if self.checked.get(name, MISSING) is value or name in self.given:
                continue
            problem = self.plain.keras_problem(value)
            if problem:
                ns[name] = value = self.P.Refused(f"{name} is a Keras model, but {problem}")
            if problem is not None:
                self.checked[name] = value

    def restore(self):
        """Undo what student code changed; return [what had to be undone, what the plain
        conversion noted since the last call]."""
        changed = []
        for step in (self.restore_numpy, self.restore_builtins, self.restore_modules, self.restore_ipython,
                     self.restore_names, self.plain_answers):
            try:
                step(changed)
            except Exception as err:  # what cannot be restored counts as changed
                changed.append("%s failed: %s" % (step.__name__, type(err).__name__))
        flags, self.plain.flags[:] = list(self.plain.flags), []
        return [changed, flags]


def install(imports, answers, plain_source, ip=None) -> Guard:
    """Record the kernel as it is (before any student code) and leave the guard in
    ``sys.modules["_course_guard"]``. ``plain_source`` is plain.py's text: the kernel cannot
    import it."""
    if ip is None:
        from IPython import get_ipython
        ip = get_ipython()
    plain_module = types.ModuleType("_course_guard.plain")
    exec(compile(plain_source, "<the grader's plain.py>", "exec"), plain_module.__dict__)
    guard = Guard(ip, imports, answers, plain_module)
    module = types.ModuleType("_course_guard")  # what the execute step calls: restore()
    module.guard, module.restore = guard, guard.restore
    sys.modules["_course_guard"] = module
    return guard
