"""Tests for corel.data: small files in the real formats, written into tmp_path."""
from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
import torch
from PIL import Image

import corel.data.folder as folder_mod
from corel.data import (CIFAR10_CLASSES, DATASETS, DataError, ImageSet, load_dataset, read_idx)
from corel.data._images import convert_channels, resize_images

from _shared_data import SHARED_CIFAR10_JPEG


def _rand(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def _save(img: np.ndarray, path: Path, fmt=None, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path, format=fmt, **kw)


# --- ImageSet ---------------------------------------------------------------------------------
def _toy_set(n=6, c=3, s=8):
    return ImageSet(torch.from_numpy(_rand((n, c, s, s))), torch.arange(n) % 3, ["a", "b", "c"],
                    name="toy", source="/nowhere")


def test_imageset_items_and_batches():
    ds = _toy_set()
    x, y = ds[4]
    assert x.dtype == torch.float32 and x.shape == (3, 8, 8) and isinstance(y, int) and y == 1
    assert torch.equal(x, ds.images[4].float() / 255)
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert torch.equal(ds.float_images(), ds.images.float() / 255)
    assert torch.equal(ds.float_images([1, 3]), ds.images[[1, 3]].float() / 255)
    assert len(ds) == 6 and ds.n_channels == 3 and ds.image_size == 8
    assert ds.class_counts().tolist() == [2, 2, 2]
    xb, yb = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert xb.shape == (4, 3, 8, 8) and yb.tolist() == [0, 1, 2, 0]
    assert "n=6" in repr(ds) and "classes=3" in repr(ds)


def test_imageset_subset_and_with_labels():
    ds = _toy_set()
    sub = ds.subset(ds.labels == 2)
    assert len(sub) == 2 and sub.classes == ds.classes and torch.equal(sub.images, ds.images[[2, 5]])
    sub2 = ds.subset(np.array([5, 0]))
    assert sub2.labels.tolist() == [2, 0]
    binary = ds.with_labels((ds.labels == 1).long(), ["rest", "b"])
    assert binary.images.data_ptr() == ds.images.data_ptr()  # shared, not copied
    assert binary.classes == ["rest", "b"] and binary.labels.tolist() == [0, 1, 0, 0, 1, 0]


def test_imageset_validation_messages():
    imgs = torch.zeros(5, 3, 4, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"labels has 4 entries but images has 5.*src\.bin"):
        ImageSet(imgs, [0, 1, 0, 1], ["a", "b"], source="src.bin")
    with pytest.raises(ValueError, match=r"Label 2 is outside \[0, 2\)"):
        ImageSet(imgs, [0, 1, 2, 0, 1], ["a", "b"])
    with pytest.raises(ValueError, match="Label -1"):
        ImageSet(imgs, [0, 1, -1, 0, 1], ["a", "b"])
    with pytest.raises(TypeError, match="uint8"):
        ImageSet(imgs.float(), [0] * 5, ["a"])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ImageSet(imgs[:, 0], [0] * 5, ["a"])
    with pytest.raises(TypeError, match="integers"):
        ImageSet(imgs, [0.0] * 5, ["a"])
    with pytest.raises(ValueError, match="unique"):
        ImageSet(imgs, [0] * 5, ["a", "a"])
    ds = ImageSet(imgs.numpy(), np.zeros(5, np.int32), ("a",))  # numpy in, torch out
    assert ds.labels.dtype == torch.int64 and ds.images.dtype == torch.uint8


# --- registry ---------------------------------------------------------------------------------
def test_registry_names_and_errors():
    assert set(DATASETS) == {"cifar10", "cifar100", "cifar20", "imagefolder", "cifar10-jpeg", "mnist",
                             "fashion-mnist", "tinyimagenet", "imagenet", "npz", "digits", "images"}
    with pytest.raises(ValueError) as e:
        load_dataset("cifar11")
    for name in DATASETS:
        assert name in str(e.value)
    assert "Did you mean 'cifar10'" in str(e.value)
    with pytest.raises(TypeError, match=r"Unknown option\(s\) \['colour'\].*channels"):
        load_dataset("digits", colour=3)
    with pytest.raises(ValueError, match="image_size"):
        load_dataset("digits", image_size=0)
    assert load_dataset("DIGITS", "test").name == "digits"  # case-insensitive


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_unknown_split_is_rejected(name, tmp_path):
    if name in ("imagefolder", "npz"):  # any folder / key name is a split there
        return
    with pytest.raises(ValueError, match=r"Unknown split 'valid'.*choose one of"):
        load_dataset(name, "valid", root=None if name == "digits" else tmp_path)


# --- CIFAR pickles ----------------------------------------------------------------------------
def _dump(obj, path: Path):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def _write_cifar10(root: Path, n=4) -> tuple[Path, dict]:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for i, fname in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        data = _rand((n, 3072), seed=i)
        labels = [(i + j) % 10 for j in range(n)]
        _dump({b"batch_label": fname.encode(), b"labels": labels, b"data": data,
               b"filenames": [b"x.png"] * n}, folder / fname)
        batches[fname] = (data, labels)
    _dump({b"num_cases_per_batch": n, b"label_names": [c.encode() for c in CIFAR10_CLASSES],
           b"num_vis": 3072}, folder / "batches.meta")
    return folder, batches


def test_cifar10_pixels_labels_classes(tmp_path):
    folder, batches = _write_cifar10(tmp_path)
    train = load_dataset("cifar10", "train", root=tmp_path)  # the parent folder works
    test = load_dataset("cifar10", "test", root=folder)      # and the folder itself
    assert train.images.shape == (20, 3, 32, 32) and test.images.shape == (4, 3, 32, 32)
    assert train.classes == list(CIFAR10_CLASSES) and train.name == "cifar10"
    data, labels = batches["test_batch"]
    assert test.labels.tolist() == labels
    # channel-major rows: pixel (c, y, x) of image j is data[j, 1024 c + 32 y + x]
    assert int(test.images[1, 2, 3, 4]) == int(data[1, 2 * 1024 + 3 * 32 + 4])
    assert train.labels.tolist()[4:8] == batches["data_batch_2"][1]


def test_cifar10_resize_and_channels(tmp_path):
    _write_cifar10(tmp_path)
    small = load_dataset("cifar10", "test", root=tmp_path, image_size=16)
    assert small.images.shape == (4, 3, 16, 16) and small.images.dtype == torch.uint8
    native = load_dataset("cifar10", "test", root=tmp_path, image_size=None)
    assert native.image_size == 32
    gray = load_dataset("cifar10", "test", root=tmp_path, channels=1)
    assert gray.n_channels == 1


def test_cifar100_and_cifar20(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for split, n in (("train", 6), ("test", 3)):
        _dump({b"filenames": [b"f"] * n, b"batch_label": split.encode(), b"fine_labels": list(range(n)),
               b"coarse_labels": [k % 2 for k in range(n)], b"data": _rand((n, 3072))}, folder / split)
    fine = [f"fine{k}" for k in range(100)]
    coarse = [f"coarse{k}" for k in range(20)]
    _dump({b"fine_label_names": [s.encode() for s in fine],
           b"coarse_label_names": [s.encode() for s in coarse]}, folder / "meta")
    c100 = load_dataset("cifar100", "train", root=tmp_path)
    c20 = load_dataset("cifar20", "train", root=tmp_path)
    assert c100.labels.tolist() == list(range(6)) and c100.classes == fine
    assert c20.labels.tolist() == [0, 1, 0, 1, 0, 1] and c20.classes == coarse
    assert torch.equal(c100.images, c20.images)
    assert len(load_dataset("cifar20", "test", root=folder)) == 3


def test_cifar_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"batches\.meta.*cifar-10-batches-py"):
        load_dataset("cifar10", root=tmp_path)
    folder, _ = _write_cifar10(tmp_path)
    raw = (folder / "data_batch_3").read_bytes()
    (folder / "data_batch_3").write_bytes(raw[: len(raw) // 2])  # truncated
    with pytest.raises(DataError, match=r"Cannot unpickle .*data_batch_3"):
        load_dataset("cifar10", root=tmp_path)
    _dump({b"labels": [0, 1, 2], b"data": _rand((4, 3072))}, folder / "data_batch_3")
    with pytest.raises(DataError, match=r"data_batch_3 holds 4 images but 3 'labels'"):
        load_dataset("cifar10", root=tmp_path)
    _dump({b"labels": [0] * 4, b"data": _rand((4, 100))}, folder / "data_batch_3")
    with pytest.raises(DataError, match=r"\(N, 3072\)"):
        load_dataset("cifar10", root=tmp_path)
    (folder / "test_batch").unlink()
    with pytest.raises(FileNotFoundError, match="test_batch"):
        load_dataset("cifar10", "test", root=tmp_path)


def test_cifar_pickle_cannot_run_code(tmp_path):
    folder, _ = _write_cifar10(tmp_path)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    _dump({b"labels": [0], b"data": Evil()}, folder / "test_batch")
    with pytest.raises(DataError, match=r"refusing to load global .*system"):
        load_dataset("cifar10", "test", root=tmp_path)


# --- IDX (MNIST, Fashion-MNIST) ---------------------------------------------------------------
def _idx_bytes(arr: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def _write_mnist(folder: Path, gz: bool, n_train=7, n_test=3) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        imgs, labs = _rand((n, 28, 28), seed=n), np.arange(n, dtype=np.uint8) % 10
        for kind, arr in (("images-idx3", imgs), ("labels-idx1", labs)):
            raw = _idx_bytes(arr)
            name = f"{prefix}-{kind}-ubyte"
            if gz:
                (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
            else:
                (folder / name).write_bytes(raw)
        out[prefix] = (imgs, labs)
    return out


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_idx(tmp_path, gz):
    arrays = _write_mnist(tmp_path, gz)
    native = load_dataset("mnist", "train", root=tmp_path, image_size=None)
    assert native.images.shape == (7, 1, 28, 28) and native.classes == [str(d) for d in range(10)]
    assert np.array_equal(native.images[:, 0].numpy(), arrays["train"][0])
    assert native.labels.tolist() == arrays["train"][1].tolist()
    test = load_dataset("mnist", "test", root=tmp_path)
    assert test.images.shape == (3, 1, 32, 32) and test.images.dtype == torch.uint8
    rgb = load_dataset("mnist", "test", root=tmp_path, channels=3)
    assert rgb.n_channels == 3 and torch.equal(rgb.images[:, 0], rgb.images[:, 2])


def test_fashion_mnist_in_torchvision_layout(tmp_path):
    _write_mnist(tmp_path / "FashionMNIST" / "raw", gz=True)
    ds = load_dataset("fashion_mnist", "test", root=tmp_path)
    assert ds.name == "fashion-mnist" and ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    assert len(ds) == 3


def test_idx_errors(tmp_path):
    _write_mnist(tmp_path, gz=False)
    img = tmp_path / "train-images-idx3-ubyte"
    good = img.read_bytes()
    img.write_bytes(b"\x00\x00\x08\x01" + good[4:])  # a labels magic on the images file
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte has magic number 00000801"):
        load_dataset("mnist", root=tmp_path)
    img.write_bytes(b"\x12\x34\x56\x78" + good[4:])
    with pytest.raises(DataError, match=r"not an IDX file.*12345678"):
        load_dataset("mnist", root=tmp_path)
    img.write_bytes(good[:-5])
    with pytest.raises(DataError, match=r"declares shape \(7, 28, 28\).*5483 data bytes"):
        load_dataset("mnist", root=tmp_path)
    img.write_bytes(good)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(6, np.uint8)))
    with pytest.raises(DataError, match=r"holds 7 images but .* holds 6 labels"):
        load_dataset("mnist", root=tmp_path)
    img.unlink()
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(good)[:100])  # truncated gzip
    with pytest.raises(DataError, match=r"Cannot decompress .*train-images-idx3-ubyte\.gz"):
        load_dataset("mnist", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        load_dataset("mnist", "test", root=tmp_path / "empty")


def test_read_idx_other_types(tmp_path):
    arr = np.arange(6, dtype=">i4").reshape(2, 3)
    p = tmp_path / "a.idx"
    p.write_bytes(struct.pack(">BBBB", 0, 0, 0x0C, 2) + struct.pack(">2I", 2, 3) + arr.tobytes())
    out = read_idx(p)
    assert out.tolist() == [[0, 1, 2], [3, 4, 5]] and out.dtype.isnative


# --- image folders and zips -------------------------------------------------------------------
def _write_tree(root: Path, layout: dict[str, dict[str, list[np.ndarray]]], ext=".png") -> None:
    for split, classes in layout.items():
        for cls, imgs in classes.items():
            for k, img in enumerate(imgs):
                _save(img, (root / split / cls / f"{k:03d}{ext}") if split else (root / cls / f"{k:03d}{ext}"))


def _zip_tree(src: Path, dst: Path) -> Path:
    with zipfile.ZipFile(dst, "w", compression=zipfile.ZIP_STORED) as z:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                z.write(p, p.relative_to(src).as_posix())
    return dst


def test_imagefolder_split_layout_png_exact(tmp_path):
    a, b, c = _rand((8, 8, 3), 1), _rand((8, 8, 3), 2), _rand((8, 8, 3), 3)
    _write_tree(tmp_path, {"train": {"dog": [a, b], "cat": [c]}, "test": {"dog": [c], "emu": [a]}})
    train = load_dataset("imagefolder", "train", root=tmp_path, image_size=None)
    assert train.classes == ["cat", "dog", "emu"]  # sorted union over splits
    assert train.labels.tolist() == [0, 1, 1]
    assert np.array_equal(train.images[1].permute(1, 2, 0).numpy(), a)  # lossless PNG, exact
    test = load_dataset("imagefolder", "test", root=tmp_path, image_size=None)
    assert test.classes == train.classes and test.labels.tolist() == [1, 2]
    resized = load_dataset("imagefolder", "train", root=tmp_path)  # default image_size=32
    assert resized.images.shape == (3, 3, 32, 32)


def test_imagefolder_zip_matches_folder(tmp_path):
    tree = tmp_path / "tree"
    _write_tree(tree, {"train": {"b": [_rand((10, 12, 3), 4)], "a": [_rand((10, 12, 3), 5)] * 2}})
    z = _zip_tree(tree, tmp_path / "tree.zip")
    from_dir = load_dataset("imagefolder", "train", root=tree, image_size=16)
    from_zip = load_dataset("imagefolder", "train", root=z, image_size=16)
    assert torch.equal(from_dir.images, from_zip.images) and from_zip.classes == ["a", "b"]
    assert torch.equal(from_dir.labels, from_zip.labels) and from_zip.image_size == 16
    with pytest.raises(FileNotFoundError, match=r"No folder for split 'test' in zip .*\['train'\]"):
        load_dataset("imagefolder", "test", root=z)
    threaded = load_dataset("imagefolder", "train", root=z, image_size=16, num_workers=2)
    assert torch.equal(threaded.images, from_zip.images)
    wrapped = _zip_tree(tmp_path, tmp_path.parent / f"{tmp_path.name}-wrapped.zip")  # tree/train/<class>/...
    wrapped_ds = load_dataset("imagefolder", "train", root=wrapped, image_size=16)
    assert wrapped_ds.classes == ["a", "b"] and torch.equal(wrapped_ds.images, from_zip.images)


def test_imagefolder_flat_layout(tmp_path):
    _write_tree(tmp_path, {"": {"x": [_rand((8, 8, 3))], "y": [_rand((8, 8, 3))] * 3}})
    ds = load_dataset("imagefolder", "train", root=tmp_path)
    assert ds.classes == ["x", "y"] and ds.class_counts().tolist() == [1, 3]
    with pytest.warns(UserWarning, match="no split folders"):
        load_dataset("imagefolder", "test", root=tmp_path)


def test_imagefolder_modes_gray_alpha_palette(tmp_path):
    rgba = _rand((8, 8, 4), 6)
    gray = _rand((8, 8), 7)
    _save(rgba, tmp_path / "train" / "a" / "rgba.png")
    _save(gray, tmp_path / "train" / "b" / "gray.png")
    _save(np.asarray(Image.fromarray(_rand((8, 8, 3), 8)).convert("P")), tmp_path / "train" / "c" / "pal.bmp")
    ds = load_dataset("imagefolder", root=tmp_path, image_size=None)
    assert ds.n_channels == 3  # mixed: gray is replicated to RGB
    assert np.array_equal(ds.images[0].permute(1, 2, 0).numpy(), rgba[:, :, :3])  # alpha dropped
    assert all(np.array_equal(ds.images[1, k].numpy(), gray) for k in range(3))
    gray_only = tmp_path / "g"
    _save(gray, gray_only / "train" / "b" / "gray.png")
    _save(_rand((8, 8), 9), gray_only / "train" / "b" / "gray2.jpg")
    assert load_dataset("imagefolder", root=gray_only).n_channels == 1  # all gray: one channel
    forced = load_dataset("imagefolder", root=tmp_path, image_size=None, channels=1)
    expected = np.asarray(Image.fromarray(rgba[:, :, :3]).convert("L"))
    assert forced.n_channels == 1 and np.array_equal(forced.images[0, 0].numpy(), expected)


def test_imagefolder_native_size_must_match(tmp_path):
    _save(_rand((8, 8, 3)), tmp_path / "train" / "a" / "0.png")
    _save(_rand((8, 10, 3)), tmp_path / "train" / "a" / "1.png")
    with pytest.raises(DataError, match=r"1\.png is 10x8 but .*0\.png is 8x8.*image_size=32"):
        load_dataset("imagefolder", root=tmp_path, image_size=None)
    assert load_dataset("imagefolder", root=tmp_path, image_size=8).images.shape == (2, 3, 8, 8)


def test_imagefolder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset("imagefolder", root=tmp_path / "nope")
    (tmp_path / "empty" / "train" / "cls").mkdir(parents=True)
    with pytest.raises(DataError, match=r"No images in .*empty"):
        load_dataset("imagefolder", root=tmp_path / "empty")
    bad = tmp_path / "bad"
    _save(_rand((8, 8, 3)), bad / "train" / "a" / "ok.png")
    (bad / "train" / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match=r"Cannot decode image .*broken\.jpg"):
        load_dataset("imagefolder", root=bad)
    buf = io.BytesIO()
    Image.fromarray(_rand((64, 64, 3))).save(buf, "JPEG")
    (bad / "train" / "a" / "broken.jpg").write_bytes(buf.getvalue()[:300])  # truncated JPEG
    with pytest.raises(DataError, match=r"broken\.jpg.*truncated"):
        load_dataset("imagefolder", root=bad)
    (tmp_path / "notzip.zip").write_bytes(b"hello, I am not a zip")
    with pytest.raises(DataError, match=r"notzip\.zip is not a readable zip"):
        load_dataset("imagefolder", root=tmp_path / "notzip.zip")
    with pytest.raises(FileNotFoundError, match=r"split 'val' in .*\['train'\]"):
        load_dataset("imagefolder", "val", root=bad)
    loose = tmp_path / "loose"
    _save(_rand((8, 8, 3)), loose / "train" / "img.png")
    with pytest.raises(DataError, match="holds image files directly"):
        load_dataset("imagefolder", root=loose)
    with pytest.raises(ValueError, match="cache=True needs root to be a zip"):
        load_dataset("imagefolder", root=bad, cache=True)


def test_zip_cache_hit_invalidation_and_corruption(tmp_path, monkeypatch):
    tree = tmp_path / "tree"
    _write_tree(tree, {"train": {"a": [_rand((8, 8, 3), 1)], "b": [_rand((8, 8, 3), 2)]}})
    z = _zip_tree(tree, tmp_path / "data.zip")
    cache = tmp_path / "cache"
    first = load_dataset("imagefolder", root=z, cache=cache)
    files = list(cache.glob("*.npz"))
    assert len(files) == 1 and not list(cache.glob("*.tmp"))

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(folder_mod, "decode_all", no_decoding)
    again = load_dataset("imagefolder", root=z, cache=cache)
    assert torch.equal(again.images, first.images) and again.classes == first.classes
    assert again.labels.dtype == torch.int64 and again.name == "imagefolder"
    monkeypatch.undo()

    os.utime(z, ns=(time.time_ns(), time.time_ns() + 10**9))  # the zip changed: rebuild
    load_dataset("imagefolder", root=z, cache=cache)
    now = list(cache.glob("*.npz"))
    assert len(now) == 1 and now != files  # stale entry replaced
    now[0].write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable cache file"):
        rebuilt = load_dataset("imagefolder", root=z, cache=cache)
    assert torch.equal(rebuilt.images, first.images)


# --- the shared CIFAR-10 JPEG zips ------------------------------------------------------------
def test_cifar10_jpeg_class_order_and_env_root(tmp_path, monkeypatch):
    tree = tmp_path / "tree"
    _write_tree(tree, {"train": {c: [_rand((32, 32, 3), k)] for k, c in enumerate(("truck", "airplane", "cat"))}},
                ext=".jpg")
    shared = tmp_path / "shared"
    shared.mkdir()
    _zip_tree(tree, shared / "train.zip")
    monkeypatch.setenv("COREL_CIFAR10_JPEG", str(shared))
    monkeypatch.setenv("COREL_CACHE", str(tmp_path / "cache"))
    ds = load_dataset("cifar10-jpeg", "train")
    assert ds.classes == list(CIFAR10_CLASSES) and ds.name == "cifar10-jpeg"
    assert ds.labels.tolist() == [0, 3, 9]  # CIFAR-10's order, not sorted names
    assert len(list((tmp_path / "cache").glob("cifar10-jpeg-train-*.npz"))) == 1
    with pytest.raises(FileNotFoundError, match=r"test\.zip does not exist"):
        load_dataset("cifar10-jpeg", "test")


def _write_cifar10_jpeg(folder: Path, seed: int = 0, splits=("train", "test")) -> Path:
    """``folder/{train,test}.zip`` in the shared copy's format: entries ``<split>/<class>/NNNN.jpg``."""
    for split in splits:
        tree = folder.parent / f".tree-{folder.name}-{split}"
        _write_tree(tree, {split: {c: [_rand((32, 32, 3), seed + k)] for k, c in enumerate(CIFAR10_CLASSES[:3])}},
                    ext=".jpg")
        folder.mkdir(parents=True, exist_ok=True)
        _zip_tree(tree, folder / f"{split}.zip")
    return folder


def _no_cifar10_jpeg_env(monkeypatch, tmp_path):
    for var in ("COREL_CIFAR10_JPEG", "COREL_DATA"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("COREL_CACHE", str(tmp_path / "cache"))


def test_cifar10_jpeg_root_from_corel_data(tmp_path, monkeypatch):
    _no_cifar10_jpeg_env(monkeypatch, tmp_path)
    _write_cifar10_jpeg(tmp_path / "store" / "cifar10-jpeg", seed=1)
    _write_cifar10_jpeg(tmp_path / "work" / "data" / "cifar10-jpeg", seed=50)  # ./data: not used when set
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setenv("COREL_DATA", str(tmp_path / "store"))
    ds = load_dataset("cifar10-jpeg", "test")
    assert ds.labels.tolist() == [0, 1, 2] and ds.images.shape == (3, 3, 32, 32)
    expected = load_dataset("cifar10-jpeg", "test", root=tmp_path / "store" / "cifar10-jpeg", cache=False)
    assert torch.equal(ds.images, expected.images)
    from corel.data.cifar10_jpeg import default_cifar10_jpeg_root
    assert default_cifar10_jpeg_root() == tmp_path / "store" / "cifar10-jpeg"
    # a COREL_DATA without the data set is an error naming it, not a fall-back to ./data
    monkeypatch.setenv("COREL_DATA", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("cifar10-jpeg", "train")
    msg = str(err.value)
    assert "$COREL_DATA/cifar10-jpeg" in msg and str(tmp_path / "empty" / "cifar10-jpeg") in msg
    assert "--data-root (root= in Python)" in msg and "COREL_DATA" in msg


def test_cifar10_jpeg_default_roots_are_relative_to_the_working_directory(tmp_path, monkeypatch):
    _no_cifar10_jpeg_env(monkeypatch, tmp_path)
    work = tmp_path / "checkout"
    work.mkdir()
    monkeypatch.chdir(work)
    with pytest.raises(FileNotFoundError) as err:  # nothing anywhere: the message says where it looked
        load_dataset("cifar10-jpeg", "test")
    msg = str(err.value)
    assert "./data/cifar10-jpeg" in msg and "../shared/data/cifar10-jpeg" in msg and str(work) in msg
    assert "--data-root (root= in Python)" in msg and "cifar10-jpeg/test.zip" in msg
    shared = _write_cifar10_jpeg(tmp_path / "shared" / "data" / "cifar10-jpeg", seed=3)  # ../shared/data
    from_shared = load_dataset("cifar10-jpeg", "test")
    assert torch.equal(from_shared.images, load_dataset("cifar10-jpeg", "test", root=shared, cache=False).images)
    local = _write_cifar10_jpeg(work / "data" / "cifar10-jpeg", seed=7)  # ./data comes first
    from_local = load_dataset("cifar10-jpeg", "test")
    assert torch.equal(from_local.images, load_dataset("cifar10-jpeg", "test", root=local, cache=False).images)
    assert not torch.equal(from_local.images, from_shared.images)


def test_cifar10_jpeg_ignores_the_source_tree(tmp_path, monkeypatch):
    _no_cifar10_jpeg_env(monkeypatch, tmp_path)
    monkeypatch.chdir(tmp_path)  # no ./data, no ../shared here, whatever lies beside the checkout
    with pytest.raises(FileNotFoundError, match=r"no --data-root given"):
        load_dataset("cifar10-jpeg", "train")


def test_missing_data_messages_name_the_flag_and_the_keyword(tmp_path):
    for name in ("cifar10", "cifar100", "cifar10-jpeg", "mnist", "imagenet", "tinyimagenet", "npz", "imagefolder"):
        with pytest.raises(FileNotFoundError, match=r"--data-root \(root= in Python\)"):
            load_dataset(name, "train", root=tmp_path / "absent")


@pytest.mark.skipif(not (SHARED_CIFAR10_JPEG / "test.zip").is_file(), reason="shared CIFAR-10 JPEGs absent")
def test_real_cifar10_jpeg_test_split(tmp_path):
    ds = load_dataset("cifar10-jpeg", "test", root=SHARED_CIFAR10_JPEG, cache=tmp_path)
    assert ds.images.shape == (10000, 3, 32, 32) and ds.images.dtype == torch.uint8
    assert ds.class_counts().tolist() == [1000] * 10
    assert ds.classes[0] == "airplane" and ds.classes[9] == "truck"
    cached = load_dataset("cifar10-jpeg", "test", root=SHARED_CIFAR10_JPEG, cache=tmp_path)
    assert torch.equal(cached.images, ds.images)


# --- TinyImageNet -----------------------------------------------------------------------------
def _write_tinyimagenet(root: Path) -> list[str]:
    folder = root / "tiny-imagenet-200"
    wnids = ["n02", "n01", "n03"]  # wnids.txt order is the class order
    folder.mkdir(parents=True)
    (folder / "wnids.txt").write_text("\n".join(wnids) + "\n")
    for k, w in enumerate(wnids):
        for j in range(2):
            _save(_rand((64, 64, 3), 10 * k + j), folder / "train" / w / "images" / f"{w}_{j}.JPEG", "JPEG")
        (folder / "train" / w / f"{w}_boxes.txt").write_text("")
    lines = []
    for j, w in enumerate(["n03", "n02", "n03", "n01"]):
        img = _rand((64, 64), j) if j == 0 else _rand((64, 64, 3), j)  # one grayscale JPEG
        _save(img, folder / "val" / "images" / f"val_{j}.JPEG", "JPEG")
        lines.append(f"val_{j}.JPEG\t{w}\t0\t0\t63\t63")
    (folder / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return wnids


def test_tinyimagenet_train_and_val(tmp_path):
    wnids = _write_tinyimagenet(tmp_path)
    train = load_dataset("tinyimagenet", "train", root=tmp_path)
    assert train.classes == wnids and train.images.shape == (6, 3, 32, 32)
    assert train.labels.tolist() == [0, 0, 1, 1, 2, 2]
    test = load_dataset("tinyimagenet", "test", root=tmp_path / "tiny-imagenet-200", image_size=None)
    assert test.images.shape == (4, 3, 64, 64)  # the grayscale one became RGB
    assert sorted(test.labels.tolist()) == [0, 1, 2, 2]
    assert test.class_counts().tolist() == [1, 1, 2]
    assert len(load_dataset("tinyimagenet", "val", root=tmp_path)) == 4


def test_tinyimagenet_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="wnids.txt"):
        load_dataset("tinyimagenet", root=tmp_path)
    _write_tinyimagenet(tmp_path)
    ann = tmp_path / "tiny-imagenet-200" / "val" / "val_annotations.txt"
    ann.write_text(ann.read_text() + "val_9.JPEG\tn99\t0\t0\t1\t1\n")
    with pytest.raises(DataError, match=r"line 5: class id 'n99' is not in wnids\.txt"):
        load_dataset("tinyimagenet", "test", root=tmp_path)
    ann.write_text("val_7.JPEG\tn01\t0\t0\t1\t1\n")
    with pytest.raises(FileNotFoundError, match=r"val_7\.JPEG, which does not exist"):
        load_dataset("tinyimagenet", "test", root=tmp_path)


# --- ImageNet folders -------------------------------------------------------------------------
def test_imagenet_folders_resize_and_val(tmp_path):
    big = _rand((150, 200, 3), 1)
    big = np.asarray(Image.fromarray(big).resize((25, 19)).resize((200, 150)))  # smooth content
    for split in ("train", "val"):
        _save(big, tmp_path / split / "n0002" / "a.JPEG", "JPEG", quality=95)
        _save(_rand((40, 30, 3), 2), tmp_path / split / "n0001" / "b.JPEG", "JPEG")
    train = load_dataset("imagenet", "train", root=tmp_path, image_size=16)
    assert train.classes == ["n0001", "n0002"] and train.images.shape == (2, 3, 16, 16)
    test = load_dataset("imagenet", "test", root=tmp_path, image_size=16)
    assert torch.equal(test.images, train.images)
    # reduced-scale JPEG decoding stays close to a full decode + resize
    full = np.asarray(Image.open(tmp_path / "train" / "n0002" / "a.JPEG").resize((16, 16), Image.BILINEAR))
    diff = np.abs(train.images[1].permute(1, 2, 0).numpy().astype(int) - full.astype(int))
    assert diff.mean() < 3


def test_imagenet_unsorted_val_is_rejected(tmp_path):
    _save(_rand((8, 8, 3)), tmp_path / "train" / "n01" / "a.JPEG", "JPEG")
    _save(_rand((8, 8, 3)), tmp_path / "val" / "ILSVRC2012_val_00000001.JPEG", "JPEG")
    with pytest.raises(DataError, match=r"val holds image files directly"):
        load_dataset("imagenet", "test", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="ImageNet folder"):
        load_dataset("imagenet", root=tmp_path / "missing")


# --- npz --------------------------------------------------------------------------------------
def test_npz_layouts_and_dtypes(tmp_path):
    x = _rand((5, 12, 12, 3))
    np.savez(tmp_path / "a.npz", x=x, y=np.array([0, 1, 2, 1, 0]), classes=np.array(["u", "v", "w"]))
    a = load_dataset("npz", root=tmp_path / "a.npz", image_size=None)
    assert a.images.shape == (5, 3, 12, 12) and a.classes == ["u", "v", "w"]
    assert np.array_equal(a.images.permute(0, 2, 3, 1).numpy(), x)
    np.savez(tmp_path / "b.npz", x=x.transpose(0, 3, 1, 2) / 255.0, y=np.array([0, 1, 2, 1, 4]))
    b = load_dataset("npz", root=tmp_path / "b.npz", image_size=None)
    assert torch.equal(b.images, a.images) and b.classes == ["0", "1", "2", "3", "4"]
    np.savez(tmp_path / "c.npz", x_train=x[..., 0], y_train=np.zeros(5, int), x_test=x[:2, ..., 0],
             y_test=np.ones(2, int))
    assert load_dataset("npz", "test", root=tmp_path / "c.npz").images.shape == (2, 1, 32, 32)
    d = tmp_path / "splits"
    d.mkdir()
    np.savez(d / "test.npz", x=np.concatenate([x, x[..., :1]], axis=3), y=np.zeros(5, int))  # RGBA
    assert load_dataset("npz", "test", root=d, image_size=None).n_channels == 3


@given(n=st.integers(1, 4), c=st.sampled_from([1, 3]), h=st.integers(5, 9), w=st.integers(5, 9),
       seed=st.integers(0, 100))
def test_npz_channel_layouts_agree(tmp_path_factory, n, c, h, w, seed):
    x = _rand((n, c, h, w), seed)
    d = tmp_path_factory.mktemp("npz")
    np.savez(d / "nchw.npz", x=x, y=np.arange(n))
    np.savez(d / "nhwc.npz", x=x.transpose(0, 2, 3, 1), y=np.arange(n))
    a = load_dataset("npz", root=d / "nchw.npz", image_size=None, layout="nchw")
    b = load_dataset("npz", root=d / "nhwc.npz", image_size=None, layout="nhwc")
    assert torch.equal(a.images, b.images) and np.array_equal(a.images.numpy(), x)
    assert a.labels.tolist() == list(range(n)) and a.image_size == (h if h == w else (h, w))


def test_npz_errors(tmp_path):
    p = tmp_path / "e.npz"
    np.savez(p, x=_rand((5, 3, 8, 3)), y=np.zeros(5, int))
    with pytest.raises(DataError, match=r"channel axis .*layout='nhwc'"):
        load_dataset("npz", root=p)
    assert load_dataset("npz", root=p, layout="nhwc", image_size=None).images.shape == (5, 3, 3, 8)
    np.savez(p, x=np.full((2, 8, 8), 1.5), y=np.zeros(2, int))
    with pytest.raises(DataError, match=r"must lie in \[0, 1\]"):
        load_dataset("npz", root=p)
    np.savez(p, x=_rand((3, 8, 8)), y=np.zeros(2, int))
    with pytest.raises(DataError, match=r"holds 3 images .* but 2 labels"):
        load_dataset("npz", root=p)
    np.savez(p, images=_rand((3, 8, 8)))
    with pytest.raises(DataError, match=r"no array 'x'.*\['images'\]"):
        load_dataset("npz", root=p)
    (tmp_path / "z.npz").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(DataError, match=r"z\.npz"):
        load_dataset("npz", root=tmp_path / "z.npz")
    with pytest.raises(FileNotFoundError, match=r"test\.npz"):
        load_dataset("npz", "test", root=tmp_path)


# --- sklearn digits ---------------------------------------------------------------------------
def test_digits_split_is_fixed_disjoint_and_stratified():
    from sklearn.datasets import load_digits as sk_digits

    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    assert (len(train), len(test)) == (1257, 540)
    assert train.images.shape == (1257, 1, 32, 32) and train.images.dtype == torch.uint8
    assert test.class_counts().min() >= 52 and train.class_counts().min() >= 120
    again = load_dataset("digits", "test")
    assert torch.equal(again.images, test.images) and torch.equal(again.labels, test.labels)
    native_tr = load_dataset("digits", "train", image_size=None)
    native_te = load_dataset("digits", "test", image_size=None)
    assert native_tr.image_size == 8 and int(native_tr.images.max()) == 255
    # disjoint: every sklearn image lands in exactly one split
    all_imgs = np.rint(sk_digits().images * 255 / 16).astype(np.uint8).reshape(1797, -1)
    rows = {r.tobytes(): 0 for r in all_imgs}
    for r in np.concatenate([native_tr.images.reshape(-1, 64).numpy(), native_te.images.reshape(-1, 64).numpy()]):
        rows[r.tobytes()] += 1
    counts = np.unique(all_imgs, axis=0, return_counts=True)[1]  # sklearn has a few duplicates
    assert sum(rows.values()) == 1797 and len(rows) == len(counts)
    with pytest.raises(ValueError, match="take no root"):
        load_dataset("digits", root="somewhere")


# --- resizing and channel conversion ------------------------------------------------------------
def test_torch_resize_matches_pil_bilinear():
    img = _rand((40, 40, 3), 3)
    img = np.array(Image.fromarray(img).resize((10, 10)).resize((40, 40)))
    ours = resize_images(torch.from_numpy(img).permute(2, 0, 1)[None].contiguous(), 16)[0]
    pil = np.asarray(Image.fromarray(img).resize((16, 16), Image.BILINEAR))
    assert np.abs(ours.permute(1, 2, 0).numpy().astype(int) - pil.astype(int)).max() <= 2
    x = torch.from_numpy(_rand((2, 3, 5, 5)))
    assert resize_images(x, 5) is x and resize_images(x, None) is x


def test_convert_channels_matches_pil_luma():
    img = _rand((6, 7, 3), 4)
    ours = convert_channels(torch.from_numpy(img).permute(2, 0, 1)[None].contiguous(), 1)
    assert np.array_equal(ours[0, 0].numpy(), np.asarray(Image.fromarray(img).convert("L")))
    g = torch.from_numpy(_rand((2, 1, 4, 4)))
    assert torch.equal(convert_channels(g, 3)[:, 1], g[:, 0])


def _write_tinyimagenet_copy(root: Path, n_classes: int, extra: int, crlf: bool) -> Path:
    """A TinyImageNet-like copy: n_classes official classes (val_0 ...) plus ``extra`` foreign ones whose val
    images are numbered from val_<50 x 200>, as in a public copy; 8x8 images, one grey JPEG per class."""
    folder = root / "tiny-imagenet-200"
    wnids = [f"n{k:08d}" for k in range(n_classes + extra)]
    (folder / "val" / "images").mkdir(parents=True)
    (folder / "wnids.txt").write_text("\n".join(wnids))                                # no final newline
    lines = []
    for k, w in enumerate(wnids):
        _save(_rand((8, 8), k), folder / "train" / w / "images" / f"{w}_0.JPEG", "JPEG")   # grey JPEG
        j = k if k < n_classes else 200 * 50 + (k - n_classes)
        _save(_rand((8, 8, 3), k), folder / "val" / "images" / f"val_{j}.JPEG", "JPEG")
        lines.append(f"val_{j}.JPEG\t{w}\t0\t0\t7\t7")
    (folder / "val" / "val_annotations.txt").write_text(("\r\n" if crlf else "\n").join(lines))   # no final newline
    return folder


def test_tinyimagenet_copy_with_extra_classes_is_refused_naming_them(tmp_path):
    folder = _write_tinyimagenet_copy(tmp_path, 200, 2, crlf=True)
    with pytest.raises(DataError, match=r"202 classes.*\['n00000200', 'n00000201'\].*tinyimagenet_canonical\.py"):
        load_dataset("tinyimagenet", "test", root=tmp_path)
    # the script's canonical layout loads: 200 classes, CRLF and a missing final newline read alike
    import subprocess, sys
    dest = tmp_path / "canon" / "tiny-imagenet-200"
    res = subprocess.run([sys.executable, str(Path(__file__).parents[1] / "scripts" / "tinyimagenet_canonical.py"),
                          str(folder), str(dest), "--expect", "1,1"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "dropped class n00000200" in res.stdout and "dropped class n00000201" in res.stdout
    val = load_dataset("tinyimagenet", "test", root=dest, image_size=8)
    train = load_dataset("tinyimagenet", "train", root=dest, image_size=8)
    assert len(val.classes) == 200 and len(val) == 200 and val.images.shape[1] == 3
    assert train.images.shape == (200, 3, 8, 8)           # grey JPEGs became RGB


def test_tinyimagenet_annotations_with_crlf_and_no_final_newline(tmp_path):
    _write_tinyimagenet_copy(tmp_path, 3, 0, crlf=True)
    val = load_dataset("tinyimagenet", "test", root=tmp_path, image_size=8)
    assert val.labels.tolist() == [0, 1, 2] and val.classes == ["n00000000", "n00000001", "n00000002"]
