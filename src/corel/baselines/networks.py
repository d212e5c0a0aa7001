"""The networks of the deep baselines, as plain ``nn.Module``s.

* :class:`LeNetEncoder`, :class:`LeNetAutoencoder`: Deep SVDD's CIFAR-10 LeNet-type network
  (Ruff et al. 2018; their PyTorch code's ``CIFAR10_LeNet``): three 5x5 conv layers (32, 64,
  128 channels, padding 2, no bias), each followed by BatchNorm without affine parameters
  (eps 1e-4), LeakyReLU and 2x2 max-pooling; a bias-free linear layer to a 128-dim
  representation. No bias terms anywhere (a bias would let the network map everything onto the
  centre). The autoencoder's decoder mirrors it with transposed convolutions and nearest
  upsampling, ending in a sigmoid.
* :class:`ConvEncoder`, :class:`ConvDecoder`: the convolutional encoder / decoder of Golan &
  El-Yaniv's code, which their DSEBM and DAGMM runs use (3x3 stride-2 convs with 64, 128, 256
  channels, BatchNorm, ReLU; a dense layer to the representation; the decoder mirrors it with
  transposed convs and ends in tanh).
* :class:`WideResNet`: WRN-d-k (Zagoruyko & Komodakis 2016) as in Golan & El-Yaniv's code:
  pre-activation basic blocks, a 1x1 conv shortcut when the width changes, global average
  pooling, a dense layer to the logits; He-normal conv init, BatchNorm momentum 0.1 (Keras 0.9).

All accept any image side divisible by 8 (WRN: by 4), so the bundled 8 x 8 digits work too.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LeNetEncoder", "LeNetAutoencoder", "ConvEncoder", "ConvDecoder", "WideResNet"]


def _check_side(shape, multiple: int, owner: str) -> tuple[int, int, int]:
    c, h, w = (int(v) for v in shape)
    if h % multiple or w % multiple or h < multiple or w < multiple:
        raise ValueError(f"{owner} needs image sides divisible by {multiple}; got {h} x {w}. Resize the images "
                         f"(e.g. image_size=32).")
    return c, h, w


class LeNetEncoder(nn.Module):
    """Deep SVDD's CIFAR-10 network: (B, C, H, W) -> (B, rep_dim), no bias terms."""

    def __init__(self, in_shape=(3, 32, 32), rep_dim: int = 128, channels=(32, 64, 128)):
        super().__init__()
        c, h, w = _check_side(in_shape, 8, "LeNetEncoder")
        self.in_shape, self.rep_dim, self.channels = (c, h, w), rep_dim, tuple(channels)
        layers: list[nn.Module] = []
        for c_in, c_out in zip((c,) + self.channels[:-1], self.channels):
            conv = nn.Conv2d(c_in, c_out, 5, padding=2, bias=False)
            nn.init.xavier_uniform_(conv.weight, gain=nn.init.calculate_gain("leaky_relu"))
            layers += [conv, nn.BatchNorm2d(c_out, eps=1e-4, affine=False), nn.LeakyReLU(), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers)
        self.side = (h // 8, w // 8)
        self.fc = nn.Linear(self.channels[-1] * self.side[0] * self.side[1], rep_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).flatten(1))                          # (B, rep_dim)


