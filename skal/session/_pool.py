"""The pool of a labeling session: where it comes from, its item ids, its fingerprint.

The session's database stores the pool's *source* (a file path and its
kind, or ``"memory"`` for data handed over in Python) and a *fingerprint*
(number of rows, row shape, a hash of the item ids and of the rows: all
of them up to 1 GiB, else a sample of 64; an image folder's file names and
a sample of its images), never the data. Reopening re-reads a file pool from its path (or
takes ``pool=``) and refuses one whose fingerprint changed: resuming on
other data would silently break every recorded position.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import os
from pathlib import Path

import numpy as np
from scipy import sparse

from .._containers import is_dask, is_dataset, is_pandas, is_tensor, num_rows, take_rows

__all__ = ["Pool", "candidate_rows", "open_pool", "resolve_pool"]

#: Pools up to this size (arrays, frames, sparse matrices) have every row hashed into the
#: fingerprint; larger ones (and Datasets) a sample of rows, so that a huge memmap is not read whole.
_HASHED_BYTES = 2**30
#: Rows hashed (evenly spaced) when the pool is too large to hash whole.
_SAMPLED_ROWS = 64
_TABULAR = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class Pool:
    """A resolved pool: the data the learner reads, the item ids, the source and fingerprint."""

    def __init__(self, data, ids, source):
        self.data = data
        self.ids = ids
        self.source = source
        self._fingerprint = None

    def __len__(self):
        return len(self.ids)

    @property
    def fingerprint(self):
        if self._fingerprint is None:
            self._fingerprint = _fingerprint(self.data, self.ids)
        return self._fingerprint


def _python_id(value, where):
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{where} holds a boolean id {value!r}: ids must be ints or strings.")
    if isinstance(value, (numbers.Integral, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    if isinstance(value, (str, np.str_)):
        return str(value)
    raise ValueError(
        f"{where} holds the id {value!r} of type {type(value).__name__}: ids must be ints "
        "or strings (and not missing)."
    )


def _column_ids(frame, id_column):
    if id_column not in frame.columns:
        raise ValueError(
            f"id_column={id_column!r} is not a column of the pool; its columns are "
            f"{list(frame.columns)[:20]}."
        )
    column = frame[id_column]
    if column.isna().any():
        raise ValueError(f"id_column={id_column!r} has missing values: every item needs an id.")
    ids = [_python_id(v, f"id_column={id_column!r}") for v in column.tolist()]
    return ids, frame.drop(columns=[id_column])


def _check_unique(ids, where):
    if len(set(ids)) != len(ids):
        seen, repeated = set(), []
        for i in ids:
            if i in seen and i not in repeated:
                repeated.append(i)
            seen.add(i)
        raise ValueError(
            f"{where} repeats ids {repeated[:5]}{' ...' if len(repeated) > 5 else ''}: "
            "every item needs a distinct id."
        )


def _read_table(path, kind):
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a test dependency
        raise ImportError(f"reading a {kind.upper()} pool needs pandas: pip install pandas") from None
    if kind == "csv":
        return pd.read_csv(path)
    try:
        return pd.read_parquet(path)
    except ImportError as exc:
        raise ImportError(
            f"reading a Parquet pool needs pyarrow or fastparquet ({exc}): pip install pyarrow"
        ) from None


def _image_ids(dataset):
    samples = getattr(dataset, "samples", None)
    root = getattr(dataset, "root", None)
    if samples is None or root is None:
        return None
    return [Path(os.path.relpath(p, root)).as_posix() for p, _ in samples]


def _from_path(path, id_column):
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise FileNotFoundError(f"the pool {str(path)!r} does not exist.")
    if path.is_dir():
        from ..datasets import image_folder

        data = image_folder(path)
        ids = _image_ids(data)
        return data, ids, {"kind": "image_folder", "path": str(path)}
    suffix = path.suffix.lower()
    if suffix == ".npy":
        data = np.load(path, mmap_mode="r", allow_pickle=False)
        return data, None, {"kind": "npy", "path": str(path)}
    if suffix in _TABULAR:
        frame = _read_table(path, _TABULAR[suffix])
        ids = None
        if id_column is not None:
            ids, frame = _column_ids(frame, id_column)
        return frame, ids, {"kind": _TABULAR[suffix], "path": str(path), "id_column": id_column}
    raise ValueError(
        f"cannot read a pool from {str(path)!r}: pass a .csv, .parquet or .npy file, an "
        "image folder (<path>/<class>/<image>), or the data itself (an array, DataFrame, "
        "memmap, sparse matrix, list or torch Dataset)."
    )


def resolve_pool(pool, id_column=None):
    """A :class:`Pool` for what the user passed.

    Parameters
    ----------
    pool : path, array, DataFrame, memmap, sparse matrix, list, tensor or Dataset
    id_column : str, default=None
        For a DataFrame or a CSV/Parquet file: the column of item ids (it
        is dropped from the features). Otherwise ids are row positions
        (ints), or an image folder's relative file paths.
    """
    if pool is None:
        raise ValueError("pool is None: pass the unlabeled items (data or a file path).")
    if isinstance(pool, (str, os.PathLike)):
        data, ids, source = _from_path(pool, id_column)
    else:
        data, ids = pool, None
        source = {"kind": "memory", "type": type(pool).__name__}
        if isinstance(pool, np.memmap) and getattr(pool, "filename", None):
            filename = str(pool.filename)
            if filename.endswith(".npy"):
                source = {"kind": "npy", "path": filename}
            else:
                source = {
                    "kind": "memmap", "path": filename, "dtype": pool.dtype.str,
                    "shape": list(pool.shape), "offset": int(pool.offset),
                    "order": "F" if pool.flags.f_contiguous and not pool.flags.c_contiguous else "C",
                }
        if is_pandas(pool):
            if pool.ndim != 2:
                raise ValueError("a pandas pool must be a DataFrame (rows are items), not a Series.")
            source["id_column"] = id_column
            if id_column is not None:
                ids, data = _column_ids(pool, id_column)
        elif is_dataset(pool):
            ids = _image_ids(pool)
    if id_column is not None and not (is_pandas(pool) or source["kind"] in ("csv", "parquet")):
        raise ValueError(
            "id_column names a column of a DataFrame or CSV/Parquet pool; this pool has no "
            "columns (its ids are row positions)."
        )
    n = num_rows(data, name="pool")
    if n == 0:
        raise ValueError("the pool is empty: there is nothing to label.")
    if ids is None:
        ids = list(range(n))
    _check_unique(ids, "the pool")
    return Pool(data, ids, source)


def open_pool(source, pool=None):
    """The pool a stored ``source`` names: re-read from its file, or ``pool`` (then checked)."""
    if pool is not None:
        return resolve_pool(pool, source.get("id_column"))
    kind = source.get("kind")
    if kind in ("npy", "csv", "parquet", "image_folder"):
        return resolve_pool(source["path"], source.get("id_column"))
    if kind == "memmap":
        if not os.path.exists(source["path"]):
            raise FileNotFoundError(f"the pool {source['path']!r} does not exist.")
        data = np.memmap(
            source["path"], dtype=np.dtype(source["dtype"]), mode="r", offset=source["offset"],
            shape=tuple(source["shape"]), order=source["order"],
        )
        return resolve_pool(data)
    raise ValueError(
        f"this session's pool was handed over in memory (a {source.get('type', 'Python object')}):"
        " pass it again, LabelingSession.open(database, pool=...)."
    )


def _rows_digest(rows):
    """Bytes that identify a few rows of any container."""
    if sparse.issparse(rows):
        rows = rows.toarray()
    if is_pandas(rows):
        import pandas as pd

        hashed = pd.util.hash_pandas_object(rows, index=False).to_numpy()
        return json.dumps([str(c) for c in rows.columns]).encode() + hashed.tobytes()
    if is_tensor(rows):
        rows = rows.detach().cpu().numpy()
    if isinstance(rows, list):
        try:
            rows = np.asarray(rows)
        except (ValueError, TypeError):
            return repr(rows).encode()
    rows = np.asarray(rows)
    if rows.dtype == object:
        return repr(rows.tolist()).encode()
    return rows.dtype.str.encode() + repr(rows.shape).encode() + np.ascontiguousarray(rows).tobytes()


def _nbytes(data):
    if is_pandas(data):
        return int(data.memory_usage(index=False, deep=False).sum())
    if sparse.issparse(data):
        return int(data.data.nbytes)
    if isinstance(data, np.ndarray):
        return int(data.nbytes)
    if is_tensor(data):
        return int(data.element_size() * data.nelement())
    return None


def _content_digest(data, n):
    """sha256 of every row when the pool is at most :data:`_HASHED_BYTES`, else of a sample of rows."""
    digest = hashlib.sha256()
    size = None if is_dataset(data) or is_dask(data) else _nbytes(data)
    if size is not None and size <= _HASHED_BYTES:
        rows = max(1, (16 * 2**20) // max(1, size // max(1, n)))
        for start in range(0, n, rows):
            digest.update(_rows_digest(take_rows(data, start, min(n, start + rows))))
        return "all", digest.hexdigest()
    positions = np.unique(np.linspace(0, n - 1, min(n, _SAMPLED_ROWS)).astype(np.intp))
    if is_dataset(data):
        for i in positions:
            row = data[int(i)]
            digest.update(_rows_digest(row[0] if isinstance(row, (tuple, list)) else row))
    else:
        digest.update(_rows_digest(take_rows(data, positions)))
    return "sample", digest.hexdigest()


def _fingerprint(data, ids):
    n = len(ids)
    hashed, content = _content_digest(data, n)
    shape = getattr(data, "shape", None)
    return {
        "n_items": n,
        "row_shape": None if shape is None or is_pandas(data) else [int(s) for s in shape[1:]],
        "columns": [str(c) for c in data.columns] if is_pandas(data) else None,
        "ids_sha256": hashlib.sha256(json.dumps(ids).encode()).hexdigest(),
        "rows_hashed": hashed,
        "rows_sha256": content,
    }


def compare_fingerprints(stored, current):
    """A sentence saying how the pool changed, or None when it is the same."""
    if stored == current:
        return None
    if stored["n_items"] != current["n_items"]:
        return f"it had {stored['n_items']} items and now has {current['n_items']}"
    if stored.get("columns") != current.get("columns"):
        return f"its columns were {stored.get('columns')} and are now {current.get('columns')}"
    if stored.get("row_shape") != current.get("row_shape"):
        return f"its rows had shape {stored.get('row_shape')} and now {current.get('row_shape')}"
    if stored["ids_sha256"] != current["ids_sha256"]:
        return "its item ids (or their order) changed"
    return "the contents of its rows changed"


def candidate_rows(data, positions):
    """The rows at ``positions``, read lazily for out-of-core pools (a Dataset gives a Subset)."""
    positions = np.asarray(positions, dtype=np.intp)
    if is_dataset(data):
        from torch.utils.data import Subset

        return Subset(data, positions.tolist())
    if is_dask(data):
        return data[positions]
    if isinstance(data, np.memmap):
        # the harness's reader: a lazy dask selection when dask is installed
        from ..experiments._campaign import candidate_rows as harness_rows

        return harness_rows(data, positions)
    return take_rows(data, positions)
