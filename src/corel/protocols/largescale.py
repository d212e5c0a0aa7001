"""ImageNet-scale one-class evaluation: streamed, sharded, resumable, in bounded memory.

`corel evaluate` decodes a whole split into memory and encodes it in one go: right for
CIFAR (60,000 tiny images), not for ImageNet (1.28M JPEGs; the paper's 1000 one-class
problems). This module runs the same protocol (the same draws, the same count, the same
AUROC) at that scale:

1. **Index** (:func:`build_index`): the class folders of a split are listed once, class by class
   (sorted, as :func:`corel.data.folder.scan_folder` orders them), into three files: the
   relative paths (bytes), their offsets and the labels (memory-mapped when read).
2. **Encode** (:func:`encode_shard`): the images are read, decoded (threads; Pillow releases the
   GIL) and encoded in chunks of ``chunk_size``, the next chunk decoding while the model encodes
   the current one, and the codes written straight into a memory-mapped float32 file: memory is
   O(chunk), whatever the number of images. A split can be cut into K shards (contiguous row
   ranges) encoded by K processes or machines (``shard=(i, K)``; under torchrun or SLURM the
   rank and world size by default); each shard records its finished chunks, so a killed shard
   resumes where it stopped. :func:`merge_shards` concatenates the K files once all are done.
3. **Score** (:func:`score_classes`): the classes are scored in blocks through the protocol loop of
   every command (:func:`corel.protocols.oneclass.draw_loop`, through ``class_draws``): per draw, the block's classes in one
   call of the count kernel, whose output (block x test codes) is the only large array: its size
   is set by ``memory_mb``. Inliers are read from the memory-mapped training codes (n rows per
   class and draw, :class:`MemmapRows`). Each finished block appends its classes' AUROCs to a
   JSON-lines file, so a killed run resumes at the next unfinished class; classes too can be split
   over processes (``class_shard``) and the results merged (every shard's file is read).

The draws and the AUROC are the loop's, so the numbers equal :func:`corel.protocols.oneclass.evaluate_one_class`'s
on the same codes (tested). Only the paper's count scorer is offered here (no TTA, no other scorers).

Layout of ``out_dir``::

    index/<split>-<key>/         paths.bin, offsets.npy, labels.npy, meta.json
    codes/<split>-<key>/         codes.f32 (N x D float32) + meta.json once merged;
                                 shard-I-of-K.f32 / .done while encoding
    n<N>/                        results-*.jsonl (per class), protocol.json, and when every
                                 class is scored: per_class.md / .csv / .json, summary.json
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._atomic import atomic_file, atomic_write_bytes

__all__ = ["SplitIndex", "build_index", "CodeStore", "open_store", "encode_shard", "merge_shards",
           "score_classes", "MemmapRows", "evaluate_large", "LargeSpec"]

FORMAT = 1
_POLL_S = 2.0          # how often a shard looks whether the others have finished
_SPLIT_FOLDERS = {"test": ("test", "val"), "val": ("val",), "train": ("train",)}


def _atomic_write(path: Path, data: bytes) -> None:
    atomic_write_bytes(path, data)


def _write_json(path: Path, obj) -> None:
    _atomic_write(path, (json.dumps(obj, indent=2) + "\n").encode())


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


# ============================================================================ 1. the index
@dataclass(frozen=True)
class SplitIndex:
    """The image files of one split, memory-mapped: ``path(i)``, ``labels`` (N,), ``classes``."""

    folder: Path          # where the index files are
    image_root: Path      # the split's folder: root/<split>
    split: str
    classes: tuple
    n: int

    def __len__(self) -> int:
        return self.n

    @property
    def labels(self) -> np.ndarray:
        return np.load(self.folder / "labels.npy", mmap_mode="r")

    def paths(self, start: int, stop: int) -> list[str]:
        """Absolute paths of rows [start, stop)."""
        offsets = np.load(self.folder / "offsets.npy", mmap_mode="r")
        a, b = int(offsets[start]), int(offsets[stop])
        with open(self.folder / "paths.bin", "rb") as f:
            f.seek(a)
            blob = f.read(b - a)
        rel = blob.decode("utf-8").split("\n")[:-1]
        return [str(self.image_root / r) for r in rel]


def _split_folder(root: Path, split: str) -> Path:
    for name in _SPLIT_FOLDERS.get(split, (split,)):
        if (root / name).is_dir():
            return root / name
    raise FileNotFoundError(f"No folder for split {split!r} in {root} (looked for "
                            f"{', '.join(_SPLIT_FOLDERS.get(split, (split,)))}); expected the ImageNet layout "
                            f"root/train/<class>/*.JPEG and root/val/<class>/*.JPEG.")


def _class_names(root: Path) -> list[str]:
    """The sorted union of the class folders of every split folder (one label = one class in all)."""
    from ..data.folder import SPLIT_NAMES
    found = set()
    for s in SPLIT_NAMES:
        if (root / s).is_dir():
            found |= {p.name for p in (root / s).iterdir() if p.is_dir() and not p.name.startswith(".")}
    return sorted(found)


def build_index(root, split: str, out_dir) -> SplitIndex:
    """List ``root/<split>/<class>/...`` once (class by class: memory O(one class)); reuse an index
    already built for the same root and split. "test" reads ``val`` when there is no ``test``."""
    from ..data._images import is_image_name
    from ..data.base import DataError
    root = Path(os.path.abspath(os.fspath(root)))
    if not root.is_dir():
        raise FileNotFoundError(f"Image folder {root} does not exist (expected root/train/<class>/ and "
                                f"root/val/<class>/).")
    base = _split_folder(root, split)
    classes = _class_names(root)
    key = {"root": str(root), "split": split, "folder": base.name, "classes_sha": _digest(classes)}
    folder = Path(out_dir) / "index" / f"{split}-{_digest(key)}"
    meta_path = folder / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("key") == key and meta.get("format") == FORMAT:
            return SplitIndex(folder, base, split, tuple(meta["classes"]), int(meta["n"]))
    folder.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    tmp_paths, offsets, labels = folder / f".paths.{pid}.tmp", [0], []
    with open(tmp_paths, "wb") as out:
        for k, c in enumerate(classes):
            cdir = base / c
            if not cdir.is_dir():
                continue
            files = sorted(p for p in cdir.rglob("*") if p.is_file() and is_image_name(p.name)
                           and not any(part.startswith(".") for part in p.relative_to(cdir).parts))
            for p in files:
                data = (str(p.relative_to(base)) + "\n").encode("utf-8")
                out.write(data)
                offsets.append(offsets[-1] + len(data))
            labels.extend([k] * len(files))
    if not labels:
        tmp_paths.unlink()
        raise DataError(f"No images in {base}: expected {base}/<class>/<image> files ending in png, jpg, jpeg, ...")
    for name, arr in (("offsets.npy", np.asarray(offsets, dtype=np.int64)),
                      ("labels.npy", np.asarray(labels, dtype=np.int32))):
        with atomic_file(folder / name) as f:
            np.save(f, arr)
    os.replace(tmp_paths, folder / "paths.bin")
    _write_json(meta_path, {"format": FORMAT, "key": key, "classes": classes, "n": len(labels)})
    return SplitIndex(folder, base, split, tuple(classes), len(labels))


# ============================================================================ 2. encoding
@dataclass(frozen=True)
class CodeStore:
    """Where the codes of one split under one model live (see the module docstring)."""

    folder: Path
    n: int
    dim: int
    key: dict

    @property
    def merged(self) -> Path:
        return self.folder / "codes.f32"

    def is_complete(self) -> bool:
        meta = self.folder / "meta.json"
        return self.merged.exists() and meta.exists() and json.loads(meta.read_text()).get("complete") is True

    def codes(self) -> np.memmap:
        """The merged (N, D) float32 codes, memory-mapped read-only."""
        if not self.is_complete():
            raise FileNotFoundError(f"The codes in {self.folder} are not complete; encode every shard first.")
        return np.memmap(self.merged, dtype=np.float32, mode="r", shape=(self.n, self.dim))

    def shard_rows(self, i: int, k: int) -> tuple[int, int]:
        return i * self.n // k, (i + 1) * self.n // k

    def shard_files(self, i: int, k: int) -> tuple[Path, Path]:
        stem = f"shard-{i}-of-{k}"
        return self.folder / f"{stem}.f32", self.folder / f"{stem}.done"

    def shard_done(self, i: int, k: int) -> bool:
        done = self.shard_files(i, k)[1]
        return done.exists() and bool(np.frombuffer(done.read_bytes(), dtype=np.uint8).all())


def open_store(checkpoint, dataset: str, root, index: SplitIndex, image_size: int, dim: int, out_dir) -> CodeStore:
    """The code store of ``index`` under ``checkpoint`` (keyed as corel.protocols.codes keys its cache:
    the checkpoint's content digest, the data set, its root, the split, the image size)."""
    from .codes import CodeKey
    key = CodeKey.of(checkpoint, dataset, root, index.split, image_size).as_dict()
    key = {**key, "n": index.n, "dim": int(dim), "index": index.folder.name}
    folder = Path(out_dir) / "codes" / f"{index.split}-{_digest(key)}"
    folder.mkdir(parents=True, exist_ok=True)
    return CodeStore(folder, index.n, int(dim), key)


def _model_input(ck: dict) -> tuple[int, int]:
    """(image_size, channels) the checkpoint's model reads."""
    args = ck["model_args"]
    size = int(args.get("image_size", ck.get("config", {}).get("image_size", 32)))
    if "in_channels" in args:
        return size, int(args["in_channels"])
    return size, int(args["in_dim"]) // (size * size)


def _decode(path: str, image_size: int, channels: int) -> np.ndarray:
    from ..data._images import decode_image
    from ..data.base import DataError
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise DataError(f"Cannot read {path}: {type(e).__name__}: {e}.") from None
    a = decode_image(data, path, image_size, channels)
    return a[:, :, None] if a.ndim == 2 else a


def encode_shard(model, index: SplitIndex, store: CodeStore, image_size: int, channels: int, *,
                 shard: tuple[int, int] = (0, 1), chunk_size: int = 512, workers: int = 4, device=None,
                 progress: bool = True) -> bool:
    """Encode rows ``store.shard_rows(*shard)`` of ``index`` into the shard's memory-mapped file.

    Chunks already recorded as done are skipped (a killed shard resumes); returns True when the
    shard is complete. Memory: two chunks of decoded images and one of codes, whatever N.
    """
    from .._progress import progress_bar
    i, k = shard
    start, stop = store.shard_rows(i, k)
    rows = stop - start
    data_path, done_path = store.shard_files(i, k)
    n_chunks = max(1, -(-rows // chunk_size))
    meta = {"chunk_size": chunk_size, "rows": [start, stop]}
    meta_path = data_path.with_suffix(".json")
    if done_path.exists() and (not meta_path.exists() or json.loads(meta_path.read_text()) != meta):
        done_path.unlink()                        # another chunking: start the shard again
    done = (np.frombuffer(done_path.read_bytes(), dtype=np.uint8).copy() if done_path.exists()
            else np.zeros(n_chunks, dtype=np.uint8))
    if done.all():
        return True
    _write_json(meta_path, meta)
    if rows == 0:                                 # more shards than images: nothing to do
        data_path.write_bytes(b"")
        _atomic_write(done_path, np.ones(n_chunks, dtype=np.uint8).tobytes())
        return True
    mode = "r+" if data_path.exists() and data_path.stat().st_size == rows * store.dim * 4 else "w+"
    out = np.memmap(data_path, dtype=np.float32, mode=mode, shape=(max(rows, 1), store.dim))
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(device).eval()
    todo = [c for c in range(n_chunks) if not done[c]]
    bar = progress_bar(total=rows, initial=rows - sum(min(chunk_size, rows - c * chunk_size) for c in todo),
                       desc=f"encoding {index.split}" + (f" (shard {i}/{k})" if k > 1 else ""), unit="img",
                       enabled=progress, leave=False)

    def submit(pool, c):
        a, b = start + c * chunk_size, min(stop, start + (c + 1) * chunk_size)
        return [pool.submit(_decode, p, image_size, channels) for p in index.paths(a, b)]

    with ThreadPoolExecutor(max(1, workers)) as pool:
        pending = submit(pool, todo[0]) if todo else None
        for j, c in enumerate(todo):
            arrays = [f.result() for f in pending]
            pending = submit(pool, todo[j + 1]) if j + 1 < len(todo) else None   # decode ahead
            batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).to(device)
            with torch.no_grad():
                codes = model.encode(batch.float().div_(255.0)).float().cpu().numpy()
            a = c * chunk_size
            out[a:a + len(codes)] = codes
            out.flush()                                   # the rows are on disk before the chunk counts as done
            done[c] = 1
            _atomic_write(done_path, done.tobytes())
            bar.update(len(codes))
    bar.close()
    del out
    return bool(done.all())


def merge_shards(store: CodeStore, k: int, block_rows: int = 65536) -> Path:
    """Concatenate the K finished shards into ``codes.f32`` (streamed in blocks; atomically).

    Idempotent: a merged store is returned as is. With K > 1 the shard files are kept (delete
    them once merged to save the space); one shard's file becomes the merged file."""
    if store.is_complete():
        return store.merged
    missing = [i for i in range(k) if not store.shard_done(i, k)]
    if missing:
        raise FileNotFoundError(f"Shards {missing} of {k} of {store.folder} are not finished; run them "
                                f"(--shard I/{k}) before merging.")
    if k == 1:
        os.replace(store.shard_files(0, 1)[0], store.merged)   # one shard: it is the file
    else:
        tmp = store.folder / f".codes.f32.{os.getpid()}.tmp"
        out = np.memmap(tmp, dtype=np.float32, mode="w+", shape=(store.n, store.dim))
        for i in range(k):
            a, b = store.shard_rows(i, k)
            if b == a:
                continue
            src = np.memmap(store.shard_files(i, k)[0], dtype=np.float32, mode="r", shape=(max(b - a, 1), store.dim))
            for s in range(0, b - a, block_rows):
                out[a + s:a + min(b - a, s + block_rows)] = src[s:min(b - a, s + block_rows)]
            del src
        out.flush()
        del out
        os.replace(tmp, store.merged)
    _write_json(store.folder / "meta.json", {"format": FORMAT, "key": store.key, "n": store.n, "dim": store.dim,
                                              "complete": True})
    return store.merged


# ============================================================================ 3. scoring
class MemmapRows:
    """Rows of a (memory-mapped) (N, D) array as the protocol loop indexes codes: ``rows[idx]`` with a
    tensor of row numbers gives a float32 tensor of shape idx.shape + (D,), read in file order."""

    def __init__(self, array, device):
        self.array, self.device = array, torch.device(device)

    def __getitem__(self, idx: torch.Tensor) -> torch.Tensor:
        rows = idx.cpu().numpy().reshape(-1)
        order = np.argsort(rows, kind="stable")                 # read the memory map in file order
        out = np.empty((len(rows), self.array.shape[1]), dtype=np.float32)
        out[order] = np.asarray(self.array[rows[order]], dtype=np.float32)
        return torch.from_numpy(out).view(*idx.shape, -1).to(self.device)


def _class_ranges(labels: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    if len(labels) > 1 and np.any(np.diff(labels) < 0):
        raise ValueError("The training index is not sorted by class; rebuild it with build_index.")
    classes = np.arange(n_classes)
    return np.searchsorted(labels, classes, side="left"), np.searchsorted(labels, classes, side="right")


def _read_results(folder: Path) -> dict[int, dict]:
    """Every class finished so far, from every shard's results file (the last line of a class wins;
    a line cut short by a kill is skipped)."""
    done = {}
    for path in sorted(folder.glob("results*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[int(row["class_index"])] = row
    return done


def score_classes(train_codes, train_labels, test_codes, test_labels, classes, out_dir, *, n: int = 120,
                  draws: int = 5, radius: float = 2.0, n_branches: int = 16, seed: int = 0,
                  class_shard: tuple[int, int] = (0, 1), memory_mb: float = 256, device=None,
                  progress: bool = True, protocol: dict | None = None) -> dict[int, dict]:
    """Score the classes of ``class_shard`` (contiguous blocks of the class list) not yet in
    ``out_dir``'s results; returns every class finished so far (all shards).

    ``train_codes`` may be a memory-mapped (N, D) array: only n rows per class and draw are read.
    ``train_labels`` must be sorted (the index is). Memory: the test codes plus one block of
    (classes x draws, Q) counts, the block sized so that the counts fit ``memory_mb``.
    """
    from .._progress import progress_bar
    from .oneclass import class_draws
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = {"n": int(n), "draws": int(draws), "radius": float(radius), "n_branches": int(n_branches),
                "seed": int(seed), **(protocol or {})}
    proto_path = out / "protocol.json"
    if proto_path.exists():
        saved = json.loads(proto_path.read_text())
        if saved != settings:
            diff = sorted(k for k in set(saved) | set(settings) if saved.get(k) != settings.get(k))
            raise ValueError(f"{out} holds results of another protocol (differing: {diff}); choose another --out-dir.")
    else:
        _write_json(proto_path, settings)
    train_labels = np.asarray(train_labels)
    test_labels = np.asarray(test_labels)
    n_classes = len(classes)
    starts, ends = _class_ranges(train_labels, n_classes)
    for c in range(n_classes):
        if ends[c] - starts[c] < n:
            raise ValueError(f"Class {classes[c]!r} has {ends[c] - starts[c]} training images, fewer than n={n}.")
        if not np.any(test_labels == c):
            raise ValueError(f"Class {classes[c]!r} has no test images, so its AUROC is undefined.")
    i, k = class_shard
    mine = range(i * n_classes // k, (i + 1) * n_classes // k)
    done = _read_results(out)
    todo = [c for c in mine if c not in done]
    dev = torch.device(device) if device is not None else torch.device("cpu")
    test = torch.from_numpy(np.array(test_codes, dtype=np.float32)).to(dev)     # Q x D in memory
    q = test.shape[0]
    per_block = max(1, int(memory_mb * 2**20) // (q * 8 * 2))    # one draw's int64 counts, and a copy
    results_path = out / (f"results-{i}-of-{k}.jsonl" if k > 1 else "results.jsonl")
    bar = progress_bar(total=len(mine), initial=len(mine) - len(todo), desc="scoring classes", unit="class",
                       enabled=progress, leave=False)
    source = MemmapRows(train_codes, dev)
    for b in range(0, len(todo), per_block):
        block = todo[b:b + per_block]
        # the one protocol loop (corel.protocols.oneclass.draw_loop, through class_draws), on memory-mapped rows
        members = {c: np.arange(starts[c], ends[c]) for c in block}
        auroc, _ = class_draws(members, [source], [test], {c: test_labels == c for c in block}, block, n, draws,
                               seed, n_branches, radius)
        lines = []
        for c, auc in zip(block, auroc):
            row = {"class_index": int(c), "class": str(classes[c]), "auroc": auc.tolist(),
                   "mean": float(auc.mean()), "std": float(auc.std())}
            done[c] = row
            lines.append(json.dumps(row))
        cut = results_path.exists() and results_path.stat().st_size > 0 and not results_path.read_bytes().endswith(b"\n")
        with open(results_path, "a") as f:
            f.write(("\n" if cut else "") + "\n".join(lines) + "\n")   # after a line a kill cut short
            f.flush()
            os.fsync(f.fileno())
        bar.update(len(block))
    bar.close()
    return done


# ============================================================================ 4. the whole job
@dataclass
class LargeSpec:
    """What `corel evaluate-large` needs besides the checkpoint."""

    data_root: str
    dataset: str = "imagenet"           # recorded in the codes' key (as corel.protocols.codes does)
    n: int = 120
    draws: int = 5
    radius: float = 2.0
    seed: int = 0
    shard: tuple | None = None          # (i, K); None: from torchrun / SLURM, else (0, 1)
    step: str = "all"                   # "encode", "score" or "all"
    chunk_size: int = 512
    workers: int = 4
    memory_mb: float = 256
    device: str | None = None
    progress: bool = True
    wait_s: float = 86400.0             # how long a shard waits for the other shards' codes


def evaluate_large(checkpoint, spec: LargeSpec, out_dir, log=print) -> dict | None:
    """Encode (train and test splits), score and summarise; each step resumable and shardable.

    Returns the summary once every class is scored (by any shard), else None.
    """
    from ..training.checkpoints import load_checkpoint, load_model
    from ..training.distributed import env_shard
    if spec.step not in ("encode", "score", "all"):
        raise ValueError(f"Unknown step {spec.step!r}; choose encode, score or all.")
    out = Path(out_dir)
    i, k = spec.shard if spec.shard is not None else env_shard()
    ck = load_checkpoint(checkpoint)
    model = load_model(checkpoint)
    image_size, channels = _model_input(ck)
    stores, indexes = {}, {}
    t0 = time.perf_counter()
    for split in ("train", "test"):
        index = build_index(spec.data_root, split, out)
        store = open_store(checkpoint, spec.dataset, spec.data_root, index, image_size, model.latent_dim, out)
        indexes[split], stores[split] = index, store
        if spec.step in ("encode", "all") and not store.is_complete():
            encode_shard(model, index, store, image_size, channels, shard=(i, k), chunk_size=spec.chunk_size,
                         workers=spec.workers, device=spec.device, progress=spec.progress)
    if indexes["train"].classes != indexes["test"].classes:
        raise ValueError("The train and test splits list other classes.")
    # Whichever shard finds every shard of a split done merges it (two at once write the same bytes,
    # each to its own temporary file, renamed); scoring needs the merged codes, so it waits for them.
    deadline = time.time() + (0.0 if spec.step == "encode" or k == 1 else spec.wait_s)
    for split, store in stores.items():
        while not store.is_complete():
            if all(store.shard_done(j, k) for j in range(k)):
                merge_shards(store, k)
                break
            if time.time() >= deadline:
                break
            time.sleep(max(0.0, min(_POLL_S, deadline - time.time())))
    encode_s = time.perf_counter() - t0
    pending = {split: [j for j in range(k) if not store.shard_done(j, k)]
               for split, store in stores.items() if not store.is_complete()}
    if spec.step == "encode":
        log(f"shard {i}/{k}: encoded" + (f"; unfinished shards per split: {pending}" if pending else
                                         "; codes complete"))
        return None
    if pending:
        raise FileNotFoundError(f"The codes are not complete (unfinished shards per split: {pending}); run every "
                                f"shard (--shard I/{k} --step encode), or wait longer (--wait-s).")
    results_dir = out / f"n{spec.n}"
    train_codes, test_codes = stores["train"].codes(), stores["test"].codes()
    classes = indexes["train"].classes
    t1 = time.perf_counter()
    done = score_classes(train_codes, indexes["train"].labels, test_codes, indexes["test"].labels, classes,
                         results_dir, n=spec.n, draws=spec.draws, radius=spec.radius,
                         n_branches=int(ck["model_args"]["n_branches"]), seed=spec.seed, class_shard=(i, k),
                         memory_mb=spec.memory_mb, device=spec.device, progress=spec.progress,
                         protocol={"train_codes": stores["train"].folder.name,
                                   "test_codes": stores["test"].folder.name})
    score_s = time.perf_counter() - t1
    if len(done) < len(classes):
        log(f"classes {len(done)} of {len(classes)} scored (this shard's are done); the last shard to finish "
            f"writes the summary, or run again without --shard")
        return None
    return _summarise(done, classes, indexes["test"].labels, spec, checkpoint, ck, results_dir,
                      {"encode_s": round(encode_s, 2), "score_s": round(score_s, 2)})


def _summarise(done, classes, test_labels, spec: LargeSpec, checkpoint, ck, out: Path, timing: dict) -> dict:
    from .codes import checkpoint_digest
    from .oneclass import OneClassResult, write_results
    auroc = np.array([done[c]["auroc"] for c in range(len(classes))])
    res = OneClassResult(class_names=tuple(classes), classes=np.arange(len(classes)), auroc=auroc, n=spec.n,
                         draws=spec.draws, radius=spec.radius, n_branches=int(ck["model_args"]["n_branches"]),
                         seed=spec.seed, test_labels=np.asarray(test_labels), scores_draw0=np.zeros((0, 0)))
    meta = {"dataset": spec.dataset, "checkpoint": str(checkpoint), "checkpoint_sha256": checkpoint_digest(checkpoint),
            "protocol": "test", "scorer": "count (the paper)", "mode": "evaluate-large (streamed)", **timing}
    write_results(res, out, meta, save_scores=False)
    return json.loads((out / "summary.json").read_text())


def print_summary(summary: dict, out_dir, stream=None) -> None:
    print(f"mean AUROC x 100 over {summary['n_classes']} classes: {summary['mean_auroc']:.2f} +- "
          f"{summary['std_auroc']:.2f} (n = {summary['n']}, {summary['draws']} draws); per-class tables and "
          f"summary.json under {out_dir}", file=stream or sys.stdout)
