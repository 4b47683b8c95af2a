"""LearningLossClassifier: the ranking loss, the hooked module, the schedule, the correlation."""

import copy
import pickle

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from skal.models import (
    MLP,
    GalCNN,
    LearningLossClassifier,
    LossPredictionModule,
    SmallCNN,
    SmallResNet,
    pairwise_ranking_loss,
)


def hand_ranking_loss(predicted, target, margin):
    """The paper's formula, pair by pair: row i against row n - 1 - i."""
    n = len(predicted) // 2
    total = 0.0
    for i in range(n):
        j = len(predicted) - 1 - i
        sign = 1.0 if target[i] > target[j] else -1.0
        total += max(0.0, -sign * (predicted[i] - predicted[j]) + margin)
    return total / n


@pytest.mark.parametrize(
    "predicted, target, margin, expected",
    [
        # pairs (0, 3) and (1, 2): 1.5 and 0 -> mean 0.75
        ([0.5, 0.0, 2.0, 1.0], [3.0, 1.0, 2.0, 0.0], 1.0, 0.75),
        # odd batch: pairs (0, 4), (1, 3); the middle row is left out
        ([3.0, 0.0, 9.0, 2.0, 1.0], [0.0, 5.0, 1.0, 4.0, 1.0], 0.5, (2.5 + 2.5) / 2),
        # a tie in the true losses counts as l_i < l_j (sign -1)
        ([2.0, 1.0], [1.0, 1.0], 0.0, 1.0),
        # ordered right by more than the margin: no cost
        ([5.0, 0.0], [1.0, 0.0], 1.0, 0.0),
    ],
)
def test_ranking_loss_matches_hand_computed_values(predicted, target, margin, expected):
    got = pairwise_ranking_loss(torch.tensor(predicted), torch.tensor(target), margin=margin)
    assert got.item() == pytest.approx(expected)
    assert got.item() == pytest.approx(hand_ranking_loss(predicted, target, margin))


def test_ranking_loss_on_random_batches_and_gradient_reaches_predictions_only():
    gen = torch.Generator().manual_seed(0)
    for n in (2, 7, 64):
        predicted = torch.randn(n, generator=gen, requires_grad=True)
        target = torch.rand(n, generator=gen, requires_grad=True)
        loss = pairwise_ranking_loss(predicted, target, margin=0.3)
        assert loss.item() == pytest.approx(
            hand_ranking_loss(predicted.tolist(), target.tolist(), 0.3), rel=1e-6
        )
        loss.backward()
        assert predicted.grad is not None and target.grad is None
    assert pairwise_ranking_loss(torch.ones(1), torch.ones(1)).item() == 0.0


@pytest.fixture(scope="module")
def digits_images(digits):
    X, y = digits
    return X.reshape(-1, 1, 8, 8), y


@pytest.mark.parametrize(
    "module, params, layers",
    [
        (MLP, {"module__hidden_units": (32, 16)}, ("body.1", "body.3")),
        (GalCNN, {"module__image_size": 8}, ("body.1", "body.3", "body.4", "body.8")),
        (SmallCNN, {"module__in_channels": 1, "module__widths": (8, 16)},
         ("body.5", "body.12", "body.13")),
        (SmallResNet, {"module__in_channels": 1, "module__widths": (8, 16)},
         ("body.3", "body.4")),
    ],
)
def test_every_reference_module_gets_a_loss_head_by_hooks(digits_images, module, params, layers):
    X, y = digits_images
    clf = LearningLossClassifier(module=module, max_epochs=2, random_state=0, device="cpu", **params)
    clf.fit(X[:64], y[:64])
    assert clf.module_.layers == layers
    # composition: the backbone is the reference module itself, not a subclass
    assert type(clf.module_.backbone) is module
    assert clf.predict_loss(X[64:80]).shape == (16,)
    assert clf.predict_proba(X[64:80]).shape == (16, 10)
    assert clf.embed(X[64:80]).shape[0] == 16


