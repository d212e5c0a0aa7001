"""The autoencoders: the paper's convolutional one with branch layers, and a small MLP one.

Every model has ``encode(x) -> (B, latent_dim)``, ``decode(z)`` and ``forward(x) -> (x_hat, z)``,
and is rebuilt from ``(name, kwargs)`` alone (see :func:`build_model`), which is what
checkpoints store.
"""
from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["BranchLinear", "CorelAutoencoder", "MLPAutoencoder", "MODELS", "StackedEncoder", "build_model", "encoder_stack_split", "stack_split"]


class BranchLinear(nn.Module):
    """A block-diagonal linear layer: branch k maps its own input slice to its own output slice.

    ``(B, n_branches * in_features) -> (B, n_branches * out_features)``; branch k sees only the
    inputs ``[k * in_features, (k + 1) * in_features)``. Each block is initialised like an
    ``nn.Linear(in_features, out_features)``.
    """

    def __init__(self, n_branches: int, in_features: int, out_features: int, bias: bool = True):
        super().__init__()
        self.n_branches, self.in_features, self.out_features = n_branches, in_features, out_features
        self.weight = nn.Parameter(torch.empty(n_branches, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(n_branches, out_features)) if bias else None
        bound = 1.0 / math.sqrt(in_features)  # nn.Linear's default (kaiming_uniform with a=sqrt(5))
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_autocast_enabled(x.device.type):
            # In the weights' dtype also under mixed-precision training: the codes feed the
            # persistence, whose death times bfloat16 would round to 2-3 digits.
            with torch.autocast(x.device.type, enabled=False):
                return self._branches(x.to(self.weight.dtype))
        return self._branches(x)

    def _branches(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        xb = x.reshape(b, self.n_branches, self.in_features)            # (B, branches, in)
        y = torch.einsum("bki,koi->bko", xb, self.weight)               # (B, branches, out)
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(b, self.n_branches * self.out_features)

    def extra_repr(self) -> str:
        return f"n_branches={self.n_branches}, in_features={self.in_features}, out_features={self.out_features}"


class CorelAutoencoder(nn.Module):
    """The convolutional autoencoder of the COREL experiments (Hofer et al., ICML 2019).

    Encoder: three Conv2d(k3, s2, p1) + LeakyReLU, flatten (channel-major), BranchLinear to
    ``n_branches x branch_dim`` with no activation. Decoder: BranchLinear back, reshape, three
    ConvTranspose2d(k3, s2, p1, output_padding 1), ReLU between, no final activation.

    Parameters
    ----------
    in_channels : int
        3 for RGB, 1 for grey images.
    image_size : int
        Input height = width; must be divisible by 2 ** len(channels).
    channels : tuple of int
        Output channels of the encoder's conv layers (the paper: 32, 64, 128).
    n_branches, branch_dim : int
        The latent code has ``n_branches * branch_dim`` dims (the paper: 16 x 10).
    """

    def __init__(self, in_channels: int = 3, image_size: int = 32, channels=(32, 64, 128),
                 n_branches: int = 16, branch_dim: int = 10):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        scale = 2 ** len(channels)
        if image_size % scale:
            raise ValueError(f"image_size={image_size} must be divisible by 2**len(channels)={scale}.")
        self.side = image_size // scale
        flat = channels[-1] * self.side * self.side
        if flat % n_branches:
            raise ValueError(f"The encoder's flattened size {flat} ({channels[-1]} x {self.side} x {self.side}) "
                             f"is not divisible by n_branches={n_branches}.")
        self.in_channels, self.image_size, self.channels = in_channels, image_size, channels
        self.n_branches, self.branch_dim = n_branches, branch_dim
        self.latent_dim = n_branches * branch_dim

        enc: list[nn.Module] = []
        for c_in, c_out in zip((in_channels,) + channels[:-1], channels):
            enc += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.LeakyReLU()]
        self.encoder_conv = nn.Sequential(*enc)
        self.encoder_fc = BranchLinear(n_branches, flat // n_branches, branch_dim)
        self.decoder_fc = BranchLinear(n_branches, branch_dim, flat // n_branches)
        dec: list[nn.Module] = []
        outs = channels[::-1][1:] + (in_channels,)
        for k, (c_in, c_out) in enumerate(zip(channels[::-1], outs)):
            dec.append(nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1))
            if k < len(channels) - 1:
                dec.append(nn.ReLU())
        self.decoder_conv = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1:] != (self.in_channels, self.image_size, self.image_size):
            raise ValueError(f"CorelAutoencoder expects images of shape (B, {self.in_channels}, {self.image_size}, "
                             f"{self.image_size}); got {tuple(x.shape)}. Resize the data (image_size) or build "
                             f"the model with matching in_channels / image_size.")
        return self.encoder_fc(self.encoder_conv(x).flatten(1))          # (B, latent_dim)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.decoder_fc(z).reshape(z.shape[0], self.channels[-1], self.side, self.side)
        return self.decoder_conv(h)                                       # (B, C, H, W)

    def forward(self, x: torch.Tensor):
        z = self.encode(x)
        return self.decode(z), z


class MLPAutoencoder(nn.Module):
    """A fully connected autoencoder for vector data and the 2-D toy (LeakyReLU between layers).

    ``MLPAutoencoder(2, hidden=(10, 10), latent_dim=2)`` is the toy's 2-10-10-2 encoder.
    Inputs of any shape (B, ...) are flattened; reconstructions are returned in that shape.
    """

    def __init__(self, in_dim: int, hidden=(10, 10), latent_dim: int = 2, n_branches: int = 1):
        super().__init__()
        hidden = tuple(int(h) for h in hidden)
        if latent_dim % n_branches:
            raise ValueError(f"latent_dim={latent_dim} is not divisible by n_branches={n_branches}.")
        self.in_dim, self.hidden, self.latent_dim, self.n_branches = in_dim, hidden, latent_dim, n_branches
        self.branch_dim = latent_dim // n_branches
        self.encoder = _mlp((in_dim,) + hidden + (latent_dim,))
        self.decoder = _mlp((latent_dim,) + hidden[::-1] + (in_dim,))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        if x.shape[1] != self.in_dim:
            raise ValueError(f"MLPAutoencoder expects {self.in_dim} input features; got {x.shape[1]}.")
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor):
        z = self.encode(x)
        return self.decode(z).reshape(x.shape), z


