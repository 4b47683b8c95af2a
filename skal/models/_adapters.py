"""The two protocols every strategy relies on: predictive samples and embeddings.

A query strategy needs ``p_s(y|x)`` for s = 1..S and, for diversity methods,
an embedding ``phi(x)``. Rather than asking every estimator to implement
both, these adapters get them from whatever the user passes:

* skal's own estimators implement ``predict_proba_samples`` / ``embed``;
* modAL (or skal) learners are unwrapped to their ``estimator``; a
  committee gives one sample per member learner, that learner's
  ``predict_proba``;
* a :class:`~sklearn.pipeline.Pipeline` transforms X through its leading
  steps and asks its last step;
* scikit-learn ensembles (forests, bagging, ...) give one sample per fitted
  member in ``estimators_``;
* any other classifier gives S = 1 through ``predict_proba``.
"""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline

__all__ = ["align_columns", "embed", "get_classes", "input_features", "predict_proba_samples"]


def _is_committee(obj):
    return hasattr(obj, "learner_list") and hasattr(obj, "query")


def _is_learner(obj):
    # modAL's BaseLearner and skal's ActiveLearner both wrap ``estimator``
    # and expose ``query``/``teach``.
    return hasattr(obj, "estimator") and hasattr(obj, "query") and hasattr(obj, "teach")


def _leading_transform(pipeline, X):
    Xt = X
    for _, step in pipeline.steps[:-1]:
        if step is None or step == "passthrough":
            continue
        Xt = step.transform(Xt)
    return Xt


def get_classes(estimator):
    """Return the class labels of ``estimator`` (unwrapping learners and pipelines).

    Parameters
    ----------
    estimator : object
        A fitted classifier, Pipeline, modAL/skal learner or committee.

    Returns
    -------
    classes : ndarray of shape (K,)

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skal.models import get_classes
    >>> get_classes(LogisticRegression().fit([[0.], [1.]], ["a", "b"]))
    array(['a', 'b'], dtype='<U1')
    """
    if hasattr(estimator, "classes_"):
        return np.asarray(estimator.classes_)
    if _is_committee(estimator):
        return get_classes(estimator.learner_list[0])
    if _is_learner(estimator):
        return get_classes(estimator.estimator)
    if isinstance(estimator, Pipeline):
        return get_classes(estimator.steps[-1][1])
    raise AttributeError(
        f"{type(estimator).__name__} has no classes_: pass a fitted classifier "
        "(or a Pipeline/learner around one)."
    )


def align_columns(proba, member_classes, target_classes, *, encoded):
    """Place a member's probability columns under the parent's class order.

    Members of scikit-learn ensembles are fitted on label-*encoded* targets
    (their ``classes_`` are indices into the parent's); committee members
    carry real labels. A class a member never saw gets probability 0.
    """
    member_classes = np.asarray(member_classes)
    if encoded:
        cols = member_classes.astype(np.intp)
    else:
        if len(member_classes) == len(target_classes) and np.array_equal(
            member_classes, target_classes
        ):
            return proba
        lookup = {c: i for i, c in enumerate(target_classes.tolist())}
        try:
            cols = np.array([lookup[c] for c in member_classes.tolist()], dtype=np.intp)
        except KeyError as exc:
            raise ValueError(
                f"a committee member predicts class {exc.args[0]!r} that is not "
                "among the committee's classes; fit every member on the same labels."
            ) from None
    if len(cols) == len(target_classes) and np.array_equal(cols, np.arange(len(cols))):
        return proba
    out = np.zeros((proba.shape[0], len(target_classes)), dtype=proba.dtype)
    out[:, cols] = proba
    return out


def predict_proba_samples(estimator, X, **kwargs):
    """Predictive samples ``p_s(y|x)`` of any supported classifier.

    Parameters
    ----------
    estimator : object
        A fitted classifier: one of skal's estimators, a scikit-learn
        classifier (ensembles give one sample per member), a
        :class:`~sklearn.pipeline.Pipeline`, a modAL/skal learner or committee.
    X : array-like of shape (n_samples, ...)
        Inputs, as the estimator's ``predict_proba`` takes them.
    **kwargs
        Passed to an estimator's own ``predict_proba_samples`` (for example
        ``n_samples`` for MC dropout); ignored by the other adapters, and by
        committees, whose members predict with their own settings.

    Returns
    -------
    samples : ndarray of shape (S, n_samples, K)
        Class probabilities of each of the S samples (ensemble members,
        stochastic passes, committee members: one per member learner, even
        when that learner is itself an ensemble), columns in the order of
        the estimator's ``classes_``. A segmenter (one of skal's estimators
        fitted on label maps) gives ``(S, n_samples, K, H, W)``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skal.models import predict_proba_samples
    >>> X, y = load_iris(return_X_y=True)
    >>> forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    >>> predict_proba_samples(forest, X[:4]).shape
    (5, 4, 3)
    """
    if hasattr(estimator, "predict_proba_samples"):
        return np.asarray(estimator.predict_proba_samples(X, **kwargs))
    if _is_committee(estimator):
        # One sample per learner: its own predictive distribution, what
        # Committee.predict_proba averages. (Flattening the samples of
        # learners that are ensembles would weigh a 25-tree forest 25 times
        # and count its trees' votes.)
        target = get_classes(estimator)
        return np.stack(
            [
                align_columns(
                    np.asarray(learner.predict_proba(X)), get_classes(learner), target, encoded=False
                )
                for learner in estimator.learner_list
            ]
        )
    if _is_learner(estimator):
        return predict_proba_samples(estimator.estimator, X, **kwargs)
    if isinstance(estimator, Pipeline):
        return predict_proba_samples(
            estimator.steps[-1][1], _leading_transform(estimator, X), **kwargs
        )
    _check_one_output(estimator)
    members = getattr(estimator, "estimators_", None)
    if (
        members is not None
        and hasattr(estimator, "classes_")
        and len(members) > 0
        and all(hasattr(m, "predict_proba") for m in members)
    ):
        target = np.asarray(estimator.classes_)
        features = getattr(estimator, "estimators_features_", None)
        Xa = X
        samples = []
        for i, member in enumerate(members):
            Xm = Xa if features is None else _take_columns(Xa, features[i])
            samples.append(
                align_columns(
                    np.asarray(member.predict_proba(Xm)),
                    member.classes_,
                    target,
                    encoded=_members_are_encoded(estimator, member, target),
                )
            )
        return np.stack(samples)
    if hasattr(estimator, "predict_proba"):
        return np.asarray(estimator.predict_proba(X))[None]
    raise TypeError(
        f"{type(estimator).__name__} gives no class probabilities: use a classifier "
        "with predict_proba (or predict_proba_samples)."
    )


