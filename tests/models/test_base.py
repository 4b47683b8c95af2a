"""What the deep estimators share (skal/models/_base.py), checked on all three."""

import math

import numpy as np
import pytest
from torch import nn

from skal.models._base import even_batch_size

from ._helpers import ESTIMATORS, make_estimator

NAMES = list(ESTIMATORS)


def test_even_batch_size_never_leaves_a_last_batch_of_one_row():
    for n_rows in range(2, 400):
        for batch_size in range(1, 40):
            size = even_batch_size(n_rows, batch_size)
            if n_rows % batch_size != 1 or n_rows <= batch_size:
                assert size == batch_size
                continue
            assert n_rows % size != 1, (n_rows, batch_size)
            assert math.ceil(n_rows / size) <= math.ceil(n_rows / batch_size)


class _BatchNormMLP(nn.Module):
    def __init__(self, n_features, n_classes):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(n_features, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2)
        )
        self.head = nn.Linear(16, n_classes)

    def forward(self, X):
        return self.head(self.body(X))


@pytest.mark.parametrize("name", NAMES)
def test_batchnorm_trains_when_the_last_minibatch_would_hold_one_row(name):
    # 129 rows in batches of 128 used to end each epoch on one row, on
    # which BatchNorm cannot train ("Expected more than 1 value per channel").
    rng = np.random.RandomState(0)
    X = rng.randn(129, 4).astype(np.float32)
    y = np.arange(129) % 3
    estimator = make_estimator(name, module=_BatchNormMLP, max_epochs=2, batch_size=128).fit(X, y)
    net = getattr(estimator, "net_", estimator)  # MC dropout is a skorch net itself
    for epoch in net.history:
        assert [b["train_batch_size"] for b in epoch["batches"]] == [65, 64]
    assert estimator.predict_proba(X).shape == (129, 3)
