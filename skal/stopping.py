"""When to stop labeling: criteria that watch a campaign and say when more labels stop paying.

Every criterion follows one protocol, so that the same objects serve a
hand-written :class:`skal.ActiveLearner` loop, a
:class:`skal.LabelingSession` (whose ``status()`` reports them) and any
other loop:

* ``update(learner, X)`` after every retrain, or ``update(proba=...,
  classes=...)`` with the model's class probabilities on the stop set, or
  ``update(score=...)`` for the validation plateau; it returns the
  criterion's current value (None while there is not enough history);
* ``value_`` (that value), ``threshold`` and ``should_stop`` (the verdict);
* ``report()``: a :class:`StoppingReport` with all three and a description.

Criteria (``update`` order matters: call it once per model, in order):

:class:`StabilizingPredictions`
    Bloodgood & Vijay-Shanker (2009): Cohen's kappa between the predictions
    of successive models on a fixed *stop set* of unlabeled points; stop
    when its mean over the last ``window`` pairs reaches ``threshold``.
:class:`MaxUncertainty`, :class:`OverallUncertainty`
    Zhu, Wang & Hovy (2008), max-confidence and overall-uncertainty: stop
    when the most uncertain (resp. the mean) unlabeled point's uncertainty
    falls to ``threshold``.
:class:`ClassificationChange`
    Zhu, Wang & Hovy (2008): stop when (almost) no unlabeled point changes
    its predicted class between two successive models.
:class:`ValidationPlateau`
    Stop when the best validation score of the last ``patience`` models
    improves on the best before them by less than ``min_delta``.

References
----------
M. Bloodgood and K. Vijay-Shanker. A method for stopping active learning
based on stabilizing predictions and the need for user-adjustable stopping.
CoNLL 2009.

J. Zhu, H. Wang and E. Hovy. Multi-criteria-based strategy to stop active
learning for data annotation. COLING 2008.

J. Zhu, H. Wang, E. Hovy and M. Ma. Confidence-based stopping criteria for
active learning for data annotation. ACM TSLP 6(3), 2010.

Examples
--------
>>> import numpy as np
>>> from sklearn.datasets import load_digits
>>> from sklearn.naive_bayes import GaussianNB
>>> from skal import ActiveLearner
>>> from skal.stopping import StabilizingPredictions
>>> X, y = load_digits(return_X_y=True)
>>> X = X / 16.0
>>> rng = np.random.default_rng(0)
>>> stop_set = X[rng.choice(len(X), 300, replace=False)]   # unlabeled; fixed for the run
>>> learner = ActiveLearner(GaussianNB(), "margin", X_training=X[:20], y_training=y[:20])
>>> criterion = StabilizingPredictions(threshold=0.97, window=3)
>>> for _ in range(40):
...     idx, _ = learner.query(X, n_instances=10)
...     learner.teach(X[idx], y[idx])
...     _ = criterion.update(learner, stop_set)
...     if criterion.should_stop:
...         break
>>> criterion.should_stop
True
"""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from ._validation import check_scalar

__all__ = [
    "CRITERIA",
    "ClassificationChange",
    "MaxUncertainty",
    "OverallUncertainty",
    "StabilizingPredictions",
    "StoppingCriterion",
    "StoppingReport",
    "ValidationPlateau",
    "criterion_from_spec",
    "default_criteria",
]


@dataclasses.dataclass(frozen=True)
class StoppingReport:
    """A criterion's value, its threshold and its verdict.

    Attributes
    ----------
    name : str
        The criterion's registry name (a key of :data:`CRITERIA`).
    value : float or None
        Its current value; None until there is enough history.
    threshold : float
    should_stop : bool
    rule : str
        How value and threshold are compared, e.g. ``"value >= threshold"``.
    n_updates : int
        Models seen so far.
    """

    name: str
    value: float | None
    threshold: float
    should_stop: bool
    rule: str
    n_updates: int

    def as_dict(self):
        """The report as a plain dict."""
        return dataclasses.asdict(self)

    def __str__(self):
        value = "n/a" if self.value is None else f"{self.value:.4g}"
        verdict = "STOP" if self.should_stop else "continue"
        return f"{self.name}: {value} ({self.rule}, threshold {self.threshold:g}) -> {verdict}"


