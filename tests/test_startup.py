"""Start-up: the modules `corel score` and `corel evaluate` run on do not import scikit-learn
(about 1.5 s), and the fitted state they score with is CorelDetector's."""
import subprocess
import sys

import numpy as np
import torch

from corel.scoring.detector import CorelDetector
from corel.scoring.fitted import FittedScorer
from corel.scoring.scorer import parse_scorer

JOB_MODULES = ["corel.apps.cli", "corel.apps.score", "corel.scoring.fitted", "corel.protocols.jobs", "corel.protocols.oneclass", "corel.protocols.problems",
               "corel.data.imagefiles", "corel.training.checkpoints", "corel.named", "corel.scoring.views"]


def test_the_score_and_evaluate_modules_do_not_import_scikit_learn():
    code = (f"import sys; import {', '.join(JOB_MODULES)}; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", out


def _listing(folder) -> list[str]:
    code = ("import sys; from corel.data.imagefiles import open_images; "
            f"src = open_images({str(folder)!r}); print(len(src), src.skipped, 'PIL.MpegImagePlugin' in sys.modules)")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()


def test_an_image_listing_loads_pillows_plugins_only_for_uncommon_endings(tmp_path):
    from PIL import Image
    for name in ("a.png", "b.jpg"):
        Image.new("RGB", (4, 4)).save(tmp_path / name)
    assert _listing(tmp_path) == ["2", "0", "False"]
    (tmp_path / "notes.txt").write_text("not an image")    # other endings are checked against all of Pillow's
    Image.new("RGB", (4, 4)).save(tmp_path / "c.pcx")
    assert _listing(tmp_path) == ["3", "1", "True"]


def _codes(n, seed, dim=8):
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(n, dim)))


def test_the_fitted_scorer_scores_as_the_detector_does():
    inliers, queries, pool = _codes(40, 0), _codes(15, 1), _codes(60, 2)
    for scorer_name, ref in [("knn-mean", None), ("knn-kth", pool), ("count", None), ("soft", None)]:
        det = CorelDetector(n_branches=2, scorer=scorer_name, radius=2.0, pool_rule="clip").fit_codes(
            inliers, reference_codes=ref)
        scorer = parse_scorer(scorer_name, 2.0, 0.5, 5, "sum", 0 if ref is None else len(ref), "clip")
        fitted = FittedScorer.fit(scorer, 2, inliers, reference_codes=ref)
        np.testing.assert_allclose(fitted.normality(queries), det.score_samples(queries.numpy()), rtol=1e-12)
        np.testing.assert_allclose(fitted.training_scores, det.training_scores_, rtol=1e-12)
        again = CorelDetector.from_fitted(fitted, scorer=scorer_name, radius=2.0, pool_rule="clip")
        np.testing.assert_allclose(again.score_samples(queries.numpy()), det.score_samples(queries.numpy()))
        assert again.offset_ == det.offset_


def test_neighbour_counts_match_a_brute_force_count_at_an_auto_radius():
    inliers, queries = _codes(30, 3, dim=4), _codes(10, 4, dim=4)
    fitted = FittedScorer.fit(parse_scorer("knn-mean", "auto"), 2, inliers)
    radii = fitted.scorer.radii(inliers, 2)
    d = (queries[:, None, :] - inliers[None]).abs().reshape(10, 30, 2, 2).sum(-1)   # (Q, n, branch)
    expected = (d <= radii).sum((1, 2)).numpy()
    np.testing.assert_array_equal(fitted.neighbour_counts(queries), expected)
