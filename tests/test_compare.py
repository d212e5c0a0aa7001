"""`corel compare` on the bundled digits (8 x 8, two classes, the smoke profile): the files, the
resume, the diverged cell, the low-data option and the input errors."""
import json

import numpy as np
import pytest
import torch

from corel.baselines import DivergedError, DSEBMDetector
from corel.apps.cli import main
from corel.protocols.compare import METHODS, PROFILES, PUBLISHED_BASELINES
from corel.plots import plot_compare_bars

METHODS_UNDER_TEST = "corel,plain-ae,plain-ae-hindsight,ocsvm-pixels,kde-codes,dsebm,geom"


pytestmark = pytest.mark.usefixtures("one_thread")      # tiny networks (tests/conftest.py)


def _checkpoint(path, lam):
    """An untrained paper-shaped autoencoder for 1 x 8 x 8 digits, saved as `corel train` exports it."""
    from corel.training.models import CorelAutoencoder
    torch.manual_seed(0)
    args = dict(in_channels=1, image_size=8, channels=[8, 16, 32], n_branches=4, branch_dim=5)
    torch.save({"format_version": 1, "model_name": "conv", "model_args": args,
                "config": {"lam": lam, "dataset": "digits", "image_size": 8},
                "state_dict": CorelAutoencoder(**args).state_dict()}, path)
    return str(path)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    d = tmp_path_factory.mktemp("ck")
    return _checkpoint(d / "corel.pt", 20.0), _checkpoint(d / "plain.pt", 0.0)


def _args(checkpoints, out, *extra, methods=METHODS_UNDER_TEST):
    return ["compare", "--dataset", "digits", "--image-size", "8", "--profile", "smoke", "--classes", "0,1",
            "--n", "20", "--draws", "2", "--methods", methods, "--checkpoint", checkpoints[0],
            "--plain-checkpoint", checkpoints[1], "--out-dir", str(out), *extra]


@pytest.mark.filterwarnings("ignore:KDEDetector")    # untrained codes: a bandwidth at the grid's edge
def test_compare_writes_the_table_and_skips_finished_cells(checkpoints, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(_args(checkpoints, out)) == 0
    printed = capsys.readouterr().out
    assert "| COREL (lambda=20) |" in printed and "14 cells computed, 0 reused" in printed
    for name in ("compare.md", "compare.csv", "compare.json", "compare.png"):
        assert (out / name).is_file(), name
    table = json.loads((out / "compare.json").read_text())
    methods = METHODS_UNDER_TEST.split(",")
    assert [r["method"] for r in table["rows"]] == methods
    assert table["classes"] == ["0", "1"] and table["n_test"] == 540
    for row in table["rows"]:
        assert set(row["per_class"]) == {"0", "1"} and row["status"] == {"0": "ok", "1": "ok"}
        assert all(0.0 <= v <= 100.0 for v in row["per_class"].values())
        assert row["mean"] == pytest.approx(np.mean(list(row["per_class"].values())))
    rows = {r["method"]: r for r in table["rows"]}
    assert "r=" in rows["plain-ae-hindsight"]["title"] and "test set" in rows["plain-ae-hindsight"]["notes"][0]
    assert "WRN-10-1" in rows["geom"]["training"] and "test: 60 stratified" in rows["geom"]["training"]
    geom_cell = json.loads((out / "cells" / "geom" / "000.json").read_text())
    assert geom_cell["n_test"] == 60 and geom_cell["n_train"] == 16
    corel_cell = json.loads((out / "cells" / "corel" / "001.json").read_text())
    assert len(corel_cell["auroc_draws"]) == 2 and corel_cell["n_test"] == 540
    assert np.load(out / "cells" / "dsebm" / "000.npz")["scores"].shape == (540,)
    csv_lines = (out / "compare.csv").read_text().splitlines()
    assert csv_lines[0].startswith("method,title,0,1,mean,published") and len(csv_lines) == 1 + len(methods)

    stamps = {p: p.stat().st_mtime_ns for p in (out / "cells").rglob("*.json")}
    assert len(stamps) == 14
    assert main(_args(checkpoints, out)) == 0
    assert "0 cells computed, 14 reused" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in (out / "cells").rglob("*.json")} == stamps
    again = json.loads((out / "compare.json").read_text())
    assert again["rows"] == table["rows"]

    # changed settings are refused, not mixed into the table
    assert main(_args(checkpoints, out, "--seed", "1")) == 2
    assert "other settings (differing: ['seed'])" in capsys.readouterr().err


