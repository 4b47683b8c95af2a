"""The jointly trained ensembles (skal/models/_ensemble.py): DeepEnsemble and what the DPE shares."""

import inspect

import numpy as np
import pytest
import torch
from sklearn.ensemble import BaseEnsemble
from skorch import NeuralNetClassifier
from torch import nn

from skal.models import DeepEnsemble, DeepProbabilisticEnsemble, GalCNN, SmallCNN
from skal.models._embedding import skorch_embed

from ._helpers import fit_on_path, make_estimator

ENSEMBLES = ["dpe", "deep_ensemble"]


def test_deep_ensemble_and_dpe_are_siblings_and_only_the_dpe_has_beta():
    assert not issubclass(DeepEnsemble, DeepProbabilisticEnsemble)
    assert not issubclass(DeepProbabilisticEnsemble, DeepEnsemble)
    assert issubclass(DeepEnsemble, BaseEnsemble) and issubclass(DeepProbabilisticEnsemble, BaseEnsemble)
    assert "beta" not in inspect.signature(DeepEnsemble).parameters
    assert "beta" not in DeepEnsemble().get_params()
    assert "beta" not in DeepEnsemble.__doc__
    with pytest.raises(ValueError, match="Invalid parameter 'beta'"):
        DeepEnsemble().set_params(beta=1.0)
    assert DeepProbabilisticEnsemble().get_params()["beta"] == 1.0


def test_deep_ensemble_trains_as_the_dpe_without_penalty(blobs):
    X, y = blobs
    de = make_estimator("deep_ensemble").fit(X, y)
    dpe = make_estimator("dpe", beta=0.0).fit(X, y)
    np.testing.assert_allclose(de.predict_proba_samples(X), dpe.predict_proba_samples(X), rtol=1e-6)


@pytest.mark.parametrize("name", ENSEMBLES)
def test_members_are_fitted_nets_usable_on_their_own(blobs, name):
    X, y = blobs
    ensemble = make_estimator(name).fit(X, y)
    assert len(ensemble) == 3 and len(list(ensemble)) == 3
    samples = ensemble.predict_proba_samples(X)
    for e, member in enumerate(ensemble):
        assert isinstance(member, NeuralNetClassifier)
        np.testing.assert_allclose(member.predict_proba(X), samples[e], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ensemble.predict_proba(X), samples.mean(0), rtol=1e-6)
    assert ensemble.embed(X[:5], member=2).shape == (5, 16)
    np.testing.assert_array_equal(ensemble.embed(X[:5])[:, 32:], ensemble.embed(X[:5], member=2))
    with pytest.raises(ValueError, match="member == 3, must be <= 2"):
        ensemble.embed(X[:5], member=3)


class _WithNonPersistentBuffer(nn.Module):
    """An MLP whose logits are divided by a per-instance, non-persistent temperature."""

    def __init__(self, n_features, n_classes):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_features, 8), nn.ReLU())
        self.head = nn.Linear(8, n_classes)
        self.register_buffer("temperature", 1.0 + torch.rand(()), persistent=False)

    def forward(self, X):
        return self.head(self.body(X)) / self.temperature


@pytest.mark.parametrize("name", ENSEMBLES)
def test_members_with_non_persistent_buffers_are_exported_whole(blobs, name):
    # fit used to train, then fail exporting estimators_ through
    # load_state_dict: "Unexpected key(s) in state_dict: temperature".
    X, y = blobs
    ensemble = make_estimator(name, module=_WithNonPersistentBuffer).fit(X, y)
    stacked = ensemble.net_.module_.buffers_dict()["temperature"]
    assert len(torch.unique(stacked)) == 3  # one temperature per member
    samples = ensemble.predict_proba_samples(X)
    for e, member in enumerate(ensemble):
        assert member.module_.temperature == stacked[e]
        np.testing.assert_allclose(member.predict_proba(X), samples[e], rtol=1e-4, atol=1e-6)


class _Unregularisable(nn.Module):
    """Logits from a raw parameter matrix: no layer the He prior covers."""

    def __init__(self, n_features, n_classes):
        super().__init__()
        self.weight = nn.Parameter(0.1 * torch.randn(n_features, n_classes))

    def forward(self, X):
        return X @ self.weight


def test_only_the_dpe_needs_layers_its_prior_covers(blobs):
    # The deep ensemble used to build the DPE's penalty too, and refused
    # such a module with advice ("beta=0") it could not take.
    X, y = blobs
    ensemble = make_estimator(
        "deep_ensemble", module=_Unregularisable, max_epochs=20, lr=0.05
    ).fit(X, y)
    assert ensemble.unregularised_params_ == ["weight"]
    assert ensemble.score(X, y) > 0.7
    with pytest.raises(ValueError, match="prior regularises nothing: use such layers, or a DeepEnsemble"):
        make_estimator("dpe", module=_Unregularisable).fit(X, y)


IMAGE_MODULES = {
    "gal_cnn": dict(module=GalCNN, module__n_classes=3, module__image_size=8),
    "small_cnn": dict(module=SmallCNN, module__n_classes=3, module__in_channels=1, module__widths=(4,)),
}


@pytest.mark.parametrize("name", ENSEMBLES)
@pytest.mark.parametrize("module", IMAGE_MODULES)
def test_image_members_run_layer_by_layer_and_export_whole(name, module):
    rng = np.random.RandomState(0)
    X = rng.rand(24, 1, 8, 8).astype(np.float32)
    y = np.arange(24) % 3
    assert make_estimator(name, **IMAGE_MODULES[module]).fit(X, y).net_.module_.path == "loop"  # CPU
    ensemble = fit_on_path(make_estimator(name, **IMAGE_MODULES[module]), "layers", X, y)
    # pool scoring runs through the same stacked module; every member's
    # probabilities and penultimate features are its own (BatchNorm running
    # statistics included)
    samples = ensemble.predict_proba_samples(X)
    phi = ensemble.embed(X)
    width = phi.shape[1] // 3
    for e, member in enumerate(ensemble):
        np.testing.assert_allclose(member.predict_proba(X), samples[e], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(
            skorch_embed(member, X), phi[:, e * width : (e + 1) * width], rtol=1e-4, atol=1e-6
        )


def test_the_members_take_one_fused_optimizer_step(blobs):
    X, y = blobs
    ensemble = make_estimator("deep_ensemble").fit(X, y)
    assert ensemble.net_.optimizer_.defaults["fused"] is True  # CPU Adam has fused kernels
    own_choice = make_estimator("deep_ensemble", optimizer__foreach=True).fit(X, y)
    assert own_choice.net_.optimizer_.defaults["foreach"] is True
    assert not own_choice.net_.optimizer_.defaults["fused"]
