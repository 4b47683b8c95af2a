"""skal._validation: the shared pool checks, on every pool type."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skal._containers import iter_chunks, num_rows, take_rows
from skal._validation import check_n_instances, check_pool
from skal.strategies._base import check_chunk_size
from skal.strategies import STRATEGIES


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


def test_n_instances_messages():
    assert check_n_instances(np.int64(2), 5) == 2
    with pytest.raises(TypeError, match="n_instances must be an instance of int, not bool"):
        check_n_instances(True, 5)
    with pytest.raises(ValueError, match="ask for at most 5 instances"):
        check_n_instances(6, 5)
    with pytest.raises(ValueError, match="n_instances == 0, must be >= 1"):
        check_n_instances(0, 5)


def test_chunk_size_checks():
    assert check_chunk_size(None) is None and check_chunk_size(3) == 3
    with pytest.raises(ValueError, match="chunk_size == 0, must be >= 1"):
        check_chunk_size(0)
    with pytest.raises(TypeError, match="chunk_size must be an instance of int"):
        check_chunk_size(1.5)


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


@pytest.mark.parametrize("name", ["entropy", "bald", "batch_bald", "random"])
def test_list_of_images_pool(name, digits_split):
    X_l, y_l, X_pool = digits_split
    flatten = FunctionTransformer(lambda imgs: np.asarray(imgs).reshape(len(imgs), -1))
    model = make_pipeline(flatten, LogisticRegression(max_iter=300)).fit(
        list(X_l.reshape(-1, 8, 8)), y_l
    )
    images = list(X_pool.reshape(-1, 8, 8))  # a list of 8x8 images
    idx, scores = STRATEGIES[name](model, images, n_instances=3, random_state=0, chunk_size=50)
    assert len(set(idx.tolist())) == 3 and scores.shape == (3,)


def test_tensor_pool(fitted_models, digits_split):
    _, _, X_pool = digits_split

    class TensorModel:
        classes_ = fitted_models["logreg"].classes_

        def predict_proba(self, X):
            assert torch.is_tensor(X)
            return fitted_models["logreg"].predict_proba(X.numpy())

    idx, _ = STRATEGIES["margin"](TensorModel(), torch.as_tensor(X_pool), n_instances=3, random_state=0)
    expected, _ = STRATEGIES["margin"](fitted_models["logreg"], X_pool, n_instances=3, random_state=0)
    np.testing.assert_array_equal(idx, expected)
