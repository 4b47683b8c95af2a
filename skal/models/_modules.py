"""Reference torch modules.

Every module returns **logits** (no softmax): skal trains them with
``CrossEntropyLoss`` and its skorch nets apply the softmax at prediction.
The last layer is an ``nn.Linear`` named ``head`` whose input is the
penultimate-layer embedding ``phi(x)`` that diversity strategies use.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["MLP", "GalCNN", "SmallCNN", "SmallResNet", "torchvision_backbone", "find_head"]


class MLP(nn.Module):
    """Multi-layer perceptron for tabular data.

    Parameters
    ----------
    n_features : int
        Number of input features.
    n_classes : int
        Number of output logits.
    hidden_units : tuple of int, default=(128,)
        Width of each hidden layer.
    dropout : float, default=0.0
        Dropout probability after each hidden activation (MC dropout uses it).
    activation : type of nn.Module, default=nn.ReLU

    Examples
    --------
    >>> import torch
    >>> from skal.models import MLP
    >>> MLP(n_features=4, n_classes=3)(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """

    def __init__(self, n_features, n_classes, hidden_units=(128,), dropout=0.0, activation=nn.ReLU):
        super().__init__()
        layers = []
        width = n_features
        for units in hidden_units:
            layers += [nn.Linear(width, units), activation()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = units
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_classes)

    def forward(self, X):
        return self.head(self.body(X.flatten(1)))


def _as_images(X, in_channels, image_size=None):
    """Reshape flat rows ``(n, C*H*W)`` to square images ``(n, C, H, W)``.

    skal's estimators validate inputs as 2-D arrays by default, so image
    modules accept flat pixels as well as image batches.
    """
    if X.dim() != 2:
        return X
    n, d = X.shape
    side = image_size if image_size is not None else math.isqrt(d // max(in_channels, 1))
    if in_channels * side * side != d:
        raise ValueError(
            f"cannot read rows of {d} values as {in_channels}-channel square images: "
            f"pass X of shape (n, {in_channels}, H, W) or rows of {in_channels}*H*H values."
        )
    return X.reshape(n, in_channels, side, side)


class GalCNN(nn.Module):
    """The MNIST network of Gal, Islam & Ghahramani (2017), "Deep Bayesian active learning".

    conv(32, 4x4) - ReLU - conv(32, 4x4) - ReLU - max-pool(2) - dropout(0.25) -
    dense(128) - ReLU - dropout(0.5) - ``head``. The first dropout sits after
    the convolutions, so MC dropout computes them once per batch.

    Parameters
    ----------
    n_classes : int, default=10
        Number of output logits.
    in_channels : int, default=1
    image_size : int, default=28
        Height (= width) of the input images.
    dropout : tuple of two floats, default=(0.25, 0.5)
        Dropout probabilities after the convolutions and after the dense layer.

    Notes
    -----
    Input: ``(n, in_channels, image_size, image_size)`` or flat rows of
    ``in_channels * image_size**2`` values (reshaped).

    Examples
    --------
    >>> import torch
    >>> from skal.models import GalCNN
    >>> GalCNN()(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    >>> GalCNN()(torch.zeros(2, 784)).shape
    torch.Size([2, 10])
    """

    def __init__(self, n_classes=10, in_channels=1, image_size=28, dropout=(0.25, 0.5)):
        super().__init__()
        self.in_channels = in_channels
        self.image_size = image_size
        side = (image_size - 3 - 3) // 2
        if side < 1:
            raise ValueError(f"image_size={image_size} is too small for GalCNN (needs >= 8).")
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 32, kernel_size=4),
            nn.ReLU(),
            nn.Conv2d(32, 32, kernel_size=4),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(dropout[0]),
            nn.Flatten(),
            nn.Linear(32 * side * side, 128),
            nn.ReLU(),
            nn.Dropout(dropout[1]),
        )
        self.head = nn.Linear(128, n_classes)

    def forward(self, X):
        return self.head(self.body(_as_images(X, self.in_channels, self.image_size)))


class _PooledImageClassifier(nn.Module):
    """Convolutional ``body`` ending in global average pooling, then a linear ``head``."""

    def _set_body_and_head(self, layers, width, n_classes, dropout):
        layers = [*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_classes)

    def forward(self, X):
        return self.head(self.body(_as_images(X, self.in_channels)))


def _conv_bn(in_channels, out_channels, stride=1):
    return [
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    ]


class SmallCNN(_PooledImageClassifier):
    """A VGG-style CNN with batch normalisation for 32x32 images (CIFAR-10 size).

    Each stage is two 3x3 convolutions (BatchNorm, ReLU) and a 2x2
    max-pool (rounding odd sides up, so that images as small as 1x1 go
    through every stage); global average pooling and an optional dropout
    precede the ``head``.

    Parameters
    ----------
    n_classes : int, default=10
    in_channels : int, default=3
    widths : tuple of int, default=(32, 64, 128)
        Channels of each stage.
    dropout : float, default=0.0
        Dropout before the head (set it > 0 for MC dropout).

    Examples
    --------
    >>> import torch
    >>> from skal.models import SmallCNN
    >>> SmallCNN(n_classes=10)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(self, n_classes=10, in_channels=3, widths=(32, 64, 128), dropout=0.0):
        super().__init__()
        self.in_channels = in_channels
        layers = []
        width = in_channels
        for w in widths:
            # ceil_mode: an odd side rounds up, so small images (a 6x6
            # TabularToImage layout) keep a pixel through every stage
            layers += _conv_bn(width, w) + _conv_bn(w, w) + [nn.MaxPool2d(2, ceil_mode=True)]
            width = w
        self._set_body_and_head(layers, width, n_classes, dropout)


class _BasicBlock(nn.Module):
    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, X):
        out = torch.relu(self.bn1(self.conv1(X)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(X))


class SmallResNet(_PooledImageClassifier):
    """A small ResNet for 32x32 images (the CIFAR variant of He et al. 2016).

    3x3 stem, then one stage per entry of ``widths`` (the first at stride 1,
    the others at stride 2) of ``blocks_per_stage`` basic blocks, global
    average pooling, optional dropout, ``head``. With the defaults it is a
    ResNet-8 (about 78k parameters).

    Parameters
    ----------
    n_classes : int, default=10
    in_channels : int, default=3
    widths : tuple of int, default=(16, 32, 64)
    blocks_per_stage : int, default=1
    dropout : float, default=0.0
        Dropout before the head (set it > 0 for MC dropout).

    Examples
    --------
    >>> import torch
    >>> from skal.models import SmallResNet
    >>> SmallResNet(n_classes=10)(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    def __init__(self, n_classes=10, in_channels=3, widths=(16, 32, 64), blocks_per_stage=1,
                 dropout=0.0):
        super().__init__()
        self.in_channels = in_channels
        layers = _conv_bn(in_channels, widths[0])
        width = widths[0]
        for i, w in enumerate(widths):
            for b in range(blocks_per_stage):
                stride = 2 if (i > 0 and b == 0) else 1
                layers.append(_BasicBlock(width, w, stride))
                width = w
        self._set_body_and_head(layers, width, n_classes, dropout)


class _Backbone(nn.Module):
    """A torchvision classifier split into ``body`` (features) and ``head``."""

    def __init__(self, body, head, in_channels, dropout):
        super().__init__()
        self.in_channels = in_channels
        self.body = body
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = head

    def forward(self, X):
        return self.head(self.dropout(self.body(_as_images(X, self.in_channels))))


def torchvision_backbone(name="resnet18", n_classes=10, in_channels=3, small_images=True,
                         dropout=0.0, **kwargs):
    """A torchvision architecture, randomly initialised, with a skal ``head``.

    Parameters
    ----------
    name : str, default="resnet18"
        Any name :func:`torchvision.models.get_model` knows ("resnet18",
        "resnet34", "wide_resnet50_2", "densenet121", "mobilenet_v2", ...).
    n_classes : int, default=10
    in_channels : int, default=3
        Channels of the input images (the first convolution is rebuilt when
        it is not 3).
    small_images : bool, default=True
        Adapt the stem to 32x32 inputs as is usual for CIFAR: the first
        convolution becomes 3x3 with stride 1, and the stem max-pool of
        ResNet/DenseNet models is removed. Without this, a ResNet reduces a
        32x32 image to 1x1 after its second stage.
    dropout : float, default=0.0
        Dropout before the head (set it > 0 for MC dropout).
    **kwargs
        Passed to :func:`torchvision.models.get_model`.

    Returns
    -------
    module : nn.Module
        ``body`` (the torchvision model with its last ``nn.Linear`` replaced
        by an identity) and ``head`` (a new ``nn.Linear``). No pretrained
        weights are loaded (no download happens).

    Examples
    --------
    >>> import torch
    >>> from skal.models import torchvision_backbone
    >>> net = torchvision_backbone("resnet18", n_classes=10)
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    >>> net.head.in_features
    512
    """
    # Imported here so that ``import skal`` does not load torchvision.
    import torchvision

    model = torchvision.models.get_model(name, weights=None, **kwargs)
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError(f"torchvision model {name!r} has no Conv2d layer to adapt.")
    stem_name, stem = convs[0]
    if small_images or in_channels != stem.in_channels:
        kernel, stride, padding = (
            ((3, 3), 1, 1) if small_images else (stem.kernel_size, stem.stride, stem.padding)
        )
        model.set_submodule(
            stem_name,
            nn.Conv2d(in_channels, stem.out_channels, kernel, stride=stride, padding=padding,
                      bias=stem.bias is not None),
        )
    if small_images:
        # The stem max-pool (ResNet family: ``maxpool``, DenseNet: ``features.pool0``)
        # would quarter a 32x32 image before the first block.
        for pool_name in ("maxpool", "features.pool0"):
            try:
                model.get_submodule(pool_name)
            except AttributeError:
                continue
            model.set_submodule(pool_name, nn.Identity())
    head_name, last = find_head(model, return_name=True)
    model.set_submodule(head_name, nn.Identity())
    return _Backbone(model, nn.Linear(last.in_features, n_classes), in_channels, dropout)


def find_head(module, *, return_name=False):
    """The layer whose input is the penultimate-layer embedding of ``module``.

    A submodule named ``head`` when there is one (skal's reference modules),
    otherwise the last ``nn.Linear`` in registration order.

    Parameters
    ----------
    module : nn.Module
    return_name : bool, default=False
        Also return the qualified name of the layer in ``module``.

    Returns
    -------
    head : nn.Module, or (name, head) if ``return_name``

    Examples
    --------
    >>> from torch import nn
    >>> from skal.models import find_head
    >>> find_head(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)))
    Linear(in_features=8, out_features=2, bias=True)
    """
    head = getattr(module, "head", None)
    if isinstance(head, nn.Module):
        return ("head", head) if return_name else head
    linears = [(n, m) for n, m in module.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(
            f"{type(module).__name__} has neither a submodule named 'head' nor an "
            "nn.Linear layer: name the output layer 'head' so skal can read the embedding."
        )
    name, head = linears[-1]
    return (name, head) if return_name else head
