"""A trained encoder out of Python: ONNX (onnxruntime, OpenVINO, ...) and TorchScript.

The exported graph maps float32 images (N, C, H, W) in [0, 1] to the codes (N, n_branches x
branch_dim) that corel scores; the batch size is free. Scoring then needs no corel model code:
``CorelDetector()`` (no encoder) takes the codes directly. The ONNX file carries the input's
size, channels and branches in its metadata.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch

__all__ = ["export_encoder"]


class _Encoder(torch.nn.Module):
    """The encoder half alone: images -> codes."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, images):
        return self.model.encode(images)


def export_encoder(model, onnx=None, torchscript=None, *, overwrite: bool = False) -> dict:
    """Write ``model``'s encoder (a shipped name, a model.pt path or a loaded corel model) as ONNX and/or
    TorchScript; returns ``{"onnx": path, "torchscript": path, "input": (C, H, W), "code_size": D}``."""
    from ..named import load_model
    if onnx is None and torchscript is None:
        raise ValueError("Nothing to export: give --onnx FILE and/or --torchscript FILE.")
    for path in (onnx, torchscript):
        if path is not None and Path(path).exists() and not overwrite:
            raise FileExistsError(f"{path} exists; choose another file or pass --force to overwrite it.")
    net = load_model(model) if isinstance(model, (str, Path)) else model
    c, size = int(net.in_channels), int(net.image_size)
    enc = _Encoder(net.eval()).eval()
    example = torch.rand(2, c, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        code_size = int(enc(example).shape[1])
    out = {"input": (c, size, size), "code_size": code_size}
    if torchscript is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")      # the shape check in encode() is traced as a constant: intended
            traced = torch.jit.trace(enc, example)
        Path(torchscript).parent.mkdir(parents=True, exist_ok=True)
        traced.save(str(torchscript))
        out["torchscript"] = str(torchscript)
    if onnx is not None:
        Path(onnx).parent.mkdir(parents=True, exist_ok=True)
        _onnx(enc, example, str(onnx), {"image_size": size, "channels": c, "code_size": code_size,
                                         "n_branches": int(getattr(net, "n_branches", 0)),
                                         "input": "float32 images (N, C, H, W) in [0, 1]",
                                         "output": "codes (N, code_size): score them with corel.CorelDetector()"})
        out["onnx"] = str(onnx)
    return out


def _onnx(enc, example, path: str, meta: dict) -> None:
    try:
        import onnx
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install onnx (onnxruntime to run the file).") \
            from None
    with warnings.catch_warnings():
        # The TorchScript-based exporter: seconds where torch.export's takes half a minute on this encoder;
        # its deprecation notice and tracer warnings are not the user's business.
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        torch.onnx.export(enc, (example,), path, input_names=["images"], output_names=["codes"],
                          dynamic_axes={"images": {0: "batch"}, "codes": {0: "batch"}}, opset_version=17,
                          dynamo=False)
    model = onnx.load(path)
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = f"corel.{key}", str(value)
    onnx.checker.check_model(model)
    onnx.save(model, path)
