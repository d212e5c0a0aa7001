"""`corel stack`: encoders side by side; the scores of a stack are the sums of its parts' scores."""
import json

import numpy as np
import pytest
import torch

import corel.data
from corel.training.checkpoints import load_checkpoint, load_model
from corel.apps.cli import main
from corel.training.models import CorelAutoencoder
from corel.scoring.scorer import Scorer
from corel.training.stack import stack_checkpoints

pytestmark = pytest.mark.usefixtures("one_thread")


def _save(path, seed, holdout=0, **over):
    torch.manual_seed(seed)
    args = {**dict(in_channels=1, image_size=8, channels=[8, 16, 32], n_branches=4, branch_dim=5), **over}
    torch.save({"format_version": 1, "model_name": "conv", "model_args": args,
                "config": {"lam": 20.0, "dataset": "digits", "image_size": 8, "holdout": holdout},
                "state_dict": CorelAutoencoder(**args).state_dict()}, path)
    return path


@pytest.fixture()
def parts(tmp_path):
    return _save(tmp_path / "a.pt", 0), _save(tmp_path / "b.pt", 1, n_branches=2)


def test_the_stack_encodes_as_its_parts_side_by_side(parts, tmp_path):
    out = stack_checkpoints(parts, tmp_path / "s" / "stack.pt")
    ck = load_checkpoint(out)
    assert ck["model_args"]["n_branches"] == 6 and ck["config"]["dataset"] == "digits"
    assert [m["checkpoint"] for m in ck["config"]["stack_of"]] == [str(p) for p in parts]
    stack, a, b = load_model(out), load_model(parts[0]), load_model(parts[1])
    x = torch.rand(7, 1, 8, 8)
    with torch.no_grad():
        z, za, zb = stack.encode(x), a.encode(x), b.encode(x)
    assert torch.equal(z, torch.cat([za, zb], 1))
    # every branch-summed scorer adds the parts' scores (the count and knn)
    inl, q = z[:4].double(), z[4:].double()
    for scorer in (Scorer(kind="knn", k=2), Scorer(radius=0.5)):
        whole = scorer.score(q, inl, 6)
        added = scorer.score(q[:, :20], inl[:, :20], 4) + scorer.score(q[:, 20:], inl[:, 20:], 2)
        assert torch.allclose(whole.double(), added.double())
    # a stack of a stack and a model flattens to three parts
    three = load_model(stack_checkpoints([out, parts[0]], tmp_path / "three.pt"))
    with torch.no_grad():
        assert torch.equal(three.encode(x), torch.cat([za, zb, za], 1))
    with pytest.raises(TypeError, match="only encodes"):
        stack(x)


def test_evaluate_and_detector_take_a_stack(parts, tmp_path):
    from corel.scoring.detector import CorelDetector
    out = stack_checkpoints(parts, tmp_path / "stack.pt")
    assert main(["evaluate", str(out), "--dataset", "digits", "--n", "20", "--draws", "2",
                 "--scorer", "knn-mean", "--no-progress", "--out-dir", str(tmp_path / "ev")]) == 0
    summary = json.loads((tmp_path / "ev" / "n20" / "summary.json").read_text())
    assert 0.0 <= summary["mean_auroc"] <= 100.0
    det = CorelDetector(encoder=load_model(out), n_branches=6, scorer="knn-mean").fit(torch.rand(30, 1, 8, 8))
    det.save(tmp_path / "det.pt", with_encoder=True)
    again = CorelDetector.load(tmp_path / "det.pt")
    x = torch.rand(5, 1, 8, 8)
    assert np.allclose(again.score_samples(x), det.score_samples(x))


