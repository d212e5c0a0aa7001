"""Prototype: k-NN on the encoder's convolutional features (before the branch layer) against
the per-branch l1 k-NN on the codes, validation protocol, flips, n = 120, 5 draws. Not an
option of corel; the command behind a "what did not help" / "what helped" line.

    python scripts/prototypes/conv_features.py results/cifar10-beyond/models/ctr300-rec01-w2-t01/model.pt
"""
import sys, time
import numpy as np, torch
from sklearn.metrics import roc_auc_score
from corel.data import holdout_split, load_dataset
from corel.training.checkpoints import load_checkpoint, load_model

torch.set_num_threads(1)
path = sys.argv[1]
ck, model = load_checkpoint(path), load_model(path).eval()
data = load_dataset("cifar10-jpeg", split="train", root="../shared/data/cifar10-jpeg", image_size=32)
labels = np.asarray(data.labels)
kept, held = (t.numpy() for t in holdout_split(len(labels), int(ck["config"]["holdout"])))
n, draws, B = 120, 5, model.n_branches
picks = {}
for c in range(10):
    idx_c = kept[labels[kept] == c]
    for d in range(draws):
        rng = np.random.default_rng(np.random.SeedSequence(0, spawn_key=(c, d)))
        picks[c, d] = rng.choice(idx_c, n, replace=False)
need = np.unique(np.concatenate([held] + list(picks.values())))
row = {int(i): r for r, i in enumerate(need)}


@torch.no_grad()
def encode(flip):
    conv, code = [], []
    for s in range(0, len(need), 500):
        x = data.images[torch.as_tensor(need[s:s + 500])].float().div(255.0)
        x = x.flip(-1) if flip else x
        h = model.encoder_conv(x)
        conv.append(h)
        code.append(model.encoder_fc(h.flatten(1)))
    return torch.cat(conv).double(), torch.cat(code).double()


t0 = time.time()
(c0, z0), (c1, z1) = encode(False), encode(True)
print(f"encoded {len(need)} images x 2 views in {time.time() - t0:.0f}s; conv {tuple(c0.shape[1:])}", flush=True)


def branch_l1(q, x, chunks):
    qb = q.reshape(q.shape[0], chunks, -1).transpose(0, 1)
    xb = x.reshape(x.shape[0], chunks, -1).transpose(0, 1)
    return torch.cdist(qb, xb, p=1).topk(5, -1, largest=False).values.mean(-1).sum(0)


def whole(q, x, p):
    return torch.cdist(q, x, p=p).topk(5, -1, largest=False).values.mean(-1)


def cos(q, x):
    q, x = torch.nn.functional.normalize(q, dim=1), torch.nn.functional.normalize(x, dim=1)
    return -(q @ x.T).topk(5, -1).values.mean(-1)


FEATS = {  # name -> (view 0, view 1) features
    "codes": (z0, z1),
    "conv flat": (c0.flatten(1), c1.flatten(1)),
    "conv gap": (c0.mean((2, 3)), c1.mean((2, 3))),
    "conv flat relu": (c0.clamp_min(0).flatten(1), c1.clamp_min(0).flatten(1)),
}
SCORERS = {
    "codes": [("branch l1", lambda q, x: branch_l1(q, x, B)), ("cos", cos)],
    # (l1 on the 4096 flat dims is not a matrix product: minutes per scorer, left out)
    "conv flat": [("l2", lambda q, x: whole(q, x, 2)), ("cos", cos)],
    "conv gap": [("l2", lambda q, x: whole(q, x, 2)), ("cos", cos)],
    "conv flat relu": [("l2", lambda q, x: whole(q, x, 2)), ("cos", cos)],
}
hr = [row[int(i)] for i in held]
for feat, (f0, f1) in FEATS.items():
    for name, f in SCORERS[feat]:
        t0, aucs = time.time(), np.zeros((10, draws))
        for (c, d), pick in picks.items():
            pr = [row[int(i)] for i in pick]
            x = torch.cat([f0[pr], f1[pr]])
            s = f(f0[hr], x) + f(f1[hr], x)
            aucs[c, d] = 100 * roc_auc_score(labels[held] != c, s.numpy())
        pc = aucs.mean(1)
        print(f"{feat + ' ' + name:24s} mean {pc.mean():.2f} worst {data.classes[pc.argmin()]} {pc.min():.1f} | "
              + " ".join(f"{v:.1f}" for v in pc) + f"  ({time.time() - t0:.0f}s)", flush=True)
