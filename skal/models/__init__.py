"""Probabilistic estimators and the adapters that read samples/embeddings from any model."""

from ._adapters import embed, get_classes, predict_proba_samples
from ._modules import MLP

__all__ = [
    "MLP",
    "embed",
    "get_classes",
    "predict_proba_samples",
]
