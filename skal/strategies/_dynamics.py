"""Training dynamics: query the pool points the network kept changing its mind about."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state

from .._validation import check_n_instances, check_scalar
from ._auxiliary import (
    auxiliary_model,
    deep_settings,
    fill_doc,
    final_estimator,
    labeled_data,
    model_input,
)
from ._base import as_pool, check_chunk_size, top_n

__all__ = ["find_training_dynamics", "label_dispersion"]

#: Epochs of the default recorded network when the classifier is no skal network.
_DEFAULT_EPOCHS = 50


def find_training_dynamics(classifier):
    """The :class:`~skal.models.TrainingDynamics` callback of a classifier's net, or None.

    Looks through learners and Pipelines to the final estimator, then in
    the ``callbacks_`` of its skorch net (``net_`` for skal's estimators, or
    the estimator itself when it is a skorch net).

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skal.strategies import find_training_dynamics
    >>> find_training_dynamics(LogisticRegression()) is None
    True
    """
    from ..models import TrainingDynamics

    final = final_estimator(classifier)
    net = getattr(final, "net_", final)
    for _, callback in getattr(net, "callbacks_", ()):
        if isinstance(callback, TrainingDynamics):
            return callback
    return None


def _row_keys(X):
    """One hashable key per row: its bytes as float32."""
    rows = np.ascontiguousarray(np.asarray(X, dtype=np.float32).reshape(len(X), -1))
    return rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()


def _positions_in(recorded, rows):
    """Positions in ``recorded`` of each row of ``rows`` (-1 where absent)."""
    if recorded.shape == rows.shape and np.array_equal(recorded, rows):
        return np.arange(len(rows))
    if recorded.shape[1:] != rows.shape[1:]:
        return np.full(len(rows), -1)
    lookup = {}
    for i, key in enumerate(_row_keys(recorded).tolist()):
        lookup.setdefault(key, i)
    return np.array([lookup.get(key, -1) for key in _row_keys(rows).tolist()], dtype=np.intp)


def _recorded_dispersion(recorder, inputs):
    """Dispersion of the pool rows from a recorder that saw them during training."""
    if recorder.pool_ is None or not getattr(recorder, "n_records_", 0):
        raise ValueError(
            "the classifier's TrainingDynamics callback recorded no pool: give it the pool "
            "before fitting (TrainingDynamics(X_pool)), or fit the net for at least `every` epochs."
        )
    positions = _positions_in(recorder.pool_, inputs)
    missing = int((positions < 0).sum())
    if missing:
        raise ValueError(
            f"{missing} rows of X_pool were not recorded by the classifier's TrainingDynamics "
            f"callback (it recorded {len(recorder.pool_)} rows): give it every row you query "
            "(the whole unlabeled set, say) before fitting, in the form the net receives them."
        )
    return recorder.label_dispersion()[positions]


def _default_recording_model(final):
    """A copy of a skal deep estimator (same network and settings); else an MC dropout MLP."""
    from ..models import MCDropoutClassifier

    if deep_settings(final) is not None:
        return clone(final)
    return MCDropoutClassifier(max_epochs=_DEFAULT_EPOCHS)


@fill_doc
def label_dispersion(
    classifier,
    X_pool,
    n_instances=1,
    *,
    X_labeled=None,
    y_labeled=None,
    dynamics_model=None,
    every=1,
    random_state=None,
    chunk_size=None,
):
    """Label dispersion: the points whose predicted label changed most during training.

    Bengar et al. (2021): record the predicted label of each pool point at
    the end of every training epoch; ``1 - f_x / T``, with ``f_x`` the
    number of the T records predicting its most frequent label, is 0 for a
    point the network always labeled the same and grows as it changes its
    mind. The points of largest dispersion are queried.

    The records come from a :class:`~skal.models.TrainingDynamics` callback
    given the pool before training:

    * when the classifier's net carries one (``callbacks=[TrainingDynamics(X_unlabeled)]``
      on one of skal's estimators), its records are read: nothing is trained
      at query time, and every queried row must be among the recorded ones
      (rows are matched by value, so the recorder may hold the whole
      unlabeled set while each query scores part of it);
    * otherwise the strategy trains a network on the labeled set with a
      recorder of this pool, and reads it: a copy of the classifier when it
      is one of skal's deep estimators (same network and training settings,
      reseeded), else ``MCDropoutClassifier(max_epochs=50)`` (an MLP) on
      the input features. That is one more fit per query, plus T
      predictions of the pool. This is how it runs in ``skal run``, whose
      estimators are re-fitted on each round's labels before the pool
      subset of the round is known.

    Parameters
    ----------
    {classifier}
    {X_pool}
    {n_instances}
    {X_labeled}
        The recorded network is trained on it when the classifier carries
        no recorder.
    {y_labeled}
    dynamics_model : None, dict or estimator, default=None
        The network trained and recorded when the classifier carries no
        recorder: ``None`` for the default above, a dict of parameters
        changing the default's (``{"max_epochs": 30}``: what a config file
        can give), or an unfitted skal deep estimator (cloned). Its
        ``random_state`` and ``classes`` are set here.
    every : int, default=1
        When the strategy trains the network: record every ``every``-th
        epoch (each record predicts the whole pool).
    {random_state}
        Many points share a dispersion of 0: ties are common.
    {chunk_size}

    Returns
    -------
    {query_idx}
    scores : ndarray of shape (n_instances,)
        Label dispersions of the picks, in ``[0, 1 - 1/K]``.

    See Also
    --------
    skal.models.TrainingDynamics : the recorder; its ``forgetting_report``
        counts the forgetting events of the training points.

    References
    ----------
    J. Z. Bengar, B. Raducanu, J. van de Weijer. When Deep Learners Change
    Their Mind: Learning Dynamics for Active Learning. CAIP 2021.

    Examples
    --------
    The recorder given the unlabeled set up front, read at query time:

    >>> from sklearn.datasets import load_digits
    >>> from skal.models import MCDropoutClassifier, TrainingDynamics
    >>> from skal.strategies import label_dispersion
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16.0
    >>> X_unlabeled = X[100:400]
    >>> clf = MCDropoutClassifier(max_epochs=20, random_state=0,
    ...                           callbacks=[TrainingDynamics(X_unlabeled)])
    >>> clf = clf.fit(X[:100], y[:100])
    >>> query_idx, scores = label_dispersion(clf, X_unlabeled, n_instances=3, random_state=0)
    >>> query_idx.shape, bool(0 <= scores.min() and scores.max() <= 0.9)
    ((3,), True)
    """
    pool = as_pool(X_pool)
    n_instances = check_n_instances(n_instances, pool.n_rows)
    every = check_scalar(every, "every", numbers.Integral, min_val=1)
    chunk_size = check_chunk_size(chunk_size)
    pool.require_memory(
        "label_dispersion", "compares every pool row with the rows its network's training recorded"
    )
    rng = check_random_state(random_state)
    from ..models import TrainingDynamics, get_classes
    from ..models._base import SEED_MAX

    inputs = model_input(classifier, pool, chunk_size=chunk_size)
    recorder = find_training_dynamics(classifier)
    if recorder is not None:
        scores = _recorded_dispersion(recorder, inputs)
    else:
        X_lab, y_lab = labeled_data(
            classifier, X_labeled, y_labeled, required_by="label_dispersion", labels=True
        )
        classes = np.asarray(get_classes(classifier)).tolist()
        final = final_estimator(classifier)
        model = auxiliary_model(
            dynamics_model, lambda: _default_recording_model(final), name="dynamics_model",
            methods=("fit", "get_params"), random_state=int(rng.randint(SEED_MAX)),
            classes=classes, warm_start=False,
        )
        if "callbacks" not in model.get_params(deep=False):
            raise TypeError(
                "dynamics_model must be a skorch-based estimator with a callbacks parameter "
                f"(one of skal's deep estimators); got {type(model).__name__}."
            )
        recorder = TrainingDynamics(inputs, every=every, keep_history=False, record_training=False)
        model.set_params(callbacks=[*(model.get_params(deep=False)["callbacks"] or []), recorder])
        model.fit(model_input(classifier, X_lab, chunk_size=chunk_size), y_lab)
        if recorder.n_records_ == 0:
            raise ValueError(
                f"label_dispersion recorded nothing: the network trained fewer epochs than "
                f"every={every}; lower every or train longer."
            )
        scores = recorder.label_dispersion()
    scores = np.asarray(scores, dtype=np.float64)
    idx = top_n(scores, n_instances, rng)
    return idx, scores[idx]