def test_a_stack_reuses_its_parts_cached_codes(parts, tmp_path, monkeypatch):
    """A stack was encoded whole even when its parts' codes were cached: twice the encoding."""
    import corel.training.encode
    from corel.protocols.codes import encode_split
    out, cache = stack_checkpoints(parts, tmp_path / "stack.pt"), tmp_path / "cache"
    enc = lambda path: encode_split(path, "digits", "test", cache_dir=cache, image_size=8, progress=False)  # noqa: E731
    a = enc(parts[0])
    calls, real = [], corel.training.encode.encode_images
    monkeypatch.setattr(corel.training.encode, "encode_images", lambda m, *x, **k: calls.append(m) or real(m, *x, **k))
    s = enc(out)
    assert len(calls) == 1 and calls[0].n_branches == 2   # part b only
    images = torch.as_tensor(corel.data.load_dataset("digits", split="test", image_size=8).images)
    assert torch.allclose(s.codes, real(load_model(out), images, progress=False), atol=1e-6)
    assert torch.equal(s.codes[:, :20], a.codes)
    calls.clear()
    b = enc(parts[1])                                     # the file the stack wrote for b is b's own
    assert torch.equal(enc(out).codes, s.codes) and not calls
    assert torch.equal(b.codes, s.codes[:, 20:])
    assert len(list(cache.glob("codes_*.pt"))) == 2       # the parts only, not their concatenation
    # a stack of a stack lists the inner stack's file, not its parts: encoded whole, still right
    three = stack_checkpoints([out, parts[0]], tmp_path / "three.pt")
    assert torch.allclose(enc(three).codes, torch.cat([s.codes, a.codes], 1), atol=1e-6) and len(calls) == 1


def test_evaluate_shares_one_codes_cache(parts, tmp_path):
    out = stack_checkpoints(parts, tmp_path / "stack.pt")
    common = ["--dataset", "digits", "--n", "20", "--draws", "2", "--scorer", "knn-mean", "--no-progress"]
    assert main(["evaluate", str(out), *common, "--out-dir", str(tmp_path / "alone")]) == 0
    for name, path in (("a", parts[0]), ("stack", out)):
        assert main(["evaluate", str(path), *common, "--out-dir", str(tmp_path / name),
                     "--codes-cache", str(tmp_path / "shared")]) == 0
    assert not (tmp_path / "stack" / "codes").exists() and len(list((tmp_path / "shared").glob("*.pt"))) == 4
    alone, shared = (json.loads((tmp_path / d / "n20" / "summary.json").read_text()) for d in ("alone", "stack"))
    assert shared["per_class"] == alone["per_class"] and shared["mean_auroc"] == alone["mean_auroc"]