def _predict_proba(learner, X):
    from .models import get_classes

    proba = np.asarray(learner.predict_proba(X), dtype=np.float64)
    return proba, np.asarray(get_classes(learner))


class StoppingCriterion:
    """Base class: the protocol every stopping criterion follows.

    Subclasses set :attr:`name` and :attr:`rule`, and implement
    ``_observe(proba, classes, mask, score)`` returning the new value (or
    None). ``update`` collects what they need from a learner when it is
    given one.
    """

    #: Registry name (a key of :data:`CRITERIA`).
    name = "criterion"
    #: How value and threshold are compared, for reports.
    rule = "value >= threshold"
    #: What ``update`` needs: ``"proba"`` (model outputs on the stop set) or ``"score"``.
    needs = "proba"

    def __init__(self):
        self.reset()

    def reset(self):
        """Forget every model seen so far."""
        self.value_ = None
        self.history_ = []
        self.n_updates_ = 0
        return self

    def get_params(self):
        """The constructor's parameters (JSON-able), as stored by a labeling session."""
        return {}

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    @property
    def threshold(self):
        """The value at which the criterion says stop."""
        raise NotImplementedError

    def update(self, learner=None, X=None, y=None, *, proba=None, classes=None, mask=None, score=None):
        """Observe one more model; return the criterion's value (None while undefined).

        Parameters
        ----------
        learner : fitted classifier or learner, default=None
            Its ``predict_proba`` on ``X`` (the stop set) is used when
            ``proba`` is not given; for :class:`ValidationPlateau`, its
            ``score(X, y)`` when ``score`` is not given.
        X : array-like, default=None
            The stop set (the same rows at every update), or the validation
            inputs for :class:`ValidationPlateau`.
        y : array-like, default=None
            Validation labels (:class:`ValidationPlateau` only).
        proba : ndarray of shape (n_stop, n_classes), default=None
            Class probabilities of the model on the stop set.
        classes : array-like of shape (n_classes,), default=None
            The labels of ``proba``'s columns (needed by the criteria that
            compare predicted classes); ``0..K-1`` when None.
        mask : ndarray of bool of shape (n_stop,), default=None
            Rows of the stop set that count (the ones still unlabeled); all
            when None. :class:`StabilizingPredictions` always uses every row.
        score : float, default=None
            A validation score (:class:`ValidationPlateau`).

        Returns
        -------
        value : float or None
        """
        if self.needs == "score":
            if score is None:
                if learner is None or X is None or y is None:
                    raise ValueError(
                        f"{type(self).__name__}.update needs score=, or a learner with "
                        "validation inputs X and labels y."
                    )
                score = learner.score(X, y)
            score = check_scalar(score, "score", numbers.Real)
            value = self._observe(None, None, None, float(score))
        else:
            if proba is None:
                if learner is None or X is None:
                    raise ValueError(
                        f"{type(self).__name__}.update needs proba=, or a fitted learner and "
                        "the stop set X."
                    )
                proba, fitted_classes = _predict_proba(learner, X)
                classes = fitted_classes if classes is None else classes
            proba = np.asarray(proba, dtype=np.float64)
            if proba.ndim != 2 or proba.shape[0] == 0:
                raise ValueError(
                    f"proba must be a non-empty array of shape (n_stop, n_classes), got "
                    f"shape {proba.shape}."
                )
            classes = np.arange(proba.shape[1]) if classes is None else np.asarray(classes)
            if len(classes) != proba.shape[1]:
                raise ValueError(
                    f"classes has {len(classes)} labels but proba has {proba.shape[1]} columns."
                )
            if mask is not None:
                mask = np.asarray(mask, dtype=bool)
                if mask.shape != (proba.shape[0],):
                    raise ValueError(
                        f"mask must have shape ({proba.shape[0]},), got {mask.shape}."
                    )
            value = self._observe(proba, classes, mask, None)
        self.n_updates_ += 1
        self.value_ = None if value is None else float(value)
        self.history_.append(self.value_)
        return self.value_

    def _observe(self, proba, classes, mask, score):  # pragma: no cover - abstract
        raise NotImplementedError

    def _verdict(self, value):
        return value >= self.threshold

    @property
    def should_stop(self):
        """True when the current value meets the threshold."""
        return self.value_ is not None and bool(self._verdict(self.value_))

    def report(self):
        """The current value, threshold and verdict as a :class:`StoppingReport`."""
        return StoppingReport(
            name=self.name, value=self.value_, threshold=float(self.threshold),
            should_stop=self.should_stop, rule=self.rule, n_updates=self.n_updates_,
        )


