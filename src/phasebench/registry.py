"""Plugin discovery: a static scan for the Snakefile and a real import for the jobs.

Plugins come from two places: modules in the repository's `plugins/models/` and
`plugins/systems/` folders, and installed packages' entry points (groups `phasebench.models`
and `phasebench.systems`). The static scan reads names, literal class attributes and the
`__init__` signature with `ast`, so the Snakefile never imports torch. A plugin that cannot be
scanned is reported as `path:line: reason`; it never silently disappears.
"""

from __future__ import annotations

import ast
import copy
import importlib
import importlib.metadata
import importlib.util
import operator
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from phasebench.errors import PluginError

KINDS = {"models": "ModelPlugin", "systems": "System"}
# Library subclasses of the bases that plugins may subclass too, by the file (in this package)
# that defines them: the scan reads their literal attributes and `__init__` hyperparameters
# there, as it reads a base class in the plugin's own module.
LIBRARY_BASES = {
    "models": {"WindowTransformerPlugin": "layers/transformer.py"},
    "systems": {"ParticleSystem": "particles.py", "PairPotential": "particles.py"},
}
LIBRARY = Path(__file__).resolve().parent
ENTRY_POINT_GROUPS = {"models": "phasebench.models", "systems": "phasebench.systems"}
_NO_DEFAULT = object()
# Plugin and variant names become folders and file names (results/runs/{system}/{model}/...) and
# Snakemake wildcard values; some would collide with the pipeline's own outputs.
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=,+\-\[\]]*")
RESERVED_NAMES = {
    "models": {
        "all": "'models: all' means every plugin",
        "numerical": "results/eval/{system}/numerical/ holds the integrators' rows",
    },
    "systems": {
        "index": "results/reports/index.html is the overview",
        "studies": "results/reports/studies/ holds the studies",
        "completed.txt": "results/runs/completed.txt says that every run completed",
    },
}


def name_problem(kind: str, name) -> str | None:
    """Why `name` cannot name a model (variant) or system, or None when it can."""
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
        return (
            f"{kind[:-1]} name {name!r} is not path-safe: use letters, digits and _ . = , + - "
            "[ ], starting with a letter, digit or _"
        )
    if name in RESERVED_NAMES[kind]:
        return f"{kind[:-1]} name '{name}' is reserved ({RESERVED_NAMES[kind][name]})"
    return None


@dataclass(frozen=True)
class Hparam:
    name: str
    annotation: str | None  # as written in the source, e.g. "int"
    default: object


@dataclass(frozen=True)
class PluginInfo:
    kind: str  # "models" or "systems"
    name: str
    class_name: str
    module: str  # importable module path, e.g. "plugins.models.resnet"
    path: Path
    line: int
    attrs: dict = field(default_factory=dict)  # literal class attributes
    hparams: tuple[Hparam, ...] = ()
    origin: str = "plugins folder"
    methods: frozenset[str] = frozenset()  # defined in the class (or a local base class)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def repo_root() -> Path:
    """The repository that holds `plugins/`: $PHASEBENCH_ROOT, else the checkout of this package."""
    if env := os.environ.get("PHASEBENCH_ROOT"):
        return Path(env).resolve()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "plugins").is_dir():
        return checkout
    raise PluginError(
        "cannot find the plugins/ folder: set PHASEBENCH_ROOT to the phasebench repository"
    )


def working_root(cwd: Path | None = None) -> Path:
    """The repository whose plugins the `phasebench plugins` commands use: $PHASEBENCH_ROOT when
    set; else the phasebench checkout in the working directory (a plugins/ folder next to a
    Snakefile); else the checkout of the installed package."""
    if os.environ.get("PHASEBENCH_ROOT"):
        return repo_root()
    here = Path.cwd() if cwd is None else Path(cwd)
    if (here / "plugins").is_dir() and (here / "Snakefile").is_file():
        return here.resolve()
    try:
        return repo_root()
    except PluginError:
        raise PluginError(
            f"{here} is no phasebench checkout (a plugins/ folder next to a Snakefile) and the "
            "installed package has none: run this in a checkout or set PHASEBENCH_ROOT"
        ) from None


# --------------------------------------------------------------------------------------------
# Static scan (no imports)
# --------------------------------------------------------------------------------------------


# Arithmetic on number literals that the scan folds, so that `"I3": 2.0 / 3.0` is a literal.
_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}
_ARITHMETIC[ast.Div] = operator.truediv


def _number(node: ast.AST) -> bool:
    value = getattr(node, "value", None)
    return isinstance(node, ast.Constant) and isinstance(value, int | float)


class _FoldArithmetic(ast.NodeTransformer):
    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, ast.USub | ast.UAdd) and _number(node.operand):
            sign = -1 if isinstance(node.op, ast.USub) else 1
            return ast.Constant(sign * node.operand.value)
        return node

    def visit_BinOp(self, node):
        self.generic_visit(node)
        op = _ARITHMETIC.get(type(node.op))
        if op is None or not (_number(node.left) and _number(node.right)):
            return node
        try:
            return ast.Constant(op(node.left.value, node.right.value))
        except ArithmeticError:
            return node


