"""Tests of corel.training.losses: the connectivity loss (values, branches, gradients, optimisation),
death statistics, branch splitting, the reconstruction loss and the input checks."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from corel.training.losses import ConnectivityLoss, DeathStats, death_stats, reconstruction_l1, split_branches
from corel.topology.h0 import vr_persistence_0d

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


# ----------------------------------------------------------------------------- values
def test_hand_computed_collinear():
    # Points 0, 1, 3 on a line: deaths 1, 2; eta = 2 -> |1 - 2| + |2 - 2| = 1.
    z = torch.tensor([[0.0], [1.0], [3.0]])
    loss_fn = ConnectivityLoss(eta=2.0)
    torch.testing.assert_close(loss_fn(z), torch.tensor(1.0))
    torch.testing.assert_close(ConnectivityLoss(eta=0.5)(z), torch.tensor(0.5 + 1.5))
    # The same points embedded on a diagonal in 2-D: l1 lengths double, l2 scale by sqrt(2).
    diag = torch.cat([z, z], dim=1)
    torch.testing.assert_close(ConnectivityLoss(eta=2.0, metric="l1")(diag), torch.tensor(0.0 + 2.0))
    r2 = 2.0 ** 0.5
    torch.testing.assert_close(ConnectivityLoss(eta=2.0, metric="l2")(diag),
                               torch.tensor(abs(r2 - 2.0) + abs(2 * r2 - 2.0)))
    torch.testing.assert_close(ConnectivityLoss(eta=2.0, metric="linf")(diag), torch.tensor(1.0))


def test_branches_hand_computed():
    # Branch 0 = column 0 (points 0, 1, 3: loss 1); branch 1 = column 1 (0, 2, 4: loss 0).
    z = torch.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]])
    loss_fn = ConnectivityLoss(eta=2.0, n_branches=2)
    torch.testing.assert_close(loss_fn(z), torch.tensor(0.5))
    stats = loss_fn.last_stats
    assert isinstance(stats, DeathStats)
    torch.testing.assert_close(stats.min, torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(stats.mean, torch.tensor([1.5, 2.0]))
    torch.testing.assert_close(stats.max, torch.tensor([2.0, 2.0]))
    assert stats.as_dict() == {"death_min": 1.0, "death_mean": 1.75, "death_max": 2.0}
    assert stats.as_dict("val") == {"val_min": 1.0, "val_mean": 1.75, "val_max": 2.0}
    # One branch over both columns is a different loss (l1 lengths 3, 4 -> |3-2| + |4-2| = 3).
    torch.testing.assert_close(ConnectivityLoss(eta=2.0, n_branches=1)(z), torch.tensor(3.0))


@pytest.mark.parametrize("metric", ["l1", "l2"])
def test_branches_equal_mean_of_single_branch_losses(metric):
    """The paper's setting: 16 branches of 10 dims, batch 100."""
    z = torch.randn(100, 160, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    loss = ConnectivityLoss(eta=2.0, metric=metric, n_branches=16)(z)
    single = ConnectivityLoss(eta=2.0, metric=metric, n_branches=1)
    per_branch = torch.stack([single(z[:, 10 * k:10 * (k + 1)]) for k in range(16)])
    torch.testing.assert_close(loss, per_branch.mean())


def test_last_stats_match_deaths():
    z = torch.randn(40, 12, generator=torch.Generator().manual_seed(1))
    loss_fn = ConnectivityLoss(eta=1.0, n_branches=3)
    assert loss_fn.last_stats is None
    loss = loss_fn(z)
    deaths = vr_persistence_0d(split_branches(z, 3), "l1").deaths        # (3, 39)
    torch.testing.assert_close(loss, (deaths - 1.0).abs().sum(-1).mean())
    s = loss_fn.last_stats
    assert s.min.shape == s.mean.shape == s.max.shape == (3,)
    assert not s.mean.requires_grad
    torch.testing.assert_close(s.min, deaths.min(-1).values)
    torch.testing.assert_close(s.mean, deaths.mean(-1))
    torch.testing.assert_close(s.max, deaths.max(-1).values)
    assert torch.all(s.min <= s.mean) and torch.all(s.mean <= s.max)


def test_death_stats_batched():
    deaths = torch.tensor([[[1.0, 2.0, 6.0]], [[0.0, 0.0, 3.0]]], requires_grad=True)
    s = death_stats(deaths)
    assert s.mean.shape == (2, 1) and not s.mean.requires_grad
    assert s.min.flatten().tolist() == [1.0, 0.0] and s.max.flatten().tolist() == [6.0, 3.0]
    assert s.mean.flatten().tolist() == [3.0, 1.0]


@given(arrays(np.float64, st.tuples(st.integers(2, 15), st.integers(1, 4)),
              elements=st.floats(-10, 10, allow_subnormal=False)),
       st.floats(0.1, 5.0), st.sampled_from(["l1", "l2", "linf"]), st.data())
def test_loss_invariant_to_batch_order(z, eta, metric, data):
    perm = data.draw(st.permutations(range(z.shape[0])))
    loss_fn = ConnectivityLoss(eta=eta, metric=metric)
    a, b = loss_fn(torch.from_numpy(z)), loss_fn(torch.from_numpy(z[perm]))
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
    assert float(a) >= 0.0


def test_split_branches():
    z = torch.arange(4 * 6).reshape(4, 6).float()
    parts = split_branches(z, 3)
    assert parts.shape == (3, 4, 2)
    for k in range(3):
        assert torch.equal(parts[k], z[:, 2 * k:2 * k + 2])
    assert torch.equal(split_branches(z, 1)[0], z)
    with pytest.raises(ValueError, match="D=6 is not divisible by n_branches=4.*divisors of 6"):
        split_branches(z, 4)


def test_reconstruction_l1():
    x = torch.zeros(2, 3, 4, 4)
    x_hat = torch.zeros(2, 3, 4, 4)
    x_hat[0] = 1.0                       # 48 pixels off by 1 in the first image
    x_hat[1, 0, 0, 0] = -2.0             # one pixel off by 2 in the second
    torch.testing.assert_close(reconstruction_l1(x_hat, x), torch.tensor((48.0 + 2.0) / 2))
    with pytest.raises(ValueError, match=r"shape \(2, 3, 4, 4\) differs from input shape \(2, 3, 4, 5\)"):
        reconstruction_l1(x_hat, torch.zeros(2, 3, 4, 5))


def test_module_has_no_parameters_and_repr():
    loss_fn = ConnectivityLoss(eta=1.5, metric="l2", n_branches=4)
    assert list(loss_fn.parameters()) == [] and loss_fn.state_dict() == {}
    assert repr(loss_fn) == "ConnectivityLoss(eta=1.5, metric='l2', n_branches=4)"
    assert loss_fn.eta == 1.5 and loss_fn.p == 2.0


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("metric", ["l1", "l2"])
@pytest.mark.parametrize("n_branches", [1, 2])
def test_gradcheck_loss(metric, n_branches):
    z = torch.randn(10, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    # Away from the kinks: no coordinate difference near 0, no death near eta.
    assert float(((z[:, None] - z[None]).abs() + torch.eye(10, dtype=z.dtype)[..., None]).min()) > 1e-4
    eta = 1.3
    deaths = vr_persistence_0d(split_branches(z, n_branches), metric).deaths
    assert float((deaths - eta).abs().min()) > 1e-3
    loss_fn = ConnectivityLoss(eta=eta, metric=metric, n_branches=n_branches)
    assert torch.autograd.gradcheck(loss_fn, (z.requires_grad_(),))


def test_gradient_hand_computed():
    # Points 0, 1, 3, eta = 2: d loss / d death = (sign(1-2), sign(2-2)) = (-1, 0).
    z = torch.tensor([[0.0], [1.0], [3.0]], requires_grad=True)
    ConnectivityLoss(eta=2.0)(z).backward()
    torch.testing.assert_close(z.grad, torch.tensor([[1.0], [-1.0], [0.0]]))


@pytest.mark.parametrize("metric", ["l1", "l2", "linf"])
def test_gradient_finite_with_duplicate_codes(metric):
    z = torch.tensor([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [2.0, 0.0]], requires_grad=True)
    ConnectivityLoss(eta=1.0, metric=metric)(z).backward()
    assert torch.isfinite(z.grad).all()


@pytest.mark.parametrize("metric", ["l1", "l2"])
def test_optimising_moves_deaths_to_eta(metric):
    """50 points in 2-D, Adam: the mean |death - eta| falls to a fraction of its start."""
    torch.manual_seed(0)
    z = (torch.randn(50, 2) * 0.1).requires_grad_()
    loss_fn = ConnectivityLoss(eta=1.0, metric=metric)
    opt = torch.optim.Adam([z], lr=0.05)

    def gap():
        return float((vr_persistence_0d(z.detach(), metric).deaths - 1.0).abs().mean())

    start = gap()
    first = None
    for _ in range(100):
        opt.zero_grad()
        loss = loss_fn(z)
        first = float(loss.detach()) if first is None else first
        loss.backward()
        opt.step()
    assert start > 0.9
    assert gap() < 0.25 * start, (start, gap())
    assert float(loss_fn(z).detach()) < 0.25 * first
    assert abs(float(loss_fn.last_stats.mean) - 1.0) < 0.15


@cuda
def test_loss_cpu_equals_cuda():
    z = torch.randn(100, 160, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    loss_fn = ConnectivityLoss(eta=2.0, n_branches=16)
    zc = z.cuda().requires_grad_()
    zl = z.clone().requires_grad_()
    gpu, cpu = loss_fn(zc), loss_fn(zl)
    torch.testing.assert_close(gpu.cpu(), cpu.detach())
    gpu.backward()
    cpu.backward()
    torch.testing.assert_close(zc.grad.cpu(), zl.grad)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("eta", [0, 0.0, -1.0, float("nan"), float("inf"), "2", True, None])
def test_bad_eta(eta):
    with pytest.raises(ValueError, match=r"The 'eta' parameter of ConnectivityLoss must be a finite "
                                         r"float > 0\. Got .* instead"):
        ConnectivityLoss(eta=eta)


@pytest.mark.parametrize("n_branches", [0, -2, 1.5, True, "16"])
def test_bad_n_branches(n_branches):
    with pytest.raises(ValueError, match="'n_branches' parameter of ConnectivityLoss must be an int >= 1"):
        ConnectivityLoss(n_branches=n_branches)


def test_latent_not_divisible_by_branches():
    with pytest.raises(ValueError, match="D=10 is not divisible by n_branches=3"):
        ConnectivityLoss(n_branches=3)(torch.randn(8, 10))


def test_unknown_metric_lists_supported():
    with pytest.raises(ValueError, match="'metric' parameter must be one of") as info:
        ConnectivityLoss(metric="cosine")
    for name in ("'l1'", "'l2'", "'linf'", "'manhattan'"):
        assert name in str(info.value)


def test_bad_latent_shapes():
    loss_fn = ConnectivityLoss()
    with pytest.raises(ValueError, match=r"'z' must have at least 2 dimensions; got shape \(5,\)"):
        loss_fn(torch.randn(5))
    with pytest.raises(ValueError, match=r"expects a \(batch, latent_dim\) tensor; got shape \(4, 3, 2\).*flatten"):
        loss_fn(torch.randn(4, 3, 2))
    with pytest.raises(ValueError, match="at least 2 codes; got 1"):
        loss_fn(torch.randn(1, 10))


def test_bad_latent_values_and_dtypes():
    loss_fn = ConnectivityLoss()
    z = torch.randn(6, 4)
    z[2, 3] = float("nan")
    with pytest.raises(ValueError, match=r"'z' contains 1 non-finite values \(1 NaN, 0 infinite\), "
                                         r"first at indices \[\[2, 3\]\]"):
        loss_fn(z)
    with pytest.raises(TypeError, match="real floating dtype.*torch.int64"):
        loss_fn(torch.ones(6, 4, dtype=torch.int64))
    with pytest.raises(TypeError, match="real floating dtype.*torch.complex64"):
        loss_fn(torch.ones(6, 4, dtype=torch.complex64))
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        loss_fn(np.ones((6, 4)))
