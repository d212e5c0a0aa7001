"""corel: connectivity-optimized representation learning (Hofer et al., ICML 2019).

The top-level names are loaded lazily (PEP 562): ``import corel`` (and so ``corel --help``)
imports neither torch, Lightning nor Numba; ``from corel import CorelDetector`` imports the
submodule that defines the name on first use.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> submodule that defines it
_LAZY = {
    "CorelDetector": "detect",
    "count_neighbors": "counting",
    "ConnectivityLoss": "losses",
    "DeathStats": "losses",
    "death_stats": "losses",
    "reconstruction_l1": "losses",
    "Persistence0": "persistence",
    "mst_edges": "persistence",
    "vr_persistence": "persistence",
    "vr_persistence_0d": "persistence",
    "vr_persistence_l1": "persistence",
    "Persistence1": "persistence_h1",
    "vr_persistence_1d": "persistence_h1",
    "load_model": "named_models",
    "load_images": "imagefiles",
}

_EAGER_BEFORE = frozenset({"counting", "detect", "losses", "persistence"})

__all__ = ["CorelDetector", "count_neighbors", "ConnectivityLoss", "DeathStats", "death_stats", "reconstruction_l1",
           "Persistence0", "Persistence1", "mst_edges", "vr_persistence", "vr_persistence_0d", "vr_persistence_1d",
           "vr_persistence_l1", "load_model", "load_images"]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        if name in _EAGER_BEFORE:  # `import corel; corel.persistence...` worked when these were imported eagerly
            return importlib.import_module(f".{name}", __name__)
        raise AttributeError(f"module 'corel' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
