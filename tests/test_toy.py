"""The toy: the connectivity loss alone makes per-batch death times homogeneous and the
clusters' scales comparable, so one KDE bandwidth suits them; `corel toy` writes its figures."""
import contextlib
import io
import json

import numpy as np
import pytest
import torch

from corel.apps.cli import main
from corel.apps.toy import bandwidth_mismatch, make_blobs, train_connectivity, toy_encoder


class _Numbers:
    def __init__(self, d: dict):
        self.__dict__.update(d)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """One run of `corel toy` with 10 of the 50 epochs (seeded): its numbers.json and printout."""
    out = tmp_path_factory.mktemp("toy")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["toy", "--epochs", "10", "--threads", "1", "--out-dir", str(out)]) == 0
    res = _Numbers(json.loads((out / "numbers.json").read_text()))
    return res, out, printed.getvalue()


def test_training_moves_deaths_towards_eta_and_shrinks_their_spread(toy):
    res, _, _ = toy
    before, after = res.deaths_before, res.deaths_after
    assert abs(after["epsilon"] - 2.0) < 0.6 * abs(before["epsilon"] - 2.0)
    assert after["relative_spread"] < 0.7 * before["relative_spread"]
    assert after["mean_alpha"] > 5 * before["mean_alpha"]
    assert res.loss_history[-1] < 0.8 * res.loss_history[0]


def test_one_bandwidth_suits_the_clusters_after_training(toy):
    res, _, _ = toy
    # Before: Scott's bandwidth over-smooths the tight blob ~30x and the wide one < 2x.
    assert res.kde_before["ratio"][0] > 15 and res.kde_before["ratio"][2] < 2
    assert res.kde_before["spread"] > 10
    assert res.kde_after["spread"] < res.kde_before["spread"] / 2


def test_theory_numbers_of_the_toy(toy):
    res, _, _ = toy
    t = res.theory
    # 1500 codes in 2-D with b = 50 cannot all be homogeneous: beta / alpha must exceed ~18.6,
    # and the measured ratio (exact alpha, sampled beta) obeys that.
    assert t["required_beta_over_alpha"] == pytest.approx((1452 ** 0.5 - 1) / 2)
    assert t["observed_beta_over_alpha"] >= t["required_beta_over_alpha"]
    assert t["densification_bound"] == 1451


def test_bandwidth_mismatch_is_one_for_clusters_of_equal_scale():
    x, y = make_blobs(400, centers=((0, 0), (50, 0)), scales=(1.0, 1.0), seed=3)
    m = bandwidth_mismatch(x, y)
    assert m["spread"] == pytest.approx(1.0, abs=0.1)


def test_training_is_seeded():
    x, _ = make_blobs(50, seed=0)
    runs = []
    for _ in range(2):
        enc = toy_encoder(5)
        train_connectivity(enc, x, epochs=2, seed=5)
        runs.append(torch.cat([p.detach().flatten() for p in enc.parameters()]))
    assert torch.equal(runs[0], runs[1])


def test_toy_command_writes_figures_and_numbers(toy):
    res, out, printed = toy
    assert "Scott's-rule KDE bandwidth" in printed and "| trained codes |" in printed
    for name in ("scatter.png", "death_histogram.png", "kde_contours.png"):
        assert (out / name).stat().st_size > 5000, name
    assert res.settings["epochs"] == 10 and len(res.loss_history) == 10
    assert np.isfinite(res.deaths_after["epsilon"])
