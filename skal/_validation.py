"""Input checks, one per concept, shared by every layer of skal.

* :func:`check_scalar` for every scalar parameter (on
  :func:`sklearn.utils.check_scalar`: TypeError for a wrong type, ValueError
  for a bad value; booleans are not numbers);
* :func:`check_finite` for NaN/inf in numeric data of any container;
* :func:`check_pool` and :func:`check_n_instances` for what a query is given;
* :func:`check_indices` for the pool positions a query strategy returns.

Errors are raised at the boundary and name the parameter and the fix. None
of these checks copies the caller's data or writes to it. Counting and
slicing rows is :mod:`skal._containers`' job.
"""

from __future__ import annotations

import contextlib
import contextvars
import numbers

import numpy as np
from scipy import sparse
from sklearn import get_config
from sklearn.utils import check_scalar as _sklearn_check_scalar

from ._containers import container_kind, is_tensor, num_rows

__all__ = [
    "check_finite",
    "check_indices",
    "check_n_instances",
    "check_pool",
    "check_scalar",
    "inputs_may_hold_nan",
    "validate_pool",
]

#: Whether the data of the query being run may hold NaN/inf (a learner with
#: ``ensure_all_finite=False``, whose pipeline imputes them): every strategy
#: the learner calls, and the helpers they call, then let such inputs pass.
_INPUTS_MAY_HOLD_NAN = contextvars.ContextVar("skal_inputs_may_hold_nan", default=False)


@contextlib.contextmanager
def inputs_may_hold_nan(allowed=True):
    """Within the block, :func:`check_finite` lets NaN/inf pass when ``allowed``.

    How a learner's ``ensure_all_finite=False`` reaches every strategy it
    calls, built-in or the user's own (through :func:`check_pool`, which
    :func:`skal.strategies.query_by_measure` calls, and the checks on the
    labeled set), without each strategy growing a parameter for it. What
    models return (probabilities, embeddings) is still checked.

    Examples
    --------
    >>> import numpy as np
    >>> from skal._validation import check_pool, inputs_may_hold_nan
    >>> with inputs_may_hold_nan():
    ...     check_pool(np.array([[np.nan, 1.0]])).shape
    (1, 2)
    """
    token = _INPUTS_MAY_HOLD_NAN.set(bool(allowed))
    try:
        yield
    finally:
        _INPUTS_MAY_HOLD_NAN.reset(token)

#: Bytes of a dense array checked for finiteness at once, so that a memmapped
#: pool is streamed rather than loaded.
_FINITE_BLOCK_BYTES = 64 * 2**20


def check_scalar(
    x,
    name,
    target_type,
    *,
    min_val=None,
    max_val=None,
    include_boundaries="both",
    allow_none=False,
    hint=None,
):
    """Validate a scalar parameter: :func:`sklearn.utils.check_scalar`, stricter.

    Booleans are rejected where a number is expected (``True`` is an
    ``int`` to Python, never a sensible ``max_epochs``), real numbers must
    be finite, and ``hint`` (how to fix it) is appended to the message.

    Parameters
    ----------
    x : object
        The value.
    name : str
        The parameter's name, as the user spells it.
    target_type : type or tuple of types
        For example ``numbers.Integral`` or ``numbers.Real``.
    min_val, max_val : float, default=None
        Bounds, as in scikit-learn.
    include_boundaries : {"both", "left", "right", "neither"}, default="both"
    allow_none : bool, default=False
        Accept ``None`` (returned as is).
    hint : str, default=None
        Appended to the error message.

    Returns
    -------
    x : the value, numpy scalars converted to Python ``int``/``float``.

    Raises
    ------
    TypeError
        Wrong type (a bool for a number included).
    ValueError
        Out of bounds, or NaN/inf for a real number.

    Examples
    --------
    >>> import numbers
    >>> from skal._validation import check_scalar
    >>> check_scalar(3, "max_epochs", numbers.Integral, min_val=1)
    3
    >>> check_scalar(True, "max_epochs", numbers.Integral)
    Traceback (most recent call last):
    ...
    TypeError: max_epochs must be an instance of int, not bool.
    """
    suffix = f" {hint}" if hint else ""
    if x is None and allow_none:
        return None
    types = target_type if isinstance(target_type, tuple) else (target_type,)
    numeric = any(issubclass(t, numbers.Number) for t in types)
    if numeric and bool not in types and isinstance(x, (bool, np.bool_)):
        expected = _sklearn_type_name(target_type)
        raise TypeError(f"{name} must be an instance of {expected}, not bool.{suffix}")
    try:
        _sklearn_check_scalar(
            x,
            name,
            target_type,
            min_val=min_val,
            max_val=max_val,
            include_boundaries=include_boundaries,
        )
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{exc}{suffix}") from None
    if isinstance(x, numbers.Real) and not isinstance(x, numbers.Integral) and not np.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x!r}.{suffix}")
    if isinstance(x, np.generic):
        return x.item()
    return x


