"""The layering rules that keep the package readable: no import cycle (counting the imports
made inside functions), and every `mlgate.*` tag key spelled in one module only."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
CHECKER = ROOT / "tools" / "import_cycles.py"
TAGS_MODULE = SRC / "mlgate" / "tracking" / "tags.py"


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_cycles", CHECKER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


# --- layers ---------------------------------------------------------------------------------

# What a layer may not load (directly or inside a function): the layers above it.
FORBIDDEN = {
    # The typed results are the bottom layer every reader shares.
    "mlgate.results": ("mlgate",),
    # A stage computes; the orchestrator, the report, the commands and the CLI drive it.
    "mlgate.stages": ("mlgate.run", "mlgate.report", "mlgate.commands", "mlgate.cli"),
    # The MLflow edge serves the stages and commands, never the other way round.
    "mlgate.tracking": ("mlgate.stages", "mlgate.run", "mlgate.report", "mlgate.commands"),
    # Renderers read results; they never run a stage.
    "mlgate.report": ("mlgate.stages", "mlgate.run"),
    "mlgate.card": ("mlgate.stages", "mlgate.run", "mlgate.report"),
    # Alerts are an edge the commands call with what they know; they never drive a command.
    "mlgate.alerts": (
        "mlgate.stages",
        "mlgate.run",
        "mlgate.report",
        "mlgate.commands",
        "mlgate.cli",
    ),
}


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_each_layer_loads_only_the_layers_below_it(layer: str) -> None:
    broken = [
        f"{edge.source} loads {edge.target} ({edge.path.name}:{edge.line})"
        for edge in _checker().imports(SRC)
        if _within(edge.source, layer)
        and not _within(edge.target, layer)
        and any(_within(edge.target, above) for above in FORBIDDEN[layer])
    ]
    assert broken == []


# --- import cycles --------------------------------------------------------------------------


def test_src_mlgate_has_no_import_cycle() -> None:
    checker = _checker()
    edges = checker.imports(SRC)
    found = checker.cycles(edges)
    closing = [
        f"{edge.path.relative_to(ROOT)}:{edge.line}: {edge.source} -> {edge.target}"
        for component in found
        for edge in edges
        if {edge.source, edge.target} <= set(component)
    ]
    assert found == [], "import cycles:\n" + "\n".join(closing)


def _package(root: Path, files: dict[str, str]) -> Path:
    """A package `mlgate` under root/src made of `files` (path inside it: source)."""
    for name, text in files.items():
        path = root / "src" / "mlgate" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "src"


def test_a_cycle_closed_inside_a_function_is_found(tmp_path: Path) -> None:
    src = _package(
        tmp_path,
        {
            "__init__.py": "",
            "stages.py": "from mlgate.report import render\n",
            "report.py": (
                "def render(result):\n"
                "    from mlgate import stages  # only when called: still a cycle\n"
                "    return stages\n"
            ),
            "config.py": "import mlgate.report\n",
        },
    )
    checker = _checker()
    assert checker.cycles(checker.imports(src)) == [["mlgate.report", "mlgate.stages"]]

    done = subprocess.run(
        [sys.executable, str(CHECKER), str(src)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "import cycle of 2 modules: mlgate.report, mlgate.stages" in done.stdout
    assert re.search(r"report\.py:2: mlgate\.report -> mlgate\.stages", done.stdout)


def test_relative_imports_and_parent_packages_count(tmp_path: Path) -> None:
    src = _package(
        tmp_path,
        {
            "__init__.py": "",
            "card/__init__.py": "from .render import page\n",
            "card/render.py": "def page():\n    from ..fairness import chart\n",
            # Importing mlgate.card.render runs mlgate/card/__init__.py first.
            "fairness/__init__.py": "",
            "fairness/chart.py": "def draw():\n    import mlgate.card.render\n",
        },
    )
    checker = _checker()
    assert checker.cycles(checker.imports(src)) == [
        ["mlgate.card", "mlgate.card.render", "mlgate.fairness.chart"]
    ]


def test_no_cycle_is_reported_where_there_is_none(tmp_path: Path) -> None:
    src = _package(
        tmp_path,
        {
            "__init__.py": "from mlgate.results import Result\n",
            "results/__init__.py": "from mlgate.results._base import Result\n",
            "results/_base.py": "class Result: ...\n",
            # A module of a package importing a sibling by its full path: the package is
            # already running when its module runs, so that is no cycle.
            "results/train.py": "from mlgate.results._base import Result\n",
            "stages.py": "def run():\n    from mlgate.results.train import Result\n",
        },
    )
    checker = _checker()
    assert checker.cycles(checker.imports(src)) == []
    assert checker.main([str(src)]) == 0


# --- tag keys -------------------------------------------------------------------------------


def _modules() -> set[str]:
    names = set()
    for path in (SRC / "mlgate").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.add(".".join(parts))
    return names


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = body[0] if body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _mlgate_literals(path: Path) -> list[tuple[int, str, bool]]:
    """(line, text, whether it is the first argument of a call) of each "mlgate." string."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = _docstrings(tree)
    first_arguments = {
        id(node.args[0]) for node in ast.walk(tree) if isinstance(node, ast.Call) and node.args
    }
    return [
        (node.lineno, node.value, id(node) in first_arguments)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith("mlgate.")
        and id(node) not in docstrings
    ]


