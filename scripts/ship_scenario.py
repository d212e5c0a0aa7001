"""A user's folders from real CIFAR-10: 120 'ship' examples, 200 ship + 200 other test images to score, 3
broken files, and 2,000 unlabelled training images as an optional pool.

Usage: python scripts/ship_scenario.py DATA_ROOT OUT      (DATA_ROOT holds train.zip and test.zip)
Then:  corel score --model cifar10-contrastive --inliers OUT/inliers --images OUT/images --report
AUROC of 'other' against 'ship': python scripts/ship_scenario.py --auroc scores.csv
Other draws of the pool (2,000 training images each, seeds 1..N): python scripts/ship_scenario.py --pools N DATA_ROOT OUT
(writes OUT/pool-1 ... OUT/pool-N)
"""
import random
import sys
import zipfile
from pathlib import Path


def build(root: Path, out: Path) -> None:
    rng = random.Random(0)
    train, test = zipfile.ZipFile(root / "train.zip"), zipfile.ZipFile(root / "test.zip")
    tr = [n for n in train.namelist() if n.endswith(".jpg")]
    te = [n for n in test.namelist() if n.endswith(".jpg")]
    sets = {"inliers": (train, rng.sample([n for n in tr if "/ship/" in n], 120)),
            "images/ship": (test, rng.sample([n for n in te if "/ship/" in n], 200)),
            "images/other": (test, rng.sample([n for n in te if "/ship/" not in n], 200)),
            "pool": (train, rng.sample(tr, 2000))}
    for sub, (zf, names) in sets.items():
        (out / sub).mkdir(parents=True, exist_ok=False)
        for i, name in enumerate(names):
            (out / sub / f"{i}.jpg").write_bytes(zf.read(name))
    for i in range(3):
        (out / "images" / "other" / f"broken{i}.jpg").write_bytes(b"\xff\xd8 not a jpeg")


def pools(count: int, root: Path, out: Path) -> None:
    """``count`` more pools like the scenario's, each drawn with its own seed from all training images."""
    train = zipfile.ZipFile(root / "train.zip")
    tr = [n for n in train.namelist() if n.endswith(".jpg")]
    for seed in range(1, count + 1):
        folder = out / f"pool-{seed}"
        folder.mkdir(parents=True, exist_ok=False)
        for i, name in enumerate(random.Random(seed).sample(tr, 2000)):
            (folder / f"{i}.jpg").write_bytes(train.read(name))


def auroc(csv_path: str) -> float:
    import csv
    from sklearn.metrics import roc_auc_score
    rows = [r for r in csv.DictReader(open(csv_path)) if r["score"]]
    return roc_auc_score(["/other/" in r["path"] for r in rows], [float(r["score"]) for r in rows])


if __name__ == "__main__":
    if sys.argv[1] == "--auroc":
        print(f"{auroc(sys.argv[2]):.4f}")
    elif sys.argv[1] == "--pools":
        pools(int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
    else:
        build(Path(sys.argv[1]), Path(sys.argv[2]))
