"""Label-free scorers (corel.scoring.scorer) against brute force NumPy / SciPy oracles."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial.distance import cdist

from corel.scoring.counting import count_neighbors
from corel.scoring.scorer import Scorer, parse_scorer


def _brute(q, x, nb, kind, radii, k=5, k_stat="mean", aggregate="sum"):
    w = q.shape[1] // nb
    per = []
    for b in range(nb):
        d = cdist(q[:, b * w:(b + 1) * w], x[:, b * w:(b + 1) * w], "cityblock")
        if kind == "count":
            per.append((d <= radii[b]).sum(1).astype(float))
        elif kind == "soft":
            per.append(np.exp(-d / radii[b]).sum(1))
        else:
            s = np.sort(d, 1)[:, :k]
            per.append(-(s[:, -1] if k_stat == "kth" else s.mean(1)))
    per = np.stack(per)
    return {"sum": per.sum(0), "mean": per.mean(0), "max": per.max(0), "median": np.median(per, 0)}[aggregate]


def _mst_quantile(x, nb, q):
    w = x.shape[1] // nb
    out = []
    for b in range(nb):
        d = cdist(x[:, b * w:(b + 1) * w], x[:, b * w:(b + 1) * w], "cityblock")
        out.append(np.quantile(minimum_spanning_tree(d).data, q))
    return np.array(out)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), kind=st.sampled_from(["count", "soft", "knn"]),
       aggregate=st.sampled_from(["sum", "mean", "max", "median"]), k=st.integers(1, 7),
       k_stat=st.sampled_from(["kth", "mean"]), scale=st.sampled_from([0.3, 1.0, 4.0]))
def test_scorers_match_brute_force(seed, kind, aggregate, k, k_stat, scale):
    rng = np.random.default_rng(seed)
    nb = 3
    x, q = rng.normal(0, scale, (12, 6 * nb)), rng.normal(0, scale, (20, 6 * nb))
    s = Scorer(kind=kind, radius=2.0, k=k, k_stat=k_stat, aggregate=aggregate)
    got = s.score(torch.tensor(q), torch.tensor(x), nb).numpy()
    want = _brute(q, x, nb, kind, [2.0] * nb, k, k_stat, aggregate)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("quantile", [0.0, 0.25, 0.5, 1.0])
def test_auto_radius_is_the_quantile_of_the_inliers_own_death_times(quantile):
    rng = np.random.default_rng(1)
    x, q = rng.normal(size=(30, 20)), rng.normal(size=(15, 20))
    s = Scorer(kind="count", radius="auto", radius_quantile=quantile)
    radii = _mst_quantile(x, 4, quantile)
    np.testing.assert_allclose(s.radii(torch.tensor(x), 4).numpy(), radii, rtol=1e-12)
    np.testing.assert_allclose(s.score(torch.tensor(q), torch.tensor(x), 4).numpy(), _brute(q, x, 4, "count", radii))


def test_auto_radius_does_not_depend_on_the_codes_scale():
    """The point of 'auto': scaling every code by 7 leaves the scores' ranking unchanged."""
    rng = np.random.default_rng(2)
    x, q = torch.tensor(rng.normal(size=(40, 20))), torch.tensor(rng.normal(size=(50, 20)))
    for kind in ("count", "soft"):
        s = Scorer(kind=kind, radius="auto")
        np.testing.assert_allclose(s.score(q * 7, x * 7, 4).numpy(), s.score(q, x, 4).numpy(), rtol=1e-9)


def test_default_is_the_papers_exact_count_and_sets_score_like_loops():
    rng = np.random.default_rng(3)
    x, q = torch.tensor(rng.normal(size=(3, 25, 20))), torch.tensor(rng.normal(size=(40, 20)))
    assert torch.equal(Scorer().score(q, x, 4), count_neighbors(q, x, 4, 2.0).double())
    for s in (Scorer(kind="soft"), Scorer(kind="knn", aggregate="median"), Scorer(radius="auto")):
        batched = s.score(q, x, 4)
        assert torch.allclose(batched, torch.stack([s.score(q, xi, 4) for xi in x]))


