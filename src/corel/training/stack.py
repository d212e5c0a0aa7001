"""`corel stack`: trained encoders side by side in one model file.

The stacked model's code is its parts' codes concatenated, each part keeping its branches
(:class:`corel.training.models.StackedEncoder`); every command that takes a ``model.pt`` (evaluate,
compare, score, the detector) takes the stack unchanged, and the scorers, which sum over
branches, add the parts' evidence. Two recipes that see different things (the paper's
reconstruction and a contrastive one, ``results/cifar10-beyond``) are combined this way without
any label and without retraining.

The file records what it was made of (each part's path, content digest and training settings).
Settings the protocols read (data set, image size, hold-out, lambda) are kept only where all
parts agree; a stack of parts with different hold-outs has none, so the validation protocol
refuses it (one part would have trained on the held-out images).
"""
from __future__ import annotations

import os
from pathlib import Path

from .._atomic import atomic_torch_save

__all__ = ["stack_checkpoints"]

_SHARED_SETTINGS = ("dataset", "image_size", "holdout", "lam", "eta")


def stack_checkpoints(paths, out, labels=None) -> Path:
    """Write the stack of the checkpoints ``paths`` (model.pt or .ckpt of `corel train`) to ``out``.

    ``labels``: what the file records as each part's origin in place of its path (a shipped
    model's name), so that the same parts give the same bytes wherever they are installed."""
    from .checkpoints import FORMAT_VERSION, load_checkpoint
    from .checkpoints import checkpoint_digest
    from .models import StackedEncoder

    paths = [Path(p) for p in paths]
    if len(paths) < 2:
        raise ValueError(f"corel stack needs at least 2 models; got {len(paths)}.")
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists; stack into another --out (nothing is overwritten).")
    parts, state, made_of = [], {}, []
    labels = [os.fspath(p) for p in paths] if labels is None else [str(label) for label in labels]
    if len(labels) != len(paths):
        raise ValueError(f"stack_checkpoints: {len(labels)} labels for {len(paths)} models.")
    for path, label in zip(paths, labels):
        ck = load_checkpoint(path)
        for name, args, sub_state in _parts_of(ck):
            prefix = f"parts.{len(parts)}."
            parts.append({"model_name": name, "model_args": args})
            state.update({prefix + k: v for k, v in sub_state.items()})
        made_of.append({"checkpoint": label, "sha256": checkpoint_digest(path),
                        "model_name": ck["model_name"], "config": ck.get("config", {})})
    model = StackedEncoder(parts)                       # checks the branch widths and image shapes agree
    model.load_state_dict(state)
    args = {"parts": parts, "n_branches": model.n_branches, "image_size": model.image_size,
            "in_channels": model.in_channels}
    config = _shared_config([m["config"] for m in made_of])
    config["stack_of"] = made_of
    atomic_torch_save({"format_version": FORMAT_VERSION, "model_name": "stack", "model_args": args,
                       "config": config, "state_dict": model.state_dict()}, out)
    return out


def _parts_of(ck: dict):
    """(model name, args, state dict) of each encoder of a checkpoint; a stack gives its own parts."""
    if ck["model_name"] != "stack":
        return [(ck["model_name"], ck["model_args"], ck["state_dict"])]
    out = []
    for i, part in enumerate(ck["model_args"]["parts"]):
        prefix = f"parts.{i}."
        sub = {k[len(prefix):]: v for k, v in ck["state_dict"].items() if k.startswith(prefix)}
        out.append((part["model_name"], part["model_args"], sub))
    return out


def _shared_config(configs: list[dict]) -> dict:
    shared = {}
    for key in _SHARED_SETTINGS:
        values = [c.get(key) for c in configs]
        if all(v == values[0] for v in values) and values[0] is not None:
            shared[key] = values[0]
    if "holdout" not in shared:     # parts disagree: one has seen images the other held out
        shared["holdout"] = 0
    return shared
