"""Protocols of unseen novelty: problem lists, leak-free pools, the shared loop against the paper's, rules."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from corel.data import ImageSet, class_subset
from corel.protocols.oneclass import evaluate_one_class
from corel.scoring.pool_rules import (RULES, Ingredients, branch_view_codes, knn_topk, loo_knn_mean,
                                self_excluded_topk)
from corel.protocols.problems import (Problem, never_trained_problems, pool_without_problems, read_halves,
                             reference_pools, run_problems, standard_problems)
from corel.scoring.scorer import Scorer


def blobs(n_classes, n_train, n_test, dim=8, spread=0.8, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_classes, dim)) * spread
    y_tr, y_te = np.repeat(np.arange(n_classes), n_train), np.repeat(np.arange(n_classes), n_test)
    return ((centers[y_tr] + rng.normal(size=(len(y_tr), dim))).astype(np.float32), y_tr,
            (centers[y_te] + rng.normal(size=(len(y_te), dim))).astype(np.float32), y_te)


def test_pool_without_leaves_the_outliers_out_and_rotates():
    problems = pool_without_problems(range(10), rotations=3)
    assert len(problems) == 30
    first = problems[0]
    assert first.inlier == 0 and first.outliers == (6, 7, 8, 9) and first.pool == (0, 1, 2, 3, 4, 5)
    for p in problems:
        assert not set(p.outliers) & set(p.pool)
        assert set(p.outliers) | set(p.pool) == set(range(10)) and p.inlier in p.pool
    # each rotation leaves out a different set
    assert len({p.outliers for p in problems if p.inlier == 3}) == 3
    with pytest.raises(ValueError, match="rotations"):
        pool_without_problems(range(10), rotations=10)


def test_never_trained_problems_need_both_sides():
    ps = never_trained_problems([0, 1, 2, 3, 4], range(10))
    assert [p.inlier for p in ps] == [0, 1, 2, 3, 4]
    assert all(p.outliers == (5, 6, 7, 8, 9) and p.pool == (0, 1, 2, 3, 4) for p in ps)
    with pytest.raises(ValueError, match="both sides"):
        never_trained_problems(range(10), range(10))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 4))
def test_no_left_out_class_leaks_into_a_reference_pool(seed, rotations):
    y = np.random.default_rng(seed).integers(0, 10, size=3000)
    problems = pool_without_problems(range(10), rotations)
    pools = reference_pools(y, problems, reference=600, seed=seed)
    for p in problems:
        labels = set(y[pools[p.pool]].tolist())
        assert not labels & set(p.outliers)           # checked on the codes' labels
        assert labels <= set(p.pool)
        assert len(pools[p.pool]) == len(set(pools[p.pool].tolist()))   # no code twice


def test_reference_pool_of_a_class_without_codes_is_an_error():
    with pytest.raises(ValueError, match="no pool codes"):
        reference_pools(np.zeros(50, int), [Problem(0, (1,), (0, 1))], reference=10)


def test_standard_problems_with_knn_reproduce_the_paper_loop():
    tr, ytr, te, yte = blobs(4, 60, 30)
    views = dict(pool_views=[tr + 0.05], query_views=[te + 0.05])
    res = run_problems(tr, ytr, te, yte, standard_problems(range(4)), {"knn": RULES["knn"]}, n=20, draws=3,
                       n_branches=2, k=3, reference=80, **views)
    ref = evaluate_one_class(tr, ytr, te, yte, n=20, draws=3, n_branches=2, scorer=Scorer(kind="knn", k=3),
                             train_views=views["pool_views"], test_views=views["query_views"])
    np.testing.assert_allclose(res.auroc["knn"], ref.auroc, atol=1e-9)


def test_ratio_rule_equals_a_brute_force_ratio_on_the_stratified_pool():
    tr, ytr, te, yte = blobs(3, 40, 20, dim=4, seed=1)
    problems = pool_without_problems(range(3), 1)
    res = run_problems(tr, ytr, te, yte, problems, {"ratio": RULES["ratio"]}, n=10, draws=1, n_branches=1,
                       k=2, reference=30)
    pools = reference_pools(ytr, problems, 30)
    from corel.protocols.oneclass import draw_rng
    for i, p in enumerate(problems):
        members = np.flatnonzero(ytr == p.inlier)
        inl = tr[members[draw_rng(0, p.inlier, 0).choice(len(members), size=10, replace=False)]]
        keep = np.isin(yte, (p.inlier,) + p.outliers)
        q = te[keep]
        d_in = np.sort(np.abs(q[:, None] - inl[None]).sum(-1), 1)[:, :2].mean(1)
        d_ref = np.sort(np.abs(q[:, None] - tr[pools[p.pool]][None]).sum(-1), 1)[:, :2].mean(1)
        expected = 100 * roc_auc_score(yte[keep] != p.inlier, np.log(d_in) - np.log(d_ref))
        assert res.auroc["ratio"][i, 0] == pytest.approx(expected)


def test_ratio_is_blind_to_a_kind_the_pool_lacks_and_guard_is_not():
    """Inliers sit in a crowd the pool also holds; the novelty lies far from everything the pool holds."""
    rng = np.random.default_rng(3)
    inl = rng.normal(size=(300, 4)) * 0.5
    crowd = rng.normal(size=(300, 4)) * 0.5 + np.array([1.0, 0, 0, 0])
    far = rng.normal(size=(300, 4)) * 2.0 + np.array([0, 8.0, 0, 0])      # sparse and far: never in the pool
    tr = np.concatenate([inl, crowd, far]).astype(np.float32)
    y = np.repeat([0, 1, 2], 300)
    problems = [Problem(0, (2,), (0, 1))]
    res = run_problems(tr, y, tr, y, problems, RULES, n=100, draws=2, n_branches=1, k=5, reference=200)
    assert res.mean("knn") > 95
    assert res.mean("guard") >= res.mean("knn") - 1.0
    assert res.mean("ratio") < res.mean("knn") - 10


def test_knn_topk_against_brute_force_and_exclusion():
    rng = np.random.default_rng(4)
    q = torch.tensor(rng.normal(size=(2, 7, 3)))
    x = torch.tensor(rng.normal(size=(2, 11, 3)))
    d = torch.cdist(q, x, p=1)
    np.testing.assert_allclose(knn_topk(q, x, 4), d.sort(-1).values[..., :4], rtol=1e-5)
    np.testing.assert_allclose(knn_topk(q, x[:, :2], 4)[..., 2:], d[..., :2].max(-1, keepdim=True).values.expand(-1, -1, 2), rtol=1e-5)
    own, in_x = torch.tensor([0, 1, 2, 3, 4, 5, 6]), torch.tensor([True, False, True, True, True, True, True])
    got = self_excluded_topk(q, x, 3, own, in_x)
    for i in range(7):
        dd = d[:, i].clone()
        if in_x[i]:
            dd[:, own[i]] = float("inf")
        np.testing.assert_allclose(got[:, i], dd.sort(-1).values[:, :3])
    groups = torch.tensor([0, 0, 1, 1, 2, 2])
    xx = torch.tensor(rng.normal(size=(1, 6, 3)))
    loo = loo_knn_mean(xx, groups, 2)
    dd = torch.cdist(xx, xx, p=1)[0]
    for i in range(6):
        others = [j for j in range(6) if groups[j] != groups[i]]
        assert loo[0, i].item() == pytest.approx(dd[i, others].sort().values[:2].mean().item())


def test_branch_view_codes_cut_the_latent_like_the_loss():
    z = torch.arange(12.0).reshape(2, 6)
    b = branch_view_codes(z, 3)
    assert b.shape == (3, 2, 2) and b[1, 0].tolist() == [2.0, 3.0]
    with pytest.raises(ValueError, match="divisible"):
        branch_view_codes(z, 4)


def test_guard_standardises_by_the_inliers():
    ing = Ingredients(query_dist=[torch.tensor([[1.0, 5.0]])], query_ref_log=[torch.tensor([[0.0, 0.0]])],
                      inlier_dist=[torch.tensor([[1.0, 2.0, 3.0]])], inlier_ref_log=[torch.zeros(1, 3)])
    out = RULES["guard"](ing)
    z_knn = (torch.tensor([1.0, 5.0]) - 2.0) / 1.0
    assert torch.all(out >= z_knn - 1e-9)


def _ingredients(rng, branches, queries=7, inliers=5, views=2):
    def draw(n, low=0.1):
        return [torch.tensor(rng.uniform(low, 3.0, size=(branches, n))) for _ in range(views)]
    return Ingredients(query_dist=draw(queries), query_ref_log=draw(queries, -1.0),
                       inlier_dist=draw(inliers), inlier_ref_log=draw(inliers, -1.0))


def test_fused_rule_is_the_sum_of_each_encoders_rule_standardised_by_its_inliers():
    from corel.scoring.pool_rules import branch_groups, clip, fused, knn, ratio
    rng = np.random.default_rng(3)
    a, b = _ingredients(rng, 3), _ingredients(rng, 2)
    both = Ingredients(*[[torch.cat([x, y]) for x, y in zip(pa, pb)] for pa, pb in
                         zip((a.query_dist, a.query_ref_log, a.inlier_dist, a.inlier_ref_log),
                             (b.query_dist, b.query_ref_log, b.inlier_dist, b.inlier_ref_log))])
    cut = branch_groups(both, (3, 2))
    assert torch.equal(cut[1].inlier_ref_log[1], b.inlier_ref_log[1])

    def z(rule, ing):   # by hand: the inliers' own scores under the rule give mean and std
        own = rule(Ingredients(ing.inlier_dist, ing.inlier_ref_log, ing.inlier_dist, ing.inlier_ref_log))
        return (rule(ing) - own.mean()) / own.std()
    np.testing.assert_allclose(fused([(0, clip, 1.0), (1, ratio, 0.5)], (3, 2))(both), z(clip, a) + 0.5 * z(ratio, b), rtol=1e-12)
    # a floor raises one term's standardised score to at least that level, and only that term's
    floored = fused([(0, clip, 1.0), (1, ratio, 2.0, 0.0)], (3, 2))(both)
    np.testing.assert_allclose(floored, z(clip, a) + 2.0 * z(ratio, b).clamp_min(0.0), rtol=1e-12)
    assert (z(ratio, b) < 0).any() and not torch.allclose(floored, fused([(0, clip, 1.0), (1, ratio, 2.0)], (3, 2))(both))
    # a scale on one encoder's codes does not change its weight in the fusion
    scaled = Ingredients([x * 100 for x in both.query_dist], both.query_ref_log,
                         [x * 100 for x in both.inlier_dist], both.inlier_ref_log)
    np.testing.assert_allclose(fused([(0, knn, 1.0), (1, knn, 1.0)], (3, 2))(scaled), fused([(0, knn, 1.0), (1, knn, 1.0)], (3, 2))(both), rtol=1e-9)
    with pytest.raises(ValueError, match="do not add up"):
        branch_groups(both, (3, 3))


def test_halves_file_errors(tmp_path):
    names = ["a", "b", "c", "d"]
    f = tmp_path / "halves.txt"
    f.write_text("# halves\nA: a, b\nB: c, d\n")
    assert read_halves(f, names) == {"A": ("a", "b"), "B": ("c", "d")}
    for text, message in [("A: a, x\nB: c\n", "unknown class"), ("A: a\nB:\n", "names no class"),
                          ("A: a, b\n", "two halves"), ("A: a, b\nB: b, c\n", "both halves"),
                          ("A a b\nB: c\n", "expected")]:
        f.write_text(text)
        with pytest.raises(ValueError, match=message):
            read_halves(f, names)


def test_class_subset_keeps_only_the_named_classes():
    data = ImageSet(torch.zeros(6, 1, 2, 2, dtype=torch.uint8), [0, 1, 2, 0, 1, 2], ["x", "y", "z"], "toy")
    sub = class_subset(data, ["x", "z"])
    assert sorted(set(sub.labels.tolist())) == [0, 2] and len(sub) == 4 and sub.classes == ["x", "y", "z"]
    with pytest.raises(ValueError, match="Unknown class name"):
        class_subset(data, ["w"])


@pytest.mark.parametrize("kth", [False, True])
def test_standard_problems_with_the_ratio_reproduce_the_paper_loop_with_a_reference(kth):
    tr, ytr, te, yte = blobs(4, 60, 30, seed=5)
    views = dict(pool_views=[tr[:, ::-1].copy()], query_views=[te[:, ::-1].copy()])
    res = run_problems(tr, ytr, te, yte, standard_problems(range(4)), {"ratio": RULES["ratio"]}, n=20, draws=2,
                       n_branches=2, k=3, kth=kth, reference=100, **views)
    ref = evaluate_one_class(tr, ytr, te, yte, n=20, draws=2, n_branches=2,
                             scorer=Scorer(kind="knn", k=3, k_stat="kth" if kth else "mean", reference=100),
                             train_views=views["pool_views"], test_views=views["query_views"])
    np.testing.assert_allclose(res.auroc["ratio"], ref.auroc, atol=1e-9)
    for i in range(4):   # the kept scores are the same normality as the paper loop's
        np.testing.assert_allclose(res.scores_draw0["ratio"][i], ref.scores_draw0[i], rtol=1e-9)


def test_scorer_clip_equals_the_protocol_clip_rule():
    """corel.scoring.scorer's clipped ratio (detector, score) is the protocols' clip rule, one view."""
    from corel.scoring.pool_rules import clip
    rng = np.random.default_rng(6)
    inl, q, ref = (torch.tensor(rng.normal(size=s)) for s in ((40, 6), (30, 6), (200, 6)))
    sc = Scorer(kind="knn", k=3, reference=200, pool_rule="clip")
    term_q, term_in = sc.reference_term(q, ref, 2), sc.reference_term(inl, ref, 2)
    normal = sc.score(q, inl, 2, reference_term=term_q, inlier_reference_term=term_in)
    qb, ib = branch_view_codes(q, 2), branch_view_codes(inl, 2)
    ing = Ingredients(query_dist=[knn_topk(qb, ib, 3).mean(-1)], query_ref_log=[term_q], inlier_dist=None,
                      inlier_ref_log=[term_in])
    np.testing.assert_allclose(normal, -clip(ing), rtol=1e-9)
    # never less normal than the plain ratio for a query far from the pool... and a far query is capped
    plain = Scorer(kind="knn", k=3, reference=200).score(q, inl, 2, reference_term=term_q)
    assert torch.all(normal <= plain + 1e-12)
    with pytest.raises(ValueError, match="inlier_reference_term"):
        sc.score(q, inl, 2, reference_term=term_q)


def test_detector_clip_is_safe_where_the_ratio_is_blind():
    from corel.scoring.detector import CorelDetector
    rng = np.random.default_rng(7)
    inl = rng.normal(size=(200, 4)) * 0.5
    pool = np.concatenate([rng.normal(size=(300, 4)) * 0.5, rng.normal(size=(300, 4)) * 0.5 + [1.0, 0, 0, 0]])
    far = rng.normal(size=(100, 4)) * 2.0 + [0, 8.0, 0, 0]
    test_in = rng.normal(size=(100, 4)) * 0.5
    y = np.r_[np.zeros(100), np.ones(100)]
    auc = {}
    for rule in ("ratio", "clip"):
        det = CorelDetector(n_branches=1, scorer="knn-mean", pool_rule=rule).fit(inl, reference=pool)
        auc[rule] = roc_auc_score(y, -det.score_samples(np.concatenate([test_in, far])))
    knn = CorelDetector(n_branches=1, scorer="knn-mean").fit(inl)
    auc["knn"] = roc_auc_score(y, -knn.score_samples(np.concatenate([test_in, far])))
    assert auc["knn"] > 0.99 and auc["clip"] > 0.99 and auc["ratio"] < auc["clip"] - 0.1


def test_every_protocol_path_runs_through_the_one_draw_loop(monkeypatch):
    """evaluate's count, its pooled scorer, the novelty problems and the pool rules: one loop."""
    from corel.protocols import oneclass
    tr, ytr, te, yte = blobs(4, 60, 30)
    seen = []
    real = oneclass.draw_loop

    def spy(*args, **kwargs):
        seen.append(type(args[5]).__name__)
        return real(*args, **kwargs)

    monkeypatch.setattr(oneclass, "draw_loop", spy)
    evaluate_one_class(tr, ytr, te, yte, n=20, draws=2, n_branches=2)
    evaluate_one_class(tr, ytr, te, yte, n=20, draws=2, n_branches=2,
                       scorer=Scorer(kind="knn", k=3, reference=80))
    evaluate_one_class(tr, ytr, te, yte, n=20, draws=2, n_branches=2, problems=pool_without_problems(range(4), 2))
    run_problems(tr, ytr, te, yte, pool_without_problems(range(4), 2), {"knn": RULES["knn"]}, n=20, draws=2,
                 n_branches=2, k=3, reference=80)
    assert seen == ["CodeScoring"] * 3 + ["_RuleScoring"]


def test_the_loop_draws_each_class_once_per_draw_for_all_its_problems():
    """Rotations of a class share its draw: the count's pool-without AUROC equals scoring each problem alone."""
    from corel.protocols.oneclass import problem_draws
    tr, ytr, te, yte = blobs(4, 60, 30, seed=3)
    problems = pool_without_problems(range(4), 2)
    members = [np.flatnonzero(ytr == c) for c in range(4)]
    train, test = [torch.as_tensor(tr)], [torch.as_tensor(te)]
    rows, auroc, _, _ = problem_draws(problems, np.arange(4), yte, members, train, test, 20, 2, 0, 2, radius=1.5)
    for r in rows:
        alone = [problem_draws([p], np.arange(4), yte, members, train, test, 20, 2, 0, 2, radius=1.5)[1][0]
                 for p in problems if p.inlier == r]
        np.testing.assert_allclose(auroc[r], np.mean(alone, axis=0), atol=1e-12)
