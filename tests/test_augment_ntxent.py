"""The two parts of corel's contrastive recipe: NT-Xent against its direct formula, and each augmentation."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from corel.training.augment import AUGMENTATIONS, augment, hflip, pad_crop, random_gray, resized_crop
from corel.training.losses import nt_xent


def nt_xent_direct(a, b, t):
    """SimCLR's loss written out: for each of the 2B rows, -log of exp(sim(positive)/t) over the sum of
    exp(sim(k)/t) for every other row k, averaged over the 2B rows."""
    z = torch.cat([a, b]).double()
    z = z / z.norm(dim=1, keepdim=True)
    n = a.shape[0]
    total = 0.0
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        sims = [float(z[i] @ z[k]) / t for k in range(2 * n) if k != i]
        pos = float(z[i] @ z[j]) / t
        total += -(pos - math.log(sum(math.exp(s) for s in sims)))
    return total / (2 * n)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 7), st.integers(1, 6), st.sampled_from([0.05, 0.1, 0.5, 1.0]), st.integers(0, 10_000))
def test_nt_xent_equals_the_direct_formula(n, d, t, seed):
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, d, generator=g, dtype=torch.float64)
    assert float(nt_xent(a, b, t)) == pytest.approx(nt_xent_direct(a, b, t), rel=1e-9, abs=1e-9)


def test_nt_xent_ignores_scale_and_prefers_aligned_views():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(8, 5, generator=g)
    assert float(nt_xent(a, 3.0 * a)) == pytest.approx(float(nt_xent(a, a)), rel=1e-5)     # cosine similarity
    assert float(nt_xent(a, a)) < float(nt_xent(a, torch.randn(8, 5, generator=g)))
    with pytest.raises(ValueError, match="B >= 2"):
        nt_xent(a[:1], a[:1])


@pytest.mark.parametrize("names", [(n,) for n in AUGMENTATIONS] + [tuple(AUGMENTATIONS)])
@pytest.mark.parametrize("channels", [1, 3])
def test_each_augmentation_keeps_shape_range_and_is_seeded(names, channels):
    x = torch.rand(16, channels, 12, 12, generator=torch.Generator().manual_seed(1))
    a = augment(x, names, torch.Generator().manual_seed(7))
    b = augment(x, names, torch.Generator().manual_seed(7))
    c = augment(x, names, torch.Generator().manual_seed(8))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert float(a.min()) >= -1e-6 and float(a.max()) <= 1 + 1e-6
    assert torch.equal(a, b)                                         # the same seed, the same batch
    if not (names == ("gray",) and channels == 1):                   # grey does nothing to one channel
        assert not torch.equal(a, c)


def test_flip_mirrors_some_images_exactly_and_crop_moves_content():
    x = torch.rand(64, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    y = hflip(x, torch.Generator().manual_seed(3))
    flipped = [bool(torch.equal(y[i], x[i].flip(-1))) for i in range(64)]
    kept = [bool(torch.equal(y[i], x[i])) for i in range(64)]
    assert all(f or k for f, k in zip(flipped, kept)) and 16 < sum(flipped) < 48
    crop = pad_crop(x, 4, torch.Generator().manual_seed(4))
    assert crop.shape == x.shape and not torch.equal(crop, x)
    rc = resized_crop(x, (0.2, 1.0), torch.Generator().manual_seed(5))
    assert rc.shape == x.shape
    grey = random_gray(x, 1.0, torch.Generator().manual_seed(6))      # p = 1: every image grey
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])


def test_unknown_augmentation_is_an_error():
    with pytest.raises(ValueError, match="Unknown augmentation"):
        augment(torch.rand(2, 3, 4, 4), ("rotate",), torch.Generator())