@pytest.mark.parametrize("kwargs, message", [
    (dict(kind="dense"), "Unknown scorer kind"), (dict(aggregate="min"), "Unknown branch aggregation"),
    (dict(k=0), "k must be an int >= 1"), (dict(radius="big"), "'auto'"), (dict(radius=-1.0), "> 0"),
    (dict(radius_quantile=1.5), "radius_quantile"), (dict(k_stat="median"), "Unknown k statistic"),
])
def test_bad_scorer_settings_say_what_to_pass(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Scorer(**kwargs)


def test_parse_scorer_words():
    assert parse_scorer("knn-kth", "2", k=3) == Scorer(kind="knn", k=3, k_stat="kth")
    assert parse_scorer("soft", "auto", 0.25, aggregate="max") == Scorer(kind="soft", radius="auto",
                                                                         radius_quantile=0.25, aggregate="max")
    assert parse_scorer().is_paper


@pytest.mark.parametrize("scorer", [Scorer(), Scorer(kind="soft", aggregate="max"), Scorer(kind="knn", k=3),
                                    Scorer(kind="knn", k=2, k_stat="kth", aggregate="median")])
def test_leave_one_out_equals_scoring_each_against_the_others(scorer):
    rng = np.random.default_rng(4)
    x = torch.tensor(rng.normal(size=(15, 12)))
    loo = scorer.score_leave_one_out(x, 3)
    for i in range(len(x)):
        others = torch.cat([x[:i], x[i + 1:]])
        assert torch.allclose(loo[i], scorer._score_one(x[i:i + 1], others, 3)[0])


@pytest.mark.parametrize("threads", [1, 2])
def test_knn_kernel_with_ties_few_inliers_and_threads_matches_brute_force(threads):
    """The Numba knn kernel (queries split over threads) against SciPy: integer codes (many equal
    distances), k larger than the inlier set, float32 input, several inlier sets at once."""
    rng = np.random.default_rng(3)
    nb = 4
    q = rng.integers(-2, 3, (1100, 5 * nb)).astype(np.float32)
    sets = rng.integers(-2, 3, (2, 9, 5 * nb)).astype(np.float32)
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for k, k_stat in ((3, "mean"), (9, "kth"), (20, "mean")):
            got = Scorer(kind="knn", k=k, k_stat=k_stat).score(torch.tensor(q), torch.tensor(sets), nb).numpy()
            for c in range(2):
                want = _brute(q.astype(float), sets[c].astype(float), nb, "knn", None, min(k, 9), k_stat)
                np.testing.assert_allclose(got[c], want, rtol=1e-12, atol=1e-12)
    finally:
        torch.set_num_threads(old)


# --- relative to an unlabelled reference set ---------------------------------------------------
def _brute_log_ratio(q, x, ref, nb, k, k_stat, aggregate):
    """Per branch log(knn distance to ref) - log(knn distance to x), aggregated: SciPy and NumPy only."""
    d_in = -np.stack([_brute_branch(q, x, nb, b, k, k_stat) for b in range(nb)])
    d_ref = -np.stack([_brute_branch(q, ref, nb, b, k, k_stat) for b in range(nb)])
    per = np.log(d_ref) - np.log(d_in)
    return {"sum": per.sum(0), "mean": per.mean(0), "max": per.max(0), "median": np.median(per, 0)}[aggregate]


def _brute_branch(q, x, nb, b, k, k_stat):
    w = q.shape[1] // nb
    s = np.sort(cdist(q[:, b * w:(b + 1) * w], x[:, b * w:(b + 1) * w], "cityblock"), 1)[:, :k]
    return -(s[:, -1] if k_stat == "kth" else s.mean(1))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), aggregate=st.sampled_from(["sum", "mean", "max", "median"]),
       k=st.integers(1, 6), k_stat=st.sampled_from(["kth", "mean"]), m=st.integers(1, 40))
