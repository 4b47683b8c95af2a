"""What strategies that train a model of their own share.

Learning loss, label dispersion, DAL, VAAL and MAL train an auxiliary model
at query time (a loss predictor, a network whose training they record, a
labeled-vs-pool discriminator...). They need, from whatever they are handed
(a bare estimator, a Pipeline, a modAL or skal learner or committee):

* the labeled set and its labels (:func:`labeled_data`);
* rows as the final estimator receives them, dense float32, images kept
  as images (:func:`model_input`);
* the final estimator itself (:func:`final_estimator`), and for skal's
  deep estimators the settings a sibling network should share
  (:func:`deep_settings`);
* the model they train, from an option (:func:`auxiliary_model`);
* the docs of their shared parameters (:func:`fill_doc`: the strategies'
  shared sections and ``X_labeled``, ``y_labeled``, ``model``,
  ``random_state``).
"""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils import column_or_1d

from .._containers import num_rows
from .._docstrings import fill_sections
from .._validation import check_finite
from ._base import labeled_set
from ._docstrings import SECTIONS
from ._rows import as_rows

__all__ = [
    "auxiliary_model",
    "deep_settings",
    "fill_doc",
    "final_estimator",
    "labeled_data",
    "model_input",
    "predicted_labels",
]

#: Docstring sections of the parameters these strategies share.
AUXILIARY_SECTIONS = {
    "X_labeled": """\
X_labeled : array-like of shape (n_labeled, ...), default=None
    The labeled set (skal's learners pass it; without it, a modAL learner's
    ``X_training`` is read, or a modAL committee's first member's).""",
    "y_labeled": """\
y_labeled : array-like of shape (n_labeled,), default=None
    Its labels (skal's learners pass them; a modAL learner's
    ``y_training``); without them, the classifier's predictions on
    ``X_labeled`` stand in.""",
    "model": """\
model : None, dict or estimator, default=None
    The model trained at each query: ``None`` for the default, a dict of
    parameters changing the default's (``{"n_steps": 300}``: what a config
    file can give), or an unfitted instance of the default's class
    (cloned). Its ``random_state`` is set here.""",
    "random_state": """\
random_state : int, RandomState instance or None, default=None
    Seeds the model trained at each query and breaks ties.""",
}


def fill_doc(func):
    """:func:`skal.strategies._docstrings.fill_doc`, with :data:`AUXILIARY_SECTIONS` too."""
    func.__doc__ = fill_sections(
        func.__doc__, {**SECTIONS, **AUXILIARY_SECTIONS}, name=func.__name__, owner=func.__qualname__
    )
    return func


#: Rows converted at once by :func:`model_input` when ``chunk_size=None``.
_INPUT_ROWS = 4096


def _is_committee(obj):
    return hasattr(obj, "learner_list") and hasattr(obj, "query")


def _is_learner(obj):
    return hasattr(obj, "estimator") and hasattr(obj, "query") and hasattr(obj, "teach")


def final_estimator(classifier):
    """The estimator that makes the predictions: learners unwrapped, a Pipeline's last step.

    A committee is returned as it is (it has no single final estimator).
    """
    while _is_learner(classifier):
        classifier = classifier.estimator
    if isinstance(classifier, Pipeline):
        return classifier.steps[-1][1]
    return classifier


def model_input(classifier, X, *, chunk_size=None):
    """``X`` as the final estimator receives it: dense float32 rows.

    Through a Pipeline's leading steps (learners unwrapped), a chunk of rows
    at a time (sparse chunks densified, frames and lists converted). An
    image array keeps its shape ``(n, C, H, W)`` when nothing transforms
    it. The caller's data is never written to.
    """
    from ..models import input_features

    rows = as_rows(X)
    X = rows.data
    inner = classifier
    while _is_learner(inner):
        inner = inner.estimator
    transforms = isinstance(inner, Pipeline) and len(inner.steps) > 1
    if isinstance(X, np.ndarray) and X.ndim > 2 and not transforms:
        return X.astype(np.float32, copy=False)
    blocks = [
        np.asarray(input_features(classifier, batch), dtype=np.float32)
        for _, _, batch in rows.chunks(chunk_size or _INPUT_ROWS)
    ]
    out = np.concatenate(blocks) if blocks else np.empty((0, 0), dtype=np.float32)
    shape = getattr(X, "shape", None)
    if isinstance(X, np.ndarray) and len(shape) > 2 and out.shape[1] == np.prod(shape[1:]):
        out = out.reshape((len(out), *shape[1:]))
    return out