def _mlp(sizes) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if k < len(sizes) - 2:
            layers.append(nn.LeakyReLU())
    return nn.Sequential(*layers)


class StackedEncoder(nn.Module):
    """Trained encoders side by side: the code of an image is its parts' codes concatenated.

    Each part keeps its own branches, so a stack of a 16-branch and a 16-branch model has 32
    branches of the same width, and every scorer (a sum over branches) adds the parts' scores:
    what one recipe misses the other may see. Scoring only (``encode``); the parts are trained
    on their own by ``corel train`` and stacked by ``corel stack``.

    Parameters
    ----------
    parts : list of dict
        ``{"model_name": ..., "model_args": {...}}`` of each part, in order.
    n_branches, image_size, in_channels : int, optional
        What the stack's users read off a checkpoint (the branches in all, the images it takes);
        checked against the parts when given.
    """

    def __init__(self, parts, n_branches: int | None = None, image_size: int | None = None,
                 in_channels: int | None = None):
        super().__init__()
        if len(parts) < 2:
            raise ValueError(f"A stack needs at least 2 encoders; got {len(parts)}.")
        self.parts = nn.ModuleList(build_model(p["model_name"], **p["model_args"]) for p in parts)
        widths = {m.branch_dim for m in self.parts}
        if len(widths) != 1:
            raise ValueError(f"The encoders' branches have different widths {sorted(widths)}; stack models whose "
                             f"branch_dim is the same (the scorers compare branch by branch).")
        self.branch_dim = widths.pop()
        self.n_branches = sum(m.n_branches for m in self.parts)
        self.latent_dim = self.n_branches * self.branch_dim
        inputs = {(getattr(m, "image_size", None), getattr(m, "in_channels", None)) for m in self.parts}
        if len(inputs) != 1:
            raise ValueError(f"The encoders take different images (size, channels) {sorted(inputs, key=str)}; "
                             f"stack models trained on the same kind of images.")
        self.image_size, self.in_channels = inputs.pop()
        for name, given in (("n_branches", n_branches), ("image_size", image_size), ("in_channels", in_channels)):
            if given is not None and given != getattr(self, name):
                raise ValueError(f"The stack declares {name}={given} but its parts give {getattr(self, name)}.")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([m.encode(x) for m in self.parts], dim=1)

    def forward(self, x: torch.Tensor):
        raise TypeError("A StackedEncoder only encodes (it has no decoder to train); train its parts with "
                        "`corel train` and stack them again.")


def stack_split(model_name: str, model_args: dict) -> int:
    """The first encoder's branches in a stack of exactly two encoders (where a fused score cuts the
    code), else 0."""
    if model_name != "stack" or len(model_args.get("parts", ())) != 2:
        return 0
    return int(model_args["parts"][0]["model_args"]["n_branches"])


def encoder_stack_split(model) -> int:
    """:func:`stack_split` of a built encoder: the first part's branches of a StackedEncoder of two, else 0."""
    if isinstance(model, StackedEncoder) and len(model.parts) == 2:
        return int(model.parts[0].n_branches)
    return 0


MODELS = {"conv": CorelAutoencoder, "mlp": MLPAutoencoder, "stack": StackedEncoder}


def build_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model from its name and constructor arguments (what checkpoints store)."""
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}; choose one of {sorted(MODELS)}.")
    return MODELS[name](**kwargs)
