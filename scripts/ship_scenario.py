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

POOL_SIZE = 2000
USAGE = ("usage: ship_scenario.py DATA_ROOT OUT | --auroc SCORES.csv | --pools N DATA_ROOT OUT "
         "(DATA_ROOT holds train.zip and test.zip)")


def _jpgs(zf: zipfile.ZipFile) -> list:
    return [n for n in zf.namelist() if n.endswith(".jpg")]


def _copy(zf: zipfile.ZipFile, names, folder: Path) -> None:
    """``names`` of ``zf`` into a new ``folder`` as 0.jpg, 1.jpg, ...; never into an existing one."""
    folder.mkdir(parents=True, exist_ok=False)
    for i, name in enumerate(names):
        (folder / f"{i}.jpg").write_bytes(zf.read(name))


def build(root: Path, out: Path) -> None:
    rng = random.Random(0)
    train, test = zipfile.ZipFile(root / "train.zip"), zipfile.ZipFile(root / "test.zip")
    tr, te = _jpgs(train), _jpgs(test)
    sets = {"inliers": (train, rng.sample([n for n in tr if "/ship/" in n], 120)),
            "images/ship": (test, rng.sample([n for n in te if "/ship/" in n], 200)),
            "images/other": (test, rng.sample([n for n in te if "/ship/" not in n], 200)),
            "pool": (train, rng.sample(tr, POOL_SIZE))}
    for sub, (zf, names) in sets.items():
        _copy(zf, names, out / sub)
    for i in range(3):
        (out / "images" / "other" / f"broken{i}.jpg").write_bytes(b"\xff\xd8 not a jpeg")


def pools(count: int, root: Path, out: Path) -> None:
    """``count`` more pools like the scenario's, each drawn with its own seed from all training images."""
    train = zipfile.ZipFile(root / "train.zip")
    tr = _jpgs(train)
    for seed in range(1, count + 1):
        _copy(train, random.Random(seed).sample(tr, POOL_SIZE), out / f"pool-{seed}")


def auroc(csv_path: str) -> float:
    import csv
    from sklearn.metrics import roc_auc_score
    rows = [r for r in csv.DictReader(open(csv_path)) if r["score"]]
    return roc_auc_score(["/other/" in r["path"] for r in rows], [float(r["score"]) for r in rows])


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--auroc"] and len(args) == 2:
        print(f"{auroc(args[1]):.4f}")
    elif args[:1] == ["--pools"] and len(args) == 4 and args[1].isdigit():
        pools(int(args[1]), Path(args[2]), Path(args[3]))
    elif len(args) == 2 and not args[0].startswith("--"):
        build(Path(args[0]), Path(args[1]))
    else:
        sys.exit(USAGE)