def _check_one_output(estimator):
    """Refuse a multi-label or multi-output classifier, which gives one distribution per label."""
    classes = getattr(estimator, "classes_", None)
    several = getattr(estimator, "n_outputs_", 1) > 1 or (
        isinstance(classes, list) and len(classes) > 0 and np.ndim(classes[0]) == 1
    )
    if several:
        raise ValueError(
            f"{type(estimator).__name__} was fitted on several labels per sample (multi-label "
            "or multi-output y), which skal's strategies and learners do not support yet: fit "
            "it on one label per sample (y of shape (n_samples,)), or for multi-label data "
            "query by one label at a time."
        )


def _take_columns(X, cols):
    if hasattr(X, "iloc"):
        return X.iloc[:, cols]
    return X[:, cols]


def _members_are_encoded(parent, member, target):
    # scikit-learn's forests, bagging and voting ensembles fit their members
    # on integer-encoded targets; anything else is compared by label value.
    from sklearn.ensemble import BaggingClassifier, VotingClassifier
    from sklearn.ensemble._forest import ForestClassifier

    if isinstance(parent, (ForestClassifier, BaggingClassifier, VotingClassifier)):
        return True
    member_classes = np.asarray(member.classes_)
    return not np.isin(member_classes, target).all()


def embed(estimator, X):
    """Embedding ``phi(x)`` used by diversity strategies (core-set, BADGE, ...).

    Parameters
    ----------
    estimator : object
        A fitted estimator. skal's networks give their penultimate-layer
        features; a Pipeline gives its last step's embedding of the
        transformed X (or the transformed X itself when the last step has
        none); a learner or committee is unwrapped (a committee uses its
        first member); any other estimator gives X as float features.
    X : array-like of shape (n_samples, ...)

    Returns
    -------
    phi : ndarray of shape (n_samples, d)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skal.models import embed
    >>> X = np.array([[0., 1.], [2., 3.]])
    >>> pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, [0, 1])
    >>> embed(pipe, X)
    array([[-1., -1.],
           [ 1.,  1.]])
    """
    if hasattr(estimator, "embed") and callable(estimator.embed):
        return np.asarray(estimator.embed(X))
    if _is_committee(estimator):
        return embed(estimator.learner_list[0], X)
    if _is_learner(estimator):
        return embed(estimator.estimator, X)
    if isinstance(estimator, Pipeline):
        return embed(estimator.steps[-1][1], _leading_transform(estimator, X))
    from skorch import NeuralNet

    if isinstance(estimator, NeuralNet):
        from ._embedding import skorch_embed

        return skorch_embed(estimator, X)
    return _as_vectors(X)


def _as_vectors(X):
    """Rows as flat float vectors, keeping float32 (no copy of a float array)."""
    if hasattr(X, "toarray"):
        X = X.toarray()
    elif hasattr(X, "to_numpy"):
        X = X.to_numpy()
    X = np.asarray(X)
    if X.dtype.kind != "f":
        X = X.astype(np.float64)
    return X.reshape(len(X), -1)


def input_features(estimator, X):
    """``X`` as the final estimator receives it, as flat vectors.

    The input features, independent of what a model has learned: through a
    Pipeline's leading steps (learners and committees unwrapped), flattened
    to one row per sample (images become pixel vectors).

    Parameters
    ----------
    estimator : object
        A classifier, Pipeline, learner or committee.
    X : array-like of shape (n_samples, ...)

    Returns
    -------
    features : ndarray of shape (n_samples, d)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skal.models import input_features
    >>> X = np.array([[0., 1.], [2., 3.]])
    >>> input_features(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, [0, 1]), X)
    array([[-1., -1.],
           [ 1.,  1.]])
    """
    if _is_committee(estimator):
        return input_features(estimator.learner_list[0], X)
    if _is_learner(estimator):
        return input_features(estimator.estimator, X)
    if isinstance(estimator, Pipeline):
        X = _leading_transform(estimator, X)
    return _as_vectors(X)
