"""ImageNet-scale evaluation (corel.protocols.largescale): streamed and sharded encoding, resumable scoring in
bounded memory, the same numbers as the in-memory protocol."""
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from corel.protocols import largescale as ls
from corel.apps.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")

CLASSES = ["n01440764", "n01443537", "n01484850", "n01491361"]     # ImageNet's first wnids
TRAIN, VAL = 12, 6
RADIUS = 0.02          # about the median per-branch l1 distance of the random model's codes: counts vary


def _write_tree(root, seed=0):
    """An ImageNet-layout folder of real JPEGs of assorted sizes (one grey, one CMYK, one PNG-as-.JPEG)."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", TRAIN), ("val", VAL)):
        for k, wnid in enumerate(CLASSES):
            folder = root / split / wnid
            folder.mkdir(parents=True)
            for j in range(count):
                w, h = int(rng.integers(40, 90)), int(rng.integers(30, 70))
                small = rng.integers(0, 256, size=(3, 4, 3)).astype(np.uint8)
                small[..., k % 3] = 200                          # classes differ by colour
                img = Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
                name = folder / f"{wnid}_{j:04d}.JPEG"
                if j == 0 and k == 0:
                    img.convert("L").save(name, "JPEG")
                elif j == 1 and k == 0:
                    img.convert("CMYK").save(name, "JPEG")
                elif j == 2 and k == 1:
                    img.save(name, "PNG")
                else:
                    img.save(name, "JPEG", quality=90)
    (root / "train" / CLASSES[0] / ".hidden.JPEG").write_bytes(b"not an image")
    return root


def _write_model(path):
    from corel.training.checkpoints import FORMAT_VERSION
    from corel.training.models import build_model
    torch.manual_seed(0)
    args = dict(in_channels=3, image_size=16, channels=[8, 16, 32], n_branches=4, branch_dim=5)
    model = build_model("conv", **args)
    torch.save({"format_version": FORMAT_VERSION, "model_name": "conv", "model_args": args,
                "config": {"image_size": 16}, "state_dict": model.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("large")
    return _write_tree(base / "imagenet"), _write_model(base / "model.pt")


def _spec(root, **kw):
    return ls.LargeSpec(data_root=str(root), n=5, draws=3, radius=RADIUS, chunk_size=5, workers=2, progress=False,
                        **kw)


def _reference(root, ckpt, codes_train, codes_test):
    from corel.training.checkpoints import load_model
    from corel.protocols.codes import encode_split
    from corel.protocols.oneclass import evaluate_one_class
    model = load_model(ckpt)
    tr = encode_split(ckpt, "imagenet", "train", root, model=model, image_size=16, progress=False)
    te = encode_split(ckpt, "imagenet", "test", root, model=model, image_size=16, progress=False)
    res = evaluate_one_class(codes_train, tr.labels, codes_test, te.labels, n=5, draws=3, radius=RADIUS,
                             n_branches=4, seed=0, class_names=tr.classes)
    return tr, te, res


def test_streamed_sharded_run_equals_the_in_memory_protocol(setup, tmp_path, capsys):
    root, ckpt = setup
    out = tmp_path / "out"
    # two shards, run one after the other as two machines would: encode, then score, then summarise
    for i in (0, 1):
        assert ls.evaluate_large(ckpt, _spec(root, shard=(i, 2), step="encode"), out) is None
    assert ls.evaluate_large(ckpt, _spec(root, shard=(0, 2), step="score"), out) is None   # merges; classes 0-1
    summary = ls.evaluate_large(ckpt, _spec(root, shard=(1, 2), step="score"), out)       # classes 2-3, summary
    assert summary is not None and summary["n_classes"] == 4 and summary["n_test"] == 4 * VAL
    index = ls.build_index(root, "train", out)
    assert len(index) == 4 * TRAIN and index.classes == tuple(CLASSES)          # the hidden file is skipped
    stores = sorted((out / "codes").iterdir())
    train_store = next(s for s in stores if s.name.startswith("train"))
    codes_train = np.memmap(train_store / "codes.f32", dtype=np.float32, mode="r").reshape(-1, 20)
    codes_test = np.memmap(next(s for s in stores if s.name.startswith("test")) / "codes.f32", dtype=np.float32,
                           mode="r").reshape(-1, 20)
    tr, te, ref = _reference(root, ckpt, np.array(codes_train), np.array(codes_test))
    # the same codes as the in-memory path (corel.protocols.codes), the same labels and classes
    assert np.allclose(codes_train, tr.codes.numpy(), atol=1e-5) and np.allclose(codes_test, te.codes.numpy(), atol=1e-5)
    assert np.array_equal(index.labels, tr.labels.numpy()) and list(tr.classes) == CLASSES
    # the same draws and AUROCs as evaluate_one_class on these codes
    got = json.loads((out / "n5" / "per_class.json").read_text())
    assert np.allclose([[r[f"draw_{d}"] for d in range(3)] for r in got], ref.auroc, atol=1e-9)
    assert summary["mean_auroc"] == pytest.approx(ref.mean, abs=1e-9)
    assert len(np.unique(ref.auroc)) > 5, "the AUROCs are degenerate (all counts equal): nothing was compared"
    assert sorted(p.name for p in (out / "n5").glob("results*.jsonl")) == ["results-0-of-2.jsonl",
                                                                          "results-1-of-2.jsonl"]


def test_encoding_is_chunked_resumable_and_shards_merge_to_the_single_run(setup, tmp_path, monkeypatch):
    root, ckpt = setup
    one, three = tmp_path / "one", tmp_path / "three"
    ls.evaluate_large(ckpt, _spec(root, step="encode", shard=(0, 1)), one)
    for i in (0, 1, 2):
        ls.evaluate_large(ckpt, _spec(root, step="encode", shard=(i, 3)), three)
    # a run killed after its second chunk, then restarted: the finished chunks are not decoded again
    from corel.training.models import CorelAutoencoder
    real_encode, seen = CorelAutoencoder.encode, []

    def encode(self, x):
        seen.append(len(x))
        if len(seen) == 3 and not os.environ.get("RESUMED"):
            raise KeyboardInterrupt("killed")
        return real_encode(self, x)
    monkeypatch.setattr(CorelAutoencoder, "encode", encode)
    two = tmp_path / "two"
    with pytest.raises(KeyboardInterrupt):
        ls.evaluate_large(ckpt, _spec(root, step="encode", shard=(0, 3)), two)
    monkeypatch.setenv("RESUMED", "1")
    decoded = []
    real_decode = ls._decode
    monkeypatch.setattr(ls, "_decode", lambda p, *a: decoded.append(p) or real_decode(p, *a))
    for i in (0, 1, 2):
        ls.evaluate_large(ckpt, _spec(root, step="encode", shard=(i, 3)), two)
    assert max(seen) <= 5                                                  # the model never saw more than a chunk
    assert len(decoded) == 4 * (TRAIN + VAL) - 2 * 5                       # two chunks were kept from the killed run
    for split in ("train", "test"):
        a, b, c = (next(p for p in (d / "codes").iterdir() if p.name.startswith(split)) / "codes.f32"
                   for d in (one, three, two))
        assert b.read_bytes() == c.read_bytes(), split            # killed and resumed: the same bytes
        # 3 shards or 1: other chunk boundaries, so other batches for the BLAS (float rounding apart)
        assert np.allclose(np.fromfile(a, dtype=np.float32), np.fromfile(b, dtype=np.float32), rtol=1e-5, atol=1e-6)
    # more shards than images: the empty ones finish at once, and the merge still gives every row
    index = ls.build_index(root, "test", tmp_path / "many")
    store = ls.open_store(ckpt, "imagenet", root, index, 16, 20, tmp_path / "many")
    from corel.training.checkpoints import load_model
    for i in range(len(index) + 2):
        assert ls.encode_shard(load_model(ckpt), index, store, 16, 3, shard=(i, len(index) + 2), progress=False)
    ls.merge_shards(store, len(index) + 2)
    single = next(p for p in (one / "codes").iterdir() if p.name.startswith("test")) / "codes.f32"
    assert np.allclose(np.fromfile(store.merged, dtype=np.float32), np.fromfile(single, dtype=np.float32), atol=1e-5)


def test_scoring_in_bounded_blocks_resumes_per_class(setup, tmp_path, monkeypatch):
    root, ckpt = setup
    out = tmp_path / "out"
    ls.evaluate_large(ckpt, _spec(root, step="encode"), out)
    import corel.protocols.oneclass as loop       # the protocol loop's count kernel
    real, calls = loop.count_neighbors, []

    def count(q, inliers, *a, **k):
        calls.append(tuple(inliers.shape))
        if len(calls) == 4 and not os.environ.get("RESUMED"):      # the first draw of the second class
            raise KeyboardInterrupt("killed")
        return real(q, inliers, *a, **k)
    monkeypatch.setattr(loop, "count_neighbors", count)
    tiny = 4 * VAL * 8 * 2 / 2**20              # room for the counts of exactly one class and draw (24 test codes)
    with pytest.raises(KeyboardInterrupt):
        ls.evaluate_large(ckpt, _spec(root, step="score", memory_mb=tiny), out)
    assert len(ls._read_results(out / "n5")) == 1                         # the first class's block was kept
    monkeypatch.setenv("RESUMED", "1")
    summary = ls.evaluate_large(ckpt, _spec(root, step="score", memory_mb=tiny), out)
    assert calls == [(1, 5, 20)] * (4 + 3 * 3)                             # one class per call, a call per draw
    assert summary["n_classes"] == 4
    # another protocol into the same folder is refused
    with pytest.raises(ValueError, match="another protocol"):
        ls.evaluate_large(ckpt, ls.LargeSpec(data_root=str(root), n=5, draws=2, radius=RADIUS, progress=False), out)


def test_auroc_from_counts_is_sklearns():
    from sklearn.metrics import roc_auc_score
    from corel.scoring.metrics import auroc_from_counts, auroc_percent
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 12, size=(6, 500))                       # many ties
    labels = rng.random(500) < 0.1
    scores[:, labels] += rng.integers(0, 3, size=(6, int(labels.sum())))
    got = auroc_from_counts(scores, labels)
    assert np.allclose(got, [roc_auc_score(labels, s) for s in scores], rtol=0, atol=1e-12)
    # the protocols' auroc_percent takes this path for integer scores, scikit-learn's for the others
    for s16 in scores.astype(np.int16):
        assert auroc_percent(labels, s16) == pytest.approx(100 * roc_auc_score(labels, s16), abs=1e-10)
    assert auroc_percent(labels, scores[0] + 0.5) == pytest.approx(100 * roc_auc_score(labels, scores[0]), abs=1e-10)


def test_cli_evaluate_large(setup, tmp_path, capsys):
    root, ckpt = setup
    args = ["evaluate-large", str(ckpt), "--data-root", str(root), "--n", "5", "--draws", "2", "--radius", str(RADIUS),
            "--chunk-size", "7", "--workers", "2", "--no-progress", "--out-dir", str(tmp_path)]
    assert main(args) == 0
    assert "mean AUROC x 100 over 4 classes" in capsys.readouterr().out
    assert (tmp_path / "n5" / "summary.json").is_file() and (tmp_path / "n5" / "per_class.md").is_file()
    lines = (tmp_path / "n5" / "results.jsonl").read_text()
    assert main(args) == 0                                                   # all resumed: nothing recomputed
    assert (tmp_path / "n5" / "results.jsonl").read_text() == lines
    assert main([*args[:-2], "--shard", "3/2", "--out-dir", str(tmp_path)]) == 2
    assert "I/K" in capsys.readouterr().err
