"""Probabilistic estimators and the adapters that read samples/embeddings from any model.

The deep estimators classify (``y`` of shape ``(n,)``) or segment (label
maps ``y`` of shape ``(n, H, W)``, with a module returning per-pixel
logits such as :class:`SmallUNet` or :class:`BackboneUNet`).
"""

from ._adapters import embed, get_classes, input_features, predict_proba_samples
from ._dpe import DeepProbabilisticEnsemble
from ._ensemble import DeepEnsemble
from ._mc_dropout import MCDropoutClassifier
from ._segmentation import BackboneUNet, SmallUNet
from ._modules import (
    MLP,
    GalCNN,
    SmallCNN,
    SmallResNet,
    find_head,
    torchvision_backbone,
)

__all__ = [
    "BackboneUNet",
    "DeepEnsemble",
    "DeepProbabilisticEnsemble",
    "GalCNN",
    "MCDropoutClassifier",
    "MLP",
    "SmallCNN",
    "SmallResNet",
    "SmallUNet",
    "find_head",
    "torchvision_backbone",
    "embed",
    "get_classes",
    "input_features",
    "predict_proba_samples",
]
