"""The learned acquisition models on a CUDA device, at the sizes their papers use them.

Learning loss on a ResNet-18 and VAAL/MAL on 32x32 colour images are
practical on a GPU only; these tests check that everything lands on the
device and comes back as NumPy. Skipped without CUDA (``@pytest.mark.gpu``).
"""

import numpy as np
import pytest

from skal.models import MAL, VAAL, LearningLossClassifier, TrainingDynamics, torchvision_backbone
from skal.strategies import label_dispersion, learning_loss, vaal

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def images():
    rng = np.random.RandomState(0)
    X = rng.rand(256, 3, 32, 32).astype(np.float32)
    y = rng.randint(0, 10, 256)
    return X, y


def test_learning_loss_on_a_resnet18(images):
    X, y = images
    recorder = TrainingDynamics(X[128:])
    clf = LearningLossClassifier(
        module=torchvision_backbone("resnet18", n_classes=10), max_epochs=3, batch_size=64,
        callbacks=[recorder], device="cuda", random_state=0,
    ).fit(X[:128], y[:128])
    assert clf.module_.layers == ("body.layer1", "body.layer2", "body.layer3", "body.layer4")
    assert next(clf.module_.parameters()).is_cuda
    idx, scores = learning_loss(clf, X[128:], n_instances=8, random_state=0)
    assert len(set(idx.tolist())) == 8 and np.isfinite(scores).all()
    idx, _ = label_dispersion(clf, X[128:], n_instances=8, random_state=0)
    assert recorder.n_records_ == 3 and len(set(idx.tolist())) == 8


@pytest.mark.parametrize("cls", [VAAL, MAL])
def test_adversarial_models_on_colour_images(cls, images):
    X, y = images
    labels = np.where(np.arange(len(y)) < 64, y, -1)
    model = cls(n_steps=20, device="cuda", random_state=0).fit(X, labels)
    assert next(model.encoder_.parameters()).is_cuda
    proba = model.predict_labeled_proba(X)
    assert proba.shape == (256,) and isinstance(proba, np.ndarray)


def test_vaal_strategy_on_cuda(images):
    from sklearn.linear_model import LogisticRegression

    X, y = images
    task = LogisticRegression(max_iter=50).fit(X[:64].reshape(64, -1), y[:64])
    idx, _ = vaal(task, X[64:], n_instances=8, X_labeled=X[:64],
                  model={"n_steps": 20, "device": "cuda"}, random_state=0)
    assert len(set(idx.tolist())) == 8
