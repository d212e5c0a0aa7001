"""Test-time views (corel.scoring.views): what each view does to the pixels, and the errors."""
import pytest
import torch

from corel.scoring.views import TTA_MODES, apply_view, check_view, tta_views


def _images(dtype=torch.uint8):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (3, 3, 8, 9), generator=g)
    return x.to(dtype) if dtype == torch.uint8 else x.to(dtype) / 255


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_shift_moves_the_content_and_reflects_the_border(dtype):
    x = _images(dtype)
    y = apply_view(x, "shift(2,1)")
    assert y.dtype == x.dtype and y.shape == x.shape
    assert torch.equal(y[..., 1:, 2:], x[..., :-1, :-2])            # content moved 2 right, 1 down
    assert torch.equal(y[..., 1:, 0], x[..., :-1, 2])                # column -2 reflects onto column 2
    assert torch.equal(y[..., 0, 2:], x[..., 1, :-2])                # row -1 reflects onto row 1
    back = apply_view(x, "shift(-2,-1)")
    assert torch.equal(back[..., :-1, :-2], x[..., 1:, 2:])


def test_compositions_apply_left_to_right_and_identity_is_untouched():
    x = _images()
    assert apply_view(x, "identity") is x
    assert torch.equal(apply_view(x, "hflip"), x.flip(-1))
    assert torch.equal(apply_view(x, "hflip+shift(1,0)"), apply_view(x.flip(-1), "shift(1,0)"))
    assert not torch.equal(apply_view(x, "hflip+shift(1,0)"), apply_view(x, "shift(1,0)").flip(-1))
    assert torch.equal(apply_view(x, "shift(0,0)"), x)
    # chunked like a whole split: the same as one call per image
    many = x.repeat(4000, 1, 1, 1)
    assert torch.equal(apply_view(many, "shift(2,2)")[-3:], apply_view(x, "shift(2,2)"))


def test_modes_and_errors():
    assert tta_views(True) == TTA_MODES["flips"] == ("identity", "hflip")
    assert tta_views(False) == ("identity",) and len(tta_views("flips-shifts")) == 6
    for view in tta_views("flips-shifts"):
        check_view(view)
    with pytest.raises(ValueError, match="choose one of"):
        tta_views("crops")
    with pytest.raises(ValueError, match=r"shift\(dx,dy\)"):
        check_view("rotate(90)")
    with pytest.raises(ValueError, match="larger than"):
        apply_view(_images(), "shift(9,0)")
