"""The one place a strategy's pool is wrapped: its kind known once, its executor chosen.

:func:`as_pool` validates ``X_pool`` (None, empty, NaN/inf: see
:func:`skal._validation.validate_pool`), asks its container kind and
length once, and returns the :class:`~skal.strategies._memory.Pool` that
executes the strategy's work over it: a
:class:`~skal.strategies._dask.DaskPool` for a dask array, a
:class:`~skal.strategies._memory.MemoryPool` for everything else.
"""

from __future__ import annotations

from .._containers import container_kind, num_rows
from .._validation import validate_pool
from ._dask import DaskPool
from ._memory import MemoryPool, Pool

__all__ = ["Pool", "as_pool"]

_EXECUTORS = {"dask": DaskPool}


def as_pool(X_pool, *, name="X_pool", validate=True):
    """``X_pool`` as a :class:`~skal.strategies._memory.Pool` (a pool passes through).

    Parameters
    ----------
    X_pool : any supported container, or a Pool
    name : str, default="X_pool"
        The parameter's name, for messages.
    validate : bool, default=True
        Check the pool (:func:`skal._validation.validate_pool`); False for
        a pool the caller has validated.

    Examples
    --------
    >>> import numpy as np
    >>> from skal.strategies._pool import as_pool
    >>> pool = as_pool(np.zeros((3, 2)))
    >>> type(pool).__name__, pool.kind, pool.n_rows
    ('MemoryPool', 'array', 3)
    """
    if isinstance(X_pool, Pool):
        return X_pool
    if validate:
        X_pool, kind, n_rows = validate_pool(X_pool, name=name)
    else:
        kind, n_rows = container_kind(X_pool), num_rows(X_pool, name=name)
    executor = _EXECUTORS.get(kind, MemoryPool)
    return executor(X_pool, name=name, kind=kind, n_rows=n_rows)
