"""ImageNet-scale evaluation throughput (`corel evaluate-large`, corel.protocols.largescale), and the projected
time of the paper's full ImageNet protocol (1.28M training images, 50,000 val images, 1000
classes x 5 draws x n = 120) on one machine and on N.

1. A generated ImageNet-layout folder (train/<wnid>/*.JPEG, val/<wnid>/*.JPEG) of real JPEG files
   of ImageNet's typical sizes (300-500 x 250-400 pixels, quality 90, about ImageNet's bytes per
   file), reduced in count: --classes x (--train + --val) files.
2. Encoding: the paper's autoencoder (3 x 32 x 32 in, 32/64/128 channels, 16 x 10 code; random
   weights: the speed does not depend on them) over both splits, as `corel evaluate-large
   --step encode` runs it: listing, JPEG decoding (threads), encoding, memory-mapped writes.
   Reported: images/s (wall) and images per CPU-second (all threads of the process).
3. Scoring at the full protocol's size: 50,000 test codes x 1000 classes cannot be generated
   here, so --score-classes classes are scored against 50,000 synthetic test codes (n = 120,
   5 draws, 16 branches of 10 dims, codes scaled so that the counts are neither all 0 nor all
   n), by corel.protocols.largescale.score_classes exactly as the real run calls it; and all classes of the
   generated folder (its own small test split). Reported: classes/s.
4. Merging K shards: MB/s of the concatenation (the full protocol's codes are 850 MB).

    OMP_NUM_THREADS=1 python benchmarks/imagenet_scale.py --out benchmarks/imagenet_scale.md

One torch thread: on a loaded machine OpenMP's spinning threads waste more than they add (here the
count kernel took 10x the CPU time with 2 threads); decoding runs in --workers threads regardless.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from _timing import cpu_name  # benchmarks/_timing.py, beside this script

FULL_TRAIN, FULL_VAL, FULL_CLASSES = 1_281_167, 50_000, 1000
CODE_DIM, BRANCHES, N_INLIERS, DRAWS = 160, 16, 120, 5


def generate_folder(root: Path, classes: int, train: int, val: int, seed: int = 0) -> tuple[int, float]:
    """ImageNet-like JPEGs; returns (files, mean bytes per file)."""
    rng = np.random.default_rng(seed)
    wnids = [f"n{1440764 + 1000 * k:08d}" for k in range(classes)]
    sizes = []
    for split, count in (("train", train), ("val", val)):
        for wnid in wnids:
            folder = root / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for j in range(count):
                w, h = int(rng.integers(300, 501)), int(rng.integers(250, 401))
                base = rng.integers(0, 256, size=(h // 16, w // 16, 3)).astype(np.uint8)
                img = np.asarray(Image.fromarray(base).resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
                img += rng.normal(0, 24, size=img.shape)                       # texture: realistic file sizes
                path = folder / f"{wnid}_{j:05d}.JPEG"
                Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, "JPEG", quality=90)
                sizes.append(path.stat().st_size)
    return len(sizes), float(np.mean(sizes))


def write_model(path: Path) -> None:
    from corel.training.checkpoints import FORMAT_VERSION
    from corel.training.models import build_model
    torch.manual_seed(0)
    args = dict(in_channels=3, image_size=32, channels=[32, 64, 128], n_branches=BRANCHES,
                branch_dim=CODE_DIM // BRANCHES)
    model = build_model("conv", **args)
    torch.save({"format_version": FORMAT_VERSION, "model_name": "conv", "model_args": args,
                "config": {"image_size": 32}, "state_dict": model.state_dict()}, path)


def _timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def bench_encode(root: Path, ckpt: Path, work: Path, workers: int, chunk: int) -> dict:
    from corel.protocols import largescale as ls
    spec = ls.LargeSpec(data_root=str(root), step="encode", shard=(0, 1), chunk_size=chunk, workers=workers,
                        progress=False)
    # listing alone (the index), then the encoding (the index is reused)
    (_, list_wall, _) = _timed(lambda: [ls.build_index(root, s, work) for s in ("train", "test")])
    (_, wall, cpu) = _timed(lambda: ls.evaluate_large(ckpt, spec, work, log=lambda *a: None))
    n = sum(len(ls.build_index(root, s, work)) for s in ("train", "test"))
    return {"images": n, "list_s": list_wall, "wall_s": wall, "cpu_s": cpu, "img_per_s": n / wall,
            "img_per_cpu_s": n / cpu}


def bench_parts(root: Path, ckpt: Path, work: Path, chunk: int) -> dict:
    """Decoding alone (one thread) and the model's encoding alone (random 3 x 32 x 32 batches)."""
    from corel.protocols import largescale as ls
    from corel.training.checkpoints import load_model
    index = ls.build_index(root, "train", work)
    paths = index.paths(0, len(index))
    (_, _, dec_cpu) = _timed(lambda: [ls._decode(p, 32, 3) for p in paths])
    model = load_model(ckpt)
    x = torch.rand(chunk, 3, 32, 32)
    with torch.no_grad():
        model.encode(x)
        (_, enc_wall, enc_cpu) = _timed(lambda: [model.encode(x) for _ in range(8)])
    return {"decode_per_cpu_s": len(paths) / dec_cpu, "encode_per_s": 8 * chunk / enc_wall,
            "encode_per_cpu_s": 8 * chunk / enc_cpu}


