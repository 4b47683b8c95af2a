"""Row-wise helpers for every container skal is handed: count, slice, append.

A pool or a labeled set may be a NumPy array (memmaps included), a pandas
DataFrame or Series, a SciPy sparse matrix, a torch tensor, a plain list
(of images, of texts, of file paths), and, for pools that do not fit in
memory, a ``torch.utils.data.Dataset`` (torchvision's ``ImageFolder`` over
image files, decoded by DataLoader workers) or a ``dask.array`` array.
Everything here works on row *positions*, keeps the caller's container type
where it can (a Dataset's or a dask array's rows come back as a tensor or
an in-memory array), never reads more than the rows asked for and never
writes to its input. Validation lives apart, in :mod:`skal._validation`.
"""

from __future__ import annotations

import os

import numpy as np
from scipy import sparse

__all__ = [
    "Rows",
    "container_kind",
    "is_dask",
    "is_dataset",
    "is_pandas",
    "is_tensor",
    "iter_chunks",
    "loader_workers",
    "num_rows",
    "stack_columns",
    "stack_rows",
    "take_rows",
]


def is_dask(obj):
    """A dask array (recognised without importing dask for other data)."""
    return type(obj).__module__.startswith("dask") and hasattr(obj, "chunks")


def is_dataset(obj):
    """A map-style ``torch.utils.data.Dataset`` (torchvision's image folders included)."""
    import sys

    data = sys.modules.get("torch.utils.data")
    return data is not None and isinstance(obj, data.Dataset) and hasattr(obj, "__len__")


def is_pandas(obj):
    """A pandas DataFrame or Series (indexed by position through ``.iloc``)."""
    return hasattr(obj, "iloc") and hasattr(obj, "index")


def is_tensor(obj):
    """A torch tensor, recognised without importing torch for other data."""
    return type(obj).__module__.startswith("torch") and hasattr(obj, "dim")


def container_kind(X):
    """What kind of container ``X`` is, asked once: the key every row helper dispatches on.

    One of ``"dataset"`` (a map-style ``torch.utils.data.Dataset``),
    ``"dask"``, ``"sparse"``, ``"frame"`` (pandas), ``"list"`` (a list or
    tuple of samples), ``"tensor"`` and ``"array"`` (NumPy arrays, memmaps
    included, and anything else indexed like one).

    Examples
    --------
    >>> import numpy as np
    >>> from skal._containers import container_kind
    >>> container_kind(np.zeros((2, 3))), container_kind([[1, 2]])
    ('array', 'list')
    """
    if is_dataset(X):
        return "dataset"
    if is_dask(X):
        return "dask"
    if sparse.issparse(X):
        return "sparse"
    if is_pandas(X):
        return "frame"
    if isinstance(X, (list, tuple)):
        return "list"
    if is_tensor(X):
        return "tensor"
    return "array"


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
        if not np.isfinite(shape[0]):
            raise ValueError(
                f"{name} has an unknown number of rows (a dask array with unknown chunk "
                "sizes): call compute_chunk_sizes() on it first."
            )
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
    return _take(X, container_kind(X), start, stop)


def _take(X, kind, start, stop=None):
    """:func:`take_rows` with the container's kind already known."""
    key = slice(start, stop) if stop is not None else np.asarray(start, dtype=np.intp)
    if kind == "dataset":
        positions = range(start, stop) if stop is not None else key.tolist()
        return _collate_samples([X[i] for i in positions])
    if kind == "dask":
        return np.asarray(X[key])
    if kind == "sparse":
        # coo/dia/bsr have no row indexing; csr is the cheapest to slice.
        fmt = X.format
        rows = X.tocsr()[key]
        return rows if fmt == "csr" else rows.asformat(fmt)
    if kind == "frame":
        return X.iloc[key]
    if kind == "list":
        return list(X[key]) if stop is not None else [X[i] for i in key.tolist()]
    if stop is None and kind == "tensor":
        import torch

        key = torch.as_tensor(key, dtype=torch.int64, device=X.device)
    return X[key]


