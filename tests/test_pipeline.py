"""`corel evaluate | reproduce | demo` end to end on the bundled digits data."""
import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from corel.data import CIFAR10_CLASSES

from corel.training.checkpoints import load_checkpoint
from corel.apps.cli import main
from corel.protocols.jobs import format_table
from corel.protocols.published import published

SMALL = ["--dataset", "digits", "--image-size", "16", "--channels", "8,16,32", "--n-branches", "4",
         "--branch-dim", "5", "--batch-size", "50", "--threads", "1", "--no-progress-bar", "--hist-batches", "2"]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    out = tmp_path_factory.mktemp("train")
    assert main(["train", *SMALL, "--out-dir", str(out), "--epochs", "2"]) == 0
    return out / "model.pt"


def test_evaluate_writes_tables_summary_and_plots(model_path, tmp_path, capsys, monkeypatch):
    out = tmp_path / "eval"
    assert main(["evaluate", str(model_path), "--dataset", "digits", "--n", "20,50", "--draws", "2",
                 "--out-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| digits | digits |" in printed
    for n in (20, 50):
        sub = out / f"n{n}"
        for name in ["per_class.md", "per_class.csv", "per_class.json", "summary.json", "auroc_per_class.png",
                     "roc_curves.png"]:
            assert (sub / name).is_file(), name
        summary = json.loads((sub / "summary.json").read_text())
        assert summary["n"] == n and summary["draws"] == 2 and summary["radius"] == 2.0
        assert summary["dataset"] == "digits" and summary["checkpoint"] == str(model_path)
        assert set(summary["per_class"]) == {str(d) for d in range(10)}
        assert 0.0 <= summary["mean_auroc"] <= 100.0

    # the codes were cached: a second run encodes nothing and gives the same numbers
    first = json.loads((out / "n20" / "summary.json").read_text())["mean_auroc"]
    import corel.training.encode

    def no_encoding(*args, **kwargs):
        raise AssertionError("the cached codes were not used")
    monkeypatch.setattr(corel.training.encode, "encode_images", no_encoding)
    assert main(["evaluate", str(model_path), "--dataset", "digits", "--n", "20", "--draws", "2",
                 "--out-dir", str(out)]) == 0
    assert json.loads((out / "n20" / "summary.json").read_text())["mean_auroc"] == first


@pytest.mark.parametrize("args, message", [
    (["--radius", "0"], "argument --radius: expected a number > 0 or 'auto'"),
    (["--n", "5000"], "fewer than n=5000"),
    (["--draws", "0"], "--draws must be >= 1"),
])
def test_evaluate_bad_options(model_path, tmp_path, capsys, args, message):
    try:
        code = main(["evaluate", str(model_path), "--dataset", "digits", "--out-dir", str(tmp_path), *args])
    except SystemExit as stop:          # argparse's own checks (types and choices) exit with 2
        code = stop.code
    assert code == 2
    assert message in capsys.readouterr().err.strip().splitlines()[-1]


def test_evaluate_missing_or_corrupt_checkpoint(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope.pt"), "--dataset", "digits", "--out-dir", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 10)
    assert main(["evaluate", str(bad), "--dataset", "digits", "--out-dir", str(tmp_path)]) == 2
    assert "corrupt" in capsys.readouterr().err


def test_reproduce_unknown_setting(tmp_path, capsys):
    assert main(["reproduce", "nope", "--out-dir", str(tmp_path)]) == 2
    assert "Unknown setting" in capsys.readouterr().err


def _evaluate(model, out, *extra):
    assert main(["evaluate", str(model), "--dataset", "digits", "--n", "20", "--draws", "2", "--no-progress",
                 "--out-dir", str(out), *extra]) == 0
    return json.loads((Path(out) / "n20" / "summary.json").read_text())


@pytest.fixture(scope="module")
def other_model(tmp_path_factory):
    """Another model of the same architecture (lambda 0, seed 1): other codes, other numbers."""
    out = tmp_path_factory.mktemp("other")
    assert main(["train", *SMALL, "--out-dir", str(out), "--epochs", "2", "--lam", "0", "--seed", "1"]) == 0
    return out / "model.pt"


def test_evaluate_never_serves_another_models_codes(model_path, other_model, tmp_path):
    """The reproduction of the stale-cache bug: two models evaluated into one folder."""
    shared = tmp_path / "shared"
    a = _evaluate(model_path, shared)
    b = _evaluate(other_model, shared)
    b_fresh = _evaluate(other_model, tmp_path / "fresh")
    assert b["mean_auroc"] == b_fresh["mean_auroc"]
    assert b["mean_auroc"] != a["mean_auroc"]
    assert b["checkpoint_sha256"] != a["checkpoint_sha256"]


def test_retrained_in_place_is_another_model(model_path, other_model, tmp_path):
    """Same checkpoint path, new weights (retrained in place): the cache must not serve the old codes."""
    path = tmp_path / "model.pt"
    shutil.copy(model_path, path)
    first = _evaluate(path, tmp_path / "eval")
    shutil.copy(other_model, path)
    second = _evaluate(path, tmp_path / "eval")
    assert second["mean_auroc"] == _evaluate(other_model, tmp_path / "fresh")["mean_auroc"]
    assert second["mean_auroc"] != first["mean_auroc"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "other-key"])
def test_damaged_codes_cache_is_recomputed_with_a_notice(model_path, tmp_path, capsys, damage):
    out = tmp_path / "eval"
    before = _evaluate(model_path, out)
    files = sorted((out / "codes").glob("codes_*.pt"))
    assert len(files) == 2
    for f in files:
        if damage == "truncate":
            f.write_bytes(f.read_bytes()[:200])
        elif damage == "garbage":
            f.write_text("not a tensor file")
        else:
            saved = torch.load(f, weights_only=True)
            saved["key"]["checkpoint_sha256"] = "0" * 64
            torch.save(saved, f)
    capsys.readouterr()
    after = _evaluate(model_path, out)
    err = capsys.readouterr().err
    assert after["mean_auroc"] == before["mean_auroc"]
    assert err.count("notice: codes cache") == 2 and "Traceback" not in err
    assert all(line.count("\n") == 0 for line in err.splitlines() if "notice" in line)


def test_validation_protocol_needs_a_holdout_and_scores_it(model_path, tmp_path, capsys):
    assert main(["evaluate", str(model_path), "--dataset", "digits", "--n", "20", "--draws", "1",
                 "--protocol", "validation", "--out-dir", str(tmp_path)]) == 2
    assert "--holdout" in capsys.readouterr().err
    out = tmp_path / "held"
    assert main(["train", *SMALL, "--out-dir", str(out), "--epochs", "1", "--holdout", "300"]) == 0
    summary = _evaluate(out / "model.pt", tmp_path / "val", "--protocol", "validation")
    assert summary["protocol"] == "validation" and summary["published_mean_auroc"] is None
    assert summary["n_test"] == 300    # the held-out training images, not the test split (540)


def _write_cifar10_jpeg(root: Path, per_class: dict) -> None:
    """The shared CIFAR-10 JPEG layout: train.zip / test.zip of <split>/<class>/<k>.jpg."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for split, count in per_class.items():
        with zipfile.ZipFile(root / f"{split}.zip", "w") as z:
            for ci, name in enumerate(CIFAR10_CLASSES):
                for k in range(count):
                    # class-dependent colour so that the classes are separable at all
                    img = np.clip(rng.normal(25 * ci, 40, (32, 32, 3)), 0, 255).astype(np.uint8)
                    buf = io.BytesIO()
                    Image.fromarray(img).save(buf, format="JPEG", quality=75)
                    z.writestr(f"{split}/{name}/{k:04d}.jpg", buf.getvalue())


def test_reproduce_success_path_and_with_a_checkpoint(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COREL_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "c10"
    _write_cifar10_jpeg(root, {"train": 12, "test": 4})
    out = tmp_path / "rep"
    assert main(["reproduce", "cifar10", "--quick", "--data-root", str(root), "--n", "5", "--threads", "1",
                 "--out-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| cifar10-jpeg | cifar10-jpeg | 20.0 | 5 |" in printed
    summary = json.loads((out / "eval" / "n5" / "summary.json").read_text())
    assert summary["draws"] == 2 and (out / "train" / "model.pt").is_file()
    # with --checkpoint nothing is trained; the same model gives the same numbers
    again = tmp_path / "again"
    assert main(["reproduce", "cifar10", "--quick", "--data-root", str(root), "--n", "5",
                 "--checkpoint", str(out / "train" / "model.pt"), "--out-dir", str(again)]) == 0
    assert not (again / "train").exists()
    assert json.loads((again / "eval" / "n5" / "summary.json").read_text())["mean_auroc"] == summary["mean_auroc"]


@pytest.mark.slow
def test_demo_runs_end_to_end_at_reduced_size(tmp_path, capsys):
    assert main(["demo", "--digits", "--epochs", "1", "--threads", "1", "--out-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "lambda" in printed.lower()
    assert (tmp_path / "lam20" / "train" / "model.pt").is_file()
    # another seed into the same folder is another model beside it (it was refused as a mixed resume,
    # naming a --no-resume that demo does not have)
    assert main(["demo", "--digits", "--epochs", "1", "--seed", "1", "--threads", "1", "--out-dir", str(tmp_path)]) == 0
    assert (tmp_path / "lam20-seed1" / "train" / "model.pt").is_file()
    assert load_checkpoint(tmp_path / "lam20-seed1" / "train" / "model.pt")["config"]["seed"] == 1
    assert load_checkpoint(tmp_path / "lam20" / "train" / "model.pt")["config"]["seed"] == 0


def test_published_numbers_and_table():
    assert published("cifar10-jpeg", "cifar10-jpeg", 120) == (75.96, 0.65)
    assert published("cifar10", "cifar10", 500) == (78.05, None)
    assert published("cifar10", "cifar10", 120, lam=0.0) is None
    table = format_table([{"trained_on": "cifar10-jpeg", "dataset": "cifar10-jpeg", "lam": 20.0, "n": 120,
                           "mean_auroc": 70.0, "std_auroc": 1.0, "published_mean_auroc": 75.96}])
    assert "| 70.00 +- 1.00 | 75.96 |" in table


@pytest.mark.parametrize("flags, described", [
    (["--scorer", "knn-mean", "--k", "3", "--aggregate", "median"], "knn (mean of 3 nearest l1), branches aggregated by median"),
    (["--scorer", "soft", "--radius", "auto", "--radius-quantile", "0.25"], "soft (radius = q0.25 of the inliers' death times)"),
    (["--scorer", "knn-mean", "--pool-size", "200", "--tta", "flips"],
     "knn (mean of 5 nearest l1) over the knn distance to 200 unlabelled reference codes (log ratio)"),
])
def test_evaluate_with_other_scorers_names_them_and_no_published_number(model_path, tmp_path, flags, described):
    summary = _evaluate(model_path, tmp_path, *flags)
    assert summary["scorer"].startswith(described)
    assert summary["published_mean_auroc"] is None and 50.0 < summary["mean_auroc"] <= 100.0


def test_evaluate_with_flips_and_shifts_scores_six_views(model_path, tmp_path):
    """--tta flips-shifts: inliers in 6 views (6n), a query's score the sum over its 6 views."""
    from corel.protocols.codes import encode_split
    from corel.protocols.oneclass import evaluate_one_class
    from corel.scoring.scorer import Scorer
    from corel.scoring.views import TTA_MODES
    summary = _evaluate(model_path, tmp_path / "six", "--tta", "flips-shifts", "--scorer", "knn-mean")
    views = TTA_MODES["flips-shifts"]
    assert summary["tta"] == ", ".join(views[1:])
    assert len(list((tmp_path / "six" / "codes").glob("codes_*.pt"))) == 12    # 2 splits x 6 views
    enc = {(s, v): encode_split(model_path, "digits", s, progress=False, view=v).codes
           for s in ("train", "test") for v in views}
    labels = {s: encode_split(model_path, "digits", s, progress=False).labels for s in ("train", "test")}
    res = evaluate_one_class(enc["train", "identity"], labels["train"], enc["test", "identity"], labels["test"],
                             n=20, draws=2, n_branches=4, scorer=Scorer(kind="knn"),
                             train_views=[enc["train", v] for v in views[1:]],
                             test_views=[enc["test", v] for v in views[1:]])
    assert res.mean == pytest.approx(summary["mean_auroc"])
    flips = _evaluate(model_path, tmp_path / "two", "--tta", "flips", "--scorer", "knn-mean")
    assert flips["tta"] == "hflip" and flips["mean_auroc"] != summary["mean_auroc"]


def test_a_second_evaluation_into_the_same_folder_names_its_own_settings(model_path, tmp_path):
    """The per-class table of a reused folder says which scorer and views its numbers are of."""
    first = _evaluate(model_path, tmp_path / "ev")
    assert "count (the paper)" in (tmp_path / "ev" / "n20" / "per_class.md").read_text().splitlines()[0]
    second = _evaluate(model_path, tmp_path / "ev", "--scorer", "knn-mean", "--tta", "flips")
    head = (tmp_path / "ev" / "n20" / "per_class.md").read_text().splitlines()[0]
    assert "scorer: knn (mean of 5 nearest l1)" in head and "test-time views: hflip" in head
    assert second["tta"] == "hflip" and second["mean_auroc"] != first["mean_auroc"]


def test_evaluate_with_test_time_flips_counts_both_views(model_path, tmp_path):
    """--tta: inliers in both views (2n), each query's score the sum over its two views."""
    from corel.training.checkpoints import load_model
    from corel.protocols.codes import encode_split
    from corel.scoring.counting import count_neighbors
    from corel.protocols.oneclass import evaluate_one_class
    summary = _evaluate(model_path, tmp_path / "tta", "--tta")
    assert summary["tta"] == "hflip" and summary["published_mean_auroc"] is None
    assert len(list((tmp_path / "tta" / "codes").glob("codes_*.pt"))) == 4     # 2 splits x 2 views
    model = load_model(model_path)
    tr, te = (encode_split(model_path, "digits", s, cache_dir=tmp_path / "tta" / "codes", model=model,
                           progress=False) for s in ("train", "test"))
    ftr, fte = (encode_split(model_path, "digits", s, model=model, progress=False, view="hflip")
                for s in ("train", "test"))
    from corel.data import load_dataset
    first = load_dataset("digits", "train", image_size=16).float_images(slice(0, 5))
    with torch.no_grad():
        assert torch.allclose(ftr.codes[:5], model.encode(first.flip(-1)), atol=1e-5)
    res = evaluate_one_class(tr.codes, tr.labels, te.codes, te.labels, n=20, draws=2, n_branches=4,
                             train_views=[ftr.codes], test_views=[fte.codes])
    assert res.mean == pytest.approx(summary["mean_auroc"])
    # by hand for class 0, draw 0
    from corel.protocols.oneclass import draw_rng
    members = np.flatnonzero(tr.labels.numpy() == 0)
    pick = torch.as_tensor(members[draw_rng(0, 0, 0).choice(len(members), size=20, replace=False)])
    inl = torch.cat([tr.codes[pick], ftr.codes[pick]])
    want = count_neighbors(te.codes, inl, 4, 2.0) + count_neighbors(fte.codes, inl, 4, 2.0)
    assert np.array_equal(res.scores_draw0[0], want.numpy())
