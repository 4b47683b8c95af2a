"""skal._containers: counting, slicing and appending rows of every container."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import sparse

from skal._containers import iter_chunks, num_rows, stack_columns, stack_rows, take_rows

def test_rows_by_position_for_every_pool_type():
    X = np.arange(10.0).reshape(5, 2)
    pools = [X, pd.DataFrame(X, index=[9, 3, 7, 1, 5]), sparse.csr_matrix(X), torch.as_tensor(X), list(X)]
    for pool in pools:
        assert num_rows(pool) == 5
        chunks = [(a, b) for a, b, _ in iter_chunks(pool, 2)]
        assert chunks == [(0, 2), (2, 4), (4, 5)]
        picked = take_rows(pool, [4, 0])
        as_array = (
            picked.toarray() if sparse.issparse(picked)
            else picked.to_numpy() if hasattr(picked, "to_numpy")
            else np.asarray(picked)
        )
        np.testing.assert_array_equal(as_array, X[[4, 0]])


def test_num_rows_of_an_object_without_length():
    with pytest.raises(TypeError, match="X_pool of type object has no length"):
        num_rows(object())




def test_stack_rows_keeps_the_container_of_the_data_already_held():
    X = np.arange(6.0).reshape(3, 2)
    frame = pd.DataFrame(X, columns=["a", "b"], index=[5, 6, 7])
    stacked = stack_rows(frame, X[:1])
    assert isinstance(stacked, pd.DataFrame) and list(stacked.columns) == ["a", "b"]
    assert stack_rows(sparse.csr_matrix(X), X[:1]).format == "csr"
    assert stack_rows(list(X), X[:1])[-1] is not None and len(stack_rows(list(X), X[:1])) == 4
    tensor = stack_rows(torch.as_tensor(X), X[:1])
    assert torch.is_tensor(tensor) and tensor.shape == (4, 2)


@pytest.mark.parametrize(
    "first, second, match",
    [
        (np.zeros((2, 3)), np.zeros((1, 4)), r"rows of shape \(4,\) but the training data has rows of shape \(3,\)"),
        (pd.DataFrame({"a": [1.0]}), pd.DataFrame({"b": [1.0]}), r"columns \['b'\] but the training data has \['a'\]"),
        (sparse.csr_matrix(np.zeros((2, 3))), sparse.csr_matrix(np.zeros((1, 4))), "rows of shape"),
    ],
    ids=["ndarray", "dataframe", "sparse"],
)
def test_stack_rows_mismatch_is_a_clear_error(first, second, match):
    with pytest.raises(ValueError, match=match):
        stack_rows(first, second)


def test_stack_columns():
    a, b = np.zeros((2, 1)), np.ones((2, 2))
    assert stack_columns([a, b]).shape == (2, 3)
    assert stack_columns([a]) is a
    assert stack_columns([sparse.csr_matrix(a), b]).format == "csr"
