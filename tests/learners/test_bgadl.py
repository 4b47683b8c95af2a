"""BGADL: every acquired image brings a generated twin that trains the classifier."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skal.learners import BGADL
from skal.models import VAEACGAN


def flatten(X):
    return X.reshape(len(X), -1)


class _RecordingLogReg(LogisticRegression):
    def fit(self, X, y, **kwargs):
        self.fit_X_, self.fit_y_ = np.asarray(X), np.asarray(y)
        return super().fit(X, y, **kwargs)


@pytest.fixture(scope="module")
def images():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8), y


def _learner(images, n_seed=50, **kwargs):
    X, y = images
    generator = kwargs.pop("generator", VAEACGAN(n_steps=150, random_state=0))
    pipe = make_pipeline(FunctionTransformer(flatten), _RecordingLogReg(max_iter=500))
    learner = BGADL(pipe, "entropy", generator=generator, random_state=0, **kwargs)
    learner.teach(X[:n_seed], y[:n_seed])
    return learner, X[n_seed:], y[n_seed:]


def test_acquisitions_bring_twins_that_train_the_classifier(images):
    learner, X_pool, y_pool = _learner(images)
    assert learner.X_generated_ is None  # the seed set is not augmented
    assert learner.generator_.n_steps_trained_ == 150
    idx, X_query = learner.query(X_pool, n_instances=10)
    learner.teach(X_query, y_pool[idx])
    twins, labels = learner.X_generated_, learner.y_generated_
    assert twins.shape == (10, 1, 8, 8) and np.array_equal(labels, y_pool[idx])
    # twins of the acquired images' classes (a judge that never saw the generator's data)
    judge = LogisticRegression(max_iter=2000).fit(flatten(X_pool[500:]), y_pool[500:])
    assert np.mean(judge.predict(flatten(twins)) == labels) >= 0.6
    assert learner.generator_.n_steps_trained_ == 300  # trained further on the 60 labels
    fit_X = learner.estimator[-1].fit_X_
    assert len(fit_X) == 60 + 10 and len(learner.y_training) == 60
    np.testing.assert_array_equal(fit_X[60:], flatten(twins))
    np.testing.assert_array_equal(learner.estimator[-1].fit_y_[60:], labels)
    idx, X_query = learner.query(X_pool, n_instances=4)
    learner.teach(X_query, y_pool[idx])
    assert len(learner.y_generated_) == 14 and learner.describe_round() == {"n_generated": 14}
    learner.fit(learner.X_training, learner.y_training)  # starting over drops them
    assert learner.X_generated_ is None and len(learner.estimator[-1].fit_X_) == 64


def test_a_label_the_generator_never_saw_gets_no_twin_and_is_learned(images):
    X, y = images
    pipe = make_pipeline(FunctionTransformer(flatten), LogisticRegression(max_iter=500))
    no_nines = np.flatnonzero(y != 9)[:40]
    learner = BGADL(pipe, generator=VAEACGAN(n_steps=5, width=4), X_training=X[no_nines],
                    y_training=y[no_nines], random_state=0)
    assert 9 not in learner.generator_.classes_
    batch = np.concatenate([np.flatnonzero(y == 9)[:2], np.flatnonzero(y == 0)[30:32]])
    learner.teach(X[batch], y[batch])
    np.testing.assert_array_equal(learner.y_generated_, [0, 0])
    assert 9 in learner.generator_.classes_ and learner.generator_.n_steps_trained_ == 5  # rebuilt


def test_twins_are_reproducible_from_random_state(images):
    a, X_pool, y_pool = _learner(images, generator=VAEACGAN(n_steps=10, width=4))
    b, _, _ = _learner(images, generator=VAEACGAN(n_steps=10, width=4))
    for learner in (a, b):
        learner.teach(X_pool[:5], y_pool[:5])
    np.testing.assert_array_equal(a.X_generated_, b.X_generated_)


BAD = {
    "generator of another kind": (
        lambda images: BGADL(LogisticRegression(), generator=LogisticRegression()),
        TypeError, "generator must be a skal.models.VAEACGAN",
    ),
    "flat rows": (
        lambda images: BGADL(LogisticRegression()).teach(flatten(images[0][:20]), images[1][:20]),
        ValueError, r"X has shape \(20, 64\); BGADL generates images",
    ),
    "flat initial rows": (
        lambda images: BGADL(LogisticRegression(), X_training=flatten(images[0][:20]), y_training=images[1][:20]),
        ValueError, "X_training has shape",
    ),
    "labels and images differ in number": (
        lambda images: _learner(images, n_seed=20, generator=VAEACGAN(n_steps=2, width=4))[0].teach(
            images[0][30:32], images[1][30:33]
        ),
        ValueError, "X has 2 samples but y has 3",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_a_clear_error(images, case):
    action, error, match = BAD[case]
    with pytest.raises(error, match=match):
        action(images)