def _literal(node: ast.AST):
    try:
        return ast.literal_eval(_FoldArithmetic().visit(copy.deepcopy(node)))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NO_DEFAULT


def _class_attrs(cls: ast.ClassDef) -> dict:
    attrs = {}
    for stmt in cls.body:
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        else:
            continue
        literal = _literal(value)
        if literal is _NO_DEFAULT:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                attrs[target.id] = literal
    return attrs


def _methods(cls: ast.ClassDef) -> set[str]:
    return {s.name for s in cls.body if isinstance(s, ast.FunctionDef)}


def _has_init(cls: ast.ClassDef) -> bool:
    return any(isinstance(s, ast.FunctionDef) and s.name == "__init__" for s in cls.body)


def _init_hparams(cls: ast.ClassDef, path: Path) -> tuple[Hparam, ...]:
    """Keyword arguments of `__init__(self, spec, ...)`: the plugin's hyperparameters."""
    init = next(
        (s for s in cls.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None
    )
    if init is None:
        return ()
    args = init.args
    positional = args.posonlyargs + args.args
    # self, spec, then hyperparameters; defaults align with the tail of the positional list.
    defaults = [_NO_DEFAULT] * (len(positional) - len(args.defaults)) + list(args.defaults)
    pairs = list(zip(positional, defaults, strict=True))[2:]
    pairs += list(zip(args.kwonlyargs, args.kw_defaults, strict=True))
    hparams = []
    for arg, default in pairs:
        value = _literal(default) if isinstance(default, ast.expr) else _NO_DEFAULT
        if default is not None and default is not _NO_DEFAULT and value is _NO_DEFAULT:
            raise PluginError(
                f"{path}:{arg.lineno}: hyperparameter '{arg.arg}' of {cls.name} needs a literal "
                "default (a number, string, bool, tuple or None)"
            )
        if value is _NO_DEFAULT:
            raise PluginError(
                f"{path}:{arg.lineno}: hyperparameter '{arg.arg}' of {cls.name} has no default; "
                "every hyperparameter needs one"
            )
        annotation = ast.unparse(arg.annotation) if arg.annotation is not None else None
        hparams.append(Hparam(arg.arg, annotation, value))
    return tuple(hparams)


def _library_bases(kind: str) -> dict[str, dict]:
    """The library bases of `kind` as the scan records a local base: attrs, hparams, methods.
    A base's own bases in the same file count too (PairPotential inherits ParticleSystem's)."""
    bases: dict[str, dict] = {}
    for name, file in LIBRARY_BASES[kind].items():
        path = LIBRARY / file
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
        chain: list[ast.ClassDef] = []
        node: ast.ClassDef | None = classes[name]
        while node is not None:
            chain.append(node)
            node = next((classes[b] for b in map(_base_name, node.bases) if b in classes), None)
        attrs: dict = {}
        for node in reversed(chain):  # the farthest base first, so that subclasses override
            inherited = {k: v for k, v in attrs.items() if k != "abstract"}
            attrs = {**inherited, **_class_attrs(node)}
        bases[name] = {
            "attrs": attrs,
            "hparams": _init_hparams(chain[0], path) if kind == "models" else (),
            "methods": frozenset().union(*(_methods(n) for n in chain)),
        }
    return bases


def _own_hparams(node: ast.ClassDef, path: Path, parent: dict | None) -> tuple[Hparam, ...]:
    """A model class's hyperparameters: its `__init__`'s; with `**kwargs` there (passed on to
    the base), the base's first and then its own; without an `__init__`, the base's."""
    if not _has_init(node):
        return parent["hparams"] if parent else ()
    own = _init_hparams(node, path)
    init = next(s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == "__init__")
    if init.args.kwarg is None or parent is None:
        return own
    names = {h.name for h in own}
    return tuple(h for h in parent["hparams"] if h.name not in names) + own


def _base_name(node: ast.expr) -> str | None:
    """`Base` of `class C(Base)` or `class C(module.Base)`."""
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)


def _is_plugin_class(cls: ast.ClassDef, bases: set[str], local_plugins: set[str]) -> bool:
    return any(_base_name(b) in bases | local_plugins for b in cls.bases)


