"""Docstring sections every strategy shares, written once and filled in.

A strategy's docstring names a section on a line of its own, ``{section}``;
:func:`fill_doc` replaces it with the text below (see
:func:`skal._docstrings.fill_sections`), and ``{name}`` inside a section
with the strategy's name.
"""

from __future__ import annotations

from .._docstrings import fill_sections

__all__ = ["SECTIONS", "fill_doc"]

_CLASSIFIER = """\
classifier : estimator, learner or committee
    A fitted classifier: modAL/skal ``ActiveLearner`` or ``Committee``, a
    Pipeline, a scikit-learn ensemble (one sample per member), one of
    skal's probabilistic estimators or any classifier with
    ``predict_proba`` (S = 1). Probabilities are read through
    :func:`skal.models.predict_proba_samples`."""

_X_POOL = """\
X_pool : array-like, DataFrame, sparse matrix, tensor or list of shape (n_pool, ...)
    Unlabeled samples; never modified."""

_N_INSTANCES = """\
n_instances : int, default=1
    Number of pool rows to return, ``1 <= n_instances <= n_pool``."""

_CHUNK_SIZE = """\
chunk_size : int or None, default=None
    Rows scored at once; ``None`` sizes chunks to about 64 MiB of
    predictive samples."""

_PIXEL_POOLING = """\
pixel_pooling : None, str, dict, PixelPooling or callable, default=None
    For a segmenter (samples of shape ``(S, n, K, H, W)``): the measure
    scores every pixel and this pools each image's scores to one:
    ``"mean"`` (None), ``"top_k"`` (the mean of the top 10% pixels;
    ``{"method": "top_k", "top_fraction": 0.05}`` for 5%) or
    ``"class_balanced"`` (see :class:`skal.measures.PixelPooling`)."""

_PREDICT_PARAMS = """\
**predict_params
    Passed to ``predict_proba_samples`` (for example ``n_samples`` for MC
    dropout)."""

SECTIONS = {
    "classifier": _CLASSIFIER,
    "X_pool": _X_POOL,
    "n_instances": _N_INSTANCES,
    "chunk_size": _CHUNK_SIZE,
    "pixel_pooling": _PIXEL_POOLING,
    "predict_params": _PREDICT_PARAMS,
    # The whole parameter list of a strategy that ranks points by a measure.
    "measure_parameters": "\n".join(
        [
            _CLASSIFIER,
            _X_POOL,
            _N_INSTANCES,
            """\
random_state : int, RandomState instance or None, default=None
    Breaks ties between equal scores.""",
            _CHUNK_SIZE,
            _PIXEL_POOLING,
            _PREDICT_PARAMS,
        ]
    ),
    # Parameters of a measure strategy that draws its batch (power sampling).
    "power_parameters": "\n".join(
        [
            _CLASSIFIER,
            _X_POOL,
            _N_INSTANCES,
            """\
power : float, default=1.0
    The exponent γ > 0 of ``score ** γ``: 1 (Kirsch et al.'s choice for
    BALD) spreads the batch, larger values approach top-n.
random_state : int, RandomState instance or None, default=None
    Drives the draw.""",
            _CHUNK_SIZE,
            _PIXEL_POOLING,
            _PREDICT_PARAMS,
        ]
    ),
    "power_reference": """\
References
----------
A. Kirsch, S. Farquhar, P. Atighehchian, A. Jesson, F. Branchaud-Charron,
Y. Gal. Stochastic Batch Acquisition: A Simple Baseline for Deep Active
Learning. TMLR 2023.""",
    "query_idx": """\
query_idx : ndarray of shape (n_instances,)
    Distinct positions in ``X_pool``, best first.""",
    "measure_example": """\
Examples
--------
>>> from sklearn.datasets import load_iris
>>> from sklearn.ensemble import RandomForestClassifier
>>> from skal.strategies import {name}
>>> X, y = load_iris(return_X_y=True)
>>> forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(X[::5], y[::5])
>>> query_idx, scores = {name}(forest, X, n_instances=3, random_state=0)
>>> query_idx.shape, scores.shape
((3,), (3,))""",
}

def fill_doc(func):
    """Fill the ``{section}`` lines of ``func.__doc__`` from :data:`SECTIONS`.

    Examples
    --------
    >>> from skal.strategies._docstrings import fill_doc
    >>> @fill_doc
    ... def strategy(classifier, X_pool, n_instances=1):
    ...     '''Query something.
    ...
    ...     Parameters
    ...     ----------
    ...     {n_instances}
    ...     '''
    >>> print(strategy.__doc__.splitlines()[4].strip())
    n_instances : int, default=1
    """
    func.__doc__ = fill_sections(func.__doc__, SECTIONS, name=func.__name__, owner=func.__qualname__)
    return func
