"""Acquisition measures: pure functions on predictive samples.

Every point-wise measure takes the class probabilities of S samples
(ensemble members, MC-dropout passes, committee members) for n points, an
array of shape ``(S, n, K)``, and returns one score per point, shape
``(n,)``; higher means "query first". A 2-D ``(n, K)`` array is read as a
single sample (S = 1). NumPy arrays give NumPy arrays and torch tensors give
torch tensors (on the same device), so a measure can run on a GPU next to
the model that produced the samples.

Entropies use ``0 log 0 = 0`` (``torch.special.entr`` for tensors; for
NumPy ``p · log(max(p, tiny))``, exact for positive p and twice as fast as
``scipy.special.entr``): one-hot or zero probabilities never produce NaN.
Sums over samples are accumulated one sample at a time, so no measure
allocates more than a few ``(n, K)`` temporaries on top of its input.

Notation: ``p̄ = mean_s p_s``, ``H(p) = -Σ_y p(y) log p(y)`` (nats).

Two families:

* point-wise scores (``_pointwise.py``): least confident, margin, entropy,
  the committee measures, BALD, variation ratios, mean STD. Those that
  measure the disagreement between samples (vote entropy, max
  disagreement, BALD, variation ratios, mean STD) carry
  ``needs_samples = True``: with one sample they are 0 everywhere;
* joint entropies of several points' labels (``_joint.py``): the
  :class:`JointConfigurations` state of BatchBALD, :func:`joint_entropy`
  and :func:`joint_mutual_information`.

Segmenters give samples ``(S, n, K, H, W)``; ``_pooling.py`` applies any
point-wise measure to every pixel (:func:`pixel_scores`) and pools the
maps to one score per image (:func:`pool_pixels`, :class:`PixelPooling`:
mean, mean of the top pixels, class-balanced mean).
"""

from ._joint import JointConfigurations, joint_entropy, joint_mutual_information
from ._pooling import PixelPooling, check_pixel_pooling, pixel_scores, pool_pixels, score_images
from ._pointwise import (
    bald,
    consensus_entropy,
    entropy,
    expected_entropy,
    least_confident,
    margin,
    max_disagreement,
    mean_std,
    var_ratios,
    vote_entropy,
)

__all__ = [
    "JointConfigurations",
    "PixelPooling",
    "bald",
    "check_pixel_pooling",
    "consensus_entropy",
    "entropy",
    "expected_entropy",
    "joint_entropy",
    "joint_mutual_information",
    "least_confident",
    "margin",
    "max_disagreement",
    "mean_std",
    "pixel_scores",
    "pool_pixels",
    "score_images",
    "var_ratios",
    "vote_entropy",
]
