"""The package's shape: data flows one way (no import cycles, lazy imports included), every module
stays readable in one sitting, the training loop fits on a few screens, and nothing points outside
the repository."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "dcgan"
MAX_MODULE_LINES = 500
MAX_TRAIN_LINES = 150


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules `name` imports anywhere in its body (functions too), except under TYPE_CHECKING."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("dcgan"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("dcgan"):
                # `from . import x` names a submodule x when there is one, else a name in the package.
                subs = {f"{target}.{a.name}" for a in node.names} & known
                found.update(subs or {target})
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    # Importing a.b.c runs a and a.b too, but those package __init__s are kept import-light on purpose;
    # the edge that matters is to the module itself.
    return {m for m in found if m in known and m != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m) :] + [m]
            if m not in state and (cycle := dfs(m)):
                return cycle
        state[n] = 2
        stack.pop()
        return None

    for n in sorted(graph):
        if n not in state and (cycle := dfs(n)):
            return cycle
    return None


def test_the_package_has_no_import_cycles() -> None:
    mods = modules()
    graph = {name: imports_of(name, path, set(mods)) for name, path in mods.items()}
    # The package root only re-exports names lazily (module __getattr__); it is not a layer.
    graph.pop("dcgan")
    for deps in graph.values():
        deps.discard("dcgan")
    assert sum(len(d) for d in graph.values()) > 50  # the walk really sees the imports
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_cycles() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("name", sorted(modules()))
def test_every_module_is_short_enough_to_read_in_one_sitting(name: str) -> None:
    lines = len(modules()[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{name}: {lines} lines (split it: one job per module)"


def test_the_training_loop_fits_on_a_few_screens() -> None:
    tree = ast.parse((PACKAGE / "training" / "trainer.py").read_text(encoding="utf-8"))
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "run_training")
    assert fn.end_lineno - fn.lineno + 1 <= MAX_TRAIN_LINES
    step = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "gan_step")
    assert step.end_lineno - step.lineno + 1 <= 60  # the D and G updates on one screen


def test_nothing_refers_to_files_outside_the_repository() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    pattern = re.compile(r"\.\./shared|shared/design|design/[A-Z]+\.md")
    offenders = []
    for rel in tracked:
        path = ROOT / rel
        if path.suffix not in (".py", ".md", ".toml", ".txt", ".json", ".html") or not path.is_file():
            continue
        if rel == "tests/test_layout.py":
            continue
        if pattern.search(path.read_text(encoding="utf-8", errors="replace")):
            offenders.append(rel)
    assert offenders == []


def test_the_published_systems_have_a_key_in_the_repository() -> None:
    key = (ROOT / "docs" / "published-systems.md").read_text(encoding="utf-8")
    for code in ("S1", "S2", "S3", "S4", "S5"):
        assert f"## {code}" in key
