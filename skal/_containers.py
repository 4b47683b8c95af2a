"""Row-wise helpers for every container skal is handed: count, slice, append.

A pool or a labeled set may be a NumPy array (memmaps included), a pandas
DataFrame or Series, a SciPy sparse matrix, a torch tensor or a plain list
(of images, of texts, of file paths). Everything here works on row
*positions*, keeps the caller's container type, never copies more than the
rows asked for and never writes to its input. Validation lives apart, in
:mod:`skal._validation`.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

__all__ = [
    "is_pandas",
    "is_tensor",
    "iter_chunks",
    "num_rows",
    "stack_columns",
    "stack_rows",
    "take_rows",
]


def is_pandas(obj):
    """A pandas DataFrame or Series (indexed by position through ``.iloc``)."""
    return hasattr(obj, "iloc") and hasattr(obj, "index")


def is_tensor(obj):
    """A torch tensor, recognised without importing torch for other data."""
    return type(obj).__module__.startswith("torch") and hasattr(obj, "dim")


def num_rows(X, *, name="X_pool"):
    """Number of rows of any supported container (first axis).

    Examples
    --------
    >>> from skal._containers import num_rows
    >>> num_rows([[1, 2], [3, 4], [5, 6]])
    3
    """
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


def take_rows(X, start, stop=None):
    """Rows of ``X`` by position, in ``X``'s own container type.

    A slice ``start:stop``, or with ``stop=None`` the rows of the index
    array ``start``. DataFrames are indexed with ``.iloc`` (label indexing
    on a frame whose index is not ``0..n-1`` would silently return other
    rows); sparse matrices keep their format; lists give lists; tensors stay
    on their device.

    Examples
    --------
    >>> import numpy as np
    >>> from skal._containers import take_rows
    >>> take_rows(np.arange(10), [7, 2])
    array([7, 2])
    >>> take_rows(["a", "b", "c"], 1, 3)
    ['b', 'c']
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
    >>> from skal._containers import iter_chunks
    >>> [(a, b) for a, b, _ in iter_chunks(np.zeros((5, 1)), 2)]
    [(0, 2), (2, 4), (4, 5)]
    """
    n = num_rows(X)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        yield start, stop, take_rows(X, start, stop)


def stack_rows(first, second, *, name="X"):
    """Append the rows of ``second`` under ``first`` (modAL's ``data_vstack``).

    The container of ``first`` (the data already held) wins: new rows given
    as a list or array join a pandas frame as a frame with the same columns,
    dense rows join a sparse matrix as sparse, and so on.

    Examples
    --------
    >>> import numpy as np
    >>> from skal._containers import stack_rows
    >>> stack_rows(np.zeros((2, 3)), np.ones((1, 3))).shape
    (3, 3)
    """
    if sparse.issparse(first) or sparse.issparse(second):
        fmt = first.format if sparse.issparse(first) else "csr"
        try:
            return sparse.vstack([first, second], format=fmt)
        except ValueError as exc:
            raise ValueError(_mismatch(name, first, second, exc)) from None
    if is_pandas(first):
        import pandas as pd

        if not is_pandas(second):
            if first.ndim == 1:
                second = pd.Series(np.asarray(second), name=first.name)
            else:
                second = pd.DataFrame(np.asarray(second), columns=first.columns)
        if first.ndim == 2 and list(second.columns) != list(first.columns):
            raise ValueError(
                f"the new {name} has columns {list(second.columns)} but the "
                f"training data has {list(first.columns)}: pass the same columns."
            )
        return pd.concat([first, second])
    if isinstance(first, list):
        return first + list(second)
    if is_tensor(first):
        import torch

        return torch.cat([first, torch.as_tensor(second, dtype=first.dtype, device=first.device)])
    a, b = np.asarray(first), np.asarray(second)
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(_mismatch(name, a, b))
    return np.concatenate([a, b])


def _mismatch(name, first, second, exc=None):
    msg = (
        f"the new {name} has rows of shape {tuple(second.shape[1:])} but the "
        f"training data has rows of shape {tuple(first.shape[1:])}: every "
        f"{name} passed to teach() must have the same features."
    )
    return msg if exc is None else f"{msg} ({exc})"


def stack_columns(blocks):
    """Side-by-side concatenation of transformed feature blocks.

    Examples
    --------
    >>> import numpy as np
    >>> from skal._containers import stack_columns
    >>> stack_columns([np.zeros((2, 1)), np.ones((2, 2))]).shape
    (2, 3)
    """
    if len(blocks) == 1:
        return blocks[0]
    if any(sparse.issparse(b) for b in blocks):
        return sparse.hstack(blocks, format="csr")
    if all(is_pandas(b) for b in blocks):
        import pandas as pd

        return pd.concat(blocks, axis=1)
    return np.hstack([np.asarray(b) for b in blocks])
