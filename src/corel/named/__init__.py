"""Trained encoders that ship with the package, by name, each with its model card.

``corel models`` lists them; every command and API that takes a ``model.pt`` path also takes a
name (``corel score cifar10-contrastive ...``, ``CorelDetector(encoder="cifar10-contrastive")``,
``corel.load_model("cifar10-contrastive")``). The weights are package data, read with
``torch.load(weights_only=True)``; each card says what the model was trained on, with which
command, and what it scores in each protocol (with the protocol named beside every number).
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from .._digest import file_sha256

__all__ = ["available", "card", "resolve", "load_model", "format_cards", "pool_codes", "pool_codes_for_file"]



def _cards() -> dict:
    return json.loads(resources.files(__package__).joinpath("cards.json").read_text())


def available() -> list[str]:
    """The names of the shipped models, best first."""
    return list(_cards())


def card(name: str) -> dict:
    """The model card of ``name`` (training data, recipe, command, numbers per protocol)."""
    cards = _cards()
    if name not in cards:
        raise ValueError(f"Unknown model name {name!r}; the shipped models are {list(cards)} (`corel models`).")
    return cards[name]


def resolve(name_or_path) -> Path:
    """The file of a shipped model's name, or the path itself when it names an existing file.

    A shipped stack (a card with ``stack_of``: its parts' weight files in the package) is written on first use
    into the cache folder (``$COREL_CACHE`` or ``~/.cache/corel``, ``named/``) from its parts'
    shipped weights, and checked against its card's SHA-256. A string that is neither a file nor
    a name gives one line listing the shipped names.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    cards = _cards()
    if str(name_or_path) in cards and cards[str(name_or_path)].get("stack_of"):
        return _stack_file(str(name_or_path), cards[str(name_or_path)])
    if str(name_or_path) in cards:
        file = Path(str(resources.files(__package__).joinpath(cards[str(name_or_path)]["file"])))
        if not file.is_file():
            raise FileNotFoundError(f"The shipped model {name_or_path!r} is missing from the installation ({file}); "
                                    f"reinstall corel.")
        return file
    raise FileNotFoundError(f"{name_or_path} is neither a model file nor a shipped model name; the shipped models "
                            f"are {list(cards)} (`corel models`), or train one with `corel train`.")


def _stack_file(name: str, entry: dict) -> Path:
    """The stack of a shipped stack's parts, built once into the cache folder (atomically)."""
    import os
    import tempfile
    from ..data.cache import cache_dir
    from ..training.stack import stack_checkpoints
    folder = cache_dir() / "named"
    target = folder / f"{name}-{entry['sha256'][:16]}.pt"
    if target.is_file() and file_sha256(target) == entry["sha256"]:
        return target
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        parts = [Path(str(resources.files(__package__).joinpath(f))) for f in entry["stack_of"]]
        missing = [str(p) for p in parts if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"The parts {missing} of the shipped model {name!r} are missing from the "
                                    f"installation; reinstall corel.")
        built = stack_checkpoints(parts, Path(tmp) / "stack.pt", labels=entry["stack_of"])
        if file_sha256(built) != entry["sha256"]:
            raise ValueError(f"The stack {name!r} built from {entry['stack_of']} does not match its card's SHA-256; "
                             f"reinstall corel.")
        os.replace(built, target)
    return target


def load_model(name_or_path):
    """The encoder of a shipped model's name or of a ``model.pt`` / ``.ckpt`` path, in eval mode."""
    from ..training.checkpoints import load_model as load_file
    model = load_file(resolve(name_or_path))
    return model.eval()


def pool_codes(name: str):
    """The codes of the unlabelled training images a shipped model carries as its default pool, or None.

    A sample of the model's own training images (labels unused), encoded in the identity view: the
    reference pool ``corel score`` and ``CorelDetector(encoder=NAME)`` use when none is given (with
    the clipped pool rule, which cannot hurt against novelty the pool lacks).
    """
    import torch
    entry = card(name).get("pool")
    if not entry:
        return None
    path = resources.files(__package__).joinpath(entry["file"])
    saved = torch.load(str(path), map_location="cpu", weights_only=True)
    if saved.get("model_sha256") != card(name)["sha256"]:
        raise ValueError(f"The pool file of {name!r} belongs to another model; reinstall corel.")
    return saved["codes"]


def pool_codes_for_file(model_file):
    """``(name, pool codes)`` when ``model_file`` is (a copy of) a shipped model that carries a pool, else None."""
    digest = file_sha256(model_file)
    for name, c in _cards().items():
        if c["sha256"] == digest and c.get("pool"):
            return name, pool_codes(name)
    return None


def sha256(name: str) -> str:
    """The SHA-256 of a shipped model's file (the card records it; a test checks they agree)."""
    return file_sha256(resolve(name))


def format_cards(name: str | None = None) -> str:
    """The list of shipped models (one line each), or one model's whole card."""
    cards = _cards()
    if name is None:
        lines = ["name | trained on | summary", "---|---|---"]
        lines += [f"{n} | {c['trained_on']} | {c['summary']}" for n, c in cards.items()]
        lines += ["", "`corel models NAME` shows a model's card; use a name wherever a model.pt goes."]
        return "\n".join(lines)
    c = card(name)
    lines = [f"# {name}", "", c["summary"], "", f"trained on: {c['trained_on']}", f"labels used: {c['labels_used']}",
             f"architecture: {c['architecture']}", f"recipe: {c['recipe']}", f"command: {c['command']}",
             (f"file: {c['file']} ({c['size_mb']} MB, sha256 {c['sha256'][:16]}...)" if not c.get("stack_of") else
              f"file: the stack of {' and '.join(c['stack_of'])}, written on first use into the cache folder "
              f"(sha256 {c['sha256'][:16]}...)"),
             f"default pool: {c['pool']['description']}" if c.get("pool") else "default pool: none", "",
             "| protocol | evaluated on | scorer | n | mean AUROC x 100 | source |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['protocol']} | {r['evaluated_on']} | {r['scorer']} | {r['n']} | {r['auroc']} | {r['source']} |"
              for r in c["results"]]
    if c.get("notes"):
        lines += ["", c["notes"]]
    return "\n".join(lines)