def test_a_diverged_method_is_reported_as_diverged(checkpoints, tmp_path, monkeypatch, capsys):
    def explode(self, X, y=None):
        raise DivergedError("DSEBMDetector", "the training loss became nan in epoch 1, batch 1.")
    monkeypatch.setattr(DSEBMDetector, "fit", explode)
    out = tmp_path / "div"
    assert main(_args(checkpoints, out, methods="ocsvm-pixels,dsebm")) == 0
    table = json.loads((out / "compare.json").read_text())
    dsebm = table["rows"][1]
    assert dsebm["status"] == {"0": "diverged", "1": "diverged"} and dsebm["mean"] is None
    assert "| DSEBM | diverged | diverged | **-** |" in (out / "compare.md").read_text()
    cell = json.loads((out / "cells" / "dsebm" / "000.json").read_text())
    assert cell["status"] == "diverged" and "nan" in cell["message"]


def test_table_only_reports_unfinished_cells_as_not_run(checkpoints, tmp_path, capsys):
    out = tmp_path / "part"
    assert main(_args(checkpoints, out, "--classes", "0", methods="corel,plain-ae-hindsight")) == 0
    capsys.readouterr()
    assert main(_args(checkpoints, out, "--table-only", methods="corel,plain-ae-hindsight,ocsvm-pixels")) == 0
    assert "0 cells computed, 2 reused" in capsys.readouterr().out
    assert not (out / "cells" / "ocsvm-pixels").exists()                 # nothing was trained
    table = json.loads((out / "compare.json").read_text())
    rows = {r["method"]: r for r in table["rows"]}
    assert rows["corel"]["status"] == {"0": "ok", "1": "not run"}
    assert rows["corel"]["mean"] == rows["corel"]["per_class"]["0"] and rows["corel"]["n_classes_in_mean"] == 1
    assert rows["ocsvm-pixels"]["mean"] is None and "not run (yet) on ['0', '1']" in rows["ocsvm-pixels"]["notes"]
    md = (out / "compare.md").read_text()
    assert "| not run | **" in md and "(1/2)" in md
    assert "not run,not run" in (out / "compare.csv").read_text()


def test_train_size_n_gives_the_baselines_corels_inliers(checkpoints, tmp_path):
    out = tmp_path / "low"
    assert main(_args(checkpoints, out, "--train-size", "n", "--baseline-draws", "2",
                      methods="ocsvm-codes,kde-pixels")) == 0
    cell = json.loads((out / "cells" / "ocsvm-codes" / "000.json").read_text())
    assert cell["n_train"] == 20 and len(cell["auroc_draws"]) == 2
    assert cell["fingerprint"]["train_size"] == "n" and cell["fingerprint"]["n"] == 20
    assert "n=20, 2 draws" in json.loads((out / "compare.json").read_text())["rows"][0]["training"]


def test_overrides_change_a_detector_parameter(checkpoints, tmp_path):
    out = tmp_path / "set"
    assert main(_args(checkpoints, out, "--set", "ocsvm-pixels.nu=0.3", "--set", "ocsvm-pixels.gamma=scale",
                      methods="ocsvm-pixels")) == 0
    row = json.loads((out / "compare.json").read_text())["rows"][0]
    assert row["training"].startswith("nu=0.3, gamma=scale")


@pytest.mark.parametrize("extra, methods, message", [
    ((), "corel,svm", "Unknown method(s) ['svm']"),
    (("--classes", "0,eleven"), "ocsvm-pixels", "Unknown class 'eleven'"),
    (("--set", "geom.depht=10"), "geom", "GeomDetector has no parameter 'depht'"),
    (("--set", "geom=10"), "geom", "METHOD.PARAM=VALUE"),
    (("--set", "corel.radius=3"), "corel", "no detector parameters"),
    (("--train-size", "n", "--n", "500"), "ocsvm-pixels", "fewer than n=500"),
    (("--image-size", "16"), "corel", "expects 8 x 8 images"),
    (("--radius", "0"), "corel", "--radius must be"),
    (("--draws", "0"), "corel", "--draws must be an int >= 1"),
])
def test_bad_options_exit_2(checkpoints, tmp_path, capsys, extra, methods, message):
    assert main(_args(checkpoints, tmp_path / "bad", *extra, methods=methods)) == 2
    assert message in capsys.readouterr().err


