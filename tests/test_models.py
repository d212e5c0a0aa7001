import pytest
import torch

from corel.training.models import BranchLinear, CorelAutoencoder, MLPAutoencoder, build_model


def test_paper_configuration_shapes_and_parameter_count():
    m = CorelAutoencoder()  # 3x32x32, (32, 64, 128), 16 x 10
    shapes = [tuple(p.shape) for p in m.parameters()]
    assert shapes == [
        (32, 3, 3, 3), (32,), (64, 32, 3, 3), (64,), (128, 64, 3, 3), (128,),   # encoder convs
        (16, 10, 128), (16, 10),                                                 # encoder branches
        (16, 128, 10), (16, 128),                                                # decoder branches
        (128, 64, 3, 3), (64,), (64, 32, 3, 3), (32,), (32, 3, 3, 3), (3,),      # transposed convs
    ]
    # 896 + 18496 + 73856 + 20640 + 22528 + 73792 + 18464 + 867
    assert sum(p.numel() for p in m.parameters()) == 229_539
    assert not any(isinstance(mod, (torch.nn.BatchNorm2d, torch.nn.Dropout)) for mod in m.modules())
    x_hat, z = m(torch.rand(5, 3, 32, 32))
    assert x_hat.shape == (5, 3, 32, 32) and z.shape == (5, 160)


def test_no_activation_on_latent_or_output():
    m = CorelAutoencoder()
    assert isinstance(m.decoder_conv[-1], torch.nn.ConvTranspose2d)
    x_hat, z = m(torch.rand(20, 3, 32, 32))
    assert (z < 0).any()  # no ReLU on the code


def test_branch_linear_is_block_diagonal():
    layer = BranchLinear(4, 3, 2)
    x = torch.randn(7, 12, requires_grad=True)
    y = layer(x)
    # output of branch 1 depends only on inputs 3..5
    (g,) = torch.autograd.grad(y[:, 2:4].sum(), x)
    assert torch.all(g[:, :3] == 0) and torch.all(g[:, 6:] == 0) and torch.any(g[:, 3:6] != 0)
    # matches a per-branch nn.functional.linear
    ref = torch.cat([torch.nn.functional.linear(x[:, 3 * k:3 * k + 3], layer.weight[k], layer.bias[k])
                     for k in range(4)], dim=1)
    torch.testing.assert_close(y, ref)


def test_branch_encoder_sees_only_its_channels():
    m = CorelAutoencoder()
    h = torch.randn(2, 2048, requires_grad=True)
    z = m.encoder_fc(h)
    (g,) = torch.autograd.grad(z[:, :10].sum(), h)  # branch 0 <- inputs [0, 128) = channels 0..7
    assert torch.all(g[:, 128:] == 0)


@pytest.mark.parametrize("kwargs", [dict(in_channels=1, image_size=32, n_branches=8, branch_dim=20),
                                    dict(in_channels=3, image_size=64, channels=(16, 32, 64, 128), n_branches=32,
                                         branch_dim=5)])
def test_configurable(kwargs):
    m = CorelAutoencoder(**kwargs)
    x = torch.rand(3, kwargs["in_channels"], kwargs["image_size"], kwargs["image_size"])
    x_hat, z = m(x)
    assert x_hat.shape == x.shape and z.shape == (3, kwargs["n_branches"] * kwargs["branch_dim"])


def test_bad_configuration_and_input():
    with pytest.raises(ValueError, match="not divisible by n_branches"):
        CorelAutoencoder(n_branches=7)
    with pytest.raises(ValueError, match="divisible by 2"):
        CorelAutoencoder(image_size=30)
    with pytest.raises(ValueError, match=r"expects images of shape \(B, 3, 32, 32\)"):
        CorelAutoencoder().encode(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match="Unknown model"):
        build_model("resnet")


def test_mlp_autoencoder_toy_shape():
    m = MLPAutoencoder(2, hidden=(10, 10), latent_dim=2)
    x_hat, z = m(torch.randn(50, 2))
    assert x_hat.shape == (50, 2) and z.shape == (50, 2)
    assert [tuple(l.weight.shape) for l in m.encoder if isinstance(l, torch.nn.Linear)] == [(10, 2), (10, 10), (2, 10)]