def _misplaced(path: Path, modules: set[str], keys: set[str]) -> list[tuple[int, str]]:
    """The "mlgate." literals of `path` that are tag keys (or unknown), not module names."""
    found = []
    for line, text, call_argument in _mlgate_literals(path):
        head = re.split(r"[:\s]", text, maxsplit=1)[0]
        names_a_module = head.rstrip(".") in modules  # "mlgate.x.y", "mlgate.x.y:attr", "mlgate.x."
        names_the_config = re.fullmatch(r"mlgate\.ya?ml", head) is not None
        # "mlgate.card" is a tag key and a package: as a package it is handed to a loader
        # (PackageLoader("mlgate.card", ...)), never kept or compared.
        tag_key = text in keys and not call_argument
        if tag_key or not (names_a_module or names_the_config):
            found.append((line, text))
    return found


def _tag_keys() -> set[str]:
    tags = importlib.import_module("mlgate.tracking.tags")
    return {v for v in vars(tags).values() if isinstance(v, str) and v.startswith("mlgate.")}


def test_tag_keys_are_spelled_only_in_the_tags_module() -> None:
    # `grep -rn '"mlgate\.' src/mlgate`, less what is not a tag key: module names (with an
    # attribute, or as a prefix), the config file's name, and docstrings.
    assert TAGS_MODULE.is_file(), "every mlgate.* tag key belongs in mlgate/tracking/tags.py"
    modules, keys = _modules() - {"mlgate"}, _tag_keys()
    elsewhere = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in sorted((SRC / "mlgate").rglob("*.py"))
        if path != TAGS_MODULE
        for line, text in _misplaced(path, modules, keys)
    ]
    assert elsewhere == [], "mlgate.* keys outside tracking/tags.py:\n" + "\n".join(elsewhere)


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        pytest.param('KEY = "mlgate.gate.roc_auc"\n', True, id="tag-key"),
        pytest.param('def f(n):\n    return f"mlgate.metric.{n}"\n', True, id="f-string"),
        pytest.param('PREFIX = "mlgate."\n', True, id="prefix"),
        pytest.param('CARD = "mlgate.card"\n', True, id="tag-key-named-like-a-package"),
        pytest.param('LOADER = PackageLoader("mlgate.card", "templates")\n', False, id="package"),
        pytest.param('CONFIG = "mlgate.yaml"\n', False, id="config-file"),
        pytest.param('MODULE = "mlgate.pipeline:STAGES"\n', False, id="module-attribute"),
        pytest.param('"""mlgate.gate.x in a docstring."""\n', False, id="docstring"),
    ],
)
def test_the_tag_key_check_reads_literals_as_grep_would(
    source: str, flagged: bool, tmp_path: Path
) -> None:
    path = tmp_path / "module.py"
    path.write_text(source, encoding="utf-8")
    found = _misplaced(path, _modules() - {"mlgate"}, {"mlgate.card", "mlgate.gate.roc_auc"})
    assert bool(found) is flagged, found
