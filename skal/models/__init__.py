"""Probabilistic estimators and the adapters that read samples/embeddings from any model.

The deep estimators classify (``y`` of shape ``(n,)``) or segment (label
maps ``y`` of shape ``(n, H, W)``, with a module returning per-pixel
logits such as :class:`SmallUNet` or :class:`BackboneUNet`).
"""

from ._adapters import embed, get_classes, input_features, predict_proba_samples
from ._adversarial import MAL, VAAL
from ._bayes_by_backprop import BayesByBackpropClassifier
from ._bayesian_layers import BayesianConv2d, BayesianLinear, bayesian_module, kl_divergence
from ._dpe import DeepProbabilisticEnsemble
from ._dynamics import (
    TrainingDynamics,
    forgetting_events_from_history,
    label_dispersion_from_history,
)
from ._ensemble import DeepEnsemble
from ._learning_loss import LearningLossClassifier, LossPredictionModule, pairwise_ranking_loss
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
from ._snapshot import SnapshotEnsemble
from ._vae_acgan import VAEACGAN

__all__ = [
    "BackboneUNet",
    "BayesByBackpropClassifier",
    "BayesianConv2d",
    "BayesianLinear",
    "DeepEnsemble",
    "DeepProbabilisticEnsemble",
    "GalCNN",
    "LearningLossClassifier",
    "LossPredictionModule",
    "MAL",
    "MCDropoutClassifier",
    "MLP",
    "SmallCNN",
    "SmallResNet",
    "SmallUNet",
    "SnapshotEnsemble",
    "VAEACGAN",
    "TrainingDynamics",
    "VAAL",
    "find_head",
    "forgetting_events_from_history",
    "torchvision_backbone",
    "bayesian_module",
    "embed",
    "get_classes",
    "input_features",
    "kl_divergence",
    "label_dispersion_from_history",
    "pairwise_ranking_loss",
    "predict_proba_samples",
]