def test_missing_checkpoint_is_named(tmp_path, capsys):
    args = ["compare", "--dataset", "digits", "--image-size", "8", "--methods", "corel,plain-ae",
            "--out-dir", str(tmp_path)]
    assert main(args) == 2
    assert "need --checkpoint" in capsys.readouterr().err


def test_profiles_and_published_numbers():
    assert set(PROFILES) == {"cpu", "full", "smoke"}
    for profile in PROFILES.values():
        for method, plan in profile.items():
            assert method in METHODS
            METHODS[method].factory(**{**METHODS[method].defaults, **plan.params})._check_params()
    pub = PUBLISHED_BASELINES["cifar10"]   # as each baseline's paper reports it
    assert (pub["dagmm"], pub["dsebm"], pub["deep-svdd"], pub["geom"]) == ("53.1", "60.9", "64.8", "86.0")
    assert pub["ocsvm-pixels"] == "62-65" and pub["kde-pixels"] == "~65"


def test_plot_compare_bars(tmp_path):
    table = {"dataset": "cifar10", "profile": "cpu", "classes": ["a", "b"],
             "rows": [{"title": "x", "per_class": {"a": 60.0, "b": None}, "mean": 60.0, "published": "62-65"},
                      {"title": "y", "per_class": {"a": 70.0, "b": 80.0}, "mean": 75.0, "published": None}]}
    path = plot_compare_bars(table, tmp_path / "bars.png")
    assert path.is_file() and path.stat().st_size > 1000


def test_corel_beyond_row_scores_with_its_own_model_and_scorer(checkpoints, tmp_path, capsys):
    """The beyond-the-paper row: another checkpoint and scorer, beside the paper's COREL row."""
    from corel.protocols.oneclass import evaluate_one_class
    from corel.scoring.scorer import Scorer
    out = tmp_path / "cmp"
    extra = ["--beyond-checkpoint", checkpoints[1], "--beyond-scorer", "knn-mean,k=3,aggregate=median"]
    assert main(_args(checkpoints, out, *extra, methods="corel,corel-beyond")) == 0
    table = json.loads((out / "compare.json").read_text())
    rows = {r["method"]: r for r in table["rows"]}
    assert "knn (mean of 3 nearest l1), branches aggregated by median" in rows["corel-beyond"]["training"]
    # the same numbers as the one-class protocol with that model and scorer
    codes = torch.load(next((out / "codes").glob("codes_train_*.pt")), weights_only=True)
    assert codes["key"]["checkpoint_sha256"]
    assert rows["corel-beyond"]["per_class"] != rows["corel"]["per_class"]
    expected = _protocol(checkpoints[1], Scorer(kind="knn", k=3, aggregate="median"), evaluate_one_class)
    assert [rows["corel-beyond"]["per_class"][c] for c in ("0", "1")] == pytest.approx(expected[:2], abs=1e-9)
    # with test-time flips: the protocol's views (inliers in both views, a query's scores added)
    flip = tmp_path / "flip"
    assert main(_args(checkpoints, flip, *extra, "--beyond-tta", methods="corel-beyond")) == 0
    row = json.loads((flip / "compare.json").read_text())["rows"][0]
    assert "test-time views hflip," in row["training"]
    expected = _protocol(checkpoints[1], Scorer(kind="knn", k=3, aggregate="median"), evaluate_one_class, tta=True)
    assert [row["per_class"][c] for c in ("0", "1")] == pytest.approx(expected[:2], abs=1e-9)
    assert row["per_class"] != rows["corel-beyond"]["per_class"]
    # with an unlabelled reference set: the protocol's reference draw (compare did not pass it on)
    ref = tmp_path / "ref"
    assert main(_args(checkpoints, ref, "--beyond-checkpoint", checkpoints[1], "--beyond-scorer",
                      "knn-mean,k=3,reference=300", "--beyond-tta", methods="corel-beyond")) == 0
    row = json.loads((ref / "compare.json").read_text())["rows"][0]
    expected = _protocol(checkpoints[1], Scorer(kind="knn", k=3, reference=300), evaluate_one_class, tta=True)
    assert [row["per_class"][c] for c in ("0", "1")] == pytest.approx(expected[:2], abs=1e-9)
    # 'all' adds the row only when its checkpoint is given; a bad scorer is one line
    assert main(_args(checkpoints, tmp_path / "bad", "--beyond-checkpoint", checkpoints[1], "--beyond-scorer",
                      "knn-mean,q=3", methods="corel-beyond")) == 2
    assert "--beyond-scorer" in capsys.readouterr().err
    assert main(_args(checkpoints, tmp_path / "x", methods="corel-beyond")) == 2
    assert "--beyond-checkpoint" in capsys.readouterr().err


