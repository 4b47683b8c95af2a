"""Scalar summaries of one learning curve (accuracy against number of labels)."""

from __future__ import annotations

import numpy as np

__all__ = ["aubc", "final_accuracy", "labels_to_target"]


def _check_curve(n_labels, accuracy):
    n_labels = np.asarray(n_labels, dtype=float)
    accuracy = np.asarray(accuracy, dtype=float)
    if n_labels.ndim != 1 or accuracy.shape != n_labels.shape:
        raise ValueError(
            "n_labels and accuracy must be 1-d and of the same length; got shapes "
            f"{n_labels.shape} and {accuracy.shape}."
        )
    if len(n_labels) == 0:
        raise ValueError("the learning curve is empty: pass at least one (n_labels, accuracy) point.")
    if not (np.isfinite(n_labels).all() and np.isfinite(accuracy).all()):
        raise ValueError("n_labels and accuracy must be finite (no NaN or inf).")
    if np.any(np.diff(n_labels) <= 0):
        raise ValueError("n_labels must be strictly increasing (one point per round).")
    return n_labels, accuracy


def aubc(n_labels, accuracy):
    """Area under the budget curve, normalised by the label span.

    The trapezoid area under accuracy against the number of labels, from the
    seed set to the budget, divided by ``n_labels[-1] - n_labels[0]``: the
    mean accuracy over the budget, in [0, 1] (DeepAL+'s AUBC).

    Parameters
    ----------
    n_labels : array-like of shape (n_rounds,)
        Number of labeled samples after each round, strictly increasing.
    accuracy : array-like of shape (n_rounds,)
        Test accuracy after each round.

    Returns
    -------
    aubc : float
        For a single point, that point's accuracy.

    Examples
    --------
    >>> from skal.experiments import aubc
    >>> aubc([10, 20, 30], [0.5, 0.7, 0.9])
    0.7
    """
    n_labels, accuracy = _check_curve(n_labels, accuracy)
    if len(n_labels) == 1:
        return float(accuracy[0])
    return float(np.trapezoid(accuracy, n_labels) / (n_labels[-1] - n_labels[0]))


def final_accuracy(n_labels, accuracy):
    """F-acc: the accuracy at the end of the budget (the largest label count).

    Parameters
    ----------
    n_labels : array-like of shape (n_rounds,)
    accuracy : array-like of shape (n_rounds,)

    Returns
    -------
    f_acc : float

    Examples
    --------
    >>> from skal.experiments import final_accuracy
    >>> final_accuracy([10, 20, 30], [0.5, 0.9, 0.8])
    0.8
    """
    n_labels, accuracy = _check_curve(n_labels, accuracy)
    return float(accuracy[-1])


def labels_to_target(n_labels, accuracy, target):
    """Smallest number of labels whose accuracy reaches ``target``.

    Parameters
    ----------
    n_labels : array-like of shape (n_rounds,)
    accuracy : array-like of shape (n_rounds,)
    target : float
        Accuracy to reach, in [0, 1].

    Returns
    -------
    n : int or None
        The first label count with ``accuracy >= target``; None when the
        curve never reaches it.

    Examples
    --------
    >>> from skal.experiments import labels_to_target
    >>> labels_to_target([10, 20, 30], [0.5, 0.91, 0.89], 0.9)
    20
    >>> labels_to_target([10, 20, 30], [0.5, 0.91, 0.89], 0.95) is None
    True
    """
    n_labels, accuracy = _check_curve(n_labels, accuracy)
    if not 0.0 <= float(target) <= 1.0:
        raise ValueError(f"target must be an accuracy in [0, 1]; got {target!r}.")
    reached = np.flatnonzero(accuracy >= float(target))
    if len(reached) == 0:
        return None
    return int(n_labels[reached[0]])
