"""The package's imports flow one way: ``data -> models -> train -> outputs``, without cycles.

The rule (checked here by walking every module's syntax tree, without importing anything):

* every module belongs to a layer (``LAYERS``, by its first package under ``gankit``):
  0 neutral (``errors``, ``config``, ``registry``, ``utils``, the ``gankit`` root, which only
  re-exports lazily), 1 building blocks (``data``, ``nn``, ``losses``, ``augment``, and
  ``runfiles``: the run-folder formats, checkpoint, export and report page, that ``train/``, the
  sampling tools, the studio and the commands share),
  2 ``models``, 3 ``train``, 4 outputs (``sampling``, ``metrics``, ``export``, ``attacks``,
  ``studio``, ``commands``, ``cli``, ``api``);
* a module-level import never points to a higher layer (an *upward arrow*);
* an import inside a function (a lazy one, run when called) never points upward either,
  except the few plug-in points in ``LAZY_UPWARD``, each with its reason;
* there is no cycle among the modules, counting module-level and lazy imports alike
  (``if TYPE_CHECKING:`` imports are for type checkers only and are not counted).
"""
from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "gankit"

LAYERS = {
    "errors": 0, "config": 0, "registry": 0, "utils": 0, "_version": 0, "_callable": 0,
    "data": 1, "nn": 1, "losses": 1, "augment": 1, "runfiles": 1,
    "models": 2,
    "train": 3,
    "sampling": 4, "metrics": 4, "export": 4, "attacks": 4, "studio": 4, "commands": 4,
    "cli": 4, "api": 4, "__main__": 4,
}

# (importer, imported prefix): why a lazy upward import is allowed there
LAZY_UPWARD = {
    ("gankit._callable", "gankit.api"):
        "`gankit.train(...)` / `gankit.export(...)` forward to the public API when called",
    ("gankit.train.observers", "gankit.metrics.training"):
        "the default observers: periodic evaluation is plugged into a run here",
    ("gankit.train.observers", "gankit.export.card"):
        "the default observers: the model card of the run's export is written at its end",
    ("gankit.train.observers", "gankit.sampling.loading"):
        "the default observers: the card shows the export as a user loads it back",
    ("gankit.models.advgan", "gankit.attacks.targets"):
        "AdvGAN loads its frozen target when training starts; targets are gankit's metric "
        "nets (metrics/, layer 4) or TorchScript files, so the loader lives with the attacks",
}


def modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(mods: dict[str, Path]) -> list[tuple[str, str, bool]]:
    """(importer, imported module, lazy) for every gankit import outside TYPE_CHECKING."""

    def resolve(name: str) -> str:
        while name not in mods:
            name = name.rpartition(".")[0]
        return name

    edges = []
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]

        def visit(node: ast.AST, lazy: bool) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    visit(child, True)
                    continue
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    continue
                if isinstance(child, ast.Import):
                    for alias in child.names:
                        if alias.name.split(".")[0] == "gankit":
                            edges.append((mod, resolve(alias.name), lazy))
                elif isinstance(child, ast.ImportFrom):
                    name = child.module or ""
                    if child.level:
                        base = package.split(".")[:len(package.split(".")) - child.level + 1]
                        name = ".".join(base + ([name] if name else []))
                    if name.split(".")[0] == "gankit":
                        for alias in child.names:  # `from pkg import submodule` or a name
                            full = f"{name}.{alias.name}"
                            edges.append((mod, full if full in mods else resolve(name), lazy))
                visit(child, lazy)

        visit(ast.parse(path.read_text()), False)
    return [(a, b, lazy) for a, b, lazy in edges if a != b]


def layer(mod: str) -> int:
    parts = mod.split(".")
    if len(parts) == 1:
        return 0  # the root: lazy re-exports only (its module-level imports are checked too)
    assert parts[1] in LAYERS, f"{mod}: add its package to LAYERS in tests/test_imports.py"
    return LAYERS[parts[1]]


def allowed(a: str, b: str) -> bool:
    return any(a == src and (b == dst or b.startswith(dst + ".")) for src, dst in LAZY_UPWARD)


def test_no_upward_imports():
    mods = modules()
    bad = sorted({f"{a} -> {b} ({'lazy' if lazy else 'module level'})"
                  for a, b, lazy in imports(mods)
                  if layer(b) > layer(a) and not (lazy and allowed(a, b))})
    assert not bad, ("imports against data -> models -> train -> outputs:\n  "
                     + "\n  ".join(bad))


def test_no_import_cycles():
    mods = modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for a, b, _ in imports(mods):
        graph[a].add(b)
    # Tarjan's strongly connected components, iteratively
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    cycles.append(sorted(comp))
    assert not cycles, "import cycles:\n  " + "\n  ".join(" <-> ".join(c) for c in cycles)


def test_the_walk_sees_imports():
    """The walker itself: it finds a known module-level and a known lazy import."""
    edges = imports(modules())
    assert ("gankit.train.trainer", "gankit.models.base", False) in edges
    assert any(a == "gankit.models.base" and b == "gankit.registry" and lazy
               for a, b, lazy in edges)
    assert layer("gankit.train.trainer") > layer("gankit.models.base") > layer("gankit.data.base")
