"""A tabular problem whose features hide a 2-D layout: images with shuffled pixels.

Every row is a ``side x side`` image flattened and then put through one
fixed permutation of the columns, so that no column order reveals which
features are neighbours. Each image is a smooth random field (white noise
blurred by a Gaussian: neighbouring features correlate) plus the motif of
its class, a short bar of one orientation per class at a random position.
A model that can recover the layout (:class:`skal.preprocessing.TabularToImage`)
and look for a local, translated motif (a CNN) has what a multi-layer
perceptron lacks; nothing guarantees it wins on few labels.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ._validation import check_scalar

__all__ = ["make_local_features"]

# Orientations of the class motifs: (row step, column step) along the bar.
_DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))


def _blur(fields, sigma):
    """Gaussian blur of ``(n, side, side)`` fields, scaled to unit variance.

    Edges are reflected, not wrapped: a wrapped field would correlate
    opposite edges and make the hidden layout a torus.
    """
    from scipy.ndimage import gaussian_filter

    out = gaussian_filter(fields, sigma=(0, sigma, sigma), mode="reflect")
    return out / out.std()


def make_local_features(
    n_samples=1000,
    *,
    side=16,
    n_classes=4,
    motif_length=5,
    motif_strength=1.5,
    smoothness=1.5,
    random_state=None,
):
    """Classification rows that are shuffled images with a local class motif.

    Parameters
    ----------
    n_samples : int, default=1000
    side : int, default=16
        The hidden image is ``side x side``: ``side**2`` features.
    n_classes : int, default=4
        2 to 4: one bar orientation per class (horizontal, vertical, two
        diagonals).
    motif_length : int, default=5
        Pixels in a bar, at most ``side``.
    motif_strength : float, default=1.5
        Value added along the bar, against a background of unit variance.
    smoothness : float, default=1.5
        Standard deviation (pixels) of the Gaussian that blurs the background
        noise: the reach of the correlation between neighbouring features.
    random_state : int, RandomState instance or None, default=None
        Drives the rows, the motif positions and the column permutation.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``X`` (n_samples, side**2) float32 rows, ``y`` (n_samples,) int64
        classes, ``permutation`` (side**2,): column ``j`` of ``X`` is pixel
        ``permutation[j]`` (row-major) of the hidden image, and ``side``.

    Examples
    --------
    >>> from skal.datasets import make_local_features
    >>> data = make_local_features(50, side=8, random_state=0)
    >>> data.X.shape, sorted(set(data.y.tolist()))
    ((50, 64), [0, 1, 2, 3])
    """
    n_samples = check_scalar(n_samples, "n_samples", numbers.Integral, min_val=1)
    side = check_scalar(side, "side", numbers.Integral, min_val=2)
    n_classes = check_scalar(n_classes, "n_classes", numbers.Integral, min_val=2,
                             max_val=len(_DIRECTIONS))
    motif_length = check_scalar(motif_length, "motif_length", numbers.Integral, min_val=1,
                                max_val=side, hint="A bar must fit in the image.")
    motif_strength = check_scalar(motif_strength, "motif_strength", numbers.Real, min_val=0)
    smoothness = check_scalar(smoothness, "smoothness", numbers.Real, min_val=0,
                              include_boundaries="neither")
    rng = check_random_state(random_state)

    y = np.arange(n_samples) % n_classes
    y = y[rng.permutation(n_samples)]
    images = _blur(rng.standard_normal((n_samples, side, side)), smoothness)
    steps = np.arange(motif_length)
    for i, label in enumerate(y):
        dr, dc = _DIRECTIONS[label]
        # a start from which the whole bar stays inside the image
        rows = rng.randint(0, side - dr * (motif_length - 1))
        low = max(0, -dc * (motif_length - 1))
        cols = rng.randint(low, side - max(0, dc) * (motif_length - 1))
        images[i, rows + dr * steps, cols + dc * steps] += motif_strength
    permutation = rng.permutation(side * side)
    X = images.reshape(n_samples, -1)[:, permutation].astype(np.float32)
    return Bunch(X=X, y=y.astype(np.int64), permutation=permutation, side=side)