def _kappa(a, b):
    """Cohen's kappa between two label vectors; 1 when they agree everywhere."""
    from sklearn.metrics import cohen_kappa_score

    if np.array_equal(a, b):
        return 1.0
    value = cohen_kappa_score(a, b)
    return 0.0 if not np.isfinite(value) else float(value)


class StabilizingPredictions(StoppingCriterion):
    """Stop when successive models agree on a fixed stop set (Bloodgood & Vijay-Shanker 2009).

    After each model, Cohen's kappa between its predicted classes and the
    previous model's on the *stop set* (a fixed sample of the pool, labels
    not needed) is recorded; the value is the mean of the last ``window``
    kappas, and the campaign should stop when it reaches ``threshold``. The
    paper uses a stop set of about 2000 points, ``window=3`` and
    ``threshold=0.99``; a lower threshold stops earlier (its point: the
    user chooses how aggressive to be).

    Parameters
    ----------
    threshold : float, default=0.99
        Agreement (kappa) at which to stop, in (-1, 1].
    window : int, default=3
        Successive kappas averaged.

    Attributes
    ----------
    kappas_ : list of float
        Kappa of each model with the one before.
    value_ : float or None
        Mean of the last ``window`` kappas (None before ``window + 1`` models).

    Examples
    --------
    >>> import numpy as np
    >>> from skal.stopping import StabilizingPredictions
    >>> crit = StabilizingPredictions(threshold=0.9, window=2)
    >>> same = np.eye(3)[[0, 1, 2, 0]]
    >>> [crit.update(proba=same) for _ in range(3)]
    [None, None, 1.0]
    >>> crit.should_stop
    True
    """

    name = "stabilizing_predictions"
    rule = "mean kappa of successive models >= threshold"

    def __init__(self, threshold=0.99, window=3):
        self._threshold = check_scalar(threshold, "threshold", numbers.Real, min_val=-1, max_val=1)
        self.window = check_scalar(window, "window", numbers.Integral, min_val=1)
        super().__init__()

    def get_params(self):
        return {"threshold": self._threshold, "window": self.window}

    @property
    def threshold(self):
        return self._threshold

    def reset(self):
        super().reset()
        self.kappas_ = []
        self._last = None
        return self

    def _observe(self, proba, classes, mask, score):
        predicted = np.asarray(classes)[proba.argmax(axis=1)]
        if self._last is not None:
            if len(self._last) != len(predicted):
                raise ValueError(
                    f"the stop set changed size ({len(self._last)} rows, now {len(predicted)}): "
                    "stabilizing predictions compares models on a fixed stop set."
                )
            self.kappas_.append(_kappa(self._last, predicted))
        self._last = predicted
        if len(self.kappas_) < self.window:
            return None
        return float(np.mean(self.kappas_[-self.window:]))


_MEASURES = ("entropy", "least_confident", "margin")


def _uncertainty(proba, measure):
    """Uncertainty of each row in [0, 1]: normalised entropy, 1 - max p, or 1 - margin."""
    k = proba.shape[1]
    if measure == "entropy":
        if k < 2:
            return np.zeros(len(proba))
        p = np.clip(proba, 1e-300, 1.0)
        return -(proba * np.log(p)).sum(axis=1) / np.log(k)
    top = np.sort(proba, axis=1)
    if measure == "least_confident":
        return 1.0 - top[:, -1]
    second = top[:, -2] if k > 1 else 0.0
    return 1.0 - (top[:, -1] - second)


