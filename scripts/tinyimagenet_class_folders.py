"""A class-folder view of a canonical TinyImageNet-200 copy, as `corel evaluate-large` reads data:
DEST/train/<wnid>/ and DEST/val/<wnid>/, made of symbolic links (nothing is copied).

    python scripts/tinyimagenet_class_folders.py data/tin/tiny-imagenet-200 data/tin-folders
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", help="the canonical copy (scripts/tinyimagenet_canonical.py writes it)")
    ap.add_argument("dest", help="the folder to create (must not exist)")
    args = ap.parse_args(argv)
    src, dest = Path(args.src).resolve(), Path(args.dest)
    if dest.exists():
        raise SystemExit(f"{dest} exists; give a new folder.")
    annotations = src / "val" / "val_annotations.txt"
    if not annotations.is_file():
        raise SystemExit(f"{annotations} is missing: {src} is not a TinyImageNet-200 copy.")
    (dest / "train").mkdir(parents=True)
    wnids = sorted(p.name for p in (src / "train").iterdir() if p.is_dir())
    for wnid in wnids:
        os.symlink(src / "train" / wnid / "images", dest / "train" / wnid)
    n_val = 0
    for line in annotations.read_text().splitlines():       # CRLF and a missing final newline both read
        parts = line.strip().split("\t")
        if len(parts) < 2:
            continue
        (dest / "val" / parts[1]).mkdir(parents=True, exist_ok=True)
        os.symlink(src / "val" / "images" / parts[0], dest / "val" / parts[1] / parts[0])
        n_val += 1
    print(f"wrote {dest}: {len(wnids)} training classes, {n_val} val images in class folders")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
