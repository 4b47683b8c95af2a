"""Probabilistic estimators and the adapters that read samples/embeddings from any model."""

from ._adapters import embed, get_classes, input_features, predict_proba_samples
from ._adversarial import MAL, VAAL
from ._dpe import DeepProbabilisticEnsemble
from ._dynamics import (
    TrainingDynamics,
    forgetting_events_from_history,
    label_dispersion_from_history,
)
from ._ensemble import DeepEnsemble
from ._learning_loss import LearningLossClassifier, LossPredictionModule, pairwise_ranking_loss
from ._mc_dropout import MCDropoutClassifier
from ._modules import (
    MLP,
    GalCNN,
    SmallCNN,
    SmallResNet,
    find_head,
    torchvision_backbone,
)

__all__ = [
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
    "TrainingDynamics",
    "VAAL",
    "find_head",
    "forgetting_events_from_history",
    "torchvision_backbone",
    "embed",
    "get_classes",
    "input_features",
    "label_dispersion_from_history",
    "pairwise_ranking_loss",
    "predict_proba_samples",
]
