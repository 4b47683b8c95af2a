"""Learning loss (Yoo & Kweon 2019): query the pool points of largest predicted loss."""

from __future__ import annotations

import numpy as np
from sklearn.utils import check_random_state

from .._validation import check_n_instances
from ._auxiliary import (
    auxiliary_model,
    deep_settings,
    fill_doc,
    final_estimator,
    labeled_data,
    model_input,
)
from ._base import as_pool, check_chunk_size

__all__ = ["learning_loss"]

#: Epochs of the default loss model when the classifier is no skal network.
_DEFAULT_EPOCHS = 50


def _default_loss_model(final):
    """The same network as a skal deep estimator, with a loss-prediction module; else an MLP."""
    from ..models import LearningLossClassifier

    settings = deep_settings(final)
    if settings is None:
        settings = {"max_epochs": _DEFAULT_EPOCHS}
    return LearningLossClassifier(**settings)


@fill_doc
def learning_loss(
    classifier,
    X_pool,
    n_instances=1,
    *,
    X_labeled=None,
    y_labeled=None,
    loss_model=None,
    random_state=None,
    chunk_size=None,
):
    """Learning loss: the pool points whose predicted loss is largest (Yoo & Kweon 2019).

    The predicted loss ``l̂(x)`` comes from a loss-prediction module trained
    with the classifier by a pairwise ranking loss
    (:class:`skal.models.LearningLossClassifier`). When the classifier is
    one (alone, in a Pipeline or in a learner), its own module scores the
    pool: one forward pass, nothing trained. Otherwise the strategy trains
    a loss model on the labeled set first and scores the pool with it: by
    default the same network as the classifier when it is one of skal's
    deep estimators (same module and training settings) with a
    loss-prediction module added, else a
    ``LearningLossClassifier(max_epochs=50)`` (an MLP) on the input
    features. That costs one more fit per query, and the ranking is the
    sibling network's, a proxy for the classifier's own losses.

    Not for budgets below a few hundred labels: with 20 to 100 labels by
    10 (3 seeds; ``docs/label_efficiency.rst``) its AUBC is 0.060 below
    random's on the reduced MNIST protocol (MC dropout GalCNN) and 0.046
    below on digits (DPE). The loss module learns to rank losses from the
    labeled set alone, a few dozen points there, and its batches covered
    4.3 (MNIST) and 3.6 (digits) classes of 10 against random's 6.5 and
    6.3. Yoo & Kweon start from 1,000 labels.

    Parameters
    ----------
    {classifier}
        A :class:`~skal.models.LearningLossClassifier` (anything with
        ``predict_loss``) is read directly.
    {X_pool}
    {n_instances}
    {X_labeled}
        The loss model is trained on it; unused when the classifier
        predicts its loss itself.
    {y_labeled}
    loss_model : None, dict or estimator, default=None
        The loss model trained when the classifier has none: ``None`` for
        the default above, a dict of parameters changing the default's
        (``{"max_epochs": 30}``: what a config file can give), or an
        unfitted estimator with ``fit`` and ``predict_loss`` (cloned). Its
        ``random_state`` and ``classes`` are set here.
    {random_state}
    {chunk_size}

    Returns
    -------
    {query_idx}
    scores : ndarray of shape (n_instances,)
        Predicted losses of the picks (only their order is meaningful).

    References
    ----------
    D. Yoo, I. S. Kweon. Learning Loss for Active Learning. CVPR 2019.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skal.models import LearningLossClassifier
    >>> from skal.strategies import learning_loss
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16.0
    >>> clf = LearningLossClassifier(max_epochs=5, random_state=0).fit(X[:100], y[:100])
    >>> query_idx, scores = learning_loss(clf, X[100:400], n_instances=3)
    >>> query_idx.shape, bool(scores[0] >= scores[-1])
    ((3,), True)
    """
    pool = as_pool(X_pool)
    n_instances = check_n_instances(n_instances, pool.n_rows)
    chunk_size = check_chunk_size(chunk_size)
    rng = check_random_state(random_state)
    from ..models import get_classes
    from ..models._base import SEED_MAX

    final = final_estimator(classifier)
    if hasattr(final, "predict_loss"):
        model = final
    else:
        X_lab, y_lab = labeled_data(
            classifier, X_labeled, y_labeled, required_by="learning_loss", labels=True
        )
        classes = np.asarray(get_classes(classifier)).tolist()
        model = auxiliary_model(
            loss_model, lambda: _default_loss_model(final), name="loss_model",
            methods=("fit", "predict_loss"), random_state=int(rng.randint(SEED_MAX)),
            classes=classes,
        )
        model.fit(model_input(classifier, X_lab, chunk_size=chunk_size), y_lab)
    scores = pool.map_rows(_predicted_loss_rows, model, chunk_size=chunk_size, vector=True,
                           classifier=classifier)
    return pool.top_n(scores, n_instances, rng)


def _predicted_loss_rows(model, rows, *, classifier, chunk_size=None):
    """The predicted losses of a batch of pool rows, as the classifier's final estimator sees them."""
    inputs = model_input(classifier, rows, chunk_size=chunk_size)
    return np.asarray(model.predict_loss(inputs), dtype=np.float64)
