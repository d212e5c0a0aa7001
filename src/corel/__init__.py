"""corel: connectivity-optimized representation learning (Hofer et al., ICML 2019).

The package by stage: ``topology`` (persistence), ``training`` (models, losses, Lightning),
``scoring`` (scorers, the detector), ``protocols`` (codes, one-class evaluation and the protocols
built on it), ``apps`` (the command line, reports, demos), ``data`` (data sets and image files),
``baselines`` and ``named`` (the shipped models).

The top-level names are loaded lazily (PEP 562): ``import corel`` (and so ``corel --help``)
imports neither torch, Lightning nor Numba; ``from corel import CorelDetector`` imports the
submodule that defines the name on first use.
"""
from __future__ import annotations

import importlib

from . import _moved

__version__ = "0.1.0"

# public name -> submodule that defines it
_LAZY = {
    "CorelDetector": "scoring.detector",
    "count_neighbors": "scoring.counting",
    "ConnectivityLoss": "training.losses",
    "DeathStats": "training.losses",
    "death_stats": "training.losses",
    "reconstruction_l1": "training.losses",
    "Persistence0": "topology.h0",
    "mst_edges": "topology.h0",
    "vr_persistence_0d": "topology.h0",
    "vr_persistence": "topology.torchph",
    "vr_persistence_l1": "topology.torchph",
    "Persistence1": "topology.h1",
    "vr_persistence_1d": "topology.h1",
    "load_model": "named",
    "load_images": "data.imagefiles",
}

__all__ = ["CorelDetector", "count_neighbors", "ConnectivityLoss", "DeathStats", "death_stats", "reconstruction_l1",
           "Persistence0", "Persistence1", "mst_edges", "vr_persistence", "vr_persistence_0d", "vr_persistence_1d",
           "vr_persistence_l1", "load_model", "load_images"]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        if name in _moved.MOVED:   # `import corel; corel.persistence...`: the module under its new path
            return importlib.import_module(f"corel.{name}")
        raise AttributeError(f"module 'corel' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
