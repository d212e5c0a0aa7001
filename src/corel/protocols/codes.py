"""Latent codes of a data split under a trained model, and their one cache on disk.

`corel evaluate`, `corel compare` and `corel ablate` all encode a whole split and reuse the
codes between runs. A cached file is served only for exactly what determines the codes: the
checkpoint's content digest (not its path: a model retrained in place is another model), the
data set, its root, the split and the image size. Files are named by that key, written
atomically, and checked again when read; a corrupt, truncated or mismatched file is recomputed
with a one-line notice, never trusted.
"""
from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from .._atomic import atomic_torch_save
from ..training.checkpoints import checkpoint_digest

__all__ = ["CodeKey", "Codes", "checkpoint_digest", "encode_split", "load_cached_codes"]

CACHE_FORMAT = 1


@dataclass(frozen=True)
class CodeKey:
    """Everything that determines the codes of one split."""

    checkpoint_sha256: str
    dataset: str
    data_root: str | None        # resolved absolute path, or None for the loader's own default
    split: str
    image_size: int
    view: str = "identity"       # or another corel.scoring.views view (hflip, shift(2,2), ...) applied before encoding

    @classmethod
    def of(cls, checkpoint, dataset: str, data_root, split: str, image_size: int, view: str = "identity") -> "CodeKey":
        return cls.for_digest(checkpoint_digest(checkpoint), dataset, data_root, split, image_size, view)

    @classmethod
    def for_digest(cls, digest: str, dataset: str, data_root, split: str, image_size: int,
                   view: str = "identity") -> "CodeKey":
        root = None if data_root is None else os.path.abspath(os.fspath(data_root))
        return cls(digest, dataset, root, split, int(image_size), view)

    def as_dict(self) -> dict:
        key = dict(checkpoint_sha256=self.checkpoint_sha256, dataset=self.dataset, data_root=self.data_root,
                   split=self.split, image_size=self.image_size)
        if self.view != "identity":   # identity keys stay as they were before views existed
            key["view"] = self.view
        return key

    def file_name(self) -> str:
        digest = hashlib.sha256(repr(sorted(self.as_dict().items())).encode()).hexdigest()[:16]
        return f"codes_{self.split}_{digest}.pt"


@dataclass(frozen=True)
class Codes:
    """The codes (N, D) of a split, its labels (N,) and class names."""

    codes: torch.Tensor
    labels: torch.Tensor
    classes: list


def load_cached_codes(path: Path, key: CodeKey, labels: torch.Tensor | None = None) -> torch.Tensor | None:
    """The cached codes at ``path`` when they are intact and belong to ``key`` (and ``labels``); else None.

    Anything else (missing, unreadable, another key, wrong shapes, non-finite values) returns
    None; a file that exists but is not served prints a one-line notice on stderr.
    """
    if not path.exists():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        reason = _mismatch(saved, key, labels)
    except Exception as err:  # torch raises many types for truncated or foreign files
        reason = f"unreadable ({type(err).__name__})"
    if reason is None:
        return saved["codes"]
    print(f"notice: codes cache {path} {reason}; encoding again.", file=sys.stderr)
    return None


def _mismatch(saved, key: CodeKey, labels) -> str | None:
    if not isinstance(saved, dict) or saved.get("format") != CACHE_FORMAT:
        return "is not a corel codes cache"
    if saved.get("key") != key.as_dict():
        return "belongs to another model or data set"
    codes, saved_labels = saved.get("codes"), saved.get("labels")
    if not isinstance(codes, torch.Tensor) or not isinstance(saved_labels, torch.Tensor) \
            or codes.dim() != 2 or len(codes) != len(saved_labels):
        return "is malformed"
    if labels is not None and (saved_labels.shape != labels.shape or not torch.equal(saved_labels, labels)):
        return "holds other labels than the data set now"
    if not torch.isfinite(codes).all():
        return "holds non-finite codes"
    return None


def _store(path: Path, key: CodeKey, codes: torch.Tensor, labels: torch.Tensor) -> None:
    atomic_torch_save({"format": CACHE_FORMAT, "key": key.as_dict(), "codes": codes, "labels": labels}, path)


def encode_split(checkpoint, dataset: str, split: str, data_root=None, cache_dir=None, *, model=None,
                 image_size: int | None = None, batch_size: int = 1000, device=None, progress: bool = True,
                 data=None, view: str = "identity") -> Codes:
    """Codes of ``split`` of ``dataset`` under the model of ``checkpoint``, cached in ``cache_dir``.

    ``model`` (already loaded) and ``data`` (an already loaded ImageSet of that split) save work
    when the caller has them; ``image_size`` defaults to the checkpoint's. ``view`` (a
    :mod:`corel.scoring.views` name such as ``"hflip"`` or ``"shift(2,2)"``) encodes the images seen so
    (test-time augmentation).
    """
    from ..scoring.views import apply_view, check_view
    check_view(view)
    from ..data import load_dataset
    from ..training.encode import encode_images
    from ..training.checkpoints import load_checkpoint, load_model

    if image_size is None or model is None:
        ck = load_checkpoint(checkpoint)
        image_size = image_size or int(ck["model_args"].get("image_size", ck.get("config", {}).get("image_size", 32)))
        model = model if model is not None else load_model(checkpoint)
    if data is None:
        data = load_dataset(dataset, split=split, root=data_root, image_size=image_size)
    key = CodeKey.of(checkpoint, dataset, data_root, split, image_size, view)
    path = Path(cache_dir) / key.file_name() if cache_dir is not None else None
    codes = load_cached_codes(path, key, data.labels) if path is not None else None
    if codes is not None:
        return Codes(codes, data.labels, list(data.classes))
    desc = f"encoding {split}" + ("" if view == "identity" else f" ({view})")
    parts = _stack_parts(checkpoint, model) if path is not None else None
    if parts is None:
        codes = encode_images(model, apply_view(data.images, view), batch_size, device, progress=progress, desc=desc)
        if path is not None:
            _store(path, key, codes, data.labels)
        return Codes(codes, data.labels, list(data.classes))
    # A stack's code is its parts' codes side by side: each part is cached under its own model's
    # digest, so a stack reuses the codes its parts were evaluated with (and every other stack
    # sharing a part reuses them too); the concatenation is not stored a second time.
    images, pieces = None, []
    for i, (digest, part) in enumerate(parts):
        part_key = CodeKey.for_digest(digest, dataset, data_root, split, image_size, view)
        part_path = Path(cache_dir) / part_key.file_name()
        piece = load_cached_codes(part_path, part_key, data.labels)
        if piece is None:
            images = apply_view(data.images, view) if images is None else images
            piece = encode_images(part, images, batch_size, device, progress=progress,
                                  desc=f"{desc}, part {i + 1} of {len(parts)}")
            _store(part_path, part_key, piece, data.labels)
        pieces.append(piece)
    return Codes(torch.cat(pieces, dim=1), data.labels, list(data.classes))


def _stack_parts(checkpoint, model):
    """(recorded digest, encoder) of each part of a stack made of plain models by `corel stack`, or
    None (not a stack; or a stack of stacks, whose record lists the inner stack's file, not its
    parts: encoded whole)."""
    from ..training.models import StackedEncoder
    if not isinstance(model, StackedEncoder):
        return None
    from ..training.checkpoints import load_checkpoint
    made_of = load_checkpoint(checkpoint).get("config", {}).get("stack_of", [])
    if len(made_of) != len(model.parts) or any(m.get("model_name") == "stack" or not m.get("sha256")
                                               for m in made_of):
        return None
    return [(m["sha256"], part) for m, part in zip(made_of, model.parts)]
