"""Reading trained models back: ``model.pt`` exports and Lightning ``.ckpt`` files, without Lightning.

Both are read with ``torch.load(weights_only=True)``: no pickled code is ever run, whatever
torch version is installed. Anything that is not a corel checkpoint (a YAML file, a text file,
a truncated download) gives one line that names the file and what was expected.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .._digest import file_sha256
from .models import build_model

__all__ = ["CheckpointError", "FORMAT_VERSION", "checkpoint_digest", "load_checkpoint", "load_model"]

FORMAT_VERSION = 1
_EXPECTED = "a model.pt or .ckpt written by `corel train`"


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, or does not match the model."""


def load_checkpoint(path) -> dict:
    """Read a ``model.pt`` export or a Lightning ``.ckpt`` into {model_name, model_args, config, state_dict}."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {path} does not exist. Train one with `corel train` first.")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types (and multi-line advice) for foreign files
        raise CheckpointError(f"Checkpoint {path} could not be read ({type(err).__name__}): the file is corrupt or "
                              f"not a corel checkpoint; expected {_EXPECTED}.") from None
    if not isinstance(raw, dict):
        raise CheckpointError(f"Checkpoint {path} is not a corel checkpoint (holds a {type(raw).__name__}); "
                              f"expected {_EXPECTED}.")
    if "corel" in raw and isinstance(raw.get("state_dict"), dict):  # Lightning checkpoint
        meta = raw["corel"]
        state = {k[len("model."):]: v for k, v in raw["state_dict"].items() if k.startswith("model.")}
        return {**meta, "state_dict": state}
    if {"model_name", "model_args", "state_dict"} <= set(raw):
        return raw
    raise CheckpointError(f"Checkpoint {path} holds keys {sorted(map(str, raw))[:8]}, not a corel model "
                          f"(expected model_name, model_args, state_dict); expected {_EXPECTED}.")


def load_model(path, **expect) -> torch.nn.Module:
    """Rebuild the model of a checkpoint alone, in eval mode.

    ``expect`` (e.g. ``n_branches=16``) checks constructor arguments and raises a clear
    CheckpointError when the checkpoint is of another architecture.
    """
    ck = load_checkpoint(path)
    for key, value in expect.items():
        got = ck["model_args"].get(key)
        if got != value:
            raise CheckpointError(f"Checkpoint {path} was trained with {key}={got}, but {key}={value} was asked for.")
    try:
        model = build_model(ck["model_name"], **ck["model_args"])
        model.load_state_dict(ck["state_dict"])
    except (RuntimeError, TypeError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"Checkpoint {path} does not match its declared architecture: {first}") from None
    return model.eval()


def checkpoint_digest(path) -> str:
    """SHA-256 of the checkpoint file's bytes (what the model is, whatever its file is called)."""
    return file_sha256(path)
