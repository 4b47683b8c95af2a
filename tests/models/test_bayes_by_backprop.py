"""Bayes by Backprop: the layers, the converter, the KL term and the classifier."""

import math
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from skal import ActiveLearner
from skal import measures
from skal.models import (
    MLP,
    BayesByBackpropClassifier,
    BayesianConv2d,
    BayesianLinear,
    GalCNN,
    bayesian_module,
    embed,
    kl_divergence,
    predict_proba_samples,
)
from skal.models._bayesian_layers import bayesian_layers, posterior_draw
from skal.strategies import bald


def _small(**kw):
    params = dict(max_epochs=20, lr=0.01, batch_size=32, n_samples=6, module__hidden_units=(32,),
                  random_state=0, device="cpu")
    params.update(kw)
    return BayesByBackpropClassifier(**params)


@pytest.fixture(scope="module")
def split(digits):
    X, y = digits
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def fitted(split):
    X_train, _, y_train, _ = split
    return _small(max_epochs=30, n_samples=10).fit(X_train, y_train)


# -- the layers -------------------------------------------------------------------------
def test_gaussian_kl_equals_the_closed_form():
    torch.manual_seed(0)
    layer = BayesianLinear(5, 3, prior_sigma=0.3, rho_init=-2.0)
    with torch.no_grad():
        layer.weight_mu.normal_()
        layer.weight_rho.uniform_(-4, 0)
    kl = 0.0
    for name in ("weight", "bias"):
        mu = getattr(layer, f"{name}_mu").detach().double()
        sigma = torch.log1p(torch.exp(getattr(layer, f"{name}_rho").detach().double()))
        q = torch.distributions.Normal(mu, sigma)
        p = torch.distributions.Normal(torch.zeros_like(mu), 0.3)
        kl += torch.distributions.kl_divergence(q, p).sum().item()
        # and by hand: log(s_p / s) + (s^2 + mu^2) / (2 s_p^2) - 1/2
        by_hand = (math.log(0.3) - sigma.log() + (sigma**2 + mu**2) / (2 * 0.3**2) - 0.5).sum().item()
        assert by_hand == pytest.approx(torch.distributions.kl_divergence(q, p).sum().item(), rel=1e-10)
    assert layer.kl().item() == pytest.approx(kl, rel=1e-5)
    net = bayesian_module(nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2)), prior_sigma=0.3)
    assert kl_divergence(net).item() == pytest.approx(sum(l.kl().item() for l in bayesian_layers(net)))


def test_mixture_kl_is_the_monte_carlo_estimate_at_the_training_draw():
    torch.manual_seed(0)
    layer = BayesianLinear(3, 2, prior_sigma=(1.0, 0.01), prior_pi=0.25, rho_init=-3.0)
    layer.train()
    layer(torch.ones(4, 3))
    w = layer._drawn["weight"].detach()
    mu, sigma = layer.weight_mu.detach(), layer.sigma("weight").detach()
    log_q = torch.distributions.Normal(mu, sigma).log_prob(w).sum()
    p = torch.stack([
        math.log(0.25) + torch.distributions.Normal(0.0, 1.0).log_prob(w),
        math.log(0.75) + torch.distributions.Normal(0.0, 0.01).log_prob(w),
    ]).logsumexp(0).sum()
    b = layer._drawn["bias"].detach()
    mu_b, sigma_b = layer.bias_mu.detach(), layer.sigma("bias").detach()
    log_q_b = torch.distributions.Normal(mu_b, sigma_b).log_prob(b).sum()
    p_b = torch.stack([
        math.log(0.25) + torch.distributions.Normal(0.0, 1.0).log_prob(b),
        math.log(0.75) + torch.distributions.Normal(0.0, 0.01).log_prob(b),
    ]).logsumexp(0).sum()
    assert layer.kl().item() == pytest.approx((log_q - p + log_q_b - p_b).item(), rel=1e-5)


def test_training_passes_draw_fresh_weights_and_eval_uses_the_mean():
    torch.manual_seed(0)
    layer = BayesianConv2d(1, 2, 3, padding=1, rho_init=0.0)
    x = torch.randn(2, 1, 5, 5)
    layer.train()
    assert not torch.allclose(layer(x), layer(x))
    layer.eval()
    mean = nn.functional.conv2d(x, layer.weight_mu, layer.bias_mu, padding=1)
    torch.testing.assert_close(layer(x), mean)
    with posterior_draw(layer, seed=0, index=0):
        a = layer(x)
    with posterior_draw(layer, seed=0, index=1):
        b = layer(x)
    assert not torch.allclose(a, b) and not torch.allclose(a, mean)
    with posterior_draw(layer, seed=0, index=0):
        torch.testing.assert_close(layer(x), a)
    torch.testing.assert_close(layer(x), mean)  # the draw is released after the block


