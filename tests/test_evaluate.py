"""The one-class protocol on synthetic codes, its result files, and the plots."""
import json

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from corel.scoring.detector import count_neighbors
from corel.protocols.oneclass import OneClassResult, evaluate_one_class, write_results
from corel.plots import plot_auroc_bars, plot_death_histogram, plot_roc_curves


def blobs(n_classes, n_train, n_test, dim=8, spread=30.0, seed=0, identical=False):
    """Gaussian classes; far apart (spread) or, with ``identical``, one distribution for all."""
    rng = np.random.default_rng(seed)
    centers = np.zeros((n_classes, dim)) if identical else rng.normal(size=(n_classes, dim)) * spread
    y_tr = np.repeat(np.arange(n_classes), n_train)
    y_te = np.repeat(np.arange(n_classes), n_test)
    x_tr = centers[y_tr] + rng.normal(size=(len(y_tr), dim))
    x_te = centers[y_te] + rng.normal(size=(len(y_te), dim))
    return x_tr, y_tr, x_te, y_te


def test_separated_classes_give_auroc_100():
    x_tr, y_tr, x_te, y_te = blobs(4, 60, 40)
    res = evaluate_one_class(x_tr, y_tr, x_te, y_te, n=20, draws=3, radius=8.0, n_branches=2)
    assert isinstance(res, OneClassResult)
    assert res.auroc.shape == (4, 3)
    np.testing.assert_allclose(res.auroc, 100.0)
    assert res.mean == 100.0 and res.std == 0.0


def test_identical_distributions_give_chance():
    x_tr, y_tr, x_te, y_te = blobs(5, 80, 200, identical=True, seed=1)
    res = evaluate_one_class(x_tr, y_tr, x_te, y_te, n=40, draws=2, radius=3.0, n_branches=2)
    assert abs(res.mean - 50.0) < 4.0
    assert res.std > 0.0                         # fresh draws change the scores


def test_auroc_is_roc_auc_of_the_stored_draw0_scores():
    x_tr, y_tr, x_te, y_te = blobs(3, 50, 30, spread=1.0, seed=2)
    res = evaluate_one_class(x_tr, y_tr, x_te, y_te, n=25, draws=2, radius=3.0, n_branches=2)
    assert res.scores_draw0.shape == (3, 90)
    for c in range(3):
        assert res.auroc[c, 0] == pytest.approx(100 * roc_auc_score(y_te == c, res.scores_draw0[c]))
    np.testing.assert_allclose(res.per_class_mean, res.auroc.mean(1))
    np.testing.assert_allclose(res.per_class_std, res.auroc.std(1))
    assert res.mean == pytest.approx(res.auroc.mean()) and res.std == pytest.approx(res.auroc.std(1).mean())


def test_draws_are_subsets_of_the_class_and_reproducible():
    x_tr, y_tr, x_te, y_te = blobs(3, 50, 30, spread=1.0, seed=3)
    kwargs = dict(n=10, draws=3, radius=2.5, n_branches=4)
    a = evaluate_one_class(x_tr, y_tr, x_te, y_te, seed=7, **kwargs)
    b = evaluate_one_class(torch.tensor(x_tr), torch.tensor(y_tr), torch.tensor(x_te), y_te, seed=7, **kwargs)
    np.testing.assert_array_equal(a.auroc, b.auroc)
    np.testing.assert_array_equal(a.scores_draw0, b.scores_draw0)
    c = evaluate_one_class(x_tr, y_tr, x_te, y_te, seed=8, **kwargs)
    assert not np.array_equal(a.scores_draw0, c.scores_draw0)
    # Draw 0 of a run with fewer draws is the same draw.
    d = evaluate_one_class(x_tr, y_tr, x_te, y_te, seed=7, **{**kwargs, "draws": 1})
    np.testing.assert_array_equal(d.auroc[:, 0], a.auroc[:, 0])
    # With n = the whole class, every draw is the class itself: scores are its full count.
    full = evaluate_one_class(x_tr, y_tr, x_te, y_te, seed=0, n=50, draws=2, radius=2.5, n_branches=4)
    want = count_neighbors(torch.tensor(x_te), torch.tensor(x_tr).view(3, 50, 8), 4, 2.5).numpy()
    np.testing.assert_array_equal(full.scores_draw0, want)
    assert np.all(full.per_class_std == 0.0)


