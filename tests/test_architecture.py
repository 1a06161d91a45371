"""The package's house rules, read from the source: no import circle, the half that uses a saved model never
imports the training half, short functions, and one place that branches on the label shape."""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "textrnn"
# What a user of a saved model runs: it must work with the training package absent.
USE_HALF = ("textrnn", "textrnn.inference", "textrnn.explanations", "textrnn.export", "textrnn.onnx_backend",
            "textrnn.evaluate", "textrnn.predict_files", "textrnn.tabular_io", "textrnn.model_card", "textrnn.model_card_text", "textrnn.serve", "textrnn.serve.app",
            "textrnn.serve.batcher", "textrnn.serve.server", "textrnn.serve.docs")
LONGEST_FUNCTION = 60


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str) -> set[str]:
    """The textrnn modules that `name` imports, anywhere in its code (inside functions too)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {module for module in found if module in MODULES and module != name}


GRAPH = {name: imports_of(name) for name in MODULES}


def reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for module in GRAPH[todo.pop()]:
            if module not in seen:
                seen.add(module)
                todo.append(module)
    return seen


def test_the_import_graph_has_no_circle():
    circles = sorted(name for name in MODULES if name in reachable(name))
    assert circles == []


@pytest.mark.parametrize("module", USE_HALF)
def test_using_a_saved_model_never_imports_the_training_half(module):
    training = sorted(name for name in reachable(module) | {module} if name.startswith("textrnn.training"))
    assert training == []


def test_no_function_is_longer_than_a_screen():
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > LONGEST_FUNCTION:
                    long.append(f"{name}.{node.name}: {lines} lines")
    assert long == []


LABEL_SHAPE = re.compile(r"""problem_type\s*[!=]=|[!=]=\s*["'](multi|single)["']|\.dim\(\)\s*==\s*2|\.ndim\s*==|"""
                         r"""isinstance\(labels?\b[^)]*,\s*list\)|multi_label\b(?!_)""")


def test_only_the_task_and_the_label_reader_ask_for_the_label_shape():
    allowed = {"textrnn.tasks", "textrnn.labels", "textrnn.label_lists"}
    asking = [f"{name}:{number}: {line.strip()}" for name, path in MODULES.items() if name not in allowed
              for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
              if LABEL_SHAPE.search(line.split("#")[0])]
    # checkpoint.py's check that config.json's labels are a list is about the file, not the label shape
    assert [line for line in asking if "textrnn.checkpoint:" not in line] == []