def _protocol(checkpoint, scorer, evaluate_one_class, tta=False):
    """Per-class mean AUROC of `corel evaluate`'s protocol (n = 20, 2 draws) on the digits."""
    from corel.protocols.codes import encode_split
    enc = {(split, view): encode_split(checkpoint, "digits", split, image_size=8, progress=False, view=view)
           for split in ("train", "test") for view in ("identity", "hflip")}
    views = dict(train_views=[enc["train", "hflip"].codes], test_views=[enc["test", "hflip"].codes]) if tta else {}
    res = evaluate_one_class(enc["train", "identity"].codes, enc["train", "identity"].labels,
                             enc["test", "identity"].codes, enc["test", "identity"].labels, n=20, draws=2,
                             n_branches=4, scorer=scorer, **views)
    return list(res.per_class_mean)


def test_compare_refuses_old_cells_when_the_checkpoint_is_retrained_in_place(checkpoints, tmp_path, capsys):
    """The checkpoint's content, not its path, names the model: new weights at the same path are never
    served the old cells (compare refuses the folder, naming the digest, as for any changed setting)."""
    import shutil
    path = tmp_path / "model.pt"
    shutil.copy(checkpoints[0], path)
    args = ["compare", "--dataset", "digits", "--image-size", "8", "--profile", "smoke", "--classes", "0,1",
            "--n", "20", "--draws", "2", "--methods", "corel", "--checkpoint", str(path), "--out-dir",
            str(tmp_path / "cmp")]
    assert main(args) == 0
    first = json.loads((tmp_path / "cmp" / "compare.json").read_text())["rows"][0]["per_class"]
    sd = torch.load(path, weights_only=True)
    sd["state_dict"] = {k: v * 1.7 + 0.1 for k, v in sd["state_dict"].items()}   # "retrained"
    torch.save(sd, path)
    capsys.readouterr()
    assert main(args) == 2
    assert "checkpoint_sha256" in capsys.readouterr().err
    args[-1] = str(tmp_path / "fresh")
    assert main(args) == 0
    assert json.loads((tmp_path / "fresh" / "compare.json").read_text())["rows"][0]["per_class"] != first


def test_a_pooled_row_says_its_pool_holds_the_outliers():
    from corel.protocols.compare import format_compare_table
    row = lambda title, training: {"method": title, "title": title, "per_class": {"a": 80.0}, "status": {"a": "ok"},
                                   "mean": 80.0, "n_classes_in_mean": 1, "published": None, "training": training,
                                   "seconds": 1.0, "notes": []}
    table = {"dataset": "cifar10-jpeg", "profile": "cpu", "train_size": "full", "n": 120, "draws": 5, "seed": 0,
             "image_size": 32, "classes": ["a"], "n_test": 10,
             "rows": [row("corel beyond", "knn (mean of 5 nearest l1) over the knn distance to 8000 unlabelled "
                                          "reference codes (log ratio)"), row("OC-SVM", "nu=0.1")]}
    text = format_compare_table(table)
    assert "corel beyond: scored relative to an unlabelled pool" in text and "--novelty pool-without" in text
    table["rows"] = table["rows"][1:]
    assert "unlabelled pool" not in format_compare_table(table)


