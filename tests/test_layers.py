"""Dependencies run one way (docs/ARCHITECTURE.md, "Layers"): every import in src/r1kit, read with `ast`.

    base (errors, config, algo, progress) -> sandbox -> data -> models -> verify -> rewards -> rollout
        -> train | eval | serve -> pipeline -> cli -> __main__

A module may import its own package and anything in a lower layer; never a higher layer, and never a
sibling of its own layer (train, eval and serve do not import one another). Every import counts:
module level, inside functions, relative, `from r1kit import x`, and importlib.import_module("r1kit.x").
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "r1kit"

LAYERS = [
    {"base"},  # errors.py, config.py, progress.py, algo/, and the package's own __init__
    {"sandbox"},
    {"data"},
    {"models"},
    {"verify"},
    {"rewards"},
    {"rollout"},
    {"train", "eval", "serve"},
    {"pipeline"},
    {"cli"},
    {"__main__"},  # python -m r1kit (what torchrun runs)
]
BASE = {"r1kit", "errors", "config", "algo", "progress"}
RANK = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def unit_of(module: str) -> str:
    """"r1kit.train.grpo" -> "train"; the base modules -> "base"."""
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else "r1kit"
    return "base" if name in BASE else name


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, imported r1kit module) for every import anywhere in `source`."""
    found = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . / .. import x
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            if base == "r1kit":  # from r1kit import algo, __version__ -> a submodule, or the package itself
                found += [(node.lineno, f"r1kit.{a.name}" if _is_module(a.name) else "r1kit") for a in node.names]
            else:
                found.append((node.lineno, base))
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return [(line, m) for line, m in found if m == "r1kit" or m.startswith("r1kit.")]


def _is_module(name: str) -> bool:
    return (SRC / name).is_dir() or (SRC / f"{name}.py").is_file()


def violations(source: str, path: str, module: str, is_package: bool = False) -> list[str]:
    """One line per import that goes up a layer or sideways to a sibling."""
    src_unit, out = unit_of(module), []
    for line, target in imports(source, module, is_package):
        dst_unit = unit_of(target)
        if dst_unit == src_unit:
            continue
        if dst_unit not in RANK or src_unit not in RANK:
            out.append(f"{path}:{line} imports {target}: {src_unit} -> {dst_unit}, a package with no layer")
            continue
        if RANK[dst_unit] > RANK[src_unit]:
            out.append(f"{path}:{line} imports {target}: {src_unit} (layer {RANK[src_unit]}) -> {dst_unit} "
                       f"(layer {RANK[dst_unit]}) goes upward")
        elif RANK[dst_unit] == RANK[src_unit]:
            out.append(f"{path}:{line} imports {target}: {src_unit} -> {dst_unit} are siblings "
                       f"(layer {RANK[src_unit]})")
    return out


def all_modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_every_package_has_a_layer():
    units = {unit_of(module_name(p)) for p in all_modules()}
    assert units <= set(RANK), f"put these in a layer (tests/test_layers.py, docs/ARCHITECTURE.md): {units - set(RANK)}"


def test_imports_run_one_way():
    bad = []
    for path in all_modules():
        bad += violations(path.read_text(encoding="utf-8"), str(path.relative_to(SRC.parents[1])), module_name(path),
                          path.name == "__init__.py")
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_algo_imports_only_torch():
    """STYLE.md: algo/ is pure functions over tensors; it imports nothing else of r1kit."""
    bad = [f"{p.name}:{line} imports {m}" for p in (SRC / "algo").glob("*.py")
           for line, m in imports(p.read_text(encoding="utf-8"), module_name(p), p.name == "__init__.py")
           if not m.startswith("r1kit.algo")]
    assert not bad, bad


@pytest.mark.parametrize("source, module, expected", [
    ("from r1kit.eval import evaluate", "r1kit.train.grpo", "siblings"),
    ("def f():\n    from r1kit.rewards import REWARDS", "r1kit.data.tasks", "goes upward"),
    ("from ..eval import runner", "r1kit.train.grpo", "siblings"),
    ("from r1kit import pipeline", "r1kit.verify.math", "goes upward"),
    ("import r1kit.cli", "r1kit.progress", "goes upward"),
    ("import importlib\nimportlib.import_module('r1kit.train.grpo')", "r1kit.rollout.engine", "goes upward"),
    ("from r1kit.rollout.evaluate import evaluate", "r1kit.train.grpo", None),
    ("from . import metrics", "r1kit.eval.runner", None),
    ("from r1kit.errors import R1kitError", "r1kit.sandbox.runner", None),
    ("from r1kit import __version__", "r1kit.pipeline.demo", None),
    ("import r1kit.nowhere", "r1kit.train.grpo", "no layer"),
])
def test_checker_sees_every_kind_of_import(source, module, expected):
    found = violations(source, "x.py", module)
    assert (expected in found[0]) if expected else not found, found
