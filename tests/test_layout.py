"""The package's layout by stage: each folder imports only earlier stages, and the module paths
from before the layout still import (one release) with a DeprecationWarning naming the new path."""
import ast
import importlib
import sys
import warnings
from pathlib import Path

import pytest

import corel
from corel._moved import MOVED

ROOT = Path(corel.__file__).parent
# a stage may import the shared top-level modules, data/, and the stages before it
ORDER = ["topology", "training", "scoring", "baselines", "protocols", "apps"]
SHARED = {"_validation", "_cells", "_atomic", "branches", "plots", "data", "named", "__version__"}


def _imports(path: Path):
    """Absolute corel module names imported by ``path`` (relative imports resolved)."""
    package = ["corel", *path.relative_to(ROOT).parent.parts]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                mod = base + (node.module.split(".") if node.module else [])
            elif (node.module or "").startswith("corel"):
                mod = node.module.split(".")
            else:
                continue
            names = [a.name for a in node.names] if not node.module or len(mod) == 1 else [None]
            for name in names:
                yield ".".join(mod + ([name] if name else []))


def test_no_stage_imports_a_later_one():
    offenders = []
    for stage in ORDER:
        for path in sorted((ROOT / stage).rglob("*.py")):
            for target in _imports(path):
                parts = target.split(".")
                other = parts[1] if len(parts) > 1 else ""
                if other in SHARED or other == stage or other not in ORDER:
                    continue
                if ORDER.index(other) > ORDER.index(stage):
                    offenders.append(f"{path.relative_to(ROOT)} imports {target}")
    assert offenders == []


def test_the_shared_modules_import_no_stage():
    for name in ("_validation.py", "_cells.py", "_atomic.py", "branches.py", "plots.py"):
        stages = [t for t in _imports(ROOT / name) if t.split(".")[1:2] and t.split(".")[1] in ORDER]
        assert stages == [], name


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_module_path_imports_the_new_module_with_a_deprecation_warning(old):
    sys.modules.pop(f"corel.{old}", None)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        module = importlib.import_module(f"corel.{old}")
    assert module is importlib.import_module(f"corel.{MOVED[old]}")
    assert module.__spec__.name == f"corel.{MOVED[old]}"    # the new module keeps its own spec
    assert any(issubclass(w.category, DeprecationWarning) and f"corel.{MOVED[old]}" in str(w.message)
               for w in seen)


def test_an_old_path_leaves_the_shipped_models_readable():
    sys.modules.pop("corel.named_models", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        importlib.import_module("corel.named_models")
    from corel.named import available
    assert "cifar10-contrastive" in available()


def test_the_top_level_names_still_resolve():
    for name in corel.__all__:
        assert getattr(corel, name) is not None
    assert corel.vr_persistence_l1.__module__ == "corel.topology.torchph"
