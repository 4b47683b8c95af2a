"""DAL, VAAL and MAL on a shifted toy set: the discriminators find what is unlike the labeled set."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skal.models import VAAL
from skal.strategies import dal, mal, vaal

STRATEGY = {"dal": dal, "vaal": vaal}


@pytest.fixture(scope="module")
def shifted():
    """Labeled rows from N(0, I); the pool: 100 more like them and 10 shifted to N(4, I)."""
    rng = np.random.RandomState(0)
    X_labeled = rng.normal(0, 1, (60, 6)).astype(np.float32)
    y_labeled = (X_labeled[:, 0] > 0).astype(int)
    X_pool = np.concatenate([rng.normal(0, 1, (100, 6)), rng.normal(4, 1, (10, 6))]).astype(np.float32)
    model = LogisticRegression().fit(X_labeled, y_labeled)
    return model, X_labeled, y_labeled, X_pool


@pytest.mark.parametrize(
    "name, options",
    [
        ("dal", {"representation": "input", "n_subqueries": 1}),
        ("vaal", {"model": {"n_steps": 200}}),
    ],
)
def test_dal_and_vaal_query_the_shifted_points(name, options, shifted):
    model, X_labeled, _, X_pool = shifted
    idx, scores = STRATEGY[name](model, X_pool, n_instances=5, X_labeled=X_labeled,
                                 random_state=0, **options)
    # the discriminator tells the shifted points from the labeled ones
    assert (idx >= 100).sum() >= 4, idx
    assert (scores > 0.5).all()  # P(unlabeled) of the picks
    again, _ = STRATEGY[name](model, X_pool, n_instances=5, X_labeled=X_labeled,
                              random_state=0, **options)
    np.testing.assert_array_equal(idx, again)


def test_mal_queries_the_most_uncertain_of_the_points_called_unlabeled(shifted):
    model, X_labeled, y_labeled, X_pool = shifted
    options = {"X_labeled": X_labeled, "y_labeled": y_labeled, "random_state": 0,
               "model": {"n_steps": 200}}
    idx, scores = mal(model, X_pool, n_instances=5, **options)
    order, every = mal(model, X_pool, n_instances=len(X_pool), **options)
    np.testing.assert_array_equal(order[:5], idx)  # same seed, same model, same picks
    assert (np.diff(every) <= 0).all() and every.max() <= 1 and every.min() >= -1
    called_unlabeled = every >= 0
    assert 5 <= called_unlabeled.sum() < len(X_pool)  # D calls some, not all, unlabeled
    assert (scores >= 0).all()  # the picks are among them, the most uncertain first
    np.testing.assert_allclose(scores, every[:5])
    # the shifted points are far from the class boundary: confident, not picked
    assert (idx < 100).all()


def test_dal_retrains_between_mini_queries(shifted):
    model, X_labeled, _, X_pool = shifted
    one, _ = dal(model, X_pool, n_instances=6, X_labeled=X_labeled, n_subqueries=1,
                 representation="input", random_state=0)
    six, _ = dal(model, X_pool, n_instances=6, X_labeled=X_labeled, n_subqueries=6,
                 representation="input", random_state=0)
    assert len(set(one) | set(six)) > 6  # another discriminator, other picks
    # any scikit-learn classifier can discriminate
    idx, _ = dal(model, X_pool, n_instances=3, X_labeled=X_labeled, representation="input",
                 discriminator=LogisticRegression(), n_subqueries=1, random_state=0)
    assert (idx >= 100).all()


def test_vaal_takes_images(digits):
    X, y = digits
    images = X.reshape(-1, 1, 8, 8)
    model = LogisticRegression(max_iter=200).fit(X[:60], y[:60])  # the task model plays no part
    idx, _ = vaal(model, images[60:200], n_instances=4, X_labeled=images[:60],
                  model=VAAL(n_steps=5), random_state=0)
    assert len(set(idx.tolist())) == 4