def predicted_labels(classifier, X):
    """The classifier's labels for X: ``classes_`` at the argmax of the mean probability."""
    from ..models import get_classes, predict_proba_samples

    proba = np.asarray(predict_proba_samples(classifier, X)).mean(axis=0)
    return np.asarray(get_classes(classifier))[proba.argmax(axis=1)]


def labeled_data(classifier, X_labeled=None, y_labeled=None, *, required_by, labels=False):
    """The labeled set ``(X, y)`` a strategy trains on.

    ``X`` is ``X_labeled``, else the learner's ``X_training`` (for a
    committee, its first member's). With ``labels``, ``y`` is
    ``y_labeled``, else the learner's ``y_training`` when ``X`` came from
    the learner, else the classifier's own predictions on ``X`` (for a
    fitted classifier, its training labels up to its training error).

    Raises
    ------
    ValueError
        When there is no labeled set, it holds NaN/inf, or ``y_labeled``
        has another length.
    """
    source = classifier
    X = labeled_set(classifier, X_labeled)
    if X is None and _is_committee(classifier) and classifier.learner_list:
        source = classifier.learner_list[0]
        X = labeled_set(source)
    if X is None:
        raise ValueError(
            f"{required_by} needs the labeled set: pass X_labeled=..., or query through a "
            "skal or modAL learner, which provides it."
        )
    check_finite(X, name="X_labeled")
    if not labels:
        return X, None
    y = y_labeled
    if y is None and X_labeled is None:
        y = getattr(source, "y_training", None)
    if y is None:
        y = predicted_labels(classifier, X)
    y = column_or_1d(np.asarray(y), warn=True)
    if len(y) != num_rows(X):
        raise ValueError(
            f"y_labeled has {len(y)} labels for {num_rows(X)} rows of X_labeled: pass the "
            "labels of the labeled set, in the same order."
        )
    return X, y


def deep_settings(estimator):
    """Parameters a sibling deep estimator shares with one of skal's (or None for others).

    The network (``module`` and ``module__*``), the optimizer and its
    ``optimizer__*``, ``lr``, ``max_epochs``, ``batch_size`` and ``device``:
    what makes a sibling the same network trained the same way.
    """
    from ..models._base import _BaseDeepClassifier

    if not isinstance(estimator, _BaseDeepClassifier):
        return None
    params = estimator.get_params(deep=False)
    shared = ("module", "max_epochs", "lr", "optimizer", "batch_size", "device")
    out = {k: params[k] for k in shared if k in params}
    out.update({k: v for k, v in params.items() if k.startswith(("module__", "optimizer__"))})
    return out


def auxiliary_model(spec, default, *, name, methods=("fit",), instance_of=None, **settings):
    """The unfitted model a strategy trains, with ``settings`` applied where it takes them.

    Parameters
    ----------
    spec : None, dict or estimator
        ``None``: ``default()``; a dict: ``default()`` with those parameters
        (what a config file can give); an estimator: a clone of it.
    default : callable
        Builds the default model.
    name : str
        The strategy's parameter, for the error message.
    methods : tuple of str
        Methods the model must have.
    instance_of : type, default=None
        A class the model must be an instance of.
    **settings
        Parameters set last when the model has them (``random_state``,
        ``classes``...).
    """
    from sklearn.base import clone

    if spec is None or isinstance(spec, dict):
        model = default()
        if spec:
            model.set_params(**spec)
    elif all(callable(getattr(spec, m, None)) for m in methods) and (
        instance_of is None or isinstance(spec, instance_of)
    ):
        model = clone(spec)
    else:
        kind = f"{instance_of.__name__}" if instance_of else f"estimator with {', '.join(methods)}"
        raise TypeError(
            f"{name} must be None, a dict of parameters of the default model, or an unfitted "
            f"{kind}; got {type(spec).__name__}."
        )
    known = model.get_params(deep=False)
    model.set_params(**{k: v for k, v in settings.items() if k in known})
    return model