def scan_file(path: Path, kind: str, module: str, origin: str = "plugins folder") -> list:
    """Every plugin class in one module, read without importing it."""
    base = KINDS[kind]
    bases = {base} | set(LIBRARY_BASES[kind])
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except SyntaxError as err:
        raise PluginError(f"{path}:{err.lineno}: syntax error: {err.msg}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise PluginError(f"{path}: cannot be read: {err}") from None
    # Local plugin classes (abstract ones too) by name: a subclass inherits their literal
    # attributes, and their hyperparameters when it defines no __init__ of its own.
    found, known = [], _library_bases(kind)
    local = dict(known)
    for node in tree.body:
        if not isinstance(node, ast.ClassDef) or not _is_plugin_class(node, bases, set(local)):
            continue
        parent = next((local[n] for n in map(_base_name, node.bases) if n in local), None)
        # `abstract` is not inherited: a concrete subclass of an abstract base is a plugin.
        inherited = {k: v for k, v in (parent or {"attrs": {}})["attrs"].items() if k != "abstract"}
        attrs = {**inherited, **_class_attrs(node)}
        hparams = _own_hparams(node, path, parent) if kind == "models" else ()
        methods = frozenset(_methods(node) | (parent or {"methods": set()})["methods"])
        local[node.name] = {"attrs": attrs, "hparams": hparams, "methods": methods}
        if attrs.get("abstract"):
            continue
        name = attrs.get("name")
        if not isinstance(name, str) or not name:
            raise PluginError(
                f'{path}:{node.lineno}: plugin class {node.name} needs a literal name = "..."'
            )
        if problem := name_problem(kind, name):
            raise PluginError(f"{path}:{node.lineno}: plugin class {node.name}: {problem}")
        found.append(
            PluginInfo(
                kind, name, node.name, module, path, node.lineno, attrs, hparams, origin, methods
            )
        )
    if not found:
        raise PluginError(
            f"{path}:1: no plugin class found; a {kind[:-1]} plugin defines a class that "
            f"subclasses phasebench.{base}"
        )
    return found


def _folder_modules(root: Path, kind: str):
    for path in sorted((root / "plugins" / kind).glob("*.py")):
        if not path.name.startswith("_"):
            yield path, f"plugins.{kind}.{path.stem}", "plugins folder", None


def _entry_point_modules(kind: str):
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUPS[kind]):
        module, _, attr = ep.value.partition(":")
        origin = f"entry point {ep.name} = {ep.value}"
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            yield None, module, origin, attr
        else:
            yield Path(spec.origin), module, origin, attr


def discover(kind: str, root: Path | None = None) -> tuple[dict[str, PluginInfo], list[str]]:
    """All plugins of one kind by name, and one `path:line: reason` per broken plugin."""
    root = root or repo_root()
    plugins: dict[str, PluginInfo] = {}
    problems: list[str] = []
    modules = list(_folder_modules(root, kind)) + list(_entry_point_modules(kind))
    for path, module, origin, attr in modules:
        if path is None:
            problems.append(f"{origin}: module {module} cannot be found")
            continue
        try:
            found = scan_file(path, kind, module, origin)
        except PluginError as err:
            problems.append(str(err))
            continue
        if attr:
            found = [info for info in found if info.class_name == attr]
            if not found:
                problems.append(f"{origin}: {module} has no plugin class named {attr}")
        for info in found:
            if info.name in plugins:
                problems.append(
                    f"{info.where}: {kind[:-1]} name '{info.name}' is already used by "
                    f"{plugins[info.name].where}; plugin names must be unique"
                )
            else:
                plugins[info.name] = info
    return plugins, problems


def scan(kind: str, root: Path | None = None) -> dict[str, PluginInfo]:
    """All plugins of one kind by name; the first broken plugin stops it with its reason."""
    plugins, problems = discover(kind, root)
    if problems:
        raise PluginError(problems[0])
    return plugins


# --------------------------------------------------------------------------------------------
# Real import (jobs and `phasebench plugins check`)
# --------------------------------------------------------------------------------------------


def load_class(info: PluginInfo) -> type:
    """Import a scanned plugin's class; folder plugins are imported as packages (picklable)."""
    if info.origin == "plugins folder":
        root = str(info.path.parents[2])
        if root not in sys.path:
            sys.path.insert(0, root)
    try:
        module = importlib.import_module(info.module)
    except Exception as err:  # any failure inside a user's module is that plugin's fault
        raise PluginError(f"{info.where}: import failed: {type(err).__name__}: {err}") from err
    if Path(module.__file__ or "").resolve() != info.path.resolve():
        raise PluginError(
            f"{info.where}: import found {module.__file__} instead; another 'plugins' package "
            "shadows this repository's (one process serves one repository)"
        )
    cls = getattr(module, info.class_name, None)
    if cls is None or getattr(cls, "name", None) != info.name:
        raise PluginError(
            f"{info.where}: class {info.class_name} with name '{info.name}' not found"
        )
    return cls


def plugin_class(kind: str, name: str, root: Path | None = None) -> type:
    plugins = scan(kind, root)
    if name not in plugins:
        raise PluginError(
            f"unknown {kind[:-1]} '{name}'; available: {', '.join(sorted(plugins)) or 'none'}"
        )
    return load_class(plugins[name])