class _UncertaintyCriterion(StoppingCriterion):
    rule = "uncertainty <= threshold"

    def __init__(self, threshold, measure="entropy"):
        self._threshold = check_scalar(threshold, "threshold", numbers.Real, min_val=0, max_val=1)
        if measure not in _MEASURES:
            raise ValueError(f"measure must be one of {_MEASURES}, got {measure!r}.")
        self.measure = measure
        super().__init__()

    def get_params(self):
        return {"threshold": self._threshold, "measure": self.measure}

    @property
    def threshold(self):
        return self._threshold

    def _verdict(self, value):
        return value <= self.threshold

    def _observe(self, proba, classes, mask, score):
        rows = proba if mask is None else proba[mask]
        if len(rows) == 0:
            return None
        return float(self._reduce(_uncertainty(rows, self.measure)))


class MaxUncertainty(_UncertaintyCriterion):
    """Stop when even the most uncertain unlabeled point is fairly certain (Zhu et al. 2008).

    Zhu, Wang & Hovy's *max-confidence* criterion: the uncertainty of the
    most uncertain unlabeled point (the one uncertainty sampling would ask
    next) has fallen to ``threshold``. Uncertainty is in [0, 1]: entropy
    divided by ``log K``, ``1 - max p``, or ``1 -`` the margin.

    Parameters
    ----------
    threshold : float, default=0.1
    measure : {"entropy", "least_confident", "margin"}, default="entropy"

    Examples
    --------
    >>> import numpy as np
    >>> from skal.stopping import MaxUncertainty
    >>> crit = MaxUncertainty(threshold=0.2, measure="least_confident")
    >>> crit.update(proba=np.array([[0.9, 0.1], [0.6, 0.4]]))
    0.4
    >>> crit.should_stop
    False
    """

    name = "max_uncertainty"
    rule = "max uncertainty <= threshold"
    _reduce = staticmethod(np.max)

    def __init__(self, threshold=0.1, measure="entropy"):
        super().__init__(threshold, measure)


class OverallUncertainty(_UncertaintyCriterion):
    """Stop when the unlabeled points are, on average, certain (Zhu et al. 2008).

    Zhu, Wang & Hovy's *overall-uncertainty* criterion: the mean
    uncertainty over the unlabeled stop-set points has fallen to
    ``threshold`` (same measures as :class:`MaxUncertainty`).

    Parameters
    ----------
    threshold : float, default=0.05
    measure : {"entropy", "least_confident", "margin"}, default="entropy"

    Examples
    --------
    >>> import numpy as np
    >>> from skal.stopping import OverallUncertainty
    >>> crit = OverallUncertainty(threshold=0.3, measure="least_confident")
    >>> round(crit.update(proba=np.array([[0.9, 0.1], [0.6, 0.4]])), 2)
    0.25
    >>> crit.should_stop
    True
    """

    name = "overall_uncertainty"
    rule = "mean uncertainty <= threshold"
    _reduce = staticmethod(np.mean)

    def __init__(self, threshold=0.05, measure="entropy"):
        super().__init__(threshold, measure)