def test_the_converter_keeps_the_function_and_leaves_the_caller_module_alone():
    torch.manual_seed(0)
    cnn = GalCNN(n_classes=3)
    converted = bayesian_module(cnn)
    assert all(type(m) not in (nn.Linear, nn.Conv2d) for m in converted.modules())
    assert any(isinstance(m, BayesianConv2d) for m in converted.modules())
    assert any(isinstance(m, nn.Conv2d) for m in cnn.modules())  # the caller's is untouched
    x = torch.randn(2, 1, 28, 28)
    cnn.eval(), converted.eval()
    torch.testing.assert_close(converted(x), cnn(x))  # posterior means = the module's weights
    with pytest.raises(ValueError, match="padding_mode='zeros'"):
        bayesian_module(nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"))
    with pytest.raises(ValueError, match="no Bayesian layer"):
        kl_divergence(nn.ReLU())
    with pytest.raises(ValueError, match="prior_sigma"):
        bayesian_module(MLP(n_features=4, n_classes=2), prior_sigma=(1.0, 0.1, 0.01))
    with pytest.raises(ValueError, match="prior_pi"):
        BayesianLinear(2, 2, prior_sigma=(1.0, 0.1), prior_pi=1.0)


# -- the classifier -----------------------------------------------------------------------
def test_minibatch_loss_is_the_mean_nll_plus_the_kl_over_n_train(split):
    X_train, _, y_train, _ = split
    clf = _small(max_epochs=1, kl_weight=0.5).fit(X_train[:100], y_train[:100])
    net = clf.net_
    assert net.n_train_ == 100
    batch = net.history[-1, "batches", 0]
    assert batch["train_loss"] == pytest.approx(batch["ce"] + 0.5 * batch["kl"] / 100, rel=1e-5)
    # a heavier KL weight shrinks the posterior towards the prior (sigma grows from rho_init)
    light = _small(max_epochs=10, kl_weight=0.0).fit(X_train[:200], y_train[:200])
    heavy = _small(max_epochs=10, kl_weight=1.0).fit(X_train[:200], y_train[:200])
    sigma = lambda c: c.module_.head.sigma("weight").mean().item()  # noqa: E731
    assert sigma(heavy) > sigma(light)


def test_predictive_samples_differ_across_draws_and_are_reproducible(fitted, split):
    X = split[1][:80]
    samples = fitted.predict_proba_samples(X)
    assert samples.shape == (10, 80, 10)
    np.testing.assert_allclose(samples.sum(-1), 1.0, atol=1e-10)
    assert not np.allclose(samples[0], samples[1])
    np.testing.assert_array_equal(fitted.predict_proba_samples(X), samples)
    # draw s is one network: chunks of the pool and fewer draws agree
    chunked = np.concatenate([fitted.predict_proba_samples(X[:30]), fitted.predict_proba_samples(X[30:])], 1)
    np.testing.assert_allclose(chunked, samples, atol=1e-6)
    np.testing.assert_allclose(fitted.predict_proba_samples(X, n_samples=3), samples[:3], atol=1e-6)
    other = fitted.predict_proba_samples(X, random_state=1)
    assert not np.allclose(other, samples)
    np.testing.assert_array_equal(other, fitted.predict_proba_samples(X, random_state=1))
    np.testing.assert_allclose(fitted.predict_proba(X), samples.mean(0))
    # the strategy measures see the spread of the draws
    assert measures.bald(samples).max() > 1e-3
    assert np.all(measures.entropy(samples) >= measures.bald(samples) - 1e-12)


def test_same_random_state_same_model_and_the_global_rng_is_left_alone(split):
    X_train, X_test, y_train, _ = split
    before = torch.get_rng_state()
    a = _small(max_epochs=3, random_state=3).fit(X_train[:200], y_train[:200])
    assert torch.equal(torch.get_rng_state(), before)
    b = _small(max_epochs=3, random_state=3).fit(X_train[:200], y_train[:200])
    c = _small(max_epochs=3, random_state=4).fit(X_train[:200], y_train[:200])
    pa, pb, pc = (m.predict_proba_samples(X_test[:40]) for m in (a, b, c))
    np.testing.assert_array_equal(pa, pb)
    assert not np.allclose(pa, pc)


def test_digits_accuracy_within_a_few_points_of_the_mlp(fitted, split):
    X_train, X_test, y_train, y_test = split
    bbb = fitted.score(X_test, y_test)
    mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0).fit(X_train, y_train)
    assert bbb >= 0.9  # chance is 0.1
    assert bbb >= mlp.score(X_test, y_test) - 0.04


