"""VAAL and MAL: their discriminators separate labeled from pool; seeds; inputs; errors."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import balanced_accuracy_score

from skal.models import MAL, VAAL


@pytest.fixture(scope="module")
def shifted():
    """Labeled rows from N(0, I); the pool half from N(0, I), half shifted to N(2.5, I)."""
    rng = np.random.RandomState(0)
    labeled = rng.normal(0, 1, (60, 8)).astype(np.float32)
    pool = np.concatenate([rng.normal(0, 1, (100, 8)), rng.normal(2.5, 1, (100, 8))]).astype(np.float32)
    y_labeled = (labeled[:, 0] > 0).astype(int)
    return labeled, y_labeled, pool


def _fit(cls, shifted, **params):
    labeled, y_labeled, pool = shifted
    X = np.concatenate([labeled, pool])
    y = np.r_[y_labeled if cls is MAL else np.zeros(len(labeled)), -np.ones(len(pool))]
    return cls(latent_dim=8, n_steps=200, random_state=0, device="cpu", **params).fit(X, y)


@pytest.mark.parametrize("cls", [VAAL, MAL])
def test_discriminator_separates_labeled_from_pool_better_than_chance(cls, shifted):
    labeled, _, pool = shifted
    model = _fit(cls, shifted)
    p_lab, p_pool = model.predict_labeled_proba(labeled), model.predict_labeled_proba(pool)
    truth = np.r_[np.ones(len(labeled)), np.zeros(len(pool))]
    accuracy = balanced_accuracy_score(truth, np.r_[p_lab, p_pool] >= 0.5)
    assert accuracy > 0.6, accuracy
    # the shifted half of the pool looks least labeled
    assert p_pool[100:].mean() < p_pool[:100].mean() < p_lab.mean()


@pytest.mark.parametrize("cls", [VAAL, MAL])
def test_same_seed_same_model_other_seed_other_model(cls, shifted):
    _, _, pool = shifted
    a, b = _fit(cls, shifted), _fit(cls, shifted)
    np.testing.assert_array_equal(a.predict_labeled_proba(pool), b.predict_labeled_proba(pool))
    np.testing.assert_array_equal(a.transform(pool), b.transform(pool))
    c = clone(a).set_params(random_state=1).fit(*_data(shifted, cls))
    assert not np.allclose(a.predict_labeled_proba(pool), c.predict_labeled_proba(pool))


def _data(shifted, cls):
    labeled, y_labeled, pool = shifted
    y = np.r_[y_labeled if cls is MAL else np.zeros(len(labeled)), -np.ones(len(pool))]
    return np.concatenate([labeled, pool]), y


def test_mal_classifies_the_labeled_classes(shifted):
    labeled, y_labeled, _ = shifted
    mal = _fit(MAL, shifted)
    assert mal.predict_proba(labeled).shape == (60, 2)
    assert (mal.predict(labeled) == y_labeled).mean() > 0.8
    # features are l2-normalised
    np.testing.assert_allclose(np.linalg.norm(mal.transform(labeled), axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("cls", [VAAL, MAL])
def test_images_get_a_convolutional_encoder(cls, digits):
    X, y = digits
    images = X[:120].reshape(-1, 1, 8, 8)
    labels = np.where(np.arange(120) < 40, y[:120], -1)
    model = cls(n_steps=5, random_state=0, device="cpu").fit(images, labels)
    assert any(isinstance(m, torch.nn.Conv2d) for m in model.encoder_.modules())
    assert model.predict_labeled_proba(images).shape == (120,)
    with pytest.raises(ValueError, match="fitted on samples of shape"):
        model.predict_labeled_proba(X[:5].reshape(-1, 1, 4, 16))


def test_string_labels_mark_unlabeled_rows_with_minus_one(digits):
    X, y = digits
    labels = np.array([str(v) for v in y[:90]], dtype=object)
    labels[30:] = -1
    mal = MAL(n_steps=5, random_state=0, device="cpu").fit(X[:90], labels)
    assert set(mal.classes_) == set(labels[:30])


@pytest.mark.parametrize("cls", [VAAL, MAL])
@pytest.mark.parametrize(
    "y, match",
    [
        (np.zeros(10), "labeled and unlabeled rows"),
        (-np.ones(10), "labeled and unlabeled rows"),
        (np.r_[np.zeros(5), -np.ones(4)], "X has 10 rows but y has 9"),
    ],
)
def test_fit_needs_labeled_and_unlabeled_rows(cls, y, match):
    with pytest.raises(ValueError, match=match):
        cls(n_steps=1).fit(np.zeros((10, 3)), y)


@pytest.mark.parametrize("cls", [VAAL, MAL])
@pytest.mark.parametrize(
    "param, value, error",
    [
        ("latent_dim", 0, ValueError),
        ("hidden_units", 1.5, TypeError),
        ("n_steps", -1, ValueError),
        ("batch_size", 0, ValueError),
        ("lr", 0.0, ValueError),
    ],
)
def test_bad_common_parameters_are_clear_errors(cls, param, value, error):
    with pytest.raises(error, match=param):
        cls(**{param: value}).fit(np.zeros((4, 2)), [0, 1, -1, -1])


@pytest.mark.parametrize(
    "cls, param, value, error",
    [
        (VAAL, "beta", -1.0, ValueError),
        (VAAL, "adversary_weight", "x", TypeError),
        (MAL, "temperature", 0.0, ValueError),
        (MAL, "entropy_weight", -0.1, ValueError),
    ],
)
def test_bad_own_parameters_are_clear_errors(cls, param, value, error):
    with pytest.raises(error, match=param):
        cls(**{param: value}).fit(np.zeros((4, 2)), [0, 1, -1, -1])


def test_not_fitted_is_a_clear_error():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        VAAL().predict_labeled_proba(np.zeros((2, 3)))