def _collate_samples(samples):
    """Stack a Dataset's samples into one batch: the inputs of ``(input, target)`` pairs."""
    from torch.utils.data import default_collate

    if samples and isinstance(samples[0], (tuple, list)):
        samples = [sample[0] for sample in samples]
    try:
        return default_collate(samples)
    except TypeError as exc:
        raise TypeError(
            f"the pool's samples cannot be stacked into a batch ({exc}); give the "
            "Dataset a transform that returns tensors, e.g. torchvision's "
            "transforms.ToTensor()."
        ) from None


def loader_workers():
    """DataLoader worker processes that decode a Dataset pool: ``$SKAL_LOADER_WORKERS``, else up to 4."""
    configured = os.environ.get("SKAL_LOADER_WORKERS")
    if configured is not None:
        return int(configured)
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def iter_chunks(X, chunk_size, *, start=0):
    """Yield ``(start, stop, X[start:stop])`` over the rows of ``X`` from row ``start``.

    A Dataset is read through a ``torch.utils.data.DataLoader`` with
    :func:`loader_workers` worker processes, so that image files are
    decoded in parallel while the model scores the previous chunk; a dask
    array is computed one chunk at a time.

    Examples
    --------
    >>> import numpy as np
    >>> from skal._containers import iter_chunks
    >>> [(a, b) for a, b, _ in iter_chunks(np.zeros((5, 1)), 2)]
    [(0, 2), (2, 4), (4, 5)]
    """
    return Rows(X).chunks(chunk_size, start=start)


class Rows:
    """A container's rows, its kind and length asked once: count, slice and chunk them.

    What :func:`num_rows`, :func:`take_rows` and :func:`iter_chunks` do on
    any container, for code that works on one container many times (a
    query strategy over its pool): the container's kind
    (:func:`container_kind`) and number of rows are found here once, not
    at every slice.

    Parameters
    ----------
    data : any supported container
    name : str, default="X_pool"
        The parameter's name, for messages.
    kind, n_rows : default=None
        Already known facts (found here when None).

    Examples
    --------
    >>> import numpy as np
    >>> from skal._containers import Rows
    >>> rows = Rows(np.arange(10).reshape(5, 2))
    >>> rows.kind, rows.n_rows, rows.take([4, 0]).tolist()
    ('array', 5, [[8, 9], [0, 1]])
    >>> [(a, b) for a, b, _ in rows.chunks(2)]
    [(0, 2), (2, 4), (4, 5)]
    """

    def __init__(self, data, *, name="X_pool", kind=None, n_rows=None):
        self.data = data
        self.name = name
        self.kind = container_kind(data) if kind is None else kind
        self.n_rows = num_rows(data, name=name) if n_rows is None else int(n_rows)

    def __len__(self):
        return self.n_rows

    @property
    def ndim(self):
        """Dimensions of a row plus one (2 for tabular rows, 4 for images ``(n, C, H, W)``)."""
        return getattr(self.data, "ndim", 2)

    def whole(self):
        """All the rows at once: the container itself, or its rows read into memory.

        A Dataset's samples are collated into one batch and a dask array is
        computed; every other container is returned as it is.
        """
        if self.kind in ("dataset", "dask"):
            return self.take(0, self.n_rows)
        return self.data

    def take(self, start, stop=None):
        """:func:`take_rows` of these rows."""
        return _take(self.data, self.kind, start, stop)

    def chunks(self, chunk_size, *, start=0):
        """:func:`iter_chunks` of these rows."""
        X, n = self.data, self.n_rows
        if self.kind == "dataset" and n - start > chunk_size:
            from torch.utils.data import DataLoader, Subset

            loader = DataLoader(
                Subset(X, range(start, n)), batch_size=chunk_size, shuffle=False,
                num_workers=loader_workers(), collate_fn=_collate_samples,
            )
            for batch in loader:
                stop = start + len(batch)
                yield start, stop, batch
                start = stop
            return
        for first in range(start, n, chunk_size):
            stop = min(first + chunk_size, n)
            yield first, stop, self.take(first, stop)


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
