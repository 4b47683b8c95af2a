"""Reference segmentation networks: per-pixel logits ``(n, K, H, W)``.

Two fully-convolutional encoder-decoders with skip connections, sized from
the data like the classification modules (``n_classes``, ``in_channels``):

* :class:`SmallUNet`, a small U-Net (Ronneberger et al. 2015) built from
  3x3 convolutions, BatchNorm and ReLU, for small images on a CPU;
* :class:`BackboneUNet`, the same decoder over the stages of a torchvision
  ResNet (randomly initialised: nothing is downloaded), the kind of encoder
  the DPE paper segments BDD100k with.

Both return logits of the input's height and width, whatever it is (the
decoder resizes each upsampled map to its skip connection's size), so
they are members of :class:`~skal.models.DeepProbabilisticEnsemble`,
:class:`~skal.models.DeepEnsemble` and
:class:`~skal.models.MCDropoutClassifier` trained on label maps ``y`` of
shape ``(n, H, W)``. Every layer with parameters is a convolution or a
BatchNorm (upsampling is interpolation, not a transposed convolution), so
the DPE's He prior covers all of them. The output layer is a 1x1
convolution named ``head``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._modules import _conv_bn

__all__ = ["BackboneUNet", "SmallUNet"]


def _as_image_batch(X):
    """``(n, H, W)`` single-channel images become ``(n, 1, H, W)``."""
    if X.dim() == 3:
        return X.unsqueeze(1)
    if X.dim() != 4:
        raise ValueError(
            f"a segmentation network takes images of shape (n, C, H, W) (or (n, H, W)), got "
            f"a tensor of shape {tuple(X.shape)}: pass X as images, not flat rows."
        )
    return X


class _DecoderBlock(nn.Module):
    """Upsample to the skip connection's size, concatenate it, two conv-BN-ReLU."""

    def __init__(self, in_channels, skip_channels, out_channels, dropout=0.0):
        super().__init__()
        self.convs = nn.Sequential(
            *_conv_bn(in_channels + skip_channels, out_channels), *_conv_bn(out_channels, out_channels)
        )
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x, skip):
        x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
        return self.dropout(self.convs(torch.cat([x, skip], dim=1)))


class _Decoder(nn.Module):
    """The U-Net decoder both segmenters share: from the deepest feature map up.

    ``skip_channels`` are the channels of the encoder's outputs, shallowest
    first; stage ``i`` of ``widths`` (deepest first) upsamples to the next
    shallower output, concatenates it and applies two conv-BN-ReLU. Channel
    dropout follows the deepest map and every stage but the last.
    """

    def __init__(self, skip_channels, widths, dropout):
        super().__init__()
        self.bottleneck_dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.blocks = nn.ModuleList()
        width = skip_channels[-1]
        for i, (skip, out) in enumerate(zip(reversed(skip_channels[:-1]), widths)):
            last = i == len(skip_channels) - 2
            self.blocks.append(_DecoderBlock(width, skip, out, 0.0 if last else dropout))
            width = out
        self.out_channels = width

    def forward(self, skips):
        x = self.bottleneck_dropout(skips[-1])
        for block, skip in zip(self.blocks, reversed(skips[:-1])):
            x = block(x, skip)
        return x


def _check_widths(widths, name):
    widths = tuple(widths)
    if not widths or any(int(w) != w or w < 1 for w in widths):
        raise ValueError(f"{name} must be a non-empty sequence of positive ints, got {widths!r}.")
    return tuple(int(w) for w in widths)


class SmallUNet(nn.Module):
    """A small U-Net: per-pixel logits of the input's size.

    Encoder: one stage per entry of ``widths``, each two 3x3 conv-BN-ReLU,
    with a 2x2 max-pool between stages. Decoder: from the deepest stage
    up, upsample (nearest) to the next skip connection's size, concatenate
    it, two 3x3 conv-BN-ReLU. A 1x1 convolution ``head`` gives the logits.
    With ``dropout > 0``, channel dropout follows the bottleneck and every
    decoder stage but the last (the central layers, as in Bayesian SegNet),
    which is what MC dropout samples.

    Parameters
    ----------
    n_classes : int, default=2
        Logits per pixel (background included).
    in_channels : int, default=1
    widths : tuple of int, default=(16, 32, 64)
        Channels of each encoder stage; the last one is the bottleneck.
    dropout : float, default=0.0

    Notes
    -----
    Any height and width work; odd sizes are floored by the max-pool and
    restored by the decoder. Memory and time grow with ``H * W * widths[0]``
    (the first stage runs at full resolution).

    Examples
    --------
    >>> import torch
    >>> from skal.models import SmallUNet
    >>> net = SmallUNet(n_classes=11, widths=(8, 16))
    >>> net(torch.zeros(2, 1, 30, 30)).shape
    torch.Size([2, 11, 30, 30])
    """

    def __init__(self, n_classes=2, in_channels=1, widths=(16, 32, 64), dropout=0.0):
        super().__init__()
        widths = _check_widths(widths, "widths")
        self.encoder = nn.ModuleList()
        width = in_channels
        for w in widths:
            self.encoder.append(nn.Sequential(*_conv_bn(width, w), *_conv_bn(w, w)))
            width = w
        # each decoder stage as wide as the skip connection it meets
        self.decoder = _Decoder(widths, widths[-2::-1], dropout)
        self.head = nn.Conv2d(self.decoder.out_channels, n_classes, kernel_size=1)

    def forward(self, X):
        x = _as_image_batch(X)
        skips = []
        for i, stage in enumerate(self.encoder):
            if i:
                x = F.max_pool2d(x, 2) if min(x.shape[-2:]) >= 2 else x
            x = stage(x)
            skips.append(x)
        return self.head(self.decoder(skips))


