"""Encode a whole image set with a trained model, in batches, with a progress bar."""
from __future__ import annotations

import torch

from .._progress import progress_bar

__all__ = ["encode_images"]


@torch.no_grad()
def encode_images(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 1000,
                  device: str | torch.device | None = None, progress: bool = True,
                  desc: str = "encoding") -> torch.Tensor:
    """Latent codes (N, latent_dim) of uint8 images (N, C, H, W) in [0, 255] or floats in [0, 1].

    The model is used in eval mode on ``device`` (default: the model's); codes come back on the CPU.
    """
    if images.dim() != 4:
        raise ValueError(f"Expected images of shape (N, C, H, W); got {tuple(images.shape)}.")
    if device is None:
        device = next(model.parameters()).device
    model = model.to(device).eval()
    out = []
    for start in progress_bar(range(0, len(images), batch_size), desc=desc, enabled=progress, leave=False):
        batch = images[start:start + batch_size].to(device)
        batch = batch.float().div_(255.0) if batch.dtype == torch.uint8 else batch.float()
        out.append(model.encode(batch).cpu())
    if not out:
        raise ValueError("No images to encode (the image set is empty).")
    return torch.cat(out)
