"""Targets that are label maps: segmentation through the deep estimators.

A deep estimator fitted with ``y`` of shape ``(n, H, W)`` (one label per
pixel) is a segmenter: its module returns ``(n, K, H, W)`` logits, its
``predict_proba_samples`` gives ``(S, n, K, H, W)``, ``predict`` label maps
and ``score`` the mean IoU. The fit flow is the classifiers' own; these
functions are where label maps differ from labels.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_finite

__all__ = ["check_label_maps", "flat_labels", "is_label_maps"]


def is_label_maps(y):
    """Whether ``y`` holds a map of labels per sample, ``(n, H, W)`` or more axes.

    Examples
    --------
    >>> import numpy as np
    >>> from skal.models._label_maps import is_label_maps
    >>> is_label_maps(np.zeros((4, 8, 8))), is_label_maps([0, 1, 1])
    (True, False)
    """
    ndim = getattr(y, "ndim", None)  # np.ndim would go through __array_function__
    return (np.asarray(y).ndim if ndim is None else ndim) >= 3


def flat_labels(y):
    """The labels of ``y`` as one 1-d array (the pixels of label maps, in order).

    Examples
    --------
    >>> import numpy as np
    >>> from skal.models._label_maps import flat_labels
    >>> flat_labels(np.array([[[0, 1], [2, 3]]])).tolist()
    [0, 1, 2, 3]
    """
    y = np.asarray(y)
    return y.reshape(-1) if is_label_maps(y) else y


def check_label_maps(estimator, y, n_samples, *, reset):
    """Validate label maps and record (``reset``) or check their shape, ``target_shape_``.

    Parameters
    ----------
    estimator : estimator
        Receives ``target_shape_`` (the shape of one map) when ``reset``.
    y : array-like of shape (n_samples, H, W)
    n_samples : int
        Rows of X.
    reset : bool
        A first fit (record the shape) or a warm one (check it).

    Returns
    -------
    y : ndarray
        Not a copy when ``y`` already is an array.
    """
    y = np.asarray(y)
    if len(y) != n_samples:
        raise ValueError(
            f"X has {n_samples} samples but y has {len(y)} label maps: pass one map per sample."
        )
    if y.dtype.kind == "f":
        check_finite(y, name="y")
    if reset:
        estimator.target_shape_ = y.shape[1:]
    elif y.shape[1:] != getattr(estimator, "target_shape_", None):
        raise ValueError(
            f"y holds label maps of shape {y.shape[1:]}, but {type(estimator).__name__} was "
            f"fitted on targets of shape {getattr(estimator, 'target_shape_', None)}; "
            "refit from scratch (warm_start=False) to change the target shape."
        )
    return y