#: torchvision ResNet stages, in order of depth.
_RESNET_STAGES = ("layer1", "layer2", "layer3", "layer4")


class BackboneUNet(nn.Module):
    """A U-Net decoder over the stages of a torchvision ResNet.

    The encoder is a randomly initialised torchvision ResNet (no weights
    are downloaded) cut after ``stages`` of its four stages; every stage's
    output, and the stem's, is a skip connection of a decoder that, like
    :class:`SmallUNet`'s, upsamples, concatenates and applies two 3x3
    conv-BN-ReLU of ``decoder_width`` channels. The logits come back at the
    input's size (bilinear upsampling when the stem reduced it).

    Parameters
    ----------
    n_classes : int, default=2
    in_channels : int, default=3
        The stem convolution is rebuilt when it is not 3.
    backbone : str, default="resnet18"
        A torchvision ResNet: "resnet18", "resnet34", "resnet50",
        "resnext50_32x4d", "wide_resnet50_2", ...
    stages : int, default=4
        ResNet stages used, 1 to 4; fewer is cheaper (resnet18's fourth
        stage holds 8 of its 11 million parameters).
    decoder_width : int, default=32
        Channels of every decoder stage.
    small_images : bool, default=True
        A 3x3 stride-1 stem without max-pool (as
        :func:`~skal.models.torchvision_backbone` does for 32x32 images);
        False keeps ImageNet's 7x7 stride-2 stem and max-pool, for large
        images such as BDD100k's.
    dropout : float, default=0.0
        Channel dropout after the deepest stage and every decoder stage but
        the last (for MC dropout).

    Examples
    --------
    >>> import torch
    >>> from skal.models import BackboneUNet
    >>> net = BackboneUNet(n_classes=5, in_channels=1, stages=2)
    >>> net(torch.zeros(2, 1, 24, 24)).shape
    torch.Size([2, 5, 24, 24])
    """

    def __init__(self, n_classes=2, in_channels=3, backbone="resnet18", stages=4, decoder_width=32,
                 small_images=True, dropout=0.0):
        super().__init__()
        import torchvision
        from torchvision.models import ResNet

        if stages not in (1, 2, 3, 4):
            raise ValueError(f"stages must be 1, 2, 3 or 4 (ResNet stages), got {stages!r}.")
        model = torchvision.models.get_model(backbone, weights=None)
        if not isinstance(model, ResNet):
            raise ValueError(
                f"BackboneUNet takes a torchvision ResNet (resnet18, resnet50, "
                f"wide_resnet50_2, resnext50_32x4d, ...); {backbone!r} is a "
                f"{type(model).__name__}."
            )
        if small_images:
            conv1 = nn.Conv2d(in_channels, model.conv1.out_channels, 3, padding=1, bias=False)
            self.stem = nn.Sequential(conv1, model.bn1, model.relu)
        else:
            conv1 = model.conv1
            if in_channels != conv1.in_channels:
                conv1 = nn.Conv2d(in_channels, conv1.out_channels, 7, stride=2, padding=3, bias=False)
            self.stem = nn.Sequential(conv1, model.bn1, model.relu, model.maxpool)
        self.stages = nn.ModuleList(getattr(model, name) for name in _RESNET_STAGES[:stages])
        channels = [model.conv1.out_channels] + [
            _out_channels(stage) for stage in self.stages
        ]
        self.decoder = _Decoder(channels, [decoder_width] * stages, dropout)
        self.head = nn.Conv2d(self.decoder.out_channels, n_classes, kernel_size=1)

    def forward(self, X):
        x = _as_image_batch(X)
        size = x.shape[-2:]
        x = self.stem(x)
        skips = [x]
        for stage in self.stages:
            x = stage(x)
            skips.append(x)
        out = self.head(self.decoder(skips))
        if out.shape[-2:] != size:
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        return out


def _out_channels(stage):
    """Channels a ResNet stage outputs: its last block's last BatchNorm."""
    norms = [m for m in stage.modules() if isinstance(m, nn.BatchNorm2d)]
    return norms[-1].num_features