class ClassificationChange(StoppingCriterion):
    """Stop when the unlabeled points keep their predicted class (Zhu et al. 2008).

    Zhu, Wang & Hovy's *classification-change* criterion: the fraction of
    the unlabeled stop-set points whose predicted class differs between the
    last two models. The paper stops when no point changes (``threshold=0``);
    a small positive threshold tolerates a few flips on a large stop set.

    Parameters
    ----------
    threshold : float, default=0.0
        Largest fraction of changed predictions at which to stop.

    Examples
    --------
    >>> import numpy as np
    >>> from skal.stopping import ClassificationChange
    >>> crit = ClassificationChange()
    >>> crit.update(proba=np.eye(2)[[0, 1, 1, 0]]) is None
    True
    >>> crit.update(proba=np.eye(2)[[0, 1, 1, 1]])
    0.25
    >>> crit.update(proba=np.eye(2)[[0, 1, 1, 1]]), crit.should_stop
    (0.0, True)
    """

    name = "classification_change"
    rule = "fraction of changed predictions <= threshold"

    def __init__(self, threshold=0.0):
        self._threshold = check_scalar(threshold, "threshold", numbers.Real, min_val=0, max_val=1)
        super().__init__()

    def get_params(self):
        return {"threshold": self._threshold}

    @property
    def threshold(self):
        return self._threshold

    def reset(self):
        super().reset()
        self._last = None
        return self

    def _verdict(self, value):
        return value <= self.threshold

    def _observe(self, proba, classes, mask, score):
        predicted = np.asarray(classes)[proba.argmax(axis=1)]
        mask = np.ones(len(predicted), dtype=bool) if mask is None else mask
        last, self._last = self._last, (predicted, mask)
        if last is None:
            return None
        if len(last[0]) != len(predicted):
            raise ValueError(
                f"the stop set changed size ({len(last[0])} rows, now {len(predicted)}): "
                "classification change compares models on the same rows."
            )
        rows = last[1] & mask
        if not rows.any():
            return None
        return float(np.mean(last[0][rows] != predicted[rows]))


class ValidationPlateau(StoppingCriterion):
    """Stop when the validation score has stopped improving.

    The value is the best score of the last ``patience`` models minus the
    best score of the models before them; the campaign should stop when it
    is below ``min_delta`` (the threshold). Feed it the score on a labeled
    validation set that is never trained on (a
    :class:`~skal.LabelingSession`'s ``ask_validation``).

    Parameters
    ----------
    patience : int, default=3
        Models without a gain of ``min_delta`` before stopping.
    min_delta : float, default=0.005
        Smallest gain that counts as progress (the threshold).

    Examples
    --------
    >>> from skal.stopping import ValidationPlateau
    >>> crit = ValidationPlateau(patience=2, min_delta=0.01)
    >>> values = [crit.update(score=s) for s in [0.70, 0.80, 0.805, 0.802]]
    >>> [None if v is None else round(v, 3) for v in values]
    [None, None, 0.105, 0.005]
    >>> crit.should_stop
    True
    """

    name = "validation_plateau"
    rule = "gain over the last `patience` models < threshold"
    needs = "score"

    def __init__(self, patience=3, min_delta=0.005):
        self.patience = check_scalar(patience, "patience", numbers.Integral, min_val=1)
        self.min_delta = check_scalar(min_delta, "min_delta", numbers.Real, min_val=0)
        super().__init__()

    def get_params(self):
        return {"patience": self.patience, "min_delta": self.min_delta}

    @property
    def threshold(self):
        return self.min_delta

    def reset(self):
        super().reset()
        self.scores_ = []
        return self

    def _verdict(self, value):
        return value < self.threshold

    def _observe(self, proba, classes, mask, score):
        self.scores_.append(score)
        if len(self.scores_) <= self.patience:
            return None
        before = max(self.scores_[: -self.patience])
        recent = max(self.scores_[-self.patience:])
        return recent - before


#: Criteria by registry name (what a labeling session stores and rebuilds).
CRITERIA = {
    cls.name: cls
    for cls in (
        StabilizingPredictions, MaxUncertainty, OverallUncertainty, ClassificationChange,
        ValidationPlateau,
    )
}


def default_criteria():
    """One of each criterion with its default settings (a fresh list)."""
    return [cls() for cls in CRITERIA.values()]


def criterion_from_spec(spec):
    """Rebuild a criterion from ``{"name": ..., "params": {...}}`` (only registered names).

    Examples
    --------
    >>> from skal.stopping import criterion_from_spec
    >>> criterion_from_spec({"name": "validation_plateau", "params": {"patience": 5}})
    ValidationPlateau(patience=5, min_delta=0.005)
    """
    name = spec.get("name") if isinstance(spec, dict) else None
    if name not in CRITERIA:
        raise ValueError(
            f"unknown stopping criterion {name!r}; known: {', '.join(sorted(CRITERIA))}."
        )
    return CRITERIA[name](**dict(spec.get("params") or {}))
