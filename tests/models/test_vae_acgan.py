"""VAEACGAN: a class-conditional generator whose samples are of their class."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from skal.models import VAEACGAN


@pytest.fixture(scope="module")
def trained(digits):
    """The small setting: 150 steps on 600 digits (8x8), a few seconds on a CPU."""
    X, y = digits
    images = X.reshape(-1, 1, 8, 8)
    gan = VAEACGAN(n_steps=150, random_state=0, device="cpu").fit(images[:600], y[:600])
    judge = LogisticRegression(max_iter=2000).fit(X[600:], y[600:])  # never saw the generator's data
    return gan, judge, images, y


def test_samples_are_classified_as_their_conditioning_class(trained):
    gan, judge, _, _ = trained
    wanted = np.repeat(np.arange(10), 30)
    samples = gan.sample(wanted, random_state=0)
    assert samples.shape == (300, 1, 8, 8) and samples.dtype == np.float32
    assert 0.0 <= samples.min() and samples.max() <= 1.0
    accuracy = np.mean(judge.predict(samples.reshape(300, -1)) == wanted)
    assert accuracy > 0.5  # chance is 0.1


def test_reconstructions_keep_the_class_of_unseen_images(trained):
    gan, judge, images, y = trained
    twins = gan.reconstruct(images[1000:1200], y[1000:1200], random_state=0)
    assert np.mean(judge.predict(twins.reshape(200, -1)) == y[1000:1200]) > 0.8


def test_seeds_fix_the_images_and_partial_fit_continues(trained):
    gan, _, images, y = trained
    np.testing.assert_array_equal(gan.sample([3, 4], random_state=1), gan.sample([3, 4], random_state=1))
    assert not np.array_equal(gan.sample([3, 4], random_state=1), gan.sample([3, 4], random_state=2))
    small = VAEACGAN(n_steps=3, width=4, random_state=0).fit(images[:50], y[:50])
    again = clone(small).fit(images[:50], y[:50])
    np.testing.assert_array_equal(small.sample([1], random_state=0), again.sample([1], random_state=0))
    small.partial_fit(images[50:80], y[50:80])
    assert small.n_steps_trained_ == 6 and set(small.losses_) == {"discriminator", "generator"}
    small.fit(images[:50], y[:50])
    assert small.n_steps_trained_ == 3


def _with_nan(images):
    images = images.copy()
    images[0, 0, 0, 0] = np.nan
    return images


BAD = {
    "flat rows": (lambda X, y: VAEACGAN().fit(X.reshape(len(X), -1), y), ValueError,
                  r"VAEACGAN generates images: pass an array of shape \(n, channels, height, width\)"),
    "7x7 images": (lambda X, y: VAEACGAN().fit(X[:, :, :7, :7], y), ValueError,
                   "height and width must be multiples of 4"),
    "pixels beyond [0, 1]": (lambda X, y: VAEACGAN().fit(X * 16, y), ValueError, r"scale X to \[0, 1\]"),
    "NaN pixels": (lambda X, y: VAEACGAN().fit(_with_nan(X), y), ValueError, "X contains NaN"),
    "labels and images differ": (lambda X, y: VAEACGAN().fit(X, y[:-1]), ValueError,
                                 "pass one label per image"),
    "one class": (lambda X, y: VAEACGAN().fit(X, np.zeros(len(X))), ValueError, "1 class only"),
    "negative steps": (lambda X, y: VAEACGAN(n_steps=-1).fit(X, y), ValueError, "n_steps == -1, must be >= 0"),
    "zero learning rate": (lambda X, y: VAEACGAN(lr=0.0).fit(X, y), ValueError, "lr == 0.0, must be > 0"),
    "float width": (lambda X, y: VAEACGAN(width=8.0).fit(X, y), TypeError, "width must be an instance of int"),
    "unfitted": (lambda X, y: VAEACGAN().sample([0]), NotFittedError, "not fitted"),
    "a label it never saw": (lambda X, y: VAEACGAN(n_steps=1, width=4).fit(X, y).reconstruct(X[:1], [11]),
                             ValueError, r"y contains labels \[11\] not in classes_"),
    "other image size": (lambda X, y: VAEACGAN(n_steps=1, width=4).fit(X, y).reconstruct(
        np.zeros((1, 1, 12, 12), np.float32), [1]), ValueError, r"fitted on images of shape \(1, 8, 8\)"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_a_clear_error(digits, case):
    X, y = digits
    action, error, match = BAD[case]
    with pytest.raises(error, match=match):
        action(X[:40].reshape(-1, 1, 8, 8), y[:40])


def test_mnist_sized_images_train_and_generate_on_cpu():
    # 28x28 (MNIST size) in the small setting: a shape check, not a quality one
    rng = np.random.RandomState(0)
    X = rng.rand(40, 1, 28, 28).astype(np.float32)
    y = np.arange(40) % 4
    gan = VAEACGAN(n_steps=3, width=8, random_state=0, device="cpu").fit(X, y)
    assert gan.sample([0, 3], random_state=0).shape == (2, 1, 28, 28)
    assert gan.reconstruct(X[:5], y[:5], random_state=0).shape == (5, 1, 28, 28)


@pytest.mark.gpu
def test_trains_and_generates_on_cuda(digits):
    X, y = digits
    gan = VAEACGAN(n_steps=20, random_state=0, device="cuda").fit(X[:200].reshape(-1, 1, 8, 8), y[:200])
    samples = gan.sample(np.arange(10), random_state=0)
    assert samples.shape == (10, 1, 8, 8) and isinstance(samples, np.ndarray)