class LeNetAutoencoder(nn.Module):
    """Deep SVDD's pretraining autoencoder; ``encoder`` is the Deep SVDD network itself."""

    def __init__(self, in_shape=(3, 32, 32), rep_dim: int = 128, channels=(32, 64, 128)):
        super().__init__()
        self.encoder = LeNetEncoder(in_shape, rep_dim, channels)
        sh, sw = self.encoder.side
        if rep_dim % (sh * sw):
            raise ValueError(f"rep_dim={rep_dim} must be divisible by the final feature map size {sh} x {sw}.")
        self.code_channels = rep_dim // (sh * sw)
        self.bn_code = nn.BatchNorm1d(rep_dim, eps=1e-4, affine=False)
        c = self.encoder.in_shape[0]
        widths = tuple(channels)[::-1]                                      # 128, 64, 32
        layers: list[nn.Module] = []
        for c_in, c_out in zip((self.code_channels,) + widths[:-1], widths):
            deconv = nn.ConvTranspose2d(c_in, c_out, 5, padding=2, bias=False)
            nn.init.xavier_uniform_(deconv.weight, gain=nn.init.calculate_gain("leaky_relu"))
            layers += [deconv, nn.BatchNorm2d(c_out, eps=1e-4, affine=False), nn.LeakyReLU(),
                       nn.Upsample(scale_factor=2, mode="nearest")]
        last = nn.ConvTranspose2d(widths[-1], c, 5, padding=2, bias=False)
        nn.init.xavier_uniform_(last.weight, gain=nn.init.calculate_gain("leaky_relu"))
        self.decoder = nn.Sequential(*layers, last, nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.bn_code(self.encoder(x))                                  # (B, rep_dim)
        sh, sw = self.encoder.side
        h = F.leaky_relu(z.view(z.shape[0], self.code_channels, sh, sw))
        return self.decoder(h)                                               # (B, C, H, W)


class ConvEncoder(nn.Module):
    """Golan & El-Yaniv's ``conv_encoder``: 3 x (conv 3x3 s2, BN, ReLU), dense to ``rep_dim``."""

    def __init__(self, in_shape=(3, 32, 32), rep_dim: int = 256, width: int = 64, activation: str = "linear"):
        super().__init__()
        c, h, w = _check_side(in_shape, 8, "ConvEncoder")
        if activation not in ("linear", "relu", "tanh"):
            raise ValueError(f"activation must be 'linear', 'relu' or 'tanh'; got {activation!r}.")
        widths = (width, 2 * width, 4 * width)
        layers: list[nn.Module] = []
        for c_in, c_out in zip((c,) + widths[:-1], widths):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.side = (h // 8, w // 8)
        self.fc = nn.Linear(widths[-1] * self.side[0] * self.side[1], rep_dim)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.fc(self.features(x).flatten(1))                             # (B, rep_dim)
        if self.activation == "relu":
            return F.relu(z)
        return torch.tanh(z) if self.activation == "tanh" else z


class ConvDecoder(nn.Module):
    """Golan & El-Yaniv's ``conv_decoder``: dense, BN, ReLU, 3 transposed convs, tanh output."""

    def __init__(self, out_shape=(3, 32, 32), rep_dim: int = 256, width: int = 64):
        super().__init__()
        c, h, w = _check_side(out_shape, 8, "ConvDecoder")
        self.side = (h // 8, w // 8)
        self.top = 4 * width
        self.fc = nn.Sequential(nn.Linear(rep_dim, self.top * self.side[0] * self.side[1]),
                                nn.BatchNorm1d(self.top * self.side[0] * self.side[1]), nn.ReLU())
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(4 * width, 2 * width, 3, stride=2, padding=1, output_padding=1),
            nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 3, stride=2, padding=1, output_padding=1),
            nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, c, 3, stride=2, padding=1, output_padding=1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], self.top, *self.side)
        return self.deconv(h)                                                # (B, C, H, W)


class _WideBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, dropout: float):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in, eps=1e-5, momentum=0.1)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out, eps=1e-5, momentum=0.1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.shortcut = None if (c_in == c_out and stride == 1) else nn.Conv2d(c_in, c_out, 1, stride=stride,
                                                                                bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = F.relu(self.bn1(x))
        y = self.conv2(self.dropout(F.relu(self.bn2(self.conv1(o)))))
        return y + (x if self.shortcut is None else self.shortcut(o))


class WideResNet(nn.Module):
    """WRN-depth-widen_factor classifier: (B, C, H, W) -> (B, num_classes) logits.

    ``depth = 6 n + 4`` (n blocks per group); widths 16, 16k, 32k, 64k; groups at strides 1, 2, 2.
    WRN-16-8 has n = 2 and widths 128, 256, 512; WRN-10-1 (our CPU profile) n = 1, widths 16, 32, 64.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 72, depth: int = 16, widen_factor: int = 8,
                 dropout: float = 0.0):
        super().__init__()
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, ...); got {depth!r}.")
        if isinstance(widen_factor, bool) or not isinstance(widen_factor, int) or widen_factor < 1:
            raise ValueError(f"WideResNet widen_factor must be an int >= 1; got {widen_factor!r}.")
        n = (depth - 4) // 6
        widths = (16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor)
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        blocks: list[nn.Module] = []
        c_in = widths[0]
        for c_out, stride in zip(widths[1:], (1, 2, 2)):
            for i in range(n):
                blocks.append(_WideBlock(c_in, c_out, stride if i == 0 else 1, dropout))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(c_in, eps=1e-5, momentum=0.1)
        self.fc = nn.Linear(c_in, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")   # std sqrt(2 / fan_in)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.in_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn(self.blocks(self.conv1(x))))                      # (B, 64k, H/4, W/4)
        return self.fc(h.mean((2, 3)))                                       # (B, num_classes)