def test_scale_mixture_prior_trains(split):
    X_train, X_test, y_train, y_test = split
    clf = _small(prior_sigma=(1.0, 0.0025), prior_pi=0.5, max_epochs=15).fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.85
    assert "prior=0.5 N(0, 1.0^2)" in repr(clf.module_.head)


def test_pipeline_grid_search_clone_pickle_and_adapters(split):
    X_train, X_test, y_train, y_test = split
    pipe = make_pipeline(StandardScaler(), _small(max_epochs=8, n_samples=3))
    grid = GridSearchCV(pipe, {"bayesbybackpropclassifier__kl_weight": [0.1, 1.0]}, cv=2)
    grid.fit(X_train[:300], y_train[:300])
    assert grid.best_score_ > 0.7
    best = grid.best_estimator_
    assert predict_proba_samples(best, X_test[:7]).shape == (3, 7, 10)
    assert embed(best, X_test[:7]).shape == (7, 32)
    assert clone(best.steps[-1][1]).get_params()["kl_weight"] in (0.1, 1.0)
    model = best.steps[-1][1]
    restored = pickle.loads(pickle.dumps(model))
    Xs = best[:-1].transform(X_test[:10])
    np.testing.assert_array_equal(restored.predict_proba_samples(Xs), model.predict_proba_samples(Xs))


def test_string_labels_images_and_bald_in_an_active_learner():
    rng = np.random.RandomState(0)
    X = rng.rand(60, 1, 28, 28).astype(np.float32)
    y = np.array(["cat", "dog", "eel"])[np.arange(60) % 3]
    X[y == "dog", :, :14] += 1.0
    clf = BayesByBackpropClassifier(module=GalCNN, max_epochs=2, n_samples=3, batch_size=16,
                                    random_state=0, device="cpu")
    learner = ActiveLearner(estimator=clf, query_strategy=bald, X_training=X[:12], y_training=y[:12])
    idx, instances = learner.query(X[12:], n_instances=4)
    assert len(idx) == 4 and instances.shape == (4, 1, 28, 28)  # modAL's (idx, X_pool[idx])
    learner.teach(X[12:][idx], y[12:][idx])
    assert set(learner.predict(X[:5])) <= {"cat", "dog", "eel"}
    assert 0.0 <= learner.score(X, y) <= 1.0
    assert clf.embed(X[:3]).shape == (3, 128)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"n_samples": 0}, ValueError, "n_samples == 0, must be >= 1"),
        ({"kl_weight": -1.0}, ValueError, "kl_weight == -1.0, must be >= 0"),
        ({"prior_sigma": 0.0}, ValueError, "prior_sigma == 0.0, must be > 0"),
        ({"prior_sigma": (1.0, 0.1), "prior_pi": 0.0}, ValueError, "prior_pi == 0.0"),
        ({"rho_init": "small"}, TypeError, "rho_init must be an instance of"),
        ({"module": nn.Sequential(nn.Flatten(), nn.Identity())}, ValueError, "outputs shape"),
    ],
)
def test_bad_parameters_name_themselves(blobs, params, error, match):
    with pytest.raises(error, match=match):
        BayesByBackpropClassifier(max_epochs=1, **params).fit(*blobs)


def test_a_module_without_linear_or_conv_layers_is_refused():
    X = np.random.RandomState(0).rand(20, 3).astype(np.float32)
    with pytest.raises(ValueError, match="no nn.Linear or nn.Conv2d layer"):
        BayesByBackpropClassifier(module=nn.Identity(), max_epochs=1).fit(X, np.arange(20) % 3)


@pytest.mark.gpu
def test_trains_and_predicts_on_cuda(blobs):
    clf = BayesByBackpropClassifier(max_epochs=2, n_samples=3, device="cuda", random_state=0).fit(*blobs)
    assert next(clf.module_.parameters()).is_cuda
    samples = clf.predict_proba_samples(blobs[0])
    assert samples.shape == (3, 60, 3) and not np.allclose(samples[0], samples[1])
