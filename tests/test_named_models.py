"""Shipped models: names, cards that match their files, and a name wherever a model.pt goes."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.base import clone

import corel
from corel import CorelDetector
from corel.apps.cli import main
from corel.named import available, card, format_cards, resolve, sha256
from _shared_data import SHARED_CIFAR10_JPEG


def test_every_card_matches_its_file_and_loads_with_weights_only():
    assert available()[:3] == ["cifar10-pair", "cifar10-contrastive-wide", "cifar10-contrastive"]   # best first
    from importlib import resources
    for name in available():
        c = card(name)
        assert sha256(name) == c["sha256"]            # a stack: built from its parts to the card's bytes
        for file in c.get("stack_of") or [c["file"]]:
            assert Path(str(resources.files("corel.named").joinpath(file))).stat().st_size < 5e6
        ck = torch.load(resolve(name), map_location="cpu", weights_only=True)
        # the card names the data the model was trained on
        assert {"cifar10-jpeg": "CIFAR-10", "tinyimagenet": "TinyImageNet"}[ck["config"]["dataset"]] in c["trained_on"]
        model = corel.load_model(name)
        width = 10 * ck["model_args"]["n_branches"]
        assert not model.training and model.encode(torch.rand(2, 3, 32, 32)).shape == (2, width)
        for row in c["results"]:                  # every number names its setting
            assert {"protocol", "evaluated_on", "scorer", "n", "auroc", "source"} <= set(row)


def test_the_cards_numbers_are_the_summaries_they_cite():
    from pathlib import Path
    root = Path(__file__).parents[1]
    for name in available():
        for row in card(name)["results"]:
            source = root / row["source"].split(" ")[0]
            if source.suffix == ".json":     # scripts/unseen_scorers.py's file: one rule's mean in one protocol
                got = json.loads(source.read_text())["results"][row["novelty"]][row["rule"]]["mean"]
                assert round(got, 2) == pytest.approx(row["auroc"], abs=0.006)
                continue
            folder = source / f"n{row['n']}"
            summary = json.loads((folder / "summary.json").read_text())
            assert round(summary["mean_auroc"], 2) == pytest.approx(row["auroc"], abs=0.006)
            if "checkpoint_sha256" in summary:         # (the oldest summaries predate the field)
                assert summary["checkpoint_sha256"] == card(name)["sha256"]


def test_unknown_names_list_the_shipped_ones(capsys):
    with pytest.raises(FileNotFoundError, match="cifar10-contrastive"):
        resolve("no-such-model")
    assert main(["models", "no-such-model"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cifar10-contrastive" in err[0]
    assert main(["models"]) == 0 and "cifar10-paper" in capsys.readouterr().out
    assert "| protocol |" in format_cards("cifar10-paper")


def test_a_detector_takes_a_name_and_keeps_it(tmp_path):
    x = torch.rand(20, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    det = CorelDetector(encoder="cifar10-contrastive").fit(x, reference=False)
    assert det.get_params()["encoder"] == "cifar10-contrastive" and det.reference_codes_ is None
    assert clone(det).get_params()["encoder"] == "cifar10-contrastive"
    by_module = CorelDetector(encoder=corel.load_model("cifar10-contrastive")).fit(x)
    q = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    np.testing.assert_allclose(det.score_samples(q), by_module.score_samples(q))
    # by default a named model brings its own pool of unlabelled training codes, clipped
    from corel.named import pool_codes
    pooled = CorelDetector(encoder="cifar10-contrastive").fit(x)
    assert pooled.reference_codes_.shape == (2000, 160) and pooled._scorer().pool_rule == "clip"
    manual = CorelDetector(encoder=by_module.encoder)
    manual.fit_codes(torch.cat([by_module.inlier_codes_]), reference_codes=pool_codes("cifar10-contrastive"))
    np.testing.assert_allclose(pooled.score_samples(q), manual.score_samples(q), rtol=1e-6)
    det.save(tmp_path / "d.pt", with_encoder=True)
    np.testing.assert_allclose(CorelDetector.load(tmp_path / "d.pt").score_samples(q), det.score_samples(q), rtol=1e-6)
    with pytest.raises(FileNotFoundError, match="shipped model"):
        CorelDetector(encoder="nope").fit(x)


def test_corel_score_with_a_name(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for sub, n, shift in (("inliers", 30, 0), ("images/a", 10, 0), ("images/b", 10, 120)):
        (tmp_path / sub).mkdir(parents=True)
        for i in range(n):
            pixels = np.clip(rng.normal(60 + shift, 20, size=(32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / sub / f"{i}.png")
    out = tmp_path / "s.csv"
    assert main(["score", "--model", "cifar10-contrastive", "--inliers", str(tmp_path / "inliers"), "--images",
                 str(tmp_path / "images"), "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["n_scored"] == 20
    assert main(["score", "cifar10-contrastive", "--model", "cifar10-paper", "--inliers", str(tmp_path / "inliers"),
                 "--images", str(tmp_path / "images"), "--out", str(out)]) == 2
    assert "Give the model once" in capsys.readouterr().err


def test_corel_score_uses_the_shipped_pool_unless_told_not_to(tmp_path):
    from corel.named import pool_codes_for_file, resolve as resolve_name
    assert pool_codes_for_file(resolve_name("cifar10-contrastive"))[1].shape == (2000, 160)
    assert pool_codes_for_file(resolve_name("cifar10-paper")) is None
    rng = np.random.default_rng(0)
    for sub, n in (("inliers", 20), ("images", 6)):
        (tmp_path / sub).mkdir()
        for i in range(n):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / sub / f"{i}.png")
    base = ["score", "cifar10-contrastive", "--inliers", str(tmp_path / "inliers"), "--images", str(tmp_path / "images"),
            "--no-progress"]
    assert main([*base, "--out", str(tmp_path / "a.csv")]) == 0
    assert json.loads((tmp_path / "a.json").read_text())["detector"]["scorer"] == "knn-mean"
    assert "2000 unlabelled reference codes" in json.loads((tmp_path / "a.json").read_text())["scorer"]
    assert main([*base, "--no-pool", "--out", str(tmp_path / "b.csv")]) == 0
    assert "reference" not in json.loads((tmp_path / "b.json").read_text())["scorer"]


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_CIFAR10_JPEG / "train.zip").is_file(), reason="shared CIFAR-10 JPEGs absent")
@pytest.mark.parametrize("name", ["cifar10-contrastive", "cifar10-contrastive-wide"])
def test_a_shipped_pool_is_what_its_script_writes(tmp_path, name):
    import importlib.util
    from pathlib import Path
    from corel.named import pool_codes
    spec = importlib.util.spec_from_file_location("named_pool", Path(__file__).parents[1] / "scripts" / "named_pool.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main([str(resolve(name)), "--data-root", str(SHARED_CIFAR10_JPEG), "--out", str(tmp_path / "p.pt")]) == 0
    again = torch.load(tmp_path / "p.pt", weights_only=True)
    assert again["model_sha256"] == card(name)["sha256"]
    np.testing.assert_allclose(again["codes"].numpy(), pool_codes(name).numpy(), atol=1e-5)


def test_a_shipped_stack_is_built_once_into_the_cache_and_rebuilt_when_damaged():
    path = resolve("cifar10-pair")
    assert path.parent.name == "named" and sha256("cifar10-pair") == card("cifar10-pair")["sha256"]
    before = path.stat().st_mtime_ns
    assert resolve("cifar10-pair") == path and path.stat().st_mtime_ns == before      # not written again
    path.write_bytes(b"damaged")
    assert resolve("cifar10-pair") == path and sha256("cifar10-pair") == card("cifar10-pair")["sha256"]
    ck = torch.load(path, map_location="cpu", weights_only=True)
    assert [p["checkpoint"] for p in ck["config"]["stack_of"]] == card("cifar10-pair")["stack_of"]


def test_the_pair_detector_takes_its_branches_pool_and_fused_rule_from_the_name():
    x = torch.rand(20, 3, 32, 32)
    det = CorelDetector(encoder="cifar10-pair").fit(x)
    scorer = det._scorer()
    assert det.fitted_scorer().n_branches == 32 and scorer.pool_rule == "fused" and scorer.fuse_at == 16
    assert det.reference_codes_.shape == (2000, 320)
    q = torch.rand(3, 3, 32, 32)
    # the same as the stack's two parts scored by hand: the first one's knn plus the second one's ratio
    from corel.scoring.fitted import FittedScorer
    from corel.scoring.scorer import Scorer
    codes = det._encode(x, fitted_dim=None)
    by_hand = FittedScorer.fit(Scorer(kind="knn", reference=2000, pool_rule="fused", fuse_at=16), 32, codes,
                               reference_codes=det.reference_codes_)
    np.testing.assert_allclose(det.score_samples(q), by_hand.normality(det._encode(q, fitted_dim=320)), rtol=1e-9)
    with pytest.raises(ValueError, match="n_branches"):
        CorelDetector(encoder="cifar10-pair", n_branches=0).fit(x)
