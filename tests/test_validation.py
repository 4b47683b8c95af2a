"""skal._validation: one checker per concept, on every container."""

import numbers

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import sparse

from skal._validation import check_finite, check_indices, check_n_instances, check_pool, check_scalar

@pytest.mark.parametrize(
    "pool",
    [
        np.array([[1.0, np.inf]]),
        pd.DataFrame({"a": [1.0, np.nan], "b": ["x", "y"]}),
        sparse.csr_matrix(np.array([[0.0, np.nan]])),
        torch.tensor([[np.nan, 1.0]]),
        [0.5, float("nan")],
    ],
    ids=["ndarray", "dataframe", "sparse", "tensor", "list"],
)
def test_non_finite_pools_are_rejected(pool):
    with pytest.raises(ValueError, match="X_pool contains NaN or infinity: impute or drop"):
        check_pool(pool)


def test_non_numeric_pools_pass_and_are_returned_as_is():
    texts = ["a", "b"]
    assert check_pool(texts) is texts
    df = pd.DataFrame({"s": ["x", "y"], "i": [1, 2]})
    assert check_pool(df) is df


def test_none_and_empty_pools():
    with pytest.raises(ValueError, match="X_pool is None"):
        check_pool(None)
    for empty in (np.zeros((0, 3)), [], pd.DataFrame(), sparse.csr_matrix((0, 2))):
        with pytest.raises(ValueError, match="X_pool is empty"):
            check_pool(empty)


def test_unsliceable_sparse_becomes_csr_without_touching_the_input():
    coo = sparse.coo_matrix(np.eye(3))
    out = check_pool(coo)
    assert out.format == "csr" and coo.format == "coo"




def test_a_list_of_rows_with_nan_is_rejected_like_teach_rejects_it():
    # Regression: only lists of scalars were checked; rows of a list passed.
    with pytest.raises(ValueError, match="X_pool contains NaN"):
        check_pool([[0.0, 1.0], [np.nan, 2.0]])
    with pytest.raises(ValueError, match="X contains NaN"):
        check_finite([np.zeros(3), np.array([1.0, np.inf])])  # ragged-safe path
    check_finite([np.zeros(3), np.zeros(5)])  # images of different sizes: fine
    check_finite(["a", "b"])


def test_a_memmapped_pool_is_checked_block_by_block(tmp_path, monkeypatch):
    import skal._validation as validation

    monkeypatch.setattr(validation, "_FINITE_BLOCK_BYTES", 1024)
    pool = np.lib.format.open_memmap(tmp_path / "pool.npy", mode="w+", dtype=np.float32, shape=(5000, 8))
    pool[:] = 1.0
    check_pool(pool)
    pool[4321, 3] = np.nan
    with pytest.raises(ValueError, match="X_pool contains NaN"):
        check_pool(pool)


@pytest.mark.parametrize(
    "value, kwargs, error, match",
    [
        (True, {}, TypeError, "max_epochs must be an instance of int, not bool"),
        (np.bool_(False), {}, TypeError, "max_epochs must be an instance of int, not bool"),
        (2.5, {}, TypeError, "max_epochs must be an instance of int, not float"),
        ("3", {}, TypeError, "max_epochs must be an instance of int, not str"),
        (0, {"min_val": 1}, ValueError, "max_epochs == 0, must be >= 1"),
        (None, {}, TypeError, "max_epochs must be an instance of int, not NoneType"),
        (0, {"min_val": 1, "hint": "Train at least one epoch."}, ValueError, "must be >= 1. Train at least one epoch."),
    ],
)
def test_check_scalar_errors(value, kwargs, error, match):
    with pytest.raises(error, match=match):
        check_scalar(value, "max_epochs", numbers.Integral, **kwargs)


def test_check_scalar_values():
    assert check_scalar(None, "n", numbers.Integral, allow_none=True) is None
    value = check_scalar(np.int64(3), "n", numbers.Integral)
    assert value == 3 and type(value) is int
    assert check_scalar(True, "flag", bool) is True
    with pytest.raises(ValueError, match="lr must be finite, got nan"):
        check_scalar(float("nan"), "lr", numbers.Real)
    with pytest.raises(ValueError, match="lr must be finite"):
        check_scalar(np.inf, "lr", numbers.Real, min_val=0)


def test_n_instances_messages():
    assert check_n_instances(np.int64(2), 5) == 2
    with pytest.raises(TypeError, match="n_instances must be an instance of int, not bool"):
        check_n_instances(True, 5)
    with pytest.raises(ValueError, match="ask for at most 5 instances"):
        check_n_instances(6, 5)
    with pytest.raises(ValueError, match="n_instances == 0, must be >= 1"):
        check_n_instances(0, 5)



@pytest.mark.parametrize(
    "idx, kwargs, match",
    [
        ([0, 10], {}, "returned position 10 for a pool of 10 samples"),
        ([-11], {}, "returned position -11 for a pool of 10"),
        ([2, 2], {}, r"repeated positions \[2, 2\]"),
        ([1, -9], {}, r"repeated positions \[1, 1\]"),  # -9 is row 1
        ([0.5], {}, "dtype float64"),
        ([[0, 1]], {}, "1-d array"),
        ([0, 1], {"n_expected": 3}, "returned 2 positions for n_instances=3"),
    ],
)
def test_check_indices_errors(idx, kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_indices(idx, 10, **kwargs)


def test_check_indices_values():
    out = check_indices([3, -1], 10)
    assert out.dtype == np.intp and out.tolist() == [3, 9]
    assert check_indices(np.int64(4), 10).tolist() == [4]
    assert check_indices([], 10).tolist() == []
