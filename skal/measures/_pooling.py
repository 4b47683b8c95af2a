"""Acquisition on pixel maps: any point-wise measure per pixel, pooled to one score per image.

A segmenter's predictive samples have shape ``(S, n, K, H, W)``: a class
distribution per pixel. :func:`pixel_scores` applies any point-wise measure
(``(S, m, K) -> (m,)``, those of :mod:`skal.measures` or your own) to every
pixel, giving score maps ``(n, H, W)`` equal to the measure applied pixel
by pixel; :func:`pool_pixels` reduces each map to one score per image. So
every measure works on images without a per-image variant of it, and
:func:`skal.strategies.query_by_measure` ranks images with its
``pixel_pooling`` option.

Poolings (:class:`PixelPooling`):

* ``"mean"``: the mean over the image's pixels;
* ``"top_k"``: the mean of the ``top_fraction`` highest-scoring pixels (an
  image with a small uncertain object is not drowned by its confident
  background);
* ``"class_balanced"``: the mean over the classes the model predicts in the
  image of the mean score of that class's pixels (each predicted class
  weighs the same, however few pixels it covers).

NumPy in, NumPy out; torch in, torch out (on the same device).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .._containers import is_tensor
from .._validation import check_scalar

__all__ = ["PixelPooling", "check_pixel_pooling", "pixel_scores", "pool_pixels", "score_images"]

#: Pooling methods of :class:`PixelPooling`.
POOLINGS = ("mean", "top_k", "class_balanced")


def _check_maps(P, name="proba_samples"):
    if P.ndim < 4:
        raise ValueError(
            f"{name} must have shape (S, n, K, H, W) (per-pixel samples of a segmenter), "
            f"got {tuple(P.shape)}; for (S, n, K) use the measure itself."
        )


def pixel_scores(measure, proba_samples):
    """Score maps: ``measure`` applied to the class distributions of every pixel.

    Parameters
    ----------
    measure : callable
        ``(S, m, K)`` probabilities to ``(m,)`` scores, such as
        :func:`skal.measures.entropy` or :func:`skal.measures.bald`.
    proba_samples : ndarray or torch.Tensor of shape (S, n, K, H, W)
        Per-pixel class probabilities of S samples for n images (any number
        of trailing spatial axes).

    Returns
    -------
    score_maps : ndarray or torch.Tensor of shape (n, H, W)
        ``score_maps[i, h, w] == measure(proba_samples[:, i:i+1, :, h, w])[0]``.

    Notes
    -----
    The pixels are laid out as rows, ``(S, n * H * W, K)``, which copies the
    samples once; score a large pool in chunks of images
    (:func:`skal.strategies.score_pool` does).

    Examples
    --------
    >>> import numpy as np
    >>> from skal.measures import entropy, pixel_scores
    >>> P = np.zeros((1, 1, 2, 1, 2))
    >>> P[0, 0, :, 0, 0] = [0.5, 0.5]  # an unsure pixel
    >>> P[0, 0, :, 0, 1] = [1.0, 0.0]  # a sure one
    >>> pixel_scores(entropy, P).round(4)
    array([[[0.6931, 0.    ]]])
    """
    _check_maps(proba_samples)
    S, n, K = proba_samples.shape[:3]
    spatial = tuple(proba_samples.shape[3:])
    if is_tensor(proba_samples):
        rows = proba_samples.movedim(2, -1).reshape(S, -1, K)
    else:
        rows = np.moveaxis(np.asarray(proba_samples), 2, -1).reshape(S, -1, K)
    scores = measure(rows)
    if tuple(scores.shape) != (rows.shape[1],):
        raise ValueError(
            f"measure {getattr(measure, '__name__', measure)!r} returned shape "
            f"{tuple(scores.shape)} for {rows.shape[1]} pixels; a measure must map (S, m, K) "
            "to (m,)."
        )
    return scores.reshape((n,) + spatial)


def _top_k_mean(flat, k):
    if is_tensor(flat):
        return flat.topk(k, dim=1).values.mean(1)
    return np.partition(flat, flat.shape[1] - k, axis=1)[:, -k:].mean(1)


def _class_balanced_mean(flat, labels, n_classes):
    n = flat.shape[0]
    if is_tensor(flat):
        import torch

        codes = (torch.arange(n, device=flat.device)[:, None] * n_classes + labels).reshape(-1)
        sums = torch.zeros(n * n_classes, dtype=flat.dtype, device=flat.device)
        sums.scatter_add_(0, codes, flat.reshape(-1))
        counts = torch.bincount(codes, minlength=n * n_classes).to(flat.dtype)
        sums, counts = sums.reshape(n, n_classes), counts.reshape(n, n_classes)
        present = counts > 0
        means = torch.where(present, sums / counts.clamp_min(1), torch.zeros_like(sums))
        return means.sum(1) / present.sum(1)
    codes = (np.arange(n)[:, None] * n_classes + labels).reshape(-1)
    sums = np.bincount(codes, weights=flat.reshape(-1), minlength=n * n_classes).reshape(n, n_classes)
    counts = np.bincount(codes, minlength=n * n_classes).reshape(n, n_classes)
    present = counts > 0
    means = np.divide(sums, counts, out=np.zeros_like(sums), where=present)
    return means.sum(1) / present.sum(1)


@dataclass(frozen=True)
class PixelPooling:
    """How a score map becomes one score per image; call it on ``(score_maps, label_maps)``.

    Parameters
    ----------
    method : {"mean", "top_k", "class_balanced"}, default="mean"
        See :mod:`skal.measures._pooling`.
    top_fraction : float, default=0.1
        For ``"top_k"``: the fraction of each image's pixels averaged (at
        least one pixel), in (0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from skal.measures import PixelPooling
    >>> maps = np.array([[[0.0, 0.0], [0.0, 1.0]]])  # one 2x2 image
    >>> PixelPooling("mean")(maps), PixelPooling("top_k", top_fraction=0.25)(maps)
    (array([0.25]), array([1.]))
    """

    method: str = "mean"
    top_fraction: float = 0.1

    def __post_init__(self):
        if not isinstance(self.method, str) or self.method not in POOLINGS:
            raise ValueError(
                f"pixel pooling method must be one of {', '.join(POOLINGS)}; got {self.method!r}."
            )
        check_scalar(self.top_fraction, "top_fraction", numbers.Real, min_val=0, max_val=1,
                     include_boundaries="right")

    @property
    def needs_labels(self):
        """Whether the pooling reads the predicted label maps."""
        return self.method == "class_balanced"

    def __call__(self, score_maps, label_maps=None, n_classes=None):
        """Pool ``(n, H, W)`` score maps to ``(n,)`` scores (``label_maps`` for ``class_balanced``)."""
        return pool_pixels(
            score_maps, self.method, top_fraction=self.top_fraction, label_maps=label_maps,
            n_classes=n_classes,
        )


def pool_pixels(score_maps, method="mean", *, top_fraction=0.1, label_maps=None, n_classes=None):
    """One score per image from its score map.

    Parameters
    ----------
    score_maps : ndarray or torch.Tensor of shape (n, H, W)
        A score per pixel (any number of spatial axes), higher first.
    method : {"mean", "top_k", "class_balanced"}, default="mean"
    top_fraction : float, default=0.1
        ``"top_k"`` averages the ``ceil(top_fraction * H * W)`` highest pixels.
    label_maps : array-like of int of shape (n, H, W), default=None
        The predicted class of every pixel, codes ``0..K-1``; needed by
        ``"class_balanced"``.
    n_classes : int, default=None
        K; None reads it from ``label_maps``.

    Returns
    -------
    scores : ndarray or torch.Tensor of shape (n,)

    Examples
    --------
    A background of 3 confident pixels and one unsure pixel of class 1:

    >>> import numpy as np
    >>> from skal.measures import pool_pixels
    >>> maps = np.array([[[0.1, 0.1], [0.1, 0.9]]])
    >>> labels = np.array([[[0, 0], [0, 1]]])
    >>> pool_pixels(maps).round(3), pool_pixels(maps, "class_balanced", label_maps=labels).round(3)
    (array([0.3]), array([0.5]))
    """
    pooling = PixelPooling(method, top_fraction)
    if score_maps.ndim < 2 or score_maps.shape[0] == 0:
        raise ValueError(f"score_maps must have shape (n, H, W) with n >= 1, got {tuple(score_maps.shape)}.")
    n = score_maps.shape[0]
    flat = score_maps.reshape(n, -1)
    if pooling.method == "mean":
        return flat.mean(1)
    if pooling.method == "top_k":
        return _top_k_mean(flat, max(1, math.ceil(pooling.top_fraction * flat.shape[1])))
    if label_maps is None:
        raise ValueError("class_balanced pooling needs label_maps, the predicted class of every pixel.")
    if tuple(label_maps.shape) != tuple(score_maps.shape):
        raise ValueError(
            f"label_maps has shape {tuple(label_maps.shape)} but score_maps {tuple(score_maps.shape)}; "
            "pass one predicted class per scored pixel."
        )
    labels = label_maps.reshape(n, -1)
    if not is_tensor(labels):
        labels = np.asarray(labels).astype(np.intp, copy=False)
    if int(labels.min()) < 0:
        raise ValueError("label_maps must hold class codes 0..K-1.")
    K = int(labels.max()) + 1 if n_classes is None else int(n_classes)
    if int(labels.max()) >= K:
        raise ValueError(f"label_maps holds code {int(labels.max())} but n_classes={K}.")
    return _class_balanced_mean(flat, labels, K)


def check_pixel_pooling(pixel_pooling):
    """The pooling a ``pixel_pooling`` option names, as a callable.

    Parameters
    ----------
    pixel_pooling : None, str, dict, PixelPooling or callable
        None is ``"mean"``; a name or a dict of :class:`PixelPooling`'s
        parameters (``{"method": "top_k", "top_fraction": 0.05}``, as a
        TOML table gives it) builds one; a :class:`PixelPooling` or any
        callable ``(score_maps, label_maps, n_classes) -> (n,)`` is used
        as is.

    Returns
    -------
    pooling : callable

    Examples
    --------
    >>> from skal.measures import check_pixel_pooling
    >>> check_pixel_pooling({"method": "top_k", "top_fraction": 0.05})
    PixelPooling(method='top_k', top_fraction=0.05)
    """
    if pixel_pooling is None:
        return PixelPooling()
    if isinstance(pixel_pooling, str):
        return PixelPooling(pixel_pooling)
    if isinstance(pixel_pooling, dict):
        try:
            return PixelPooling(**pixel_pooling)
        except TypeError:
            raise TypeError(
                f"pixel_pooling as a dict takes the keys 'method' and 'top_fraction'; got "
                f"{sorted(pixel_pooling)}."
            ) from None
    if callable(pixel_pooling):
        return pixel_pooling
    raise TypeError(
        f"pixel_pooling must be None, one of {', '.join(POOLINGS)}, a dict of PixelPooling's "
        f"parameters or a callable; got {type(pixel_pooling).__name__}."
    )


def score_images(measure, proba_samples, pixel_pooling=None):
    """One score per image: ``measure`` per pixel, pooled by ``pixel_pooling``.

    Parameters
    ----------
    measure : callable
        ``(S, m, K) -> (m,)``.
    proba_samples : ndarray or torch.Tensor of shape (S, n, K, H, W)
    pixel_pooling : None, str, dict, PixelPooling or callable, default=None
        See :func:`check_pixel_pooling`; a pooling that reads label maps
        gets the arg-max of the mean prediction ``p̄`` of every pixel.

    Returns
    -------
    scores : ndarray or torch.Tensor of shape (n,)

    Examples
    --------
    >>> import numpy as np
    >>> from skal.measures import bald, score_images
    >>> P = np.full((2, 3, 4, 8, 8), 0.25)  # 2 samples, 3 images, 4 classes, 8x8
    >>> score_images(bald, P, "top_k").shape
    (3,)
    """
    pooling = check_pixel_pooling(pixel_pooling)
    maps = pixel_scores(measure, proba_samples)
    labels = None
    K = proba_samples.shape[2]
    if getattr(pooling, "needs_labels", True):
        labels = proba_samples.mean(0).argmax(1)
    return pooling(maps, labels, K)