@pytest.mark.filterwarnings("ignore:KDEDetector")
def test_pool_without_scores_each_class_against_the_classes_its_pool_lacks(checkpoints, tmp_path):
    """Every method on the pool-without protocol's queries: the class and the (C - 1) // 2 classes its pool
    lacks, rotations averaged. Oracle: the standard run's scores of every test image, masked by hand."""
    from sklearn.metrics import roc_auc_score
    from corel.data import load_dataset
    std, pw = tmp_path / "std", tmp_path / "pw"
    assert main(_args(checkpoints, std, "--draws", "1", methods="corel,kde-codes")) == 0
    assert main(_args(checkpoints, pw, "--draws", "1", "--novelty", "pool-without", "--rotations", "2",
                      methods="corel,kde-codes")) == 0
    y = load_dataset("digits", "test", image_size=8).labels.numpy()
    table = json.loads((pw / "compare.json").read_text())
    assert table["novelty"] == "pool-without" and table["rotations"] == 2
    assert "protocol pool-without" in (pw / "compare.md").read_text()
    rows = {r["method"]: r for r in table["rows"]}
    for method in ("corel", "kde-codes"):
        assert rows[method]["published"] is None          # published numbers are the standard protocol's
        for c in (0, 1):
            saved = np.load(std / "cells" / method / f"{c:03d}.npz")
            scores = np.full(len(y), np.nan)
            scores[saved["test_index"]] = saved["scores"]
            others = [(c + j) % 10 for j in range(1, 10)]
            expected = []
            for r in range(2):
                left_out = (others[r:] + others[:r])[-4:]        # the last four in cyclic order after c
                m = np.isin(y, [c, *left_out])
                expected.append(100 * roc_auc_score(y[m] == c, scores[m]))
            assert rows[method]["per_class"][str(c)] == pytest.approx(np.mean(expected), abs=1e-9), (method, c)
    # the standard table is the one it was (no protocol key in its cells' fingerprints)
    cell = json.loads((std / "cells" / "corel" / "000.json").read_text())
    assert "novelty" not in cell["fingerprint"]


def test_pool_without_draws_corel_beyonds_pool_without_the_left_out_classes(checkpoints, tmp_path, monkeypatch):
    import corel.protocols.problems as problems
    seen = []
    real = problems.run_problems

    def spy(pool_codes, pool_labels, query_codes, query_labels, probs, *a, **kw):
        seen.extend(probs)
        return real(pool_codes, pool_labels, query_codes, query_labels, probs, *a, **kw)
    monkeypatch.setattr(problems, "run_problems", spy)
    pools = []
    real_pools = problems.reference_pools

    def spy_pools(pool_labels, probs, reference, seed=0):
        out = real_pools(pool_labels, probs, reference, seed)
        y = np.asarray(pool_labels)
        pools.extend((p, y[out[p.pool]]) for p in probs)
        return out
    monkeypatch.setattr(problems, "reference_pools", spy_pools)
    out = tmp_path / "pw"
    assert main(_args(checkpoints, out, "--beyond-checkpoint", checkpoints[1], "--beyond-scorer",
                      "knn-mean,k=3,aggregate=sum,reference=200,pool_rule=ratio", "--novelty", "pool-without",
                      methods="corel-beyond")) == 0
    assert len(seen) == 2 * 3 and all(set(p.outliers).isdisjoint(p.pool) for p in seen)
    assert pools and all(not set(labels.tolist()) & set(p.outliers) for p, labels in pools)
    row = json.loads((out / "compare.json").read_text())["rows"][0]
    assert all(0 <= v <= 100 for v in row["per_class"].values())
    assert "drawn without the outlier classes" in (out / "compare.md").read_text()


def test_compare_refuses_the_never_trained_protocol(checkpoints, tmp_path, capsys):
    assert main(_args(checkpoints, tmp_path, "--novelty", "never-trained")) == 2
    err = capsys.readouterr().err.strip()
    assert "corel evaluate --novelty never-trained" in err and len(err.splitlines()) == 1


def test_a_clipped_pool_row_equals_corel_evaluate_with_the_same_settings(checkpoints, tmp_path):
    """compare scores a pool as `corel evaluate` does (every pool rule, the clipped default of corel score too)."""
    out, ev = tmp_path / "cmp", tmp_path / "ev"
    assert main(_args(checkpoints, out, "--beyond-checkpoint", checkpoints[1], "--beyond-scorer",
                      "knn-mean,k=3,aggregate=sum,reference=200,pool_rule=clip", methods="corel-beyond")) == 0
    row = json.loads((out / "compare.json").read_text())["rows"][0]
    assert main(["evaluate", checkpoints[1], "--dataset", "digits", "--n", "20", "--draws", "2",
                 "--scorer", "knn-mean", "--k", "3", "--pool-size", "200", "--pool-rule", "clip", "--no-progress",
                 "--out-dir", str(ev)]) == 0
    per_class = json.loads((ev / "n20" / "summary.json").read_text())["per_class"]
    for c in ("0", "1"):
        assert row["per_class"][c] == pytest.approx(per_class[c]["mean"], abs=1e-9)
