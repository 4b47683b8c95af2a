import numpy as np
import pytest


@pytest.fixture
def blobs():
    """60 rows, 4 features, 3 classes."""
    rng = np.random.RandomState(0)
    X = rng.randn(60, 4).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    return X, y
