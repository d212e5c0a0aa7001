"""`corel evaluate --novelty pool-without | never-trained` end to end on the bundled digits data."""
import json

import numpy as np
import pytest
import torch

from corel.training.checkpoints import load_checkpoint
from corel.apps.cli import main

SMALL = ["--dataset", "digits", "--image-size", "16", "--channels", "8,16,32", "--n-branches", "4",
         "--branch-dim", "5", "--batch-size", "50", "--threads", "1", "--no-progress-bar", "--hist-batches", "2",
         "--epochs", "1", "--holdout", "300"]
HALF_A, HALF_B = "0,1,2,3,4", "5,6,7,8,9"
KNN = ["--scorer", "knn-mean", "--pool-size", "200", "--n", "20", "--draws", "2", "--no-progress", "--threads", "1"]


@pytest.fixture(scope="module")
def halves(tmp_path_factory):
    out = tmp_path_factory.mktemp("halves")
    for tag, cls in (("A", HALF_A), ("B", HALF_B)):
        assert main(["train", *SMALL, "--train-classes", cls, "--out-dir", str(out / tag)]) == 0
    return out / "A" / "model.pt", out / "B" / "model.pt"


def _summary(path):
    return json.loads((path / "n20" / "summary.json").read_text())


def test_training_on_half_the_classes_sees_no_image_of_the_other_half(halves, monkeypatch):
    import corel.training.engine as training
    seen = {}
    original = training._EpochLoader

    def spy(data, cfg):
        seen["labels"] = set(data.labels.tolist())
        return original(data, cfg)
    monkeypatch.setattr(training, "_EpochLoader", spy)
    cfg = training.TrainConfig.from_dict(dict(dataset="digits", image_size=16, channels=[8, 16, 32], n_branches=4,
                                              branch_dim=5, batch_size=50, max_steps=1, epochs=1, holdout=300,
                                              train_classes=HALF_A, progress_bar=False, threads=1,
                                              out_dir=str(halves[0].parent.parent / "spy")))
    training.train(cfg)
    assert seen["labels"] == {0, 1, 2, 3, 4}
    assert load_checkpoint(halves[0])["config"]["train_classes"] == HALF_A


def test_never_trained_scores_each_half_against_the_other(halves, tmp_path, capsys):
    a, b = halves
    out = tmp_path / "never"
    assert main(["evaluate", str(a), str(b), "--dataset", "digits", "--protocol", "validation",
                 "--novelty", "never-trained", *KNN, "--pool-rule", "clip", "--out-dir", str(out)]) == 0
    s = _summary(out)
    assert s["protocol"] == "validation-never-trained" and "never" in s["protocol"]
    assert sorted(s["per_class"]) == [str(d) for d in range(10)] and s["n_classes"] == 10
    assert s["trained_classes"] == [HALF_A.split(","), HALF_B.split(",")]
    part = _summary(out / "model-A")
    assert sorted(part["per_class"]) == HALF_A.split(",")
    assert part["protocol"] == "validation-never-trained" and "clipped" in part["scorer"]
    merged = np.mean([v["mean"] for v in s["per_class"].values()])
    assert s["mean_auroc"] == pytest.approx(merged)


