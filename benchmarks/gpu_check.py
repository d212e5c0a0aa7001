"""The CUDA paths in one go: H0 / H1 on the GPU against the CPU, the paper's step and a training epoch timed.

Usage (on a machine with a GPU; about 2-4 minutes):

    python benchmarks/gpu_check.py [--out gpu_check.json] [--quick]

``--device cpu`` runs the same script on the CPU (to check the script itself; the comparisons are then
CPU against CPU). Exit status 1 if any result differs from the CPU's beyond float32 rounding.

1. H0 (``vr_persistence_0d``): deaths and their gradients on CUDA against the CPU, l1 / l2 / l_inf / p = 3,
   float32 and float64, the paper's batch 16 x 100 x 10 and one cloud of 2,000 x 16.
2. H1 (``vr_persistence_1d``): diagrams of 8 noisy circles (200 points) and their gradients.
3. The paper's step: the connectivity loss forward + backward on 16 x 100 x 10 codes, median of 50.
4. One training epoch of the paper's autoencoder with corel's contrastive recipe on 20,000 random
   32 x 32 images, in float32 and with --precision bf16-mixed (``corel train``, Lightning, the device's
   accelerator): seconds and images / s.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import cpu_name, versions  # noqa: E402


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _h0(device, quick: bool) -> list[dict]:
    from corel import vr_persistence_0d
    rows = []
    shapes = [(16, 100, 10)] + ([] if quick else [(1, 2000, 16)])
    for shape in shapes:
        for metric in ("l1", "l2", "linf", 3.0):
            for dtype in (torch.float32, torch.float64):
                x = torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=dtype)
                res = {}
                for dev in (torch.device("cpu"), device):
                    xd = x.to(dev).requires_grad_()
                    p = vr_persistence_0d(xd, metric=metric)
                    (p.deaths * torch.linspace(0.5, 1.5, p.deaths.shape[-1], device=dev, dtype=dtype)).sum().backward()
                    res[dev.type] = (p.deaths.detach().cpu(), xd.grad.cpu())
                (d0, g0), (d1, g1) = res["cpu"], res[device.type]
                tol = 1e-5 if dtype == torch.float32 else 1e-12
                err = float((d0 - d1).abs().max() / d0.abs().max().clamp_min(1e-30))
                gerr = float((g0 - g1).abs().max() / g0.abs().max().clamp_min(1e-30))
                rows.append({"check": "H0", "shape": list(shape), "metric": str(metric), "dtype": str(dtype),
                             "deaths_rel_err": err, "grad_rel_err": gerr, "ok": err <= tol and gerr <= 100 * tol})
    return rows


def _h1(device, quick: bool) -> list[dict]:
    from corel import vr_persistence_1d
    g = torch.Generator().manual_seed(1)
    n = 80 if quick else 200
    t = torch.rand(8, n, generator=g) * 2 * math.pi
    x = torch.stack([t.cos(), t.sin()], -1) + 0.1 * torch.randn(8, n, 2, generator=g)
    rows = []
    for metric in ("l2", "l1"):
        res = {}
        for dev in (torch.device("cpu"), device):
            xd = x.to(dev).requires_grad_()
            _, h1 = vr_persistence_1d(xd, metric)
            (h1.deaths - h1.births).sum().backward()
            res[dev.type] = (h1.births.detach().cpu(), h1.deaths.detach().cpu(), h1.n_pairs.cpu(), xd.grad.cpu())
        a, b = res["cpu"], res[device.type]
        same_pairs = bool(torch.equal(a[2], b[2]))
        err = float(max((a[0] - b[0]).abs().max(), (a[1] - b[1]).abs().max())) if same_pairs else math.inf
        gerr = float((a[3] - b[3]).abs().max()) if same_pairs else math.inf
        rows.append({"check": "H1", "clouds": 8, "points": n, "metric": metric, "same_pair_counts": same_pairs,
                     "max_abs_err": err, "grad_max_abs_err": gerr, "ok": same_pairs and err < 1e-5 and gerr < 1e-4})
    return rows


def _paper_step(device, reps: int) -> dict:
    from corel import ConnectivityLoss
    loss_fn = ConnectivityLoss(eta=2.0, metric="l1", n_branches=16)
    z = torch.randn(100, 160, device=device, requires_grad=True)
    times = []
    for i in range(reps + 5):
        _sync(device)
        t0 = time.perf_counter()
        loss_fn(z).backward()
        _sync(device)
        if i >= 5:
            times.append(time.perf_counter() - t0)
    return {"check": "paper step (connectivity loss fwd+bwd, 16 x 100 x 10)", "median_ms": 1e3 * statistics.median(times),
            "reps": reps}


def _epoch(device, n_images: int, precision: str = "32-true") -> dict:
    from corel.apps.cli import main
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        np.savez(Path(tmp) / "random.npz", x=rng.integers(0, 256, (n_images, 32, 32, 3), dtype=np.uint8),
                 y=np.zeros(n_images, dtype=np.int64))
        args = ["train", "--dataset", "npz", "--data-root", str(Path(tmp) / "random.npz"), "--recipe", "contrastive",
                "--epochs", "1", "--no-progress-bar", "--out-dir", str(Path(tmp) / "run"),
                "--accelerator", "gpu" if device.type == "cuda" else "cpu", "--devices", "1", "--precision", precision]
        t0 = time.perf_counter()
        rc = main(args)
        seconds = time.perf_counter() - t0
    return {"check": f"one training epoch (contrastive recipe, 32 x 32, batch 100, {precision})", "images": n_images,
            "seconds": seconds, "images_per_s": n_images / seconds, "ok": rc == 0}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--quick", action="store_true", help="smaller shapes and epoch (a check of the script)")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here: run on a machine with a GPU (or --device cpu to check the script)", file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    print(f"device: {name}; {versions(['torch', 'lightning', 'numba'])}")
    rows = _h0(device, args.quick) + _h1(device, args.quick)
    rows.append(_paper_step(device, 10 if args.quick else 50))
    for precision in ("32-true", "bf16-mixed"):
        rows.append(_epoch(device, 2000 if args.quick else 20000, precision))
    for r in rows:
        print(json.dumps(r))
    bad = [r for r in rows if r.get("ok") is False]
    print(f"{len(rows) - len(bad)} of {len(rows)} checks ok" + ("" if not bad else f"; differ: {bad}"))
    if args.out:
        Path(args.out).write_text(json.dumps({"device": name, "rows": rows}, indent=1) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
