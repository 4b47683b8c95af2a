"""Training dynamics: what a network predicted for each point, epoch after epoch.

:class:`TrainingDynamics` is a skorch callback. At the end of every epoch
(or every ``every`` epochs) it asks the net for its predicted label of

* each point of a pool given up front: the *label dispersion* of a point,
  ``1 - f_x / T`` with ``f_x`` the number of the T records that predict its
  most frequent label (Bengar et al. 2021), is 0 for a point always
  predicted the same and grows as the network changes its mind about it;
* each training point: a *forgetting event* is a record where a point
  predicted right before is now predicted wrong (Toneva et al. 2019).

It works with any skorch net (it reads ``net.predict_proba``), hence with
every skal deep estimator through their ``callbacks`` parameter. The two
counts are pure functions of a recorded history too
(:func:`label_dispersion_from_history`, :func:`forgetting_events_from_history`).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils.validation import check_array
from skorch.callbacks import Callback

from .._validation import check_scalar
from ._base import isolated_rng

__all__ = [
    "TrainingDynamics",
    "forgetting_events_from_history",
    "label_dispersion_from_history",
]


def _label_counts(labels, n_classes=None):
    """``(n, K)`` counts of each label in the columns of a ``(T, n)`` history."""
    labels = np.asarray(labels)
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    counts = np.zeros((labels.shape[1], n_classes), dtype=np.int64)
    for row in labels:
        counts[np.arange(labels.shape[1]), row] += 1
    return counts


def label_dispersion_from_history(labels):
    """Label dispersion ``1 - f_x / T`` of every column of a ``(T, n)`` label history.

    ``f_x`` counts the records (rows) that predict the most frequent label
    of point x (its column).

    Parameters
    ----------
    labels : array-like of int, shape (T, n_points)
        Predicted label codes (``0..K-1``), one row per record.

    Returns
    -------
    dispersion : ndarray of shape (n_points,), in ``[0, 1 - 1/K]``

    Examples
    --------
    >>> from skal.models import label_dispersion_from_history
    >>> history = [[0, 1, 2],
    ...            [0, 2, 2],
    ...            [0, 1, 0],
    ...            [0, 1, 1]]
    >>> label_dispersion_from_history(history)
    array([0.  , 0.25, 0.5 ])
    """
    labels = np.asarray(labels)
    if labels.ndim != 2 or len(labels) == 0:
        raise ValueError(f"labels must be a (T, n_points) history with T >= 1, got shape {labels.shape}.")
    return 1.0 - _label_counts(labels).max(axis=1) / len(labels)


def forgetting_events_from_history(labels, y):
    """Forgetting events of every column of a ``(T, n)`` label history.

    A forgetting event of point i is a record t where it is predicted
    right at t - 1 and wrong at t (Toneva et al. 2019).

    Parameters
    ----------
    labels : array-like of int, shape (T, n_points)
        Predicted label codes, one row per record.
    y : array-like of int, shape (n_points,)
        True label codes.

    Returns
    -------
    events : ndarray of shape (n_points,), int64

    Examples
    --------
    >>> from skal.models import forgetting_events_from_history
    >>> history = [[1, 0, 2],
    ...            [0, 0, 2],
    ...            [1, 0, 1],
    ...            [0, 1, 1]]
    >>> forgetting_events_from_history(history, y=[1, 0, 1])
    array([2, 1, 0])
    """
    labels = np.asarray(labels)
    correct = labels == np.asarray(y)[None, :]
    return (correct[:-1] & ~correct[1:]).sum(axis=0).astype(np.int64)


class TrainingDynamics(Callback):
    """skorch callback recording each epoch's predicted labels: label dispersion and forgetting.

    At the end of every ``every``-th epoch of a fit the net predicts (in
    evaluation mode, in a forked torch RNG so that training draws the same
    random numbers as without the callback) the label of

    * every row of ``X_pool``, for the label dispersion of
      :meth:`label_dispersion` (Bengar et al. 2021), and
    * every training row, for the forgetting events of
      :meth:`forgetting_report` (Toneva et al. 2019).

    The records of a fit start afresh at its first epoch. Memory: running
    counts, ``O(n_pool · K)`` and ``O(n_train)``; with ``keep_history`` the
    labels too, one int8 (int16 for more than 127 classes) per point and
    record, ``O((n_pool + n_train) · T)``.

    Parameters
    ----------
    X_pool : array-like of shape (n_pool, ...), default=None
        The points whose predictions are recorded, in the form the net
        receives them (after a Pipeline's leading steps, if any). None
        records the training points only.
    every : int, default=1
        Record every ``every``-th epoch (the last epochs of a fit included
        only when they fall on that grid): T is about ``max_epochs / every``.
        Each record costs a prediction of the pool and of the training set.
    keep_history : bool, default=True
        Keep every record's labels (``pool_history_``, ``train_history_``),
        not only the counts.
    record_training : bool, default=True
        Record the training points (forgetting events).

    Attributes
    ----------
    pool_ : ndarray of shape (n_pool, ...), float32
        ``X_pool`` as the net predicts it (a view when it was float32 already).
    n_records_ : int
        T, the records of the last fit.
    pool_counts_ : ndarray of shape (n_pool, n_classes)
        How many records predicted each label for each pool point.
    pool_history_ : ndarray of shape (T, n_pool)
        Predicted label codes (with ``keep_history``).
    train_history_ : ndarray of shape (T, n_train)
        Predicted codes of the training points (with ``keep_history``).
    forgetting_events_ : ndarray of shape (n_train,)
        Forgetting events of each training point so far.
    ever_learned_ : ndarray of shape (n_train,), bool
        Training points predicted right in at least one record.

    See Also
    --------
    skal.strategies.label_dispersion : the strategy that reads it.

    References
    ----------
    J. Z. Bengar, B. Raducanu, J. van de Weijer. When Deep Learners Change
    Their Mind: Learning Dynamics for Active Learning. CAIP 2021.
    M. Toneva, A. Sordoni, R. T. des Combes, A. Trischler, Y. Bengio,
    G. J. Gordon. An Empirical Study of Example Forgetting during Deep
    Neural Network Learning. ICLR 2019.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skal.models import MCDropoutClassifier, TrainingDynamics
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16.0
    >>> recorder = TrainingDynamics(X[100:400])
    >>> clf = MCDropoutClassifier(max_epochs=20, callbacks=[recorder], random_state=0)
    >>> clf = clf.fit(X[:100], y[:100])
    >>> recorder.n_records_, recorder.label_dispersion().shape
    (20, (300,))
    >>> report = recorder.forgetting_report()
    >>> report.events.shape, int(report.unforgettable.sum()) <= 100
    ((100,), True)
    """

    def __init__(self, X_pool=None, *, every=1, keep_history=True, record_training=True):
        self.X_pool = X_pool
        self.every = every
        self.keep_history = keep_history
        self.record_training = record_training

    # skorch reads every attribute not ending in "_" as a parameter (for
    # get_params and clone): the state below ends in "_", private or not.

    def initialize(self):
        check_scalar(self.every, "every", numbers.Integral, min_val=1)
        check_scalar(self.keep_history, "keep_history", bool)
        check_scalar(self.record_training, "record_training", bool)
        self.pool_ = None
        if self.X_pool is not None:
            self.pool_ = check_array(
                self.X_pool, dtype=np.float32, allow_nd=True, input_name="X_pool"
            )
        self._reset()
        return self

    def _reset(self):
        self.n_records_ = 0
        self._epoch_ = 0
        self.pool_counts_ = None
        self._pool_records_, self._train_records_ = [], []
        self._train_ = None
        self.forgetting_events_ = None
        self.ever_learned_ = None
        self._correct_ = None

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self._reset()
        if self.record_training and X is not None and y is not None:
            self._train_ = (X, np.asarray(y))
            self.forgetting_events_ = np.zeros(len(self._train_[1]), dtype=np.int64)
            self.ever_learned_ = np.zeros(len(self._train_[1]), dtype=bool)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        if self._train_ is not None:  # the labels are kept, not a reference to the training rows
            self._train_ = (None, self._train_[1])

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        self._epoch_ += 1
        if self._epoch_ % self.every:
            return
        with isolated_rng(net.device):
            if self.pool_ is not None:
                labels = self._predict(net, self.pool_)
                if self.pool_counts_ is None:
                    self.pool_counts_ = np.zeros((len(labels), self._n_classes_), dtype=np.int64)
                self.pool_counts_[np.arange(len(labels)), labels] += 1
                if self.keep_history:
                    self._pool_records_.append(labels)
            if self._train_ is not None:
                labels = self._predict(net, self._train_[0])
                correct = labels == self._train_[1]
                if self._correct_ is not None:
                    self.forgetting_events_ += self._correct_ & ~correct
                self.ever_learned_ |= correct
                self._correct_ = correct
                if self.keep_history:
                    self._train_records_.append(labels)
        self.n_records_ += 1

    def _predict(self, net, X):
        proba = net.predict_proba(X)
        self._n_classes_ = proba.shape[1]
        dtype = np.int8 if proba.shape[1] <= np.iinfo(np.int8).max else np.int16
        return np.asarray(proba).argmax(axis=1).astype(dtype)

    @staticmethod
    def _stack(records, n):
        if records:
            return np.stack(records)
        return np.empty((0, n), dtype=np.int8)

    @property
    def pool_history_(self):
        """Predicted label codes of the pool, one row per record."""
        self._check_recorded("pool_history_", need_pool=True, history=True)
        return self._stack(self._pool_records_, len(self.pool_))

    @property
    def train_history_(self):
        """Predicted label codes of the training points, one row per record."""
        self._check_recorded("train_history_", history=True)
        return self._stack(self._train_records_, 0 if self._train_ is None else len(self._train_[1]))

    def _check_recorded(self, what, need_pool=False, history=False):
        if not hasattr(self, "n_records_") or self.n_records_ == 0:
            raise ValueError(
                f"TrainingDynamics has no record yet to give {what}: fit a net that carries "
                "it for at least `every` epochs first."
            )
        if need_pool and self.pool_ is None:
            raise ValueError(
                f"TrainingDynamics was given no X_pool, so there is no {what}: pass "
                "TrainingDynamics(X_pool) with the points to record."
            )
        if history and not self.keep_history:
            raise ValueError(f"{what} needs keep_history=True; the counts are kept either way.")

    def label_dispersion(self):
        """``1 - f_x / T`` of every pool point over the T records of the last fit.

        Returns
        -------
        dispersion : ndarray of shape (n_pool,)
            0 for a point predicted the same in every record.
        """
        self._check_recorded("a label dispersion", need_pool=True)
        return 1.0 - self.pool_counts_.max(axis=1) / self.n_records_

    def forgetting_report(self):
        """Forgetting events of the training points over the records of the last fit.

        Returns
        -------
        report : sklearn.utils.Bunch
            ``events`` (forgetting events of each training point),
            ``ever_learned`` (predicted right at least once; Toneva et al.
            count the others as forgotten infinitely often),
            ``unforgettable`` (learned and never forgotten), ``n_records``
            (T) and ``counts``, the number of training points with 0, 1,
            2, ... events (never-learned points left out).
        """
        self._check_recorded("a forgetting report")
        if self.forgetting_events_ is None:
            raise ValueError(
                "TrainingDynamics recorded no training point: it needs record_training=True "
                "and a net fitted on (X, y)."
            )
        events = self.forgetting_events_.copy()
        learned = self.ever_learned_.copy()
        return Bunch(
            events=events,
            ever_learned=learned,
            unforgettable=learned & (events == 0),
            n_records=self.n_records_,
            counts=np.bincount(events[learned], minlength=1),
        )