def test_reference_log_ratio_matches_brute_force(seed, aggregate, k, k_stat, m):
    rng = np.random.default_rng(seed)
    nb = 3
    x, q, ref = rng.normal(size=(12, 4 * nb)), rng.normal(size=(20, 4 * nb)), rng.normal(size=(m, 4 * nb))
    s = Scorer(kind="knn", k=k, k_stat=k_stat, aggregate=aggregate, reference=m)
    term = s.reference_term(torch.tensor(q), torch.tensor(ref), nb)
    got = s.score(torch.tensor(q), torch.tensor(x), nb, reference_term=term).numpy()
    np.testing.assert_allclose(got, _brute_log_ratio(q, x, ref, nb, min(k, 12), k_stat, aggregate), rtol=1e-9,
                               atol=1e-9)
    # several inlier sets at once, and leave-one-out (the blockwise path) against one-by-one
    both = s.score(torch.tensor(q), torch.tensor(np.stack([x, x[::-1].copy()])), nb, reference_term=term)
    assert torch.allclose(both[0], torch.tensor(got))
    loo = s.score_leave_one_out(torch.tensor(x), nb, reference_term=s.reference_term(torch.tensor(x),
                                                                                        torch.tensor(ref), nb))
    for i in (0, 7):
        others = np.delete(x, i, 0)
        want = _brute_log_ratio(x[i:i + 1], others, ref, nb, min(k, 11), k_stat, aggregate)
        np.testing.assert_allclose(loo[i].item(), want[0], rtol=1e-9, atol=1e-9)


def test_reference_ratio_ignores_the_codes_scale_and_survives_duplicates():
    rng = np.random.default_rng(5)
    x, q, ref = (torch.tensor(rng.normal(size=(n, 12))) for n in (30, 25, 50))
    s = Scorer(kind="knn", reference=50)
    a = s.score(q, x, 3, reference_term=s.reference_term(q, ref, 3))
    b = s.score(q * 7, x * 7, 3, reference_term=s.reference_term(q * 7, ref * 7, 3))
    assert torch.allclose(a, b)
    dup = torch.cat([x[:1]] * 6)          # a query equal to k inliers: very normal, finite
    z = s.score(x[:1], dup, 3, reference_term=s.reference_term(x[:1], ref, 3))
    assert torch.isfinite(z).all() and z.item() > a.max().item()


def test_reference_errors_say_what_to_pass():
    q, x = torch.zeros(4, 6), torch.ones(5, 6)
    with pytest.raises(ValueError, match="needs kind='knn'"):
        Scorer(kind="count", reference=10)
    with pytest.raises(ValueError, match="reference must be an int >= 0"):
        Scorer(kind="knn", reference=-1)
    s = Scorer(kind="knn", reference=10)
    with pytest.raises(ValueError, match="pass reference_term=scorer.reference_term"):
        s.score(q, x, 2)
    with pytest.raises(ValueError, match=r"shape \(n_branches, queries\) = \(2, 4\)"):
        s.score(q, x, 2, reference_term=torch.zeros(4))
    with pytest.raises(ValueError, match="without a reference"):
        Scorer(kind="knn").score(q, x, 2, reference_term=torch.zeros(2, 4))
    with pytest.raises(ValueError, match="non-empty"):
        s.reference_term(q, torch.zeros(0, 6), 2)
    assert parse_scorer("knn-mean", reference=100) == Scorer(kind="knn", reference=100)
    assert "100 unlabelled reference codes" in Scorer(kind="knn", reference=100).describe()


def test_the_scoring_settings_have_one_spelling_in_the_cli_the_detector_and_scorer_strings():
    import argparse

    from corel.apps import cli
    from corel.scoring.detector import CorelDetector
    from corel.scoring.settings import SETTINGS, parse_scorer_text, scorer_fields

    params = CorelDetector().get_params()
    parser = cli.build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for command in ("evaluate", "score"):
        dests = {a.dest: a for a in subs[command]._actions}
        for s in SETTINGS:
            assert s.name in params and s.name in dests, (command, s.name)
            assert dests[s.name].option_strings == [s.flag]
    text = "knn-kth,radius=auto,radius_quantile=0.3,k=7,aggregate=median,pool_rule=clip"
    words = parse_scorer_text(text)
    assert words == {"scorer": "knn-kth", "radius": "auto", "radius_quantile": 0.3, "k": 7, "aggregate": "median",
                     "pool_rule": "clip"}
    assert Scorer(**scorer_fields(**words)) == Scorer(kind="knn", k_stat="kth", radius="auto", radius_quantile=0.3,
                                                      k=7, aggregate="median", pool_rule="clip")
    det = CorelDetector(**{k: v for k, v in words.items()})
    assert det.get_params()["k"] == 7
    with pytest.raises(ValueError, match="keys"):
        parse_scorer_text("knn-mean,q=3")
    with pytest.raises(ValueError, match="number > 0 or 'auto'"):
        parse_scorer_text("count,radius=-1")
