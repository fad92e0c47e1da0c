"""What code a stage can run, read from the source: the closure of radtune modules a stage
script imports (imports inside functions included), for one dataset variant.

A stage script reaches its variant through `variants.get(...)` (an import by name that no
`import` statement shows). Every use of a `Variant` method (on `variants.get(...)` or on a
name called `variant`) in a module of the closure that imports `radtune.variants` or its
`base` adds that method of the active variant's class: the imports inside its body, the methods it
calls on `self`, and the module-level imports of the variant's `__init__`. Importing
`a.b.c` runs `a/__init__.py` and `a/b/__init__.py` too, so those count as well."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
VARIANTS = "radtune.variants"


def module_file(name: str) -> Path | None:
    """The file of radtune module `name` (package -> its __init__.py), or None."""
    base = SRC / Path(*name.split("."))
    for f in (base.with_suffix(".py"), base / "__init__.py"):
        if f.is_file():
            return f
    return None


def with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def imported_names(nodes: list[ast.AST], package: str) -> set[str]:
    """radtune modules named by the import statements among `nodes` (and under them)."""
    out: set[str] = set()
    for top in nodes:
        for node in ast.walk(top):
            if isinstance(node, ast.Import):
                out.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                    )
                out.add(base)
                out.update(f"{base}.{a.name}" for a in node.names)  # `from pkg import module`
    return {n for n in out if n.split(".")[0] == "radtune" and module_file(n)}


@cache
def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def variant_methods() -> set[str]:
    """The method names of the Variant interface."""
    tree = parse(module_file(f"{VARIANTS}.base"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Variant")
    return {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}


def is_variant(node: ast.AST) -> bool:
    """`variants.get(...)`, or a name called `variant` (the convention for holding one)."""
    if isinstance(node, ast.Name):
        return node.id == "variant"
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "variants"
    )


def called_methods(tree: ast.Module) -> set[str]:
    """Variant methods used in `tree`: attributes of a variant (see `is_variant`)."""
    methods = variant_methods()
    return {
        n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in methods and is_variant(n.value)
    }


def method_modules(variant: str, methods: set[str]) -> set[str]:
    """Modules the variant's `methods` import (plus its __init__'s module-level imports)."""
    name = f"{VARIANTS}.{variant}"
    tree = parse(module_file(name))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef))
    defs = {n.name: n for n in cls.body if isinstance(n, ast.FunctionDef)}
    todo, seen = list(methods), set()
    nodes: list[ast.AST] = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    while todo:
        m = todo.pop()
        if m in seen or m not in defs:
            continue
        seen.add(m)
        nodes.append(defs[m])
        todo += [
            n.attr
            for n in ast.walk(defs[m])
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self"
        ]
    return imported_names(nodes, name) | {name}


def closure(script: Path, variant: str) -> set[Path]:
    """Every file of radtune's source that `script` can run with `variant` active."""
    files: set[Path] = set()
    todo: list[tuple[str, Path]] = [("", script.resolve())]
    seen: set[Path] = set()
    while todo:
        name, path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        files.add(path)
        tree = parse(path)
        # a variant package's __init__: its methods run only when called (method_modules)
        is_variant_init = name.startswith(f"{VARIANTS}.") and name.count(".") == 2 and path.name == "__init__.py"
        nodes = [n for n in tree.body if not isinstance(n, ast.ClassDef)] if is_variant_init else [tree]
        names = imported_names(nodes, package_of(name, path) if name else "")
        if names & {VARIANTS, f"{VARIANTS}.base"}:
            names |= method_modules(variant, called_methods(tree))
        names |= {p for n in names for p in with_parents(n) if module_file(p)}
        todo += [(n, module_file(n)) for n in sorted(names)]
    return files


def uncovered(files: set[Path], deps: list[str]) -> list[str]:
    """Files (relative to the repository) that no dep (a file or a folder) covers."""
    dep_paths = [(ROOT / d).resolve() for d in deps]
    return sorted(f.relative_to(ROOT).as_posix() for f in files if not any(f == d or d in f.parents for d in dep_paths))
