"""Prototype (session 5): more test-time views (shifts x flips), the views' scores added against
their codes averaged, validation protocol, knn k = 5. Kept as the command behind the "what did
not help" lines of results/cifar10-beyond/README.md.

    python scripts/prototypes/view_averaging.py results/cifar10-beyond/models/ctr300-rec01-e45
"""
import sys, time, numpy as np, torch
from pathlib import Path
from sklearn.metrics import roc_auc_score
from corel.training.checkpoints import load_checkpoint, load_model
from corel.data import load_dataset, holdout_split
from corel.training.encode import encode_images
torch.set_num_threads(1)
run = Path(sys.argv[1]); path = run / "model.pt"
ck, model = load_checkpoint(path), load_model(path)
data = load_dataset("cifar10-jpeg", split="train", root="../shared/data/cifar10-jpeg", image_size=32)
y = np.asarray(data.labels)
kept, held = holdout_split(len(y), 5000)
kept, held = np.asarray(kept), np.asarray(held)
n, draws = int(sys.argv[2]) if len(sys.argv) > 2 else 120, 5
picks = {}
for c in range(10):
    idx_c = kept[y[kept] == c]
    for d in range(draws):
        rng = np.random.default_rng(np.random.SeedSequence(0, spawn_key=(c, d)))
        picks[c, d] = idx_c[rng.choice(len(idx_c), n, replace=False)]
need = np.unique(np.concatenate([held] + list(picks.values())))
pos = {v: i for i, v in enumerate(need)}
imgs = data.images[torch.as_tensor(need)]
def shift(x, dx, dy, pad=4):
    p = torch.nn.functional.pad(x.float() if not x.is_floating_point() else x, (pad,) * 4, mode="reflect")
    return p[..., pad + dy:pad + dy + 32, pad + dx:pad + dx + 32].to(x.dtype)
views = {}
for name, (dx, dy) in {"c": (0, 0), "s+": (2, 2), "s-": (-2, -2), "s+-": (2, -2), "s-+": (-2, 2)}.items():
    for fl in (False, True):
        x = shift(imgs, dx, dy) if (dx or dy) else imgs
        x = x.flip(-1) if fl else x
        t0 = time.time()
        views[name + ("f" if fl else "")] = encode_images(model, x, 1000, None, progress=False).double()
        print("encoded", name, fl, f"{time.time()-t0:.0f}s", flush=True)
B = 16
def br(z): return z.reshape(z.shape[0], B, -1).transpose(0, 1)
def knn(q, x, k=5): return -torch.cdist(br(q), br(x), p=1).topk(k, -1, largest=False).values.mean(-1).sum(0)
hi = torch.as_tensor([pos[v] for v in held]); yh = y[held]
def run_cfg(label, vs, mode):
    t0 = time.time(); aucs = np.zeros((10, draws))
    for c in range(10):
        for d in range(draws):
            pi = torch.as_tensor([pos[v] for v in picks[c, d]])
            if mode == "sum":
                x = torch.cat([views[v][pi] for v in vs])
                s = sum(knn(views[v][hi], x) for v in vs)
            else:
                x = sum(views[v][pi] for v in vs) / len(vs); q = sum(views[v][hi] for v in vs) / len(vs)
                s = knn(q, x)
            aucs[c, d] = 100 * roc_auc_score(yh == c, s.numpy())
    pc = aucs.mean(1)
    print(f"{label:34s} mean {pc.mean():.2f} std {aucs.std(1).mean():.2f} worst {pc.min():.1f} | " + " ".join(f"{v:.1f}" for v in pc) + f" ({time.time()-t0:.0f}s)", flush=True)
run_cfg("c (no tta)", ["c"], "sum")
run_cfg("c+cf sum (current)", ["c", "cf"], "sum")
run_cfg("c+cf mean-code", ["c", "cf"], "mean")
v6 = ["c", "cf", "s+", "s+f", "s-", "s-f"]
run_cfg("6 views mean-code", v6, "mean")
v10 = list(views)
run_cfg("10 views mean-code", v10, "mean")
run_cfg("6 views sum", v6, "sum")
