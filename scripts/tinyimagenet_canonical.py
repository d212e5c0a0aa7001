"""Turn a copy of TinyImageNet-200 into the canonical layout of the official archive.

Usage: python scripts/tinyimagenet_canonical.py SRC DEST [--expect TRAIN,VAL]

SRC is a ``tiny-imagenet-200`` folder, possibly with classes that are not TinyImageNet's (a public
copy adds n02480855 and n10148035 with 100 training images each and val_10000..val_10099). DEST
receives ``wnids.txt``, ``words.txt``, ``train/<wnid>/images/*.JPEG`` and ``val/images`` with
``val/val_annotations.txt`` for the 200 canonical classes only: the official archive numbers its
10,000 val images val_0 to val_9999, so a class with any val image outside that range is not one
of TinyImageNet's. The script prints what it dropped and checks 200 x 500 +
200 x 50 before it finishes. Files are hard-linked where the file system allows, else copied.
"""
from __future__ import annotations

import os
import shutil
import sys
from collections import Counter
from pathlib import Path

N_CLASSES, N_TRAIN, N_VAL = 200, 500, 50


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _official_val_name(name: str) -> bool:
    stem = name.split(".")[0]
    return stem.startswith("val_") and stem[4:].isdigit() and int(stem[4:]) < N_CLASSES * 50   # val_0 .. val_9999


def _annotations(src: Path) -> list[list[str]]:
    lines = (src / "val" / "val_annotations.txt").read_text().splitlines()   # CRLF and no final newline alike
    return [line.rstrip("\r").split("\t") for line in lines if line.strip()]


def main(argv: list[str]) -> int:
    global N_TRAIN, N_VAL
    if len(argv) == 4 and argv[2] == "--expect":      # images per class (tests use small copies)
        N_TRAIN, N_VAL = (int(v) for v in argv[3].split(","))
        argv = argv[:2]
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    src, dest = Path(argv[0]), Path(argv[1])
    if not (src / "wnids.txt").is_file():
        print(f"{src} has no wnids.txt: pass the tiny-imagenet-200 folder.", file=sys.stderr)
        return 2
    if dest.exists() and any(dest.iterdir()):
        print(f"{dest} exists and is not empty: choose a new folder.", file=sys.stderr)
        return 2
    wnids = [w.strip() for w in (src / "wnids.txt").read_text().splitlines() if w.strip()]
    rows = _annotations(src)
    val_count = Counter(r[1] for r in rows)
    train_count = {w: len(list((src / "train" / w / "images").glob("*.JPEG"))) for w in wnids}
    foreign = {r[1] for r in rows if not _official_val_name(r[0])}
    keep = [w for w in wnids if w not in foreign]
    dropped = [w for w in wnids if w not in keep]
    extra_dirs = sorted(p.name for p in (src / "train").iterdir() if p.is_dir() and p.name not in wnids)
    for w in dropped:
        print(f"dropped class {w}: {train_count[w]} train images, {val_count[w]} val images")
    for d in extra_dirs:
        print(f"dropped train folder {d}: not listed in wnids.txt")
    wrong = [w for w in keep if train_count[w] != N_TRAIN or val_count[w] != N_VAL]
    if len(keep) != N_CLASSES or wrong:
        print(f"{len(keep)} classes remain ({len(wrong)} without {N_TRAIN} train and {N_VAL} val images: "
              f"{wrong[:5]}); TinyImageNet-200 has {N_CLASSES} x ({N_TRAIN} + {N_VAL}): not a copy of it.",
              file=sys.stderr)
        return 1
    kept = set(keep)
    for w in keep:
        for f in sorted((src / "train" / w / "images").glob("*.JPEG")):
            _link(f, dest / "train" / w / "images" / f.name)
        boxes = src / "train" / w / f"{w}_boxes.txt"
        if boxes.is_file():
            _link(boxes, dest / "train" / w / boxes.name)
    val_rows = [r for r in rows if r[1] in kept]
    dropped_val = len(rows) - len(val_rows)
    for r in val_rows:
        _link(src / "val" / "images" / r[0], dest / "val" / "images" / r[0])
    (dest / "val" / "val_annotations.txt").write_text("".join("\t".join(r) + "\n" for r in val_rows))
    (dest / "wnids.txt").write_text("".join(w + "\n" for w in keep))
    if (src / "words.txt").is_file():
        _link(src / "words.txt", dest / "words.txt")
    print(f"dropped {dropped_val} val images of the dropped classes")
    n_train = sum(1 for _ in (dest / "train").glob("*/images/*.JPEG"))
    n_val = sum(1 for _ in (dest / "val" / "images").iterdir())
    assert n_train == N_CLASSES * N_TRAIN and n_val == N_CLASSES * N_VAL, (n_train, n_val)
    print(f"wrote {dest}: {len(keep)} classes, {n_train} train and {n_val} val images")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
