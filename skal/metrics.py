"""Segmentation metrics: intersection over union of label maps.

The deep estimators' ``score`` on label maps and the harness's per-round
mIoU are this one function. IoU is computed over the whole set of maps
(one confusion matrix of every pixel, as the Cityscapes and BDD100k
benchmarks do), not averaged per image.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_finite

__all__ = ["confusion_counts", "iou_from_counts", "iou_per_class", "mean_iou"]


def _check_maps(y_true, y_pred, sample_weight):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape, got {y_true.shape} and {y_pred.shape}."
        )
    if y_true.ndim == 0 or y_true.size == 0:
        raise ValueError("y_true is empty: pass at least one labeled pixel.")
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if sample_weight.shape != y_true.shape[:1]:
            raise ValueError(
                f"sample_weight must hold one weight per sample (map), shape {y_true.shape[:1]}; "
                f"got {sample_weight.shape}."
            )
        check_finite(sample_weight, name="sample_weight")
        if (sample_weight < 0).any():
            raise ValueError("sample_weight must be non-negative: give every map a weight >= 0.")
    return y_true, y_pred, sample_weight


def confusion_counts(y_true, y_pred, labels, *, sample_weight=None):
    """Pixel confusion matrix of label maps: ``C[i, j]`` counts true ``labels[i]`` predicted ``labels[j]``.

    Pixels whose true or predicted label is not in ``labels`` are left out
    (as an "ignore" label is in segmentation benchmarks).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, ...)
        Label maps (or labels) of the same shape.
    labels : array-like of shape (K,)
        The labels to count, in the order of the matrix's rows and columns.
    sample_weight : array-like of shape (n_samples,), default=None
        A weight per sample (map), given to each of its pixels.

    Returns
    -------
    counts : ndarray of shape (K, K), float64

    Examples
    --------
    >>> import numpy as np
    >>> from skal.metrics import confusion_counts
    >>> confusion_counts(np.array([[0, 1, 1]]), np.array([[0, 1, 0]]), [0, 1])
    array([[1., 0.],
           [1., 1.]])
    """
    y_true, y_pred, sample_weight = _check_maps(y_true, y_pred, sample_weight)
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0 or len(np.unique(labels)) != len(labels):
        raise ValueError(f"labels must be a non-empty 1-d array of distinct labels, got {labels!r}.")
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    K = len(labels)

    def codes(y):
        pos = np.clip(np.searchsorted(sorted_labels, y), 0, K - 1)
        known = sorted_labels[pos] == y
        return order[pos], known

    t, t_known = codes(y_true)
    p, p_known = codes(y_pred)
    keep = t_known & p_known
    weights = None
    if sample_weight is not None:
        weights = np.broadcast_to(
            sample_weight.reshape((-1,) + (1,) * (y_true.ndim - 1)), y_true.shape
        )[keep]
    return np.bincount(t[keep] * K + p[keep], weights=weights, minlength=K * K).reshape(K, K).astype(
        np.float64
    )


def iou_per_class(y_true, y_pred, labels, *, sample_weight=None):
    """Intersection over union of each label: ``TP / (TP + FP + FN)`` over all pixels.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, ...)
    labels : array-like of shape (K,)
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    iou : ndarray of shape (K,)
        NaN for a label that is neither in ``y_true`` nor in ``y_pred``.

    Examples
    --------
    >>> import numpy as np
    >>> from skal.metrics import iou_per_class
    >>> iou_per_class(np.array([[0, 1, 1]]), np.array([[0, 1, 0]]), [0, 1, 2])
    array([0.5, 0.5, nan])
    """
    return iou_from_counts(confusion_counts(y_true, y_pred, labels, sample_weight=sample_weight))


def iou_from_counts(counts):
    """IoU of each label from a confusion matrix (rows true, columns predicted).

    A confusion matrix can be summed over chunks of a test set before the
    IoU is taken, which averaging per-chunk IoUs cannot.

    Parameters
    ----------
    counts : array-like of shape (K, K)
        As :func:`confusion_counts` returns.

    Returns
    -------
    iou : ndarray of shape (K,)
        NaN for a label with no true and no predicted pixel.

    Examples
    --------
    >>> import numpy as np
    >>> from skal.metrics import iou_from_counts
    >>> iou_from_counts(np.array([[1.0, 0.0], [1.0, 1.0]]))
    array([0.5, 0.5])
    """
    counts = np.asarray(counts, dtype=np.float64)
    tp = np.diag(counts)
    union = counts.sum(axis=0) + counts.sum(axis=1) - tp
    return np.divide(tp, union, out=np.full_like(tp, np.nan), where=union > 0)


def mean_iou(y_true, y_pred, *, labels=None, sample_weight=None):
    """Mean intersection over union (mIoU) of label maps.

    The IoU of every label present in ``y_true`` or ``y_pred``, averaged
    over those labels; the standard semantic-segmentation score (the DPE
    paper's on BDD100k). With ``labels`` given, pixels of other labels are
    ignored and absent labels do not count.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples, ...)
        True and predicted label maps.
    labels : array-like of shape (K,), default=None
        The labels scored; None uses those in ``y_true`` or ``y_pred``.
    sample_weight : array-like of shape (n_samples,), default=None
        A weight per map.

    Returns
    -------
    miou : float
        In [0, 1].

    See Also
    --------
    sklearn.metrics.jaccard_score : the same per-label IoU on flat labels
        (``average="macro"`` over the labels present gives this mean).

    Examples
    --------
    >>> import numpy as np
    >>> from skal.metrics import mean_iou
    >>> y_true = np.array([[[0, 0], [1, 1]]])
    >>> y_pred = np.array([[[0, 0], [0, 1]]])
    >>> round(mean_iou(y_true, y_pred), 4)  # IoU 2/3 for label 0, 1/2 for label 1
    0.5833
    """
    if labels is None:
        labels = np.union1d(np.unique(np.asarray(y_true)), np.unique(np.asarray(y_pred)))
    iou = iou_per_class(y_true, y_pred, labels, sample_weight=sample_weight)
    if np.isnan(iou).all():
        raise ValueError(
            "none of the labels occurs in y_true or y_pred: mIoU is undefined; check labels=..."
        )
    return float(np.nanmean(iou))