def _sklearn_type_name(target_type):
    # The same spelling as scikit-learn's own message.
    try:
        _sklearn_check_scalar(object(), "x", target_type)
    except TypeError as exc:
        return str(exc).split("must be an instance of ", 1)[1].split(", not", 1)[0]
    return getattr(target_type, "__name__", str(target_type))  # pragma: no cover


def _finite_error(name):
    return ValueError(
        f"{name} contains NaN or infinity: impute or drop those values first "
        "(for example with sklearn.impute.SimpleImputer in a Pipeline)."
    )


def check_finite(X, *, name="X", kind=None):
    """Raise a ValueError when the numeric values of ``X`` hold NaN or infinity.

    Works on NumPy arrays (memmaps are streamed in blocks, not loaded), dask
    arrays (chunk by chunk, where they live), sparse matrices, pandas frames
    (their numeric columns), torch tensors (on their device) and lists of
    rows or of images. Data that is not numeric (texts, file paths, images of
    different sizes stacked in a list) has nothing to check and passes, and
    so does a ``torch.utils.data.Dataset``, whose samples are only produced
    (decoded from files, transformed) when they are scored.

    Parameters
    ----------
    X : array-like, sparse matrix, DataFrame, Series, tensor or list
    name : str, default="X"
        Parameter name for the message.
    kind : str, default=None
        ``X``'s :func:`~skal._containers.container_kind` when the caller
        knows it already.

    Examples
    --------
    >>> from skal._validation import check_finite
    >>> check_finite([[1.0, 2.0], [3.0, float("nan")]], name="X_pool")
    Traceback (most recent call last):
    ...
    ValueError: X_pool contains NaN or infinity: impute or drop those values first (for example with sklearn.impute.SimpleImputer in a Pipeline).

    The check is skipped inside :func:`inputs_may_hold_nan` (a query of a
    learner with ``ensure_all_finite=False``) and, as scikit-learn's own
    checks, under ``sklearn.config_context(assume_finite=True)``.
    """
    kind = container_kind(X) if kind is None else kind
    if kind == "dataset" or _INPUTS_MAY_HOLD_NAN.get() or get_config()["assume_finite"]:
        return
    if kind == "dask":
        import dask.array as da

        if X.dtype.kind in "fc" and not bool(da.isfinite(X).all().compute()):
            raise _finite_error(name)
    elif kind == "sparse":
        _check_finite_array(X.data, name)
    elif kind == "frame":
        values = X.select_dtypes("number") if X.ndim == 2 else X
        _check_finite_array(values.to_numpy(), name)
    elif kind == "tensor":
        import torch

        if (X.is_floating_point() or X.is_complex()) and not bool(torch.isfinite(X).all()):
            raise _finite_error(name)
    elif isinstance(X, np.ndarray):
        _check_finite_array(X, name)
    elif kind == "list":
        try:
            values = np.asarray(X)
        except (ValueError, TypeError):  # ragged rows: check them one by one
            values = None
        if values is not None and values.dtype != object:
            _check_finite_array(values, name)
            return
        for item in X:
            if isinstance(item, (np.ndarray, list, tuple)) or is_tensor(item) or sparse.issparse(item):
                check_finite(item, name=name)
            elif isinstance(item, numbers.Number) and not np.isfinite(item):
                raise _finite_error(name)


