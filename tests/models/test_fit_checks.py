"""Settings that used to give silent nonsense or a raw torch error are clear errors at fit.

Issue 19, defect 7: ``max_epochs=0`` left an untrained model behind a
fitted-looking estimator; ``device='cuda'`` without a GPU and
``device='tpu'`` surfaced torch's own errors from deep inside the fit.
"""

import numpy as np
import pytest
import torch
from skorch import NeuralNetClassifier

from skal.models import MAL, MLP, VAAL, VAEACGAN
from skal.models._base import resolve_device

from ._helpers import ESTIMATORS, make_estimator

NAMES = list(ESTIMATORS)


# -- max_epochs ------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_zero_epochs_are_rejected_at_fit_with_the_fix(blobs, name):
    estimator = make_estimator(name, max_epochs=0)
    expected = r"max_epochs == 0, must be >= 1\. .*untrained.*max_epochs >= 1"
    with pytest.raises(ValueError, match=expected):
        estimator.fit(*blobs)
    assert not hasattr(estimator, "net_")


@pytest.mark.parametrize("name", NAMES)
def test_zero_epochs_are_rejected_on_partial_fit_and_warm_fits(blobs, name):
    estimator = make_estimator(name, max_epochs=1, warm_start=True).fit(*blobs)
    estimator.set_params(max_epochs=0)
    for fit in (estimator.fit, estimator.partial_fit):
        with pytest.raises(ValueError, match="max_epochs == 0, must be >= 1"):
            fit(*blobs)


def test_zero_epochs_of_a_skorch_template_are_rejected_too(blobs):
    template = NeuralNetClassifier(MLP, module__hidden_units=(8,), max_epochs=0)
    estimator = make_estimator("mc_dropout", module=template, max_epochs=None)
    with pytest.raises(ValueError, match="max_epochs of the skorch net given as module == 0"):
        estimator.fit(*blobs)
    # an explicit max_epochs overrides the template's
    fitted = make_estimator("mc_dropout", module=template, max_epochs=1).fit(*blobs)
    assert len(fitted.net_.history) == 1


@pytest.mark.parametrize("name", NAMES)
def test_the_network_can_still_be_built_without_training_for_tests(blobs, name):
    # what max_epochs=0 was used for: setting the network up before training it
    estimator = make_estimator(name)._initialize(*blobs)
    assert len(estimator.net_.history) == 0
    assert estimator.predict_proba(blobs[0][:3]).shape == (3, 3)
    assert len(estimator.partial_fit(*blobs).net_.history) == estimator.max_epochs


# -- device ------------------------------------------------------------------------------
#: Every estimator that trains on a torch device: the classifiers and the generative models.
ALL = [*NAMES, "vaal", "mal", "vae_acgan"]


def _fit(name, blobs, **params):
    """Fit the estimator ``name`` on ``blobs`` as briefly as it allows."""
    X, y = blobs
    if name in ESTIMATORS:
        return make_estimator(name, **params).fit(X, y)
    if name == "vae_acgan":
        images = np.resize(1 / (1 + np.exp(-X)), (len(X), 1, 8, 8)).astype(np.float32)  # in [0, 1]
        return VAEACGAN(n_steps=1, width=4, random_state=0, **params).fit(images, y)
    semi = np.where(np.arange(len(y)) % 2 == 0, y, -1)  # half of the rows unlabeled
    return {"vaal": VAAL, "mal": MAL}[name](n_steps=1, random_state=0, **params).fit(X, semi)


@pytest.mark.parametrize("device", ["tpu", "CPU", "cuda:x", 3.5])
@pytest.mark.parametrize("name", ALL)
def test_an_unknown_device_is_a_value_error_listing_the_valid_ones(blobs, name, device):
    expected = r"device=.* is not a device skal can train on: use 'auto', 'cpu', 'cuda'"
    with pytest.raises(ValueError, match=expected):
        _fit(name, blobs, device=device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="the machine has a GPU")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda")])
@pytest.mark.parametrize("name", ALL)
def test_cuda_without_a_gpu_is_a_value_error_naming_the_fix(blobs, name, device):
    expected = r"device=.*cuda.* but torch\.cuda\.is_available\(\) is False.*use device='cpu'"
    with pytest.raises(ValueError, match=expected):
        _fit(name, blobs, device=device)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_a_cuda_index_beyond_the_gpus_is_a_value_error():
    with pytest.raises(ValueError, match="CUDA device"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")


@pytest.mark.parametrize("device", ["cpu", "cpu:0", torch.device("cpu")])
def test_usable_devices_are_returned_as_given(device):
    assert resolve_device(device) is device


def test_auto_takes_the_gpu_when_there_is_one():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == resolve_device(None) == expected
