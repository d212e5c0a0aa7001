"""Prototype (session 5): whole-code distances, cosine, whitening and standardisation against the
per-branch l1 k-NN, validation protocol, flips. Not an option of corel; kept as the command
behind the "what did not help" lines of results/cifar10-beyond/README.md.

    python scripts/prototypes/whole_code_scorers.py results/cifar10-beyond/models/ctr300-rec01-e45
"""
import sys, time, numpy as np, torch
from pathlib import Path
from sklearn.metrics import roc_auc_score
from corel.training.checkpoints import load_checkpoint, load_model
from corel.protocols.jobs import EvalSpec, protocol_codes
torch.set_num_threads(1)
run = Path(sys.argv[1]); path = run / "model.pt"
ck, model = load_checkpoint(path), load_model(path)
spec = EvalSpec(dataset="cifar10-jpeg", data_root="../shared/data/cifar10-jpeg", protocol=sys.argv[2] if len(sys.argv) > 2 else "validation", progress=False)
tr, tr_y, te, te_y, classes = protocol_codes(path, model, ck, spec, run / "codes")
ftr, _, fte, _, _ = protocol_codes(path, model, ck, spec, run / "codes", view="hflip")
tr, ftr, te, fte = [torch.as_tensor(np.asarray(a)).double() for a in (tr, ftr, te, fte)]
tr_y, te_y = np.asarray(tr_y), np.asarray(te_y)
B = 16
print(tr.shape, te.shape, flush=True)

def br(z): return z.reshape(z.shape[0], B, -1).transpose(0, 1)
def knn_branch(q, x, k=5, scale=None):
    d = torch.cdist(br(q), br(x), p=1)  # B,Q,n
    s = d.topk(k, -1, largest=False).values.mean(-1)  # B,Q
    if scale is not None: s = s / scale[:, None]
    return -s.sum(0)
def loo_scale(x, k=5):
    d = torch.cdist(br(x), br(x), p=1); i = torch.arange(x.shape[0]); d[:, i, i] = float("inf")
    return d.topk(k, -1, largest=False).values.mean(-1).mean(-1)  # B
def knn_whole(q, x, k=5, p=2):
    d = torch.cdist(q, x, p=p); return -d.topk(k, -1, largest=False).values.mean(-1)
def cos_knn(q, x, k=1):
    qn = torch.nn.functional.normalize(q, dim=1); xn = torch.nn.functional.normalize(x, dim=1)
    s = qn @ xn.T; return s.topk(k, -1).values.mean(-1)

pool = torch.cat([tr, ftr])
mu, sd = pool.mean(0), pool.std(0)
# PCA whitening on the unlabeled pool
C = torch.cov((pool - mu).T); ev, evec = torch.linalg.eigh(C)
W = evec / ev.clamp_min(1e-6 * ev.max()).sqrt()
def std(z): return (z - mu) / sd
def white(z): return (z - mu) @ W

SC = {
 "knn5 branch l1 (current)": lambda q, x: knn_branch(q, x),
 "knn5 branch l1 LOO-normalised": lambda q, x: knn_branch(q, x, scale=loo_scale(x)),
 "knn5 whole l1": lambda q, x: knn_whole(q, x, p=1),
 "knn5 whole l2": lambda q, x: knn_whole(q, x, p=2),
 "cos k1": lambda q, x: cos_knn(q, x, 1),
 "cos k5": lambda q, x: cos_knn(q, x, 5),
 "cos k5 centred": lambda q, x: cos_knn(q - mu, x - mu, 5),
 "knn5 branch l1 on standardised": lambda q, x: knn_branch(std(q), std(x)),
 "cos k5 on standardised": lambda q, x: cos_knn(std(q), std(x), 5),
 "knn5 whole l2 whitened": lambda q, x: knn_whole(white(q), white(x), p=2),
}
only = sys.argv[3].split(";") if len(sys.argv) > 3 else list(SC)
n = int(sys.argv[4]) if len(sys.argv) > 4 else 120
draws = 5
for name in only:
    f = SC[name]; t0 = time.time(); aucs = np.zeros((10, draws))
    for c in range(10):
        idx_c = np.flatnonzero(tr_y == c)
        for d in range(draws):
            rng = np.random.default_rng(np.random.SeedSequence(0, spawn_key=(c, d)))
            pick = rng.choice(idx_c, n, replace=False)
            x = torch.cat([tr[pick], ftr[pick]])
            s = f(te, x) + f(fte, x)
            aucs[c, d] = 100 * roc_auc_score(te_y == c, s.numpy())
    pc = aucs.mean(1)
    print(f"{name:40s} mean {pc.mean():.2f} std {aucs.std(1).mean():.2f} worst {classes[pc.argmin()]} {pc.min():.1f} | " + " ".join(f"{v:.1f}" for v in pc) + f"  ({time.time()-t0:.0f}s)", flush=True)