def test_named_layers_and_their_errors(digits):
    X, y = digits
    clf = LearningLossClassifier(loss_layers=["body.0"], max_epochs=1, random_state=0, device="cpu")
    assert clf.fit(X[:40], y[:40]).module_.layers == ("body.0",)
    with pytest.raises(ValueError, match=r"loss_layers names \['body.9'\]"):
        clone(clf).set_params(loss_layers=["body.9"]).fit(X[:40], y[:40])
    with pytest.raises(TypeError, match="loss_layers must be a non-empty sequence"):
        clone(clf).set_params(loss_layers="body.0").fit(X[:40], y[:40])
    with pytest.raises(ValueError, match="no intermediate layer"):
        LossPredictionModule(torch.nn.Linear(4, 2), torch.zeros(2, 4))


@pytest.mark.parametrize(
    "param, value, error, match",
    [
        ("loss_weight", -1.0, ValueError, "loss_weight"),
        ("margin", -0.5, ValueError, "margin"),
        ("detach_after", 1.5, ValueError, "detach_after"),
        ("detach_after", "late", TypeError, "detach_after"),
        ("loss_hidden_units", 0, ValueError, "loss_hidden_units"),
        ("loss_hidden_units", 2.5, TypeError, "loss_hidden_units"),
    ],
)
def test_bad_parameters_are_clear_errors(digits, param, value, error, match):
    X, y = digits
    with pytest.raises(error, match=match):
        LearningLossClassifier(max_epochs=1, **{param: value}).fit(X[:20], y[:20])


def _backbone_state(clf):
    return {k: v.clone() for k, v in clf.module_.backbone.state_dict().items()}


def test_detach_after_stops_the_ranking_gradient_into_the_backbone(digits):
    X, y = digits

    def fit(**params):
        return LearningLossClassifier(
            max_epochs=4, random_state=0, device="cpu", module__hidden_units=(16,), **params
        ).fit(X[:200], y[:200])

    # detached from the first epoch: the backbone trains on the cross-entropy alone
    a, b = fit(detach_after=0.0, loss_weight=1.0), fit(detach_after=0.0, loss_weight=5.0)
    for k, v in _backbone_state(a).items():
        torch.testing.assert_close(v, _backbone_state(b)[k])
    assert not np.allclose(a.predict_loss(X[:50]), b.predict_loss(X[:50]))
    # never detached: the ranking loss shapes the backbone too
    c, d = fit(detach_after=None, loss_weight=1.0), fit(detach_after=None, loss_weight=5.0)
    assert not np.allclose(c.predict_proba(X[:50]), d.predict_proba(X[:50]))


def test_predicted_loss_ranks_held_out_true_losses(digits):
    """On digits the predicted loss orders unseen points like their true cross-entropy."""
    X, y = digits
    order = np.random.RandomState(0).permutation(len(X))
    train, test = order[:300], order[300:]
    clf = LearningLossClassifier(random_state=0, device="cpu").fit(X[train], y[train])
    proba = clf.predict_proba(X[test])
    true_loss = -np.log(proba[np.arange(len(test)), y[test]])
    rho = spearmanr(clf.predict_loss(X[test]), true_loss).statistic
    assert rho > 0.4, rho  # seed 0's row of docs/results/learning_loss_ranking_digits/summary.txt


def test_copies_and_pickles_predict_the_same(digits):
    X, y = digits
    clf = LearningLossClassifier(max_epochs=2, random_state=0, device="cpu").fit(X[:60], y[:60])
    for other in (copy.deepcopy(clf), pickle.loads(pickle.dumps(clf))):
        np.testing.assert_allclose(other.predict_loss(X[60:90]), clf.predict_loss(X[60:90]))
        np.testing.assert_allclose(other.predict_proba(X[60:90]), clf.predict_proba(X[60:90]))


def test_same_seed_same_model_and_one_predictive_sample(digits):
    X, y = digits
    a = LearningLossClassifier(max_epochs=3, random_state=1, device="cpu").fit(X[:80], y[:80])
    b = LearningLossClassifier(max_epochs=3, random_state=1, device="cpu").fit(X[:80], y[:80])
    np.testing.assert_array_equal(a.predict_loss(X[80:100]), b.predict_loss(X[80:100]))
    samples = a.predict_proba_samples(X[80:100])
    assert samples.shape == (1, 20, 10)
    np.testing.assert_allclose(samples.sum(axis=2), 1.0)


@parametrize_with_checks(
    [
        LearningLossClassifier(
            max_epochs=30, lr=1e-2, batch_size=64, module__hidden_units=(16,),
            random_state=0, device="cpu",
        )
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
