"""Write the default pool a shipped model carries: the codes of SIZE of its own training images.

Usage: python scripts/named_pool.py MODEL_FILE --data-root DIR --out FILE [--size 2000] [--seed 20261207]

The images are drawn from the model's training split outside its hold-out (``holdout`` of its
config), ``numpy.random.default_rng(SEED).choice`` without replacement, sorted, labels unused, and
encoded in the identity view. ``src/corel/named/cifar10-contrastive.pool.pt`` is this script's output
for ``cifar10-contrastive.pt`` (re-run: codes within 1.2e-6, the encoding's last bits).
"""
from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=20261207)
    args = ap.parse_args(argv)

    import torch
    from corel.data import holdout_split, load_dataset
    from corel.training.checkpoints import load_checkpoint, load_model
    from corel.training.encode import encode_images
    torch.set_num_threads(1)
    ck = load_checkpoint(args.model)
    cfg = ck["config"]
    data = load_dataset(cfg["dataset"], split="train", root=args.data_root, image_size=int(cfg["image_size"]))
    kept, _ = holdout_split(len(data.labels), int(cfg["holdout"]))
    pick = np.sort(np.random.default_rng(args.seed).choice(kept.numpy(), args.size, replace=False))
    codes = encode_images(load_model(args.model), data.images[torch.as_tensor(pick)], progress=False)
    source = (f"{args.size:,} {cfg['dataset']} training images outside the {int(cfg['holdout']):,} hold-out, drawn "
              f"with numpy default_rng({args.seed}), labels unused, identity view")
    out = {"format": "corel-pool", "model_sha256": hashlib.sha256(Path(args.model).read_bytes()).hexdigest(),
           "codes": codes.contiguous(), "source": source}
    torch.save(out, args.out)
    print(f"{args.out}: {tuple(codes.shape)} codes; {source}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