def test_string_labels_and_class_names():
    x_tr, y_tr, x_te, y_te = blobs(2, 30, 20)
    names = np.array(["cat", "dog"])
    res = evaluate_one_class(x_tr, names[y_tr], x_te, names[y_te], n=5, draws=1, n_branches=2, radius=3.0)
    assert res.class_names == ("cat", "dog")
    res = evaluate_one_class(x_tr, y_tr, x_te, y_te, n=5, draws=1, n_branches=2, radius=3.0,
                             class_names=["a", "b"])
    assert list(res.per_class()) == ["a", "b"]


@pytest.mark.parametrize("kwargs,match", [
    ({"n": 31}, "has 30 training codes, fewer than n=31"),
    ({"radius": 0.0}, "'radius' parameter"),
    ({"radius": -2.0}, "'radius' parameter"),
    ({"draws": 0}, "'draws' parameter"),
    ({"n_branches": 3}, "not divisible by n_branches=3"),
    ({"class_names": ["only one"]}, "class_names has 1 names"),
])
def test_errors(kwargs, match):
    x_tr, y_tr, x_te, y_te = blobs(2, 30, 20)
    with pytest.raises(ValueError, match=match):
        evaluate_one_class(x_tr, y_tr, x_te, y_te, **{"n": 5, "n_branches": 2, **kwargs})


def test_class_without_test_samples_and_shape_errors():
    x_tr, y_tr, x_te, y_te = blobs(3, 30, 20)
    keep = y_te != 2
    with pytest.raises(ValueError, match="Class 2 has no test samples"):
        evaluate_one_class(x_tr, y_tr, x_te[keep], y_te[keep], n=5, n_branches=2)
    with pytest.raises(ValueError, match="one label per code"):
        evaluate_one_class(x_tr, y_tr[:-1], x_te, y_te, n=5, n_branches=2)
    with pytest.raises(ValueError, match="latent_dim=8 but test_codes have 4"):
        evaluate_one_class(x_tr, y_tr, x_te[:, :4], y_te, n=5, n_branches=2)
    with pytest.raises(ValueError, match="at least 2 classes"):
        evaluate_one_class(x_tr, np.zeros_like(y_tr), x_te, np.zeros_like(y_te), n=5, n_branches=2)


def test_write_results(tmp_path):
    x_tr, y_tr, x_te, y_te = blobs(3, 40, 20, spread=1.0)
    res = evaluate_one_class(x_tr, y_tr, x_te, y_te, n=10, draws=2, radius=2.5, n_branches=2,
                             class_names=["a", "b", "c"])
    paths = write_results(res, tmp_path / "out", {"dataset": "blobs", "checkpoint": tmp_path / "ae.ckpt"})
    for key in ("markdown", "csv", "json", "summary", "scores"):
        assert paths[key].is_file() and paths[key].stat().st_size > 0
    summary = json.loads(paths["summary"].read_text())
    for key in ("mean_auroc", "std_auroc", "per_class", "n", "draws", "radius", "dataset", "checkpoint"):
        assert key in summary
    assert summary["mean_auroc"] == pytest.approx(res.mean)
    assert summary["per_class"]["b"]["mean"] == pytest.approx(res.per_class_mean[1])
    assert summary["n"] == 10 and summary["draws"] == 2 and summary["radius"] == 2.5
    assert summary["checkpoint"].endswith("ae.ckpt")
    rows = json.loads(paths["json"].read_text())
    assert [r["class"] for r in rows] == ["a", "b", "c"] and "draw_1" in rows[0]
    assert paths["csv"].read_text().splitlines()[0] == "class,mean,std,draw_0,draw_1"
    md = paths["markdown"].read_text()
    assert "| a |" in md and "**mean**" in md
    stored = np.load(paths["scores"])
    np.testing.assert_array_equal(stored["scores"], res.scores_draw0)
    with pytest.raises(ValueError, match="overwrite"):
        write_results(res, tmp_path / "clash", {"n": 3})


