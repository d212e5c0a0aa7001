"""Write the CIFAR-10 sample that ships with corel for `corel demo`: a seeded draw of images per class
from the CIFAR-10 *test* split (the shipped CIFAR-10 encoders never trained on it), each JPEG's bytes
copied unchanged, as ``<class>/<name>.jpg`` in a zip.

    python scripts/make_demo_sample.py ../shared/data/cifar10-jpeg/test.zip src/corel/named/cifar10-test-sample.zip
"""
from __future__ import annotations

import argparse
import zipfile
from collections import defaultdict

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("test_zip", help="CIFAR-10 test split as test/<class>/<name>.jpg in a zip")
    ap.add_argument("out", help="the zip to write")
    ap.add_argument("--per-class", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    by_class = defaultdict(list)
    with zipfile.ZipFile(args.test_zip) as src:
        for name in sorted(src.namelist()):
            parts = name.split("/")
            if len(parts) == 3 and parts[2].lower().endswith(".jpg"):
                by_class[parts[1]].append(name)
        if len(by_class) != 10:
            raise SystemExit(f"{args.test_zip}: expected 10 class folders under test/, found {len(by_class)}.")
        rng = np.random.default_rng(args.seed)
        with zipfile.ZipFile(args.out, "w", compression=zipfile.ZIP_STORED) as out:
            for cls in sorted(by_class):
                names = by_class[cls]
                if len(names) < args.per_class:
                    raise SystemExit(f"{cls}: {len(names)} images, fewer than --per-class {args.per_class}.")
                for i in sorted(rng.choice(len(names), args.per_class, replace=False)):
                    out.writestr(f"{cls}/{names[i].split('/')[-1]}", src.read(names[i]))
    print(f"wrote {args.out}: {args.per_class} images x {len(by_class)} classes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
