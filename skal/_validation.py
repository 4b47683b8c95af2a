"""Input checks shared by the query strategies (and anyone else who takes a pool).

A pool may be a NumPy array, a pandas DataFrame, a SciPy sparse matrix, a
torch tensor or a plain list (of images, of strings, ...). Everything here
works on row *positions*, never copies the caller's data and never writes to
it.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import sparse

__all__ = [
    "check_chunk_size",
    "check_n_instances",
    "check_pool",
    "is_pandas",
    "is_tensor",
    "iter_chunks",
    "num_rows",
    "take_rows",
]


def is_pandas(obj):
    """A pandas DataFrame or Series (indexed by position through ``.iloc``)."""
    return hasattr(obj, "iloc") and hasattr(obj, "index")


def is_tensor(obj):
    """A torch tensor, recognised without importing torch for other data."""
    return type(obj).__module__.startswith("torch") and hasattr(obj, "dim")


def num_rows(X, *, name="X_pool"):
    """Number of rows of any supported container (first axis)."""
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    try:
        return len(X)
    except TypeError:
        raise TypeError(
            f"{name} of type {type(X).__name__} has no length: pass an array, "
            "DataFrame, sparse matrix, tensor or list of samples."
        ) from None


def _finite_error(name):
    return ValueError(
        f"{name} contains NaN or infinity: impute or drop those rows before querying "
        "(for example with sklearn.impute.SimpleImputer)."
    )


def check_pool(X_pool, *, name="X_pool"):
    """Validate a pool of unlabeled samples without copying it.

    Parameters
    ----------
    X_pool : array-like, DataFrame, sparse matrix, tensor or list
        The pool. Numeric pools must be finite.
    name : str, default="X_pool"
        Parameter name used in error messages.

    Returns
    -------
    X_pool : same as input
        The pool itself, except that sparse formats that cannot be sliced by
        rows (COO, DIA, ...) are converted to CSR (a new object).

    Raises
    ------
    ValueError
        When the pool is empty or holds NaN/inf.

    Examples
    --------
    >>> import numpy as np
    >>> from skal._validation import check_pool
    >>> check_pool(np.zeros((2, 3))).shape
    (2, 3)
    """
    if X_pool is None:
        raise ValueError(f"{name} is None: pass the unlabeled samples to query from.")
    if sparse.issparse(X_pool) and X_pool.format not in ("csr", "csc", "lil"):
        X_pool = X_pool.tocsr()
    if num_rows(X_pool) == 0:
        raise ValueError(
            f"{name} is empty: there is nothing left to query. Stop the loop when "
            "the pool is exhausted (or add unlabeled samples)."
        )
    _check_finite(X_pool, name)
    return X_pool


def _check_finite(X, name):
    if sparse.issparse(X):
        data = X.data
        if data.dtype.kind in "fc" and not np.isfinite(data).all():
            raise _finite_error(name)
        return
    if hasattr(X, "select_dtypes"):  # pandas: check numeric columns one at a time
        for column in X.select_dtypes(include=[np.floating, np.complexfloating]).columns:
            values = X[column].to_numpy()
            if not np.isfinite(values).all():
                raise _finite_error(name)
        return
    if is_tensor(X):
        import torch

        if torch.is_tensor(X) and X.is_floating_point() and not bool(torch.isfinite(X).all()):
            raise _finite_error(name)
        return
    if isinstance(X, np.ndarray):
        if X.dtype.kind in "fc" and not np.isfinite(X).all():
            raise _finite_error(name)
        return
    # Lists of images or texts: only check when they form a plain numeric array.
    if isinstance(X, (list, tuple)) and len(X) and isinstance(X[0], numbers.Real):
        arr = np.asarray(X)
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            raise _finite_error(name)


def check_n_instances(n_instances, n_pool, *, name="n_instances"):
    """Check that ``n_instances`` is an int in ``[1, n_pool]``.

    Examples
    --------
    >>> from skal._validation import check_n_instances
    >>> check_n_instances(3, 10)
    3
    """
    if isinstance(n_instances, (bool, np.bool_)) or not isinstance(n_instances, numbers.Integral):
        raise TypeError(
            f"{name} must be an int, got {type(n_instances).__name__} ({n_instances!r})."
        )
    n_instances = int(n_instances)
    if n_instances < 1:
        raise ValueError(f"{name} must be at least 1, got {n_instances}.")
    if n_instances > n_pool:
        raise ValueError(
            f"{name}={n_instances} is larger than the pool ({n_pool} rows): "
            f"ask for at most {n_pool} instances."
        )
    return n_instances


def check_chunk_size(chunk_size, *, name="chunk_size"):
    """``None`` (automatic) or a positive int."""
    if chunk_size is None:
        return None
    if isinstance(chunk_size, (bool, np.bool_)) or not isinstance(chunk_size, numbers.Integral):
        raise TypeError(f"{name} must be a positive int or None, got {chunk_size!r}.")
    if chunk_size < 1:
        raise ValueError(f"{name} must be a positive int or None, got {chunk_size}.")
    return int(chunk_size)


def take_rows(X, start, stop=None):
    """Rows of ``X`` by position, in ``X``'s own container type.

    A slice ``start:stop``, or with ``stop=None`` the rows of the index
    array ``start``. DataFrames are indexed with ``.iloc`` (label indexing
    on a frame whose index is not ``0..n-1`` would silently return other
    rows); sparse matrices keep their format; lists give lists; tensors stay
    on their device.
    """
    key = slice(start, stop) if stop is not None else np.asarray(start, dtype=np.intp)
    if sparse.issparse(X):
        # coo/dia/bsr have no row indexing; csr is the cheapest to slice.
        fmt = X.format
        rows = X.tocsr()[key]
        return rows if fmt == "csr" else rows.asformat(fmt)
    if is_pandas(X):
        return X.iloc[key]
    if isinstance(X, (list, tuple)):
        return list(X[key]) if stop is not None else [X[i] for i in key.tolist()]
    if stop is None and is_tensor(X):
        import torch

        key = torch.as_tensor(key, dtype=torch.int64, device=X.device)
    return X[key]


def iter_chunks(X, chunk_size):
    """Yield ``(start, stop, X[start:stop])`` over the rows of ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> from skal._validation import iter_chunks
    >>> [(a, b) for a, b, _ in iter_chunks(np.zeros((5, 1)), 2)]
    [(0, 2), (2, 4), (4, 5)]
    """
    n = num_rows(X)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        yield start, stop, take_rows(X, start, stop)
