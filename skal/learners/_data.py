"""Row-wise helpers for every container a learner may be handed.

modAL accepts numpy arrays, scipy sparse matrices, pandas frames and plain
lists (for example of images or file paths) for ``X``; a learner has to
count, slice and append rows of each of them without converting one kind
into another behind the user's back.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._validation import is_pandas, is_tensor

__all__ = ["stack_rows", "stack_columns"]


def stack_rows(first, second, *, name="X"):
    """Append the rows of ``second`` under ``first`` (modAL's ``data_vstack``).

    The container of ``first`` (the data already held) wins: new rows given
    as a list or array join a pandas frame as a frame with the same columns,
    dense rows join a sparse matrix as sparse, and so on.
    """
    if sp.issparse(first) or sp.issparse(second):
        fmt = first.format if sp.issparse(first) else "csr"
        try:
            return sp.vstack([first, second], format=fmt)
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

        return torch.cat([first, torch.as_tensor(second, dtype=first.dtype)])
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
    """Side-by-side concatenation of transformed feature blocks."""
    if len(blocks) == 1:
        return blocks[0]
    if any(sp.issparse(b) for b in blocks):
        return sp.hstack(blocks, format="csr")
    if all(is_pandas(b) for b in blocks):
        import pandas as pd

        return pd.concat(blocks, axis=1)
    return np.hstack([np.asarray(b) for b in blocks])
