"""Module paths of corel 0.1 before the package was laid out by stage, kept importable for one
release: ``import corel.persistence`` gives ``corel.topology.h0`` with a DeprecationWarning naming
the new path. Three old names are packages now (``corel.training``, ``corel.scoring``,
``corel.protocols``); their old contents are at the paths below.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {
    "persistence": "topology.h0", "persistence_h1": "topology.h1", "models": "training.models",
    "losses": "training.losses", "augment": "training.augment", "distributed": "training.distributed",
    "config": "training.config", "checkpoints": "training.checkpoints", "stack": "training.stack",
    "export": "training.export", "encode": "training.encode", "counting": "scoring.counting",
    "pool_scoring": "scoring.pool_rules", "fitted": "scoring.fitted", "detect": "scoring.detector",
    "detector_base": "scoring.detector_base", "views": "scoring.views", "metrics": "scoring.metrics",
    "codes": "protocols.codes", "evaluate": "protocols.oneclass", "largescale": "protocols.largescale",
    "compare": "protocols.compare", "ablate": "protocols.ablate", "published": "protocols.published",
    "pipeline": "protocols.jobs", "cli": "apps.cli", "novelty": "apps.score", "report": "apps.report",
    "demo": "apps.demo", "toy": "apps.toy", "loop_demo": "apps.loop_demo", "theory": "apps.theory",
    "named_models": "named", "imagefiles": "data.imagefiles",
}
# the old modules whose names are packages now: where their contents went
BECAME_PACKAGES = {"training": "training.engine", "scoring": "scoring.scorer", "protocols": "protocols.problems"}


class _OldPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``corel.<old name>`` and hands back the module at its new path."""

    def __init__(self):
        self._specs = {}

    def find_spec(self, fullname, path=None, target=None):
        head, _, name = fullname.partition(".")
        if head != "corel" or name not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        new = f"corel.{MOVED[spec.name.partition('.')[2]]}"
        warnings.warn(f"{spec.name} moved to {new}; the old path goes in the next release.", DeprecationWarning,
                      stacklevel=2)
        module = importlib.import_module(new)
        self._specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module):
        # the module at the new path is imported already; importlib has just set its __spec__ to the
        # old name's, which would make corel.named look like no package (resources, submodules): undo it
        module.__spec__ = self._specs.pop(module.__spec__.name, module.__spec__)


if not any(isinstance(f, _OldPaths) for f in sys.meta_path):
    sys.meta_path.append(_OldPaths())
