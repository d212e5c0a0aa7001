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


def test_flip_folded_into_the_resized_crop_equals_flipping_the_crop():
    # The fold must give the very pixels of crop-then-flip with the same draws (bit for bit),
    # so runs keep their augmentations.
    x = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    g1, g2 = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    folded = resized_crop(x, (0.2, 1.0), g1, flip=True)
    reference = hflip(resized_crop(x, (0.2, 1.0), g2), g2)
    assert torch.equal(folded, reference)
    assert torch.equal(augment(x, ("rcrop", "flip"), torch.Generator().manual_seed(4)),
                       hflip(resized_crop(x, (0.2, 1.0), g := torch.Generator().manual_seed(4)), g))


def _jitter_on_every_image(x, generator, strength=0.4, hue=0.1, p=0.8):
    """The colour jitter computed on the whole batch and then selected (the plain formula)."""
    from corel.training.augment import _gray, _rotate_hue, _uniform
    b = x.shape[0]
    apply = (torch.rand(b, generator=generator) < p)[:, None, None, None]
    f = [_uniform(b, 1 - strength, 1 + strength, generator, x.device)[:, None, None, None] for _ in range(3)]
    angle = _uniform(b, -hue, hue, generator, x.device) * 2 * math.pi
    y = x
    for k in torch.randperm(3, generator=generator).tolist():
        base = y if k == 0 else (_gray(y).mean((1, 2, 3), keepdim=True) if k == 1 else _gray(y))
        y = (y * f[0]).clamp(0, 1) if k == 0 else ((y - base) * f[k] + base).clamp(0, 1)
    return torch.where(apply, _rotate_hue(y, angle), x)


@pytest.mark.parametrize("seed", range(4))
def test_jitter_and_grey_on_the_picked_images_only_equal_the_whole_batch_formula(seed):
    from corel.training.augment import colour_jitter
    x = torch.rand(40, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
    got = colour_jitter(x, torch.Generator().manual_seed(seed + 10))
    assert torch.equal(got, _jitter_on_every_image(x, torch.Generator().manual_seed(seed + 10)))
    g = torch.Generator().manual_seed(seed)
    pick = torch.rand(40, generator=torch.Generator().manual_seed(seed)) < 0.3
    grey = random_gray(x, 0.3, g)
    from corel.training.augment import _gray
    assert torch.equal(grey, torch.where(pick[:, None, None, None], _gray(x).expand_as(x), x))