def test_never_trained_errors(halves, tmp_path, capsys):
    a, b = halves
    base = ["--dataset", "digits", "--novelty", "never-trained", *KNN, "--out-dir", str(tmp_path / "x")]
    for args, message in [([str(a)], "two half-class models"), ([str(a), str(a)], "disjoint"),
                          ([str(a), str(b), "--halves", str(tmp_path / "h.txt")], "names the halves")]:
        (tmp_path / "h.txt").write_text("A: 0, 1\nB: 5, 6, 7, 8, 9, 2, 3, 4\n")
        assert main(["evaluate", *args, *base]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    (tmp_path / "h.txt").write_text("A: 0, 1, 2, 3, 4\nB:\n")
    assert main(["evaluate", str(a), str(b), *base, "--halves", str(tmp_path / "h.txt")]) == 2
    assert "names no class" in capsys.readouterr().err


def test_pool_without_and_standard_name_their_protocols(halves, tmp_path, capsys):
    a, _ = halves
    # the half model as an ordinary model: pool-without on the validation hold-out (classes 0..4 have pool codes)
    full = tmp_path / "full"
    assert main(["train", *SMALL, "--out-dir", str(full)]) == 0
    out = tmp_path / "pw"
    assert main(["evaluate", str(full / "model.pt"), "--dataset", "digits", "--protocol", "validation",
                 "--novelty", "pool-without", "--rotations", "2", *KNN, "--out-dir", str(out)]) == 0
    s = _summary(out)
    assert s["protocol"] == "validation-pool-without" and s["rotations"] == 2 and "never" in s["pool"]
    assert not (out / "n20" / "scores_draw0.npz").exists()
    std = tmp_path / "std"
    assert main(["evaluate", str(full / "model.pt"), "--dataset", "digits", "--protocol", "validation", *KNN,
                 "--out-dir", str(std)]) == 0
    s = _summary(std)
    assert s["protocol"] == "validation" and (std / "n20" / "roc_curves.png").is_file()
    # a pool needs a knn scorer summed over branches
    assert main(["evaluate", str(full / "model.pt"), "--dataset", "digits", "--novelty", "pool-without",
                 "--scorer", "knn-mean", "--aggregate", "mean", "--pool-size", "200", "--out-dir", str(tmp_path / "c")]) == 2
    assert "knn scorer" in capsys.readouterr().err
    # a model trained on every class has no never-trained protocol
    assert main(["evaluate", str(full / "model.pt"), str(a), "--dataset", "digits", "--novelty", "never-trained",
                 *KNN, "--out-dir", str(tmp_path / "n")]) == 2
    assert "trained on every class" in capsys.readouterr().err


def test_a_reused_folder_keeps_no_scores_of_other_settings(halves, tmp_path):
    """standard (scores every query: draw-0 scores and ROC curves) then pool-without into the same folder:
    the folder must not keep the standard protocol's scores beside the pool-without summary."""
    full = tmp_path / "full"
    assert main(["train", *SMALL, "--out-dir", str(full)]) == 0
    out = tmp_path / "same"
    base = ["evaluate", str(full / "model.pt"), "--dataset", "digits", "--protocol", "validation", *KNN,
            "--out-dir", str(out)]
    assert main(base) == 0 and (out / "n20" / "scores_draw0.npz").is_file()
    assert main([*base, "--novelty", "pool-without", "--rotations", "1"]) == 0
    assert json.loads((out / "n20" / "summary.json").read_text())["protocol"] == "validation-pool-without"
    assert not (out / "n20" / "scores_draw0.npz").exists() and not (out / "n20" / "roc_curves.png").exists()


def test_the_paper_count_in_the_novelty_protocols_scores_each_problem_on_its_own_queries(halves, tmp_path):
    """The count has no pool: each class against the classes left out (pool-without) or never trained on,
    on those queries only. Oracle: the standard run's draw-0 scores of every query, masked by hand."""
    from sklearn.metrics import roc_auc_score
    from corel.data import load_dataset
    a, b = halves
    common = ["--dataset", "digits", "--protocol", "validation", "--n", "20", "--draws", "1", "--no-progress",
              "--threads", "1"]
    std, pw, never = tmp_path / "std", tmp_path / "pw", tmp_path / "never"
    assert main(["evaluate", str(a), *common, "--out-dir", str(std)]) == 0
    assert main(["evaluate", str(a), *common, "--novelty", "pool-without", "--rotations", "2", "--out-dir", str(pw)]) == 0
    assert main(["evaluate", str(a), str(b), *common, "--novelty", "never-trained", "--out-dir", str(never)]) == 0
    saved = np.load(std / "n20" / "scores_draw0.npz")
    scores, y = saved["scores"], saved["test_labels"]          # (classes, Q) normality, (Q,)
    s = _summary(pw)
    assert s["protocol"] == "validation-pool-without" and s["scorer"] == "count (the paper)" and s["pool"] is None
    for c in range(10):
        others = [(c + j) % 10 for j in range(1, 10)]
        expected = np.mean([100 * roc_auc_score(y[m] == c, scores[c][m]) for r in range(2)
                            for m in [np.isin(y, [c, *(others[r:] + others[:r])[-4:]])]])
        assert s["per_class"][str(c)]["mean"] == pytest.approx(expected, abs=1e-9), c
    part = _summary(never / "model-A")                         # model A trained on 0..4: scored against 5..9 only
    assert sorted(part["per_class"]) == HALF_A.split(",")
    for c in range(5):
        m = np.isin(y, [c, 5, 6, 7, 8, 9])
        assert part["per_class"][str(c)]["mean"] == pytest.approx(100 * roc_auc_score(y[m] == c, scores[c][m]),
                                                                  abs=1e-9), c
