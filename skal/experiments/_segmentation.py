"""Scoring a segmenter on a test set of label maps: pixel accuracy, pixel NLL, mIoU.

A campaign on label maps records, after every round, the mean IoU
(:func:`skal.metrics.mean_iou`, over all test pixels) besides the pixel
accuracy and NLL that take the place of a classifier's accuracy and NLL.
The test images are predicted a chunk at a time, so that per-pixel
probabilities ``(n, K, H, W)`` of a large test set never sit in memory
at once.
"""

from __future__ import annotations

import numpy as np

from ..metrics import confusion_counts, iou_from_counts

__all__ = ["evaluate_label_maps"]

#: Test images predicted at once.
_CHUNK_IMAGES = 64


def evaluate_label_maps(learner, X_test, y_test, classes, *, chunk_images=_CHUNK_IMAGES):
    """Pixel accuracy, pixel NLL and mean IoU of a learner on label maps.

    Parameters
    ----------
    learner : object
        Anything with ``predict_proba(X) -> (n, K', H, W)`` and ``classes_``
        (or a learner around such an estimator).
    X_test : array-like of shape (n, ...)
    y_test : ndarray of shape (n, H, W)
    classes : ndarray of shape (K,)
        All labels; those the model was not sized for get probability 0.
    chunk_images : int, default=64

    Returns
    -------
    accuracy, nll, miou : float
        The fraction of pixels whose arg-max label is right, the mean
        negative log-probability of the true label of a pixel (clipped at
        float64's eps, as :func:`sklearn.metrics.log_loss` does), and the
        mean IoU over the labels present in the truth or the prediction.
    """
    from skal.models import get_classes

    classes = np.asarray(classes)
    model_classes = np.asarray(get_classes(learner))
    columns = np.searchsorted(classes, model_classes)
    if not np.array_equal(classes[np.clip(columns, 0, len(classes) - 1)], model_classes):
        raise ValueError(
            f"the model predicts labels {model_classes.tolist()} outside classes {classes.tolist()}."
        )
    counts = np.zeros((len(classes), len(classes)))
    nll_sum = 0.0
    eps = np.finfo(np.float64).eps
    for start in range(0, len(y_test), chunk_images):
        stop = min(start + chunk_images, len(y_test))
        proba = np.asarray(learner.predict_proba(X_test[start:stop]), dtype=np.float64)
        full = np.zeros((proba.shape[0], len(classes)) + proba.shape[2:])
        full[:, columns] = proba
        full /= np.clip(full.sum(axis=1, keepdims=True), 1e-300, None)
        truth = np.searchsorted(classes, y_test[start:stop])
        p_true = np.take_along_axis(full, truth[:, None], axis=1)[:, 0]
        nll_sum += float(-np.log(np.clip(p_true, eps, 1.0)).sum())
        counts += confusion_counts(truth, full.argmax(axis=1), np.arange(len(classes)))
    n_pixels = counts.sum()
    miou = float(np.nanmean(iou_from_counts(counts)))
    return float(np.trace(counts) / n_pixels), nll_sum / n_pixels, miou
