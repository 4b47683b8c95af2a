"""Bayesian Generative Active Deep Learning (Tran et al. 2019): every acquisition brings a generated twin."""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state

from .._containers import stack_rows
from ._learner import ActiveLearner
from ._query import _MAX_SEED

__all__ = ["BGADL"]


def _check_images(X, name="X"):
    """BGADL generates images: fail before anything is fitted on other data."""
    if np.ndim(X) != 4:
        raise ValueError(
            f"{name} has shape {np.shape(X)}; BGADL generates images: pass an array of shape "
            "(n, channels, height, width), e.g. X.reshape(-1, 1, 28, 28)."
        )


class BGADL(ActiveLearner):
    """Bayesian Generative Active Deep Learning: acquired images bring generated twins.

    A :class:`~skal.models.VAEACGAN` is trained on the labeled images. Every
    sample ``(x*, y*)`` taught after the first fit (an acquisition; by
    default chosen by BALD) yields ``x' = g(e(x*), y*)``, made by the
    generator as it was before ``x*`` was labeled: an image close to
    ``x*``, looking real and of class ``y*``. ``(x', y*)`` joins the
    training set of the classifier for good, beside the labeled set (Tran
    et al. 2019). One :meth:`teach` thus

    1. generates the twins of the new samples (not for the first labeled
       set, nor for a label the generator has not seen yet);
    2. adds the samples to the labeled set and fits the classifier on the
       labeled set followed by every generated twin so far;
    3. trains the generator further (``partial_fit``) on the labeled set,
       or from scratch when the labeled set holds a label it does not know.

    Parameters
    ----------
    estimator : estimator object
        A scikit-learn compatible classifier or Pipeline of images ``(n, C,
        H, W)``, fitted in place (e.g. an
        :class:`~skal.models.MCDropoutClassifier` of a
        :class:`~skal.models.GalCNN`).
    query_strategy : callable or str, default=None
        Any strategy (see :class:`~skal.ActiveLearner`); None is ``"bald"``,
        the acquisition of the paper.
    X_training, y_training : array-like, default=None
        Initial labeled images, not augmented; when given, the estimator
        and the generator are fitted on them at once.
    bootstrap_init : bool, default=False
        Fit the initial estimator on a bootstrap resample.
    on_transformed : bool, default=False
        See :class:`~skal.ActiveLearner`.
    generator : VAEACGAN, default=None
        The generative model and its settings (``n_steps`` per teach,
        ``width``, ``latent_dim``, ...); cloned. None is
        ``VAEACGAN()``. Its ``random_state`` left to None is seeded from
        ``random_state``.
    random_state : int, RandomState instance or None, default=None
        Seeds the generator and the codes of the twins (and, as in
        :class:`~skal.ActiveLearner`, bootstrap and strategies' seeds).
    ensure_all_finite : bool, default=True
        See :class:`~skal.ActiveLearner`.
    **fit_kwargs
        Passed to ``estimator.fit`` for the initial fit only.

    Attributes
    ----------
    generator_ : VAEACGAN
        The generative model, trained on the labeled set.
    X_generated_ : ndarray of shape (n_generated, C, H, W)
        The generated twins so far, in the order of their originals.
    y_generated_ : ndarray of shape (n_generated,)
        Their labels (the labels of the originals).

    See Also
    --------
    skal.models.VAEACGAN : the generative model.

    Notes
    -----
    ``teach(..., only_new=True)`` fits on the new samples and every twin
    generated so far. The learner is ``history_dependent``: twins are made by
    the generator of their round, so the experiment harness replays rounds
    when it resumes a run (which reproduces them, each teach being seeded
    from ``random_state``).

    References
    ----------
    T. Tran, T.-T. Do, I. Reid, G. Carneiro. Bayesian Generative Active
    Deep Learning. ICML 2019 (arXiv:1904.11643).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from skal.learners import BGADL
    >>> from skal.models import VAEACGAN
    >>> X, y = load_digits(return_X_y=True)
    >>> images = (X / 16).reshape(-1, 1, 8, 8)
    >>> flat = FunctionTransformer(lambda X: X.reshape(len(X), -1))
    >>> learner = BGADL(make_pipeline(flat, LogisticRegression(max_iter=500)), "entropy",
    ...                 X_training=images[:50], y_training=y[:50],
    ...                 generator=VAEACGAN(n_steps=20, width=8), random_state=0)
    >>> idx, X_query = learner.query(images[50:], n_instances=5)
    >>> learner.teach(X_query, y[50:][idx])
    >>> learner.X_generated_.shape, len(learner.y_training)
    ((5, 1, 8, 8), 55)
    """

    history_dependent = True

    def __init__(
        self,
        estimator,
        query_strategy=None,
        X_training=None,
        y_training=None,
        bootstrap_init=False,
        on_transformed=False,
        *,
        generator=None,
        random_state=None,
        ensure_all_finite=True,
        **fit_kwargs,
    ):
        from skal.models import VAEACGAN

        if generator is not None and not isinstance(generator, VAEACGAN):
            raise TypeError(
                f"generator must be a skal.models.VAEACGAN (with its settings), got "
                f"{type(generator).__name__}."
            )
        if X_training is not None:
            _check_images(X_training, name="X_training")
        self.generator = generator
        self._seeds = check_random_state(random_state)
        self._reset_generation()
        super().__init__(
            estimator,
            "bald" if query_strategy is None else query_strategy,
            X_training,
            y_training,
            bootstrap_init,
            on_transformed,
            random_state=random_state,
            ensure_all_finite=ensure_all_finite,
            **fit_kwargs,
        )
        if X_training is not None:
            self._train_generator()

    def _reset_generation(self):
        from skal.models import VAEACGAN

        self.generator_ = clone(VAEACGAN() if self.generator is None else self.generator)
        if self.generator_.random_state is None:
            self.generator_.set_params(random_state=int(self._seeds.randint(_MAX_SEED)))
        self.X_generated_ = None
        self.y_generated_ = None

    def _train_generator(self):
        known = getattr(self.generator_, "classes_", None)
        labels = np.unique(np.asarray(self.y_training))
        if known is None or not np.isin(labels, known).all():
            self.generator_.fit(self.X_training, self.y_training)
        else:
            self.generator_.partial_fit(self.X_training, self.y_training)

    def _generate_twins(self, X, y):
        known = getattr(self.generator_, "classes_", None)
        if known is None:  # the first labeled set: nothing to learn from yet
            return
        X, y = self._validate_X_y(X, y)
        y = np.asarray(y)
        rows = np.flatnonzero(np.isin(y, known))
        seed = int(self._seeds.randint(_MAX_SEED))
        if not len(rows):
            return
        twins = self.generator_.reconstruct(np.asarray(X)[rows], y[rows], random_state=seed)
        if self.X_generated_ is None:
            self.X_generated_, self.y_generated_ = twins, y[rows]
        else:
            self.X_generated_ = np.concatenate([self.X_generated_, twins])
            self.y_generated_ = np.concatenate([self.y_generated_, y[rows]])

    def teach(self, X, y, bootstrap=False, only_new=False, **fit_kwargs):
        """Generate the twins of ``(X, y)``, add the samples, refit the classifier, train the generator.

        Parameters are those of :meth:`skal.ActiveLearner.teach`.
        """
        _check_images(X)
        with self._transaction():  # a failure drops the twins and the generator's step too
            self._generate_twins(X, y)
            super().teach(X, y, bootstrap=bootstrap, only_new=only_new, **fit_kwargs)
            self._train_generator()

    def fit(self, X, y, bootstrap=False, **fit_kwargs):
        """Start over on the labeled set ``(X, y)``: twins are dropped, the generator is rebuilt.

        Parameters and return value as :meth:`skal.ActiveLearner.fit`.
        """
        _check_images(X)
        with self._transaction():
            self._reset_generation()
            super().fit(X, y, bootstrap=bootstrap, **fit_kwargs)
            self._train_generator()
        return self

    def get_training_set(self, X, y):
        """The rows ``(X, y)`` followed by every generated twin.

        Parameters
        ----------
        X : array-like of shape (n_samples, C, H, W)
        y : array-like of shape (n_samples,)

        Returns
        -------
        X_fit, y_fit : the same containers, longer by ``len(y_generated_)``
        """
        if self.X_generated_ is None:
            return X, y
        X_twins = self.X_generated_.astype(np.asarray(X).dtype, copy=False)
        return stack_rows(X, X_twins), stack_rows(y, self.y_generated_, name="y")

    def describe_round(self, y_pool=None):
        """How many twins the learner trains on, as a JSON-able dict.

        Parameters
        ----------
        y_pool : array-like, default=None
            Accepted for a uniform call from the harness; not used.

        Returns
        -------
        info : dict
            ``n_generated``.
        """
        return {"n_generated": 0 if self.y_generated_ is None else int(len(self.y_generated_))}