def _check_finite_array(values, name):
    if values.dtype.kind not in "fc" or values.size == 0:
        return
    if values.ndim == 0 or values.nbytes <= _FINITE_BLOCK_BYTES:
        if not np.isfinite(values).all():
            raise _finite_error(name)
        return
    rows = max(1, _FINITE_BLOCK_BYTES // max(1, values[0].nbytes))
    for start in range(0, len(values), rows):
        if not np.isfinite(values[start : start + rows]).all():
            raise _finite_error(name)


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
        When the pool is None, empty or holds NaN/inf (see
        :func:`check_finite` for when NaN/inf pass).

    Examples
    --------
    >>> import numpy as np
    >>> from skal._validation import check_pool
    >>> check_pool(np.zeros((2, 3))).shape
    (2, 3)
    """
    return validate_pool(X_pool, name=name)[0]


def validate_pool(X_pool, *, name="X_pool"):
    """:func:`check_pool`, returning what it learned: ``(X_pool, kind, n_rows)``.

    The container's kind (:func:`~skal._containers.container_kind`) and
    length are found once here, for the caller to keep (a strategy's
    pool object) rather than ask again.

    Examples
    --------
    >>> import numpy as np
    >>> from skal._validation import validate_pool
    >>> _, kind, n_rows = validate_pool(np.zeros((2, 3)))
    >>> kind, n_rows
    ('array', 2)
    """
    if X_pool is None:
        raise ValueError(f"{name} is None: pass the unlabeled samples to query from.")
    kind = container_kind(X_pool)
    if kind == "sparse" and X_pool.format not in ("csr", "csc", "lil"):
        X_pool = X_pool.tocsr()
    n_rows = num_rows(X_pool, name=name)
    if n_rows == 0:
        raise ValueError(
            f"{name} is empty: there is nothing left to query. Stop the loop when "
            "the pool is exhausted (or add unlabeled samples)."
        )
    check_finite(X_pool, name=name, kind=kind)
    return X_pool, kind, n_rows


def check_n_instances(n_instances, n_pool, *, name="n_instances"):
    """Check that ``n_instances`` is an int in ``[1, n_pool]``.

    Examples
    --------
    >>> from skal._validation import check_n_instances
    >>> check_n_instances(3, 10)
    3
    >>> check_n_instances(11, 10)
    Traceback (most recent call last):
    ...
    ValueError: n_instances == 11, must be <= 10. The pool has 10 rows: ask for at most 10 instances.
    """
    return check_scalar(
        n_instances,
        name,
        numbers.Integral,
        min_val=1,
        max_val=n_pool,
        hint=f"The pool has {n_pool} rows: ask for at most {n_pool} instances.",
    )


def check_indices(idx, n_pool, *, n_expected=None, name="the query strategy"):
    """Validate pool positions returned by a query strategy; return them as ``intp``.

    Negative positions count from the end of the pool, as in NumPy
    indexing, and are returned normalised to ``0..n_pool-1``.

    Parameters
    ----------
    idx : int or array-like of int
    n_pool : int
        Rows of the pool the positions refer to.
    n_expected : int, default=None
        When given, exactly this many positions are required.
    name : str, default="the query strategy"
        Who returned them, for the message.

    Returns
    -------
    idx : ndarray of shape (n,), dtype intp

    Examples
    --------
    >>> from skal._validation import check_indices
    >>> check_indices([0, -1], 5)
    array([0, 4])
    >>> check_indices([1, 1], 5)
    Traceback (most recent call last):
    ...
    ValueError: the query strategy returned repeated positions [1, 1]; a query must name distinct pool samples.
    """
    arr = np.asarray(idx)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} returned positions of shape {arr.shape}; it must return a "
            "1-d array of positions into X_pool."
        )
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"{name} returned positions of dtype {arr.dtype}; it must return integer "
            "positions into X_pool (not a mask or scores)."
        )
    arr = arr.astype(np.intp)
    if arr.size and (arr.min() < -n_pool or arr.max() >= n_pool):
        bad = int(arr.max() if arr.max() >= n_pool else arr.min())
        raise ValueError(f"{name} returned position {bad} for a pool of {n_pool} samples.")
    arr[arr < 0] += n_pool
    if len(np.unique(arr)) != len(arr):
        raise ValueError(
            f"{name} returned repeated positions {arr.tolist()}; a query must name "
            "distinct pool samples."
        )
    if n_expected is not None and len(arr) != n_expected:
        raise ValueError(
            f"{name} returned {len(arr)} positions for n_instances={n_expected}; it must "
            "return exactly n_instances distinct positions."
        )
    return arr