def test_stack_refuses_what_cannot_be_stacked(tmp_path, capsys):
    a, b = _save(tmp_path / "a.pt", 0), _save(tmp_path / "b.pt", 1)
    wide = _save(tmp_path / "w.pt", 2, branch_dim=4, n_branches=8)
    big = tmp_path / "big.pt"
    torch.manual_seed(3)
    args = dict(in_channels=1, image_size=16, channels=[8, 16, 32], n_branches=4, branch_dim=5)
    torch.save({"format_version": 1, "model_name": "conv", "model_args": args, "config": {},
                "state_dict": CorelAutoencoder(**args).state_dict()}, big)
    cases = [([a], "at least 2"), ([a, wide], "different widths"), ([a, big], "different images"),
             ([a, tmp_path / "missing.pt"], "does not exist")]
    for models, message in cases:
        assert main(["stack", *map(str, models), "--out", str(tmp_path / "s.pt")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
        assert not (tmp_path / "s.pt").exists()
    assert main(["stack", str(a), str(b), "--out", str(tmp_path / "s.pt")]) == 0
    assert main(["stack", str(a), str(b), "--out", str(tmp_path / "s.pt")]) == 2
    assert "nothing is overwritten" in capsys.readouterr().err


def test_parts_with_other_hold_outs_make_no_validation_split(tmp_path):
    """One part trained on images the other held out: the validation protocol must refuse the stack."""
    from corel.protocols.jobs import EvalSpec, evaluate_checkpoint
    held = stack_checkpoints([_save(tmp_path / "a.pt", 0, holdout=100), _save(tmp_path / "b.pt", 1, holdout=100)],
                             tmp_path / "same.pt")
    assert load_checkpoint(held)["config"]["holdout"] == 100
    mixed = stack_checkpoints([tmp_path / "a.pt", _save(tmp_path / "c.pt", 2, holdout=0)], tmp_path / "mixed.pt")
    assert load_checkpoint(mixed)["config"]["holdout"] == 0
    with pytest.raises(ValueError, match="without a hold-out"):
        evaluate_checkpoint(mixed, EvalSpec(dataset="digits", ns=(10,), draws=1, progress=False,
                                            protocol="validation"), tmp_path / "ev")


def _brute_ingredients(q, inl, pool, n_branches, k, n_views):
    """pool_rules.Ingredients by brute force (torch.cdist): per view, each branch's mean of the k
    nearest l1 distances; inliers leave all views of their own image out."""
    from corel.scoring.pool_rules import Ingredients
    w = q.shape[2] // n_branches

    def per_branch(a, b, exclude=None):
        a, b = a.reshape(len(a), n_branches, w).transpose(0, 1), b.reshape(len(b), n_branches, w).transpose(0, 1)
        d = torch.cdist(a, b, p=1)
        if exclude is not None:
            d[:, exclude] = float("inf")
        return d.sort(-1).values[..., :k].mean(-1)                           # (B, rows)
    n = inl.shape[1]
    all_inl = inl.reshape(-1, inl.shape[2])                                  # view-major
    image = torch.arange(n).repeat(n_views)
    loo = per_branch(all_inl, all_inl, exclude=image[:, None] == image[None, :])
    return Ingredients(query_dist=[per_branch(q[v], all_inl) for v in range(n_views)],
                       query_ref_log=[per_branch(q[v], pool).log() for v in range(n_views)],
                       inlier_dist=[loo[:, v * n:(v + 1) * n] for v in range(n_views)],
                       inlier_ref_log=[per_branch(inl[v], pool).log() for v in range(n_views)])


@pytest.mark.parametrize("n_views", [1, 3])
def test_fitted_fused_score_is_the_protocols_knn_plus_ratio_rule(n_views):
    """FittedScorer's fused score (what CorelDetector and corel score use) against the protocols'
    ``knnA+ratioB`` rule on brute-force ingredients: the same novelty, summed over the views."""
    from corel.scoring.fitted import FittedScorer
    from corel.scoring.pool_rules import fused, knn, ratio
    rng = np.random.default_rng(4)
    n, nq, m, branches, split, w, k = 12, 9, 40, 5, 3, 2, 3
    inl = torch.tensor(rng.normal(size=(n_views, n, branches * w)))
    inl[..., split * w:] *= 20                                # the second encoder on another scale
    q = torch.tensor(rng.normal(size=(n_views, nq, branches * w)) * 1.3)
    pool = torch.tensor(rng.normal(size=(m, branches * w)) * 1.5)
    scorer = Scorer(kind="knn", k=k, reference=m, pool_rule="fused", fuse_at=split)
    fitted = FittedScorer.fit(scorer, branches, inl.reshape(-1, branches * w), n_views, pool)
    normality = sum(fitted.normality(q[v]) for v in range(n_views))
    ing = _brute_ingredients(q, inl, pool, branches, k, n_views)
    novelty = fused([(0, knn, 1.0), (1, ratio, 1.0)], (split, branches - split))(ing)
    np.testing.assert_allclose(normality, -novelty.numpy(), rtol=1e-9, atol=1e-9)
    # the training scores are the inliers' own, standardised: mean 0 per part, so 0 in all
    assert abs(fitted.training_scores.mean()) < 1e-9
    # without a pool: the first encoder's knn alone
    alone = FittedScorer.fit(Scorer(kind="knn", k=k, pool_rule="fused", fuse_at=split), branches,
                             inl.reshape(-1, branches * w), n_views)
    plain = Scorer(kind="knn", k=k)
    first = sum(plain.score(q[v][:, :split * w], inl.reshape(-1, branches * w)[:, :split * w], split)
                for v in range(n_views))
    assert np.corrcoef(sum(alone.normality(q[v]) for v in range(n_views)), first.numpy())[0, 1] > 1 - 1e-12


def test_fused_inliers_without_spread_are_a_one_line_error():
    # Every inlier the same code: the leave-one-out scores have no spread to standardise by.
    from corel.scoring.fitted import FittedScorer
    inl = torch.ones(6, 4 * 2, dtype=torch.float64)
    pool = torch.tensor(np.random.default_rng(0).normal(size=(20, 8)))
    with pytest.raises(ValueError, match="at least 2 different inliers") as err:
        FittedScorer.fit(Scorer(kind="knn", k=2, reference=20, pool_rule="fused", fuse_at=2), 4, inl, 1, pool)
    assert "\n" not in str(err.value)


def test_fused_needs_a_stack_of_two_and_knn():
    with pytest.raises(ValueError, match="needs --scorer knn-mean"):
        Scorer(kind="count", pool_rule="fused", fuse_at=2)
    with pytest.raises(ValueError, match="fuse_at is used by pool_rule='fused' only"):
        Scorer(kind="knn", pool_rule="clip", fuse_at=2)
    with pytest.raises(ValueError, match="FittedScorer"):
        Scorer(kind="knn", pool_rule="fused", fuse_at=2).score(torch.zeros(2, 8), torch.zeros(3, 8), 4)
    with pytest.raises(ValueError, match="is not one"):
        Scorer(kind="knn", reference=5, pool_rule="fused").fused_parts(4)


def test_a_stack_of_two_scores_fused_by_default_and_one_model_refuses_fused(parts, tmp_path, capsys):
    from corel.scoring.detector import CorelDetector
    out = stack_checkpoints(parts, tmp_path / "stack.pt")
    stack = load_model(out)
    x, ref = torch.rand(30, 1, 8, 8), torch.rand(50, 1, 8, 8)
    det = CorelDetector(encoder=stack, n_branches=6).fit(x, reference=ref)
    assert det._scorer().pool_rule == "fused" and det._scorer().fuse_at == 4
    s = det.score_samples(torch.rand(5, 1, 8, 8))
    assert s.shape == (5,) and np.isfinite(s).all()
    clone = CorelDetector.load(det.save(tmp_path / "det.pt", with_encoder=True,
                                        encoder_spec=("stack", load_checkpoint(out)["model_args"])))
    q = torch.rand(4, 1, 8, 8)
    np.testing.assert_allclose(clone.score_samples(q), det.score_samples(q), rtol=1e-9)
    one = CorelDetector(encoder=load_model(parts[0]), n_branches=4, pool_rule="fused")
    with pytest.raises(ValueError, match="this model is not one"):
        one.fit(x, reference=ref)
    # corel evaluate with the fused rule on the stack, and a one-line error on one model
    assert main(["evaluate", str(out), "--dataset", "digits", "--n", "20", "--draws", "1", "--scorer", "knn-mean",
                 "--pool-size", "100", "--pool-rule", "fused", "--no-progress", "--out-dir", str(tmp_path / "ev")]) == 0
    summary = json.loads(next((tmp_path / "ev").rglob("summary.json")).read_text())
    assert "standardised" in summary["scorer"]
    capsys.readouterr()
    assert main(["evaluate", str(parts[0]), "--dataset", "digits", "--n", "20", "--draws", "1", "--scorer", "knn-mean",
                 "--pool-size", "100", "--pool-rule", "fused", "--no-progress", "--out-dir", str(tmp_path / "ev1")]) != 0
    err = capsys.readouterr().err.strip()
    assert "this model is not one" in err and len(err.splitlines()) == 1


def test_corel_score_on_a_stack_of_two_fuses_with_its_pool(parts, tmp_path):
    from PIL import Image
    out = stack_checkpoints(parts, tmp_path / "stack.pt")
    rng = np.random.default_rng(0)
    for sub, n in (("inliers", 25), ("images", 10), ("pool", 40)):
        (tmp_path / sub).mkdir()
        for i in range(n):
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(tmp_path / sub / f"{i}.png")
    argv = ["score", str(out), "--inliers", str(tmp_path / "inliers"), "--images", str(tmp_path / "images"),
            "--no-progress", "--tta", "flips"]
    assert main([*argv, "--reference", str(tmp_path / "pool"), "--out", str(tmp_path / "a" / "s.csv")]) == 0
    summary = json.loads((tmp_path / "a" / "s.json").read_text())
    assert "standardised" in summary["scorer"] and summary["detector"]["pool_rule"] == "fused"
    assert main([*argv, "--reference", str(tmp_path / "pool"), "--pool-rule", "clip",
                 "--out", str(tmp_path / "b" / "s.csv")]) == 0
    assert "median" in json.loads((tmp_path / "b" / "s.json").read_text())["scorer"]