_RSS_CHILD = """
import resource, sys
from corel.protocols import largescale as ls
ckpt, root, out, i, k, chunk, workers = sys.argv[1:8]
ls.evaluate_large(ckpt, ls.LargeSpec(data_root=root, step="encode", shard=(int(i), int(k)), chunk_size=int(chunk),
                                     workers=int(workers), progress=False), out, log=lambda *a: None)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def bench_memory(root: Path, ckpt: Path, work: Path, chunk: int, workers: int) -> dict:
    """Peak RSS (MiB) of a fresh process encoding a tenth of the images (--shard 0/10), and all of them."""
    import sys
    peaks = {}
    for i, k in ((0, 10), (0, 1)):
        res = subprocess.run([sys.executable, "-c", _RSS_CHILD, str(ckpt), str(root), str(work / f"rss{k}"), str(i),
                              str(k), str(chunk), str(workers)], capture_output=True, text=True, check=True)
        peaks[k] = int(res.stdout.split()[-1]) / 1024
    return {"tenth_mib": peaks[10], "all_mib": peaks[1]}


def bench_score_full_size(classes: int, memory_mb: float) -> dict:
    """``classes`` classes of the full protocol: 50,000 test codes, 1300 training codes per class."""
    from corel.protocols import largescale as ls
    rng = np.random.default_rng(0)
    # two N(0, sigma^2) codes differ by 2 sigma / sqrt(pi) per dim in the mean: a branch's l1 distance ~ 2
    sigma = 2.0 * np.sqrt(np.pi) / (2 * (CODE_DIM // BRANCHES))
    train = (rng.normal(0, sigma, size=(classes * 1300, CODE_DIM))).astype(np.float32)
    train_labels = np.repeat(np.arange(classes), 1300).astype(np.int32)
    test = rng.normal(0, sigma, size=(FULL_VAL, CODE_DIM)).astype(np.float32)
    test_labels = np.arange(FULL_VAL) % FULL_CLASSES                  # 50 positives per class, as ImageNet val
    with tempfile.TemporaryDirectory() as d:
        (done, wall, cpu) = _timed(lambda: ls.score_classes(
            train, train_labels, test, test_labels, [str(c) for c in range(classes)], d, n=N_INLIERS, draws=DRAWS,
            radius=2.0, n_branches=BRANCHES, seed=0, memory_mb=memory_mb, progress=False))
    mean_auc = float(np.mean([r["mean"] for r in done.values()]))
    return {"classes": classes, "wall_s": wall, "cpu_s": cpu, "classes_per_s": classes / wall,
            "classes_per_cpu_s": classes / cpu, "mean_auroc": mean_auc}


def bench_score_folder(ckpt: Path, root: Path, work: Path, n: int, draws: int) -> dict:
    from corel.protocols import largescale as ls
    spec = ls.LargeSpec(data_root=str(root), step="score", n=n, draws=draws, progress=False)
    (summary, wall, cpu) = _timed(lambda: ls.evaluate_large(ckpt, spec, work, log=lambda *a: None))
    return {"classes": summary["n_classes"], "test": summary["n_test"], "wall_s": wall, "cpu_s": cpu,
            "classes_per_s": summary["n_classes"] / wall}


def bench_merge(work: Path, rows: int = 200_000, k: int = 4) -> dict:
    from corel.protocols import largescale as ls
    store = ls.CodeStore(work / "merge", rows, CODE_DIM, {"bench": True})
    store.folder.mkdir(parents=True)
    for i in range(k):
        a, b = store.shard_rows(i, k)
        data_path, done_path = store.shard_files(i, k)
        np.random.default_rng(i).random((b - a, CODE_DIM), dtype=np.float32).tofile(data_path)
        done_path.write_bytes(b"\x01")
    (_, wall, _) = _timed(lambda: ls.merge_shards(store, k))
    mb = rows * CODE_DIM * 4 / 2**20
    return {"mb": mb, "wall_s": wall, "mb_per_s": mb / wall}


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", type=int, default=30, help="classes of the generated folder")
    ap.add_argument("--train", type=int, default=20, help="training JPEGs per class")
    ap.add_argument("--val", type=int, default=10, help="val JPEGs per class")
    ap.add_argument("--score-classes", type=int, default=4, help="classes scored at the full protocol's size")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="decoding threads")
    ap.add_argument("--chunk-size", type=int, default=256)
    ap.add_argument("--memory-mb", type=float, default=256)
    ap.add_argument("--machines", default="4,16,64", help="N for the projection")
    ap.add_argument("--out", default=None, help="write the Markdown report here")
    args = ap.parse_args()
    threads = torch.get_num_threads()
    load_before = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = tmp / "imagenet"
        (files, mean_bytes), gen_s, _ = _timed(lambda: generate_folder(root, args.classes, args.train, args.val))
        ckpt = tmp / "model.pt"
        write_model(ckpt)
        enc = bench_encode(root, ckpt, tmp / "run", args.workers, args.chunk_size)
        parts = bench_parts(root, ckpt, tmp / "run", args.chunk_size)
        memory = bench_memory(root, ckpt, tmp, args.chunk_size, args.workers)
        folder_score = bench_score_folder(ckpt, root, tmp / "run", n=min(N_INLIERS, args.train), draws=DRAWS)
        full = bench_score_full_size(args.score_classes, args.memory_mb)
        merge = bench_merge(tmp)
    load_after = os.getloadavg()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()

    images = FULL_TRAIN + FULL_VAL
    t_list = enc["list_s"] / enc["images"] * images
    t_enc = images / enc["img_per_s"]
    t_score = FULL_CLASSES / full["classes_per_s"]
    t_merge = 2 * images * CODE_DIM * 4 / 2**20 / merge["mb_per_s"]            # written once, read once
    one = t_list + t_enc + t_score
    rows = [("1 (this machine, measured rates)", t_list, t_enc, 0.0, t_score, one)]
    for n in [int(x) for x in args.machines.split(",") if x.strip()]:
        rows.append((f"{n} (each as this one)", t_list, t_enc / n, t_merge, t_score / n,
                     t_list + t_enc / n + t_merge + t_score / n))
    cores = os.cpu_count() or 1
    lines = [
        "# ImageNet-scale evaluation: throughput and projection",
        "",
        f"Command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')} python benchmarks/imagenet_scale.py "
        f"--classes {args.classes} --train {args.train} --val {args.val} --score-classes {args.score_classes} "
        f"--out benchmarks/imagenet_scale.md`",
        f"Date: {started}, commit {commit}",
        f"Machine: {cpu_name()}, {cores} logical CPUs, torch {torch.__version__} ({threads} intra-op threads), "
        f"{args.workers} decoding threads, Python {platform.python_version()}, no GPU.",
        f"Load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_before)}; after: "
        f"{', '.join(f'{x:.2f}' for x in load_after)}. The machine is shared (two CPU trainings ran beside this "
        f"benchmark), so wall-clock rates are pessimistic; CPU-second rates are the robust ones.",
        "",
        f"Generated folder: {args.classes} classes x ({args.train} train + {args.val} val) = {files} JPEG files, "
        f"300-500 x 250-400 pixels, quality 90, {mean_bytes / 1024:.0f} KiB per file on average "
        f"(ImageNet's train set: about 110 KiB), written in {gen_s:.1f} s.",
        "",
        "## Measured",
        "",
        "| step | work | wall s | CPU s | rate (wall) | rate (per CPU-s) |",
        "|---|---|---:|---:|---:|---:|",
        f"| listing (index of both splits) | {enc['images']} files | {enc['list_s']:.2f} | - | "
        f"{enc['images'] / enc['list_s']:.0f} files/s | - |",
        f"| encoding, 1 process (decode + encode + write) | {enc['images']} images | {enc['wall_s']:.1f} | "
        f"{enc['cpu_s']:.1f} | **{enc['img_per_s']:.0f} images/s** | {enc['img_per_cpu_s']:.0f} images/CPU-s |",
        f"| of which: JPEG decoding + resizing alone (1 thread) | {args.classes * args.train} images | - | - | - | "
        f"{parts['decode_per_cpu_s']:.0f} images/CPU-s |",
        f"| of which: the model's encoding alone (batches of {args.chunk_size}) | - | - | - | "
        f"{parts['encode_per_s']:.0f} images/s | {parts['encode_per_cpu_s']:.0f} images/CPU-s |",
        f"| peak memory of the encoding process: a tenth of the images / all of them | "
        f"{enc['images'] // 10} / {enc['images']} images | - | - | {memory['tenth_mib']:.0f} / "
        f"{memory['all_mib']:.0f} MiB | - |",
        f"| scoring, full size (50,000 test codes, n = {N_INLIERS}, {DRAWS} draws, 16 x 10) | "
        f"{full['classes']} classes | {full['wall_s']:.1f} | {full['cpu_s']:.1f} | "
        f"**{full['classes_per_s']:.3f} classes/s** | {full['classes_per_cpu_s']:.3f} classes/CPU-s |",
        f"| scoring, the generated folder ({folder_score['test']} test images, n = {min(N_INLIERS, args.train)}) | "
        f"{folder_score['classes']} classes | {folder_score['wall_s']:.2f} | {folder_score['cpu_s']:.2f} | "
        f"{folder_score['classes_per_s']:.0f} classes/s | - |",
        f"| merging 4 shards | {merge['mb']:.0f} MB | {merge['wall_s']:.2f} | - | {merge['mb_per_s']:.0f} MB/s | - |",
        "",
        f"Sanity: the synthetic full-size scoring gives a mean AUROC of {full['mean_auroc']:.1f} (random codes: "
        f"about 50). The peak-memory row shows only that nothing visible grows with the images at this size (the "
        f"imports dominate); what the streaming avoids is the in-memory path's N x 3 KiB of decoded 32 x 32 images "
        f"(3.7 GiB for ImageNet's 1.33M) plus its file list; tests/test_largescale.py checks that the model never "
        f"sees more than a chunk.",
        "",
        "## Projected: the full protocol (1,281,167 + 50,000 images, 1000 classes x 5 draws, n = 120)",
        "",
        "Each step's measured rate times the full protocol's work; N machines each encode 1/N of the images "
        "and score 1/N of the classes (`--shard I/N`), and one merges the codes (850 MB written, read once). "
        "Listing is done by every machine (it is not sharded).",
        "",
        "| machines | listing | encoding | merging | scoring | total |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {name} | {_hms(a)} | {_hms(b)} | {_hms(c)} | {_hms(d)} | **{_hms(e)}** |"
              for name, a, b, c, d, e in rows]
    per_core_enc = enc["img_per_cpu_s"]
    per_core_score = full["classes_per_cpu_s"]
    lines += [
        "",
        f"A dedicated 16-core machine running 16 one-thread shards (`--shard I/16`, one process per core: the "
        f"shards share nothing, so this scales without relying on torch's threading), at the CPU-second rates "
        f"above: {_hms(images / (16 * per_core_enc))} of encoding and {_hms(FULL_CLASSES / (16 * per_core_score))} "
        f"of scoring; N such machines: a sixteenth of the per-machine rows above each. A GPU moves the encoder and "
        f"the count kernel off the CPU (`--device cuda`), leaving JPEG decoding "
        f"({parts['decode_per_cpu_s']:.0f} images per CPU-second) to bound the encoding; not measured here (no "
        f"GPU on this machine). The listing ran on a warm page cache; a network file system lists slower.",
        "",
        "Memory: the encoding holds two chunks of decoded images and one of codes "
        f"({args.chunk_size} images each), whatever the number of images; the scoring holds the test codes "
        f"(50,000 x 160 float32: 31 MiB) and one block of counts ({args.memory_mb:.0f} MiB, `--memory-mb`); the "
        f"training codes (1.28M x 160 float32: 782 MiB) stay memory-mapped, n rows read per class and draw.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
