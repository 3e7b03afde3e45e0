"""Imports go one way: no module of satlock imports a layer above its own.

The layers, top to bottom: ``cli`` parses and prints, ``buildenv`` builds and installs,
``resolver`` turns a project into a lock, ``profiles`` reads and edits build profiles,
and the core package ``satlock`` holds what every layer shares. A module may import its
own layer and any layer below it. Every import counts, including one inside a function
(the CLI defers its imports that way) and one under ``if TYPE_CHECKING``, because a
module that needs a higher layer even lazily is still tied to it.

The packages and their folders come from ``pyproject.toml``; a package under a layer
(``satlock.resolver.x``) belongs to that layer.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Bottom to top.
LAYERS = ["satlock", "satlock.profiles", "satlock.resolver", "satlock.buildenv", "satlock.cli"]

# Known violations, as (importing module, imported module). Each is exact: a new one fails,
# and so does an entry that no longer happens (remove it when it is fixed).
ALLOWED: set[tuple[str, str]] = {
    # `python -m satlock` runs the CLI: the core package's __main__ is an entry point,
    # the one module allowed to start the top layer.
    ("satlock.__main__", "satlock.cli.entry"),
}


def layer_of(module: str) -> int | None:
    """The index in LAYERS of the most specific layer ``module`` belongs to; None if not satlock."""
    best = None
    for i, layer in enumerate(LAYERS):
        if module == layer or module.startswith(layer + "."):
            if best is None or len(layer) > len(LAYERS[best]):
                best = i
    return best


def package_modules(repo: Path) -> dict[str, Path]:
    """Every module of the installed package, by dotted name, from pyproject's package-dir."""
    config = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders: dict[str, str] = config["package-dir"]
    modules: dict[str, Path] = {}
    for package in config["packages"]:
        root = next(p for p in sorted(folders, key=len, reverse=True) if package == p or package.startswith(p + "."))
        folder = repo / folders[root] / Path(*package[len(root):].split(".")[1:])
        for path in sorted(folder.glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            modules[name] = path
    return modules


def imported_modules(module: str, path: Path, known: set[str]) -> set[str]:
    """Every satlock module ``path`` imports, anywhere in it, with relative imports resolved.

    ``from satlock.x import y`` counts as importing ``satlock.x.y`` when that is a module
    in ``known``, else ``satlock.x``.
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return {name for name in found if layer_of(name) is not None}


def upward_imports(modules: dict[str, Path]) -> set[tuple[str, str]]:
    """(module, imported) for each import of a layer above the module's own."""
    bad: set[tuple[str, str]] = set()
    for module, path in modules.items():
        own = layer_of(module)
        for target in imported_modules(module, path, set(modules)):
            if layer_of(target) > own:
                bad.add((module, target))
    return bad


def test_no_module_imports_a_layer_above_its_own() -> None:
    modules = package_modules(REPO)
    assert {layer_of(m) for m in modules} == set(range(len(LAYERS))), "every layer has modules"
    found = upward_imports(modules)
    new = sorted(found - ALLOWED)
    assert not new, "imports of a higher layer:\n" + "\n".join(f"  {m} imports {t}" for m, t in new)
    fixed = sorted(ALLOWED - found)
    assert not fixed, "no longer happens, remove from ALLOWED: " + ", ".join(f"{m} -> {t}" for m, t in fixed)


# No module of the package is longer than this: past it a module has several jobs.
MAX_LINES = 420
# Modules longer than that today, each being split by a change under way. An entry here
# is not checked for staleness, so those changes merge green; remove it once its module
# is split.
LONG_MODULES = {
}


def test_no_module_is_over_420_lines() -> None:
    lengths = {m: len(p.read_text().splitlines()) for m, p in package_modules(REPO).items()}
    long = sorted(f"{m} ({n} lines)" for m, n in lengths.items() if n > MAX_LINES and m not in LONG_MODULES)
    assert not long, f"modules over {MAX_LINES} lines; split them by job:\n  " + "\n  ".join(long)


def test_layer_check_sees_local_relative_and_from_package_imports(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.setuptools]\npackages = ["satlock", "satlock.resolver", "satlock.resolver.sub", "satlock.cli"]\n'
        '[tool.setuptools.package-dir]\n"satlock" = "satlock"\n"satlock.resolver" = "resolver"\n"satlock.cli" = "cli"\n')
    for folder in ("satlock", "resolver", "resolver/sub", "cli"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "cli" / "main.py").write_text("import satlock.resolver.solve\n")
    (tmp_path / "resolver" / "solve.py").write_text("from . import cnf\n")
    (tmp_path / "resolver" / "cnf.py").write_text("def f():\n    from satlock.cli import main\n")
    (tmp_path / "resolver" / "sub" / "deep.py").write_text("from ...cli.main import x\nfrom .. import solve\n")
    (tmp_path / "satlock" / "errors.py").write_text("from satlock import resolver\n")
    assert upward_imports(package_modules(tmp_path)) == {
        ("satlock.resolver.cnf", "satlock.cli.main"),
        ("satlock.resolver.sub.deep", "satlock.cli.main"),
        ("satlock.errors", "satlock.resolver"),
    }
