"""Calling a query strategy exactly once and reading what it returned.

modAL 0.4.2.1 unpacks ``idx, metrics = strategy(...)`` under a bare
``except`` and calls the strategy a second time when that fails, so a
strategy returning bare indices runs twice and one returning exactly two
indices is misread as ``(idx, metrics)``. The learners here call the
strategy once and decide what came back by looking at it.
"""

from __future__ import annotations

import inspect
import numbers
import warnings

import numpy as np

from .._containers import num_rows, take_rows
from .._validation import check_indices, check_pool, inputs_may_hold_nan

__all__ = [
    "Lazy",
    "QueryMixin",
    "call_strategy",
    "explicit_params",
    "resolve_strategy",
    "unpack_result",
]

_MAX_SEED = np.iinfo(np.int32).max


def resolve_strategy(query_strategy, default_name):
    """Return a callable for ``query_strategy`` (None, a registry name or a callable)."""
    if query_strategy is None or isinstance(query_strategy, str):
        from skal.strategies import get_strategy

        name = default_name if query_strategy is None else query_strategy
        try:
            return get_strategy(name)
        except ValueError as exc:
            raise ValueError(f"query_strategy: {exc} Or pass a callable.") from None
    if not callable(query_strategy):
        raise TypeError(
            "query_strategy must be callable as strategy(classifier, X_pool, "
            f"n_instances=1, ...) or a strategy name, got {type(query_strategy).__name__}."
        )
    return query_strategy


def explicit_params(func):
    """Names the strategy accepts as keywords, ``**kwargs`` not counted.

    Only parameters the strategy spells out receive the learner's extras:
    a strategy taking ``**kwargs`` usually forwards them to
    ``predict_proba``, which would choke on ``X_labeled``.
    """
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return None, frozenset()
    names = frozenset(
        name
        for name, p in sig.parameters.items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    )
    return sig, names


def _is_int_scalar(x):
    return isinstance(x, (numbers.Integral, np.integer)) and not isinstance(x, (bool, np.bool_))


def unpack_result(result):
    """Split a strategy's return value into ``(indices, metrics or None)``.

    ``(idx, scores)`` is recognised by its first element being array-like
    (or a single index next to a non-integer score); a tuple of two integers
    is two indices, not an index and a score.
    """
    if isinstance(result, tuple) and len(result) == 2:
        first, second = result
        if np.ndim(first) > 0:
            return first, second
        if _is_int_scalar(first) and not _is_int_scalar(second):
            return first, second
    return result, None


class Lazy:
    """An extra whose value is computed only if the strategy takes it."""

    def __init__(self, func):
        self.func = func

    def __call__(self):
        return self.func()


def call_strategy(strategy, classifier, X_pool, query_args, query_kwargs, extras):
    """Call ``strategy`` once, adding the ``extras`` it explicitly accepts.

    ``extras`` (labeled set, random state) never override what the caller
    passed, positionally or by name.
    """
    sig, names = explicit_params(strategy)
    kwargs = dict(query_kwargs)
    wanted = {k: v for k, v in extras.items() if k in names and k not in kwargs}
    if wanted and sig is not None:
        try:
            bound = sig.bind_partial(classifier, X_pool, *query_args, **kwargs)
            wanted = {k: v for k, v in wanted.items() if k not in bound.arguments}
        except TypeError:
            # The call itself is malformed: let the strategy raise its own error.
            wanted = {}
    kwargs.update({k: v() if isinstance(v, Lazy) else v for k, v in wanted.items()})
    return strategy(classifier, X_pool, *query_args, **kwargs)


class QueryMixin:
    """``query`` shared by :class:`ActiveLearner` and :class:`Committee`."""

    def _strategy_extras(self):
        """Keyword arguments offered to strategies that name them.

        :class:`Lazy` values are evaluated only when the strategy takes them
        (so no seed is drawn for strategies without ``random_state``).
        """
        # Lazy: a committee assembles its labeled set from its members.
        extras = {
            "X_labeled": Lazy(lambda: self.X_training),
            "y_labeled": Lazy(lambda: self.y_training),
        }
        if self.random_state is not None:
            extras["random_state"] = Lazy(lambda: int(self._rng.randint(_MAX_SEED)))
        return extras

    def query(self, X_pool, *query_args, return_metrics=False, **query_kwargs):
        """Ask the query strategy which pool samples to label next.

        The strategy is called exactly once, as
        ``query_strategy(self, X_pool, *query_args, **query_kwargs)``, plus
        ``X_labeled``/``y_labeled`` (the training set) and ``random_state``
        (drawn from the learner's ``random_state``) when the strategy names
        those parameters and the caller did not pass them. The pool is
        checked first (empty, NaN/inf unless ``ensure_all_finite=False``),
        and what the strategy returns after: distinct positions into the
        pool (negative ones count from its end), ``n_instances`` of them
        when ``n_instances`` was passed.

        Parameters
        ----------
        X_pool : array-like, sparse matrix, DataFrame or list of shape (n_pool, ...)
            Unlabeled samples to choose from.
        *query_args
            Passed to the strategy (for example ``n_instances``).
        return_metrics : bool, default=False
            Also return the scores the strategy gave the selected samples
            (None, with a warning, when it returned bare indices).
        **query_kwargs
            Passed to the strategy.

        Returns
        -------
        query_idx : ndarray of shape (n_instances,)
            Positions of the selected samples in ``X_pool``.
        X_query : same container as X_pool
            The selected rows, ``X_pool[query_idx]``.
        metrics : array-like or None
            Only when ``return_metrics=True``.
        """
        self._check_ready_to_query()
        # ensure_all_finite=False (a pipeline that imputes) holds for every
        # check the strategy makes, down to query_by_measure's
        with inputs_may_hold_nan(not getattr(self, "ensure_all_finite", True)):
            checked = check_pool(X_pool)  # COO and friends come back as CSR
            result = call_strategy(
                self.query_strategy, self, checked, query_args, query_kwargs,
                self._strategy_extras(),
            )
        idx, metrics = unpack_result(result)
        n_instances = query_kwargs.get("n_instances", query_args[0] if query_args else None)
        query_idx = check_indices(
            idx, num_rows(X_pool),
            n_expected=n_instances if isinstance(n_instances, numbers.Integral) else None,
        )
        X_query = take_rows(X_pool, query_idx)  # in the caller's own container
        if return_metrics:
            if metrics is None:
                warnings.warn(
                    "the query strategy returned bare indices, so there are no "
                    "metrics to return: metrics is None.",
                    UserWarning,
                    stacklevel=2,
                )
            return query_idx, X_query, metrics
        return query_idx, X_query