def test_plots(tmp_path):
    x_tr, y_tr, x_te, y_te = blobs(3, 40, 20, spread=1.0)
    res = evaluate_one_class(x_tr, y_tr, x_te, y_te, n=10, draws=2, radius=2.5, n_branches=2)
    for path in (plot_auroc_bars(res, tmp_path / "bars.png"),
                 plot_roc_curves(res.test_labels, res.scores_draw0, res.class_names, tmp_path / "roc.png"),
                 plot_death_histogram(np.random.default_rng(0).exponential(size=500), torch.full((99,), 2.0),
                                      2.0, tmp_path / "deaths.png")):
        assert path.is_file() and path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="scores_per_class must have shape"):
        plot_roc_curves(res.test_labels, res.scores_draw0[:2], res.class_names, tmp_path / "bad.png")
    # a resumed run without its "before" deaths: a figure, and no warning for the user to read
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert plot_death_histogram(None, torch.full((99,), 2.0), 2.0, tmp_path / "after_only.png").is_file()


def test_a_reference_scorer_draws_one_unlabelled_reference_from_the_pool():
    """The reference: M training codes drawn by reference_rng(seed), labels unused, the same for
    every class and draw; each test view gets its own reference term."""
    from corel.protocols.oneclass import draw_rng, reference_rng
    from corel.scoring.scorer import Scorer
    x_tr, y_tr, x_te, y_te = blobs(3, 40, 15, dim=4, spread=3.0)
    s = Scorer(kind="knn", k=3, reference=30)
    flipped_tr, flipped_te = x_tr[:, ::-1].copy(), x_te[:, ::-1].copy()
    res = evaluate_one_class(x_tr, y_tr, x_te, y_te, n=10, draws=2, n_branches=2, scorer=s, seed=3,
                             train_views=[flipped_tr], test_views=[flipped_te])
    ref = torch.tensor(x_tr[np.sort(reference_rng(3).choice(len(x_tr), 30, replace=False))])
    want = []
    for c in range(3):
        members = np.flatnonzero(y_tr == c)
        pick = members[draw_rng(3, c, 0).choice(len(members), 10, replace=False)]
        inl = torch.tensor(np.concatenate([x_tr[pick], flipped_tr[pick]]))
        want.append(sum(s.score(torch.tensor(q), inl, 2, reference_term=s.reference_term(torch.tensor(q), ref, 2))
                        for q in (x_te, flipped_te)).numpy())
    np.testing.assert_allclose(res.scores_draw0, np.stack(want), rtol=1e-12)


def test_the_reference_ratio_sees_a_class_hidden_in_a_dense_crowd():
    """Class 0 is spread wide; classes 1-3 crowd its centre. The plain knn distance calls the
    crowd normal for class 0 (it is near some class-0 inliers); the ratio to the distance to the
    unlabelled pool does not (the crowd is nearer to the pool than to the inliers)."""
    from corel.scoring.scorer import Scorer
    rng = np.random.default_rng(0)
    y_tr, y_te = np.repeat(np.arange(4), 300), np.repeat(np.arange(4), 100)
    scale = np.where(np.concatenate([y_tr, y_te]) == 0, 3.0, 0.4)[:, None]
    codes = rng.normal(size=(len(scale), 4)) * scale
    x_tr, x_te = codes[:len(y_tr)], codes[len(y_tr):]
    plain, ratio = (evaluate_one_class(x_tr, y_tr, x_te, y_te, n=50, draws=2, n_branches=2,
                                       scorer=Scorer(kind="knn", reference=m)) for m in (0, 600))
    assert plain.per_class_mean[0] < 70 and ratio.per_class_mean[0] > plain.per_class_mean[0] + 15
