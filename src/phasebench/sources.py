"""The project's source files that a job runs, listed as rule inputs so that editing a library
module reruns the jobs that use it, and only those (`layers/feedforward.py` retrains the models
built from it, not `resnet`).

A static scan with `ast` (no imports: the Snakefile never loads torch). A file depends on the
modules that define the names it imports, followed through a package's re-exports (`from
phasebench.layers import WindowTransformer` is `layers/transformer.py`, not every layer), and on
what those import in turn; imports inside functions count, since they run when the function
does. Only the project's own packages are followed, `phasebench` and the checkout's `plugins`;
other packages are dependencies pinned by the lock file. Notebooks count by their code cells.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

LIBRARY = Path(__file__).resolve().parent  # the phasebench package the jobs import


class Sources:
    """Source files of the library and of the plugins of the checkout at `root`."""

    def __init__(self, root: Path):
        self.packages = {"phasebench": LIBRARY, "plugins": Path(root).resolve() / "plugins"}
        self._imports: dict[Path, list[tuple[str, str | None]]] = {}
        self._closures: dict[tuple, list[str]] = {}

    def of(self, *starts: str | Path) -> list[str]:
        """Sorted paths of the files that running `starts` executes: module names
        (`phasebench.training`) with their files, and files (a plugin, a notebook) without
        themselves, since those are a rule's inputs already."""
        if starts not in self._closures:
            given = {Path(s).resolve() for s in starts if _is_file(s)}
            files = given | {self.module_file(s) for s in starts if not _is_file(s)}
            files.discard(None)
            seen, todo = set(), list(files)
            while todo:
                path = todo.pop()
                if path not in seen:
                    seen.add(path)
                    todo.extend(self._dependencies(path))
            self._closures[starts] = sorted(str(p) for p in seen - given)
        return self._closures[starts]

    def module_file(self, name: str) -> Path | None:
        """The file of module `name` in one of the project's packages, or None."""
        top, *rest = name.split(".")
        if top not in self.packages:
            return None
        path = self.packages[top].joinpath(*rest)
        if (path / "__init__.py").is_file():
            return path / "__init__.py"
        return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None

    def _module_name(self, path: Path) -> str | None:
        for top, base in self.packages.items():
            if path.is_relative_to(base):
                parts = [top, *path.relative_to(base).with_suffix("").parts]
                return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        return None

    def _dependencies(self, path: Path) -> set[Path]:
        found = set()
        for module, name in self._imports_of(path):
            target = self._defining_file(module, name) if name else self.module_file(module)
            if target is not None:
                found.add(target)
        return found

    def _defining_file(self, module: str, name: str, depth: int = 0) -> Path | None:
        """The file that defines `name` as `from module import name` sees it."""
        if name != "*" and (submodule := self.module_file(f"{module}.{name}")) is not None:
            return submodule
        path = self.module_file(module)
        if path is None or path.name != "__init__.py" or depth > 20:
            return path
        for source, imported in self._imports_of(path):
            if imported == name:  # re-exported from a submodule
                return self._defining_file(source, name, depth + 1) or path
        return path  # defined in the package itself (or lazily)

    def _imports_of(self, path: Path) -> list[tuple[str, str | None]]:
        """(module, name) per imported name; name None for `import module`."""
        if path not in self._imports:
            self._imports[path] = list(self._scan(path))
        return self._imports[path]

    def _scan(self, path: Path):
        here = self._module_name(path)
        package = here if path.name == "__init__.py" else (here or "").rpartition(".")[0]
        for tree in _trees(path):
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        yield alias.name, None
                elif isinstance(node, ast.ImportFrom):
                    module = node.module or ""
                    if node.level:  # relative: resolved against this file's package
                        if not package:
                            continue
                        base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                        module = f"{base}.{module}" if module else base
                    for alias in node.names:
                        yield module, alias.name


def _is_file(start: str | Path) -> bool:
    return isinstance(start, Path) or "/" in start


def _trees(path: Path) -> list[ast.Module]:
    """The parsed source of a module, or of each code cell of a notebook."""
    try:
        text = path.read_text()
    except OSError:
        return []
    if path.suffix == ".ipynb":
        cells = [
            "".join(cell["source"])
            for cell in json.loads(text)["cells"]
            if cell["cell_type"] == "code"
        ]
    else:
        cells = [text]
    trees = []
    for cell in cells:
        try:
            trees.append(ast.parse(cell))
        except SyntaxError:
            continue  # a broken plugin is reported by the registry's scan, not here
    return trees
