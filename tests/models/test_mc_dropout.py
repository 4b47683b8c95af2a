import copy
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from skal.models import MLP, GalCNN, MCDropoutClassifier, embed, predict_proba_samples

def _small(**kw):
    params = dict(max_epochs=10, lr=0.01, batch_size=32, n_samples=4,
                  module__hidden_units=(16,), random_state=0)
    params.update(kw)
    return MCDropoutClassifier(**params)


@pytest.fixture(scope="module")
def split(digits):
    X, y = digits
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def fitted(split):
    X_train, _, y_train, _ = split
    return MCDropoutClassifier(max_epochs=15, lr=3e-3, n_samples=10, random_state=0).fit(
        X_train, y_train
    )


def _count_calls(module):
    rows = []
    handle = module.register_forward_hook(lambda m, args, out: rows.append(len(args[0])))
    return rows, handle


def test_layers_before_the_first_dropout_run_once_per_batch(fitted, split):
    X = split[1][:100]
    clf = clone(fitted).set_params(batch_size=32)
    clf.fit(split[0][:200], split[2][:200])
    first, h1 = _count_calls(clf.module_.body[0])
    head, h2 = _count_calls(clf.module_.head)
    try:
        samples = clf.predict_proba_samples(X, n_samples=7)
    finally:
        h1.remove()
        h2.remove()
    assert samples.shape == (7, 100, 10)
    assert first == [32, 32, 32, 4]  # one call per batch, not one per sample
    assert head == [7 * 32, 7 * 32, 7 * 32, 7 * 4]  # the tail sees the S copies


def test_samples_differ_and_probabilities_are_normalised(fitted, split):
    X = split[1]
    samples = fitted.predict_proba_samples(X)
    assert samples.shape == (10, len(X), 10)
    np.testing.assert_allclose(samples.sum(-1), 1.0, atol=1e-10)
    assert np.all(samples >= 0)
    assert samples.std(axis=0).max() > 1e-3
    assert not np.allclose(samples[0], samples[1])
    proba = fitted.predict_proba(X)
    np.testing.assert_allclose(proba, samples.mean(0))
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-10)
    np.testing.assert_array_equal(fitted.predict(X), fitted.classes_[proba.argmax(1)])


def test_masks_are_consistent_across_calls_chunks_batch_sizes_and_sample_counts(fitted, split):
    X = split[1][:60]
    full = fitted.predict_proba_samples(X)
    np.testing.assert_array_equal(fitted.predict_proba_samples(X), full)
    chunked = np.concatenate(
        [fitted.predict_proba_samples(X[:25]), fitted.predict_proba_samples(X[25:])], axis=1
    )
    np.testing.assert_allclose(chunked, full, atol=1e-6)
    other_batches = copy.deepcopy(fitted)
    other_batches.net_.set_params(batch_size=7)
    np.testing.assert_allclose(other_batches.predict_proba_samples(X), full, atol=1e-6)
    np.testing.assert_allclose(fitted.predict_proba_samples(X, n_samples=4), full[:4], atol=1e-6)
    fresh = fitted.predict_proba_samples(X, random_state=1)
    assert not np.allclose(fresh, full)
    np.testing.assert_array_equal(fresh, fitted.predict_proba_samples(X, random_state=1))


def test_same_random_state_gives_same_samples_and_global_rng_is_untouched(split):
    X_train, X_test, y_train, _ = split
    X_train, y_train = X_train[:300], y_train[:300]
    rng_before = torch.get_rng_state()
    a = _small(random_state=3).fit(X_train, y_train).predict_proba_samples(X_test[:50])
    assert torch.equal(torch.get_rng_state(), rng_before)
    b = _small(random_state=3).fit(X_train, y_train).predict_proba_samples(X_test[:50])
    c = _small(random_state=4).fit(X_train, y_train).predict_proba_samples(X_test[:50])
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


class _SkipOverDropout(nn.Module):
    """MLP whose output adds a per-row term computed before the dropout.

    The term is zero, so the function equals the MLP's, but the forward
    cannot take an S-times tiled batch: MC dropout must fall back to S passes.
    """

    def __init__(self, n_features, n_classes, hidden):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_features, hidden), nn.ReLU(), nn.Dropout(0.5))
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, X):
        return self.head(self.body(X)) + 0.0 * X[:, :1]


def test_fallback_to_full_passes_gives_the_same_samples(split):
    X_train, X_test, y_train, _ = split
    X_train, y_train = X_train[:300], y_train[:300]
    mlp = _small(random_state=5).fit(X_train, y_train)
    skip = _SkipOverDropout(64, 10, 16)
    skip.load_state_dict(mlp.module_.state_dict())
    # Same random_state and no training: same dropout_seed_ and weights.
    other = MCDropoutClassifier(module=skip, batch_size=32, n_samples=4,
                                random_state=5)._initialize(X_train, y_train)
    assert other.dropout_seed_ == mlp.dropout_seed_
    first, handle = _count_calls(other.module_.body[0])
    try:
        samples = other.predict_proba_samples(X_test[:40])
    finally:
        handle.remove()
    # One failed tiled attempt on the first batch, then S = 4 full passes per batch.
    assert first == [32] * 5 + [8] * 4
    np.testing.assert_allclose(samples, mlp.predict_proba_samples(X_test[:40]), atol=1e-6)


def test_string_labels_and_classes_parameter(split):
    X_train, X_test, y_train, _ = split
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                      "nine"])
    clf = _small().fit(X_train[:300], names[y_train[:300]])
    assert set(clf.classes_) == set(names)
    assert set(clf.predict(X_test[:30])) <= set(names)
    clf = _small(classes=["a", "b", "c"]).fit(X_train[:20], np.array(["a", "b"] * 10))
    assert clf.predict_proba(X_test[:5]).shape == (5, 3)


def test_pipeline_clone_and_grid_search_on_digits(split):
    X_train, X_test, y_train, y_test = split
    pipe = make_pipeline(StandardScaler(), _small(max_epochs=20))
    grid = GridSearchCV(pipe, {"mcdropoutclassifier__n_samples": [2, 4],
                               "mcdropoutclassifier__lr": [0.01]}, cv=2)
    grid.fit(X_train[:400], y_train[:400])
    assert grid.best_score_ > 0.8
    best = clone(grid.best_estimator_).fit(X_train[:400], y_train[:400])
    assert best.score(X_test, y_test) > 0.8
    assert predict_proba_samples(best, X_test[:7]).shape[1:] == (7, 10)
    assert embed(best, X_test[:7]).shape == (7, 16)


def test_digits_accuracy_with_defaults(split):
    X_train, X_test, y_train, y_test = split
    clf = MCDropoutClassifier(random_state=0).fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.95


def test_adapters_embedding_and_pickle(fitted, split):
    X = split[1][:20]
    assert predict_proba_samples(fitted, X, n_samples=3).shape == (3, 20, 10)
    phi = fitted.embed(X)
    assert phi.shape == (20, 128)
    np.testing.assert_array_equal(embed(fitted, X), phi)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba_samples(X), fitted.predict_proba_samples(X))
    assert fitted.get_params()["device"] == "auto"
    assert fitted.net_.device in ("cpu", "cuda")


def test_partial_fit_and_warm_start_continue_training(split):
    X_train, _, y_train, _ = split
    clf = _small(max_epochs=1)
    clf.partial_fit(X_train[:100], y_train[:100], classes=np.arange(10))
    before = clf.module_.head.weight.detach().clone()
    clf.partial_fit(X_train[100:200], y_train[100:200])
    assert not torch.equal(before, clf.module_.head.weight)
    seed = clf.dropout_seed_
    warm = _small(max_epochs=1, warm_start=True).fit(X_train[:100], y_train[:100])
    module = warm.module_
    warm.fit(X_train[100:200], y_train[100:200])
    assert warm.module_ is module and clf.dropout_seed_ == seed
    with pytest.raises(ValueError, match="not in classes_"):
        _small(max_epochs=1, warm_start=True).fit(X_train[:50], y_train[:50] % 3).fit(
            X_train[:50], y_train[:50]
        )


def test_image_module_gal_cnn():
    rng = np.random.RandomState(0)
    X = rng.rand(40, 1, 28, 28).astype(np.float32)
    y = np.arange(40) % 3
    clf = MCDropoutClassifier(module=GalCNN, max_epochs=1, n_samples=3, batch_size=16,
                              random_state=0).fit(X, y)
    assert clf.module_.head.out_features == 3
    first, handle = _count_calls(clf.module_.body[0])
    try:
        samples = clf.predict_proba_samples(X)
    finally:
        handle.remove()
    assert samples.shape == (3, 40, 3)
    assert first == [16, 16, 8]
    assert clf.embed(X).shape == (40, 128)
    flat = MCDropoutClassifier(module=GalCNN, max_epochs=1, n_samples=2, random_state=0)
    assert flat.fit(X.reshape(40, -1), y).predict_proba(X.reshape(40, -1)[:3]).shape == (3, 3)


def test_channel_dropout_masks_whole_channels():
    module = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Dropout2d(0.5), nn.Flatten(),
                           nn.Linear(4 * 6 * 6, 2))
    X = np.random.RandomState(0).rand(10, 1, 8, 8).astype(np.float32)
    clf = MCDropoutClassifier(module=module, max_epochs=1, n_samples=6, random_state=0)
    clf.fit(X, np.arange(10) % 2)
    captured = []
    # The layer after the dropout sees the masked, S-times tiled batch.
    handle = clf.module_[2].register_forward_hook(lambda m, args, out: captured.append(args[0]))
    try:
        clf.predict_proba_samples(X)
    finally:
        handle.remove()
    out = captured[0].reshape(6, 10, 4, 36)
    zero_channels = (out == 0).all(-1)
    # A dropped channel is zero for every position, and for every row alike.
    assert zero_channels.any()
    assert (zero_channels == zero_channels[:, :1]).all()


# NaN/inf, wrong shapes, a single class, unseen labels: tests/models/test_base.py.
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"module": MLP, "module__n_classes": 5}, r"outputs shape \(5,\) per sample but there are 3 classes"),
        ({"module": MLP, "module__dropout": 0.0}, "MLP has no nn.Dropout layer with p > 0"),
        (
            {"module": nn.Sequential(nn.Linear(64, 3), nn.Dropout(0.0))},
            "Sequential has no nn.Dropout layer with p > 0",
        ),
    ],
)
def test_bad_module_at_fit(split, kwargs, match):
    X, y = split[0][:60], split[2][:60] % 3
    with pytest.raises(ValueError, match=match):
        MCDropoutClassifier(max_epochs=1, **kwargs).fit(X, y)


@pytest.mark.parametrize("n_samples, error", [(0, ValueError), (2.0, TypeError), (True, TypeError)])
def test_bad_n_samples_at_predict(fitted, split, n_samples, error):
    with pytest.raises(error, match="n_samples"):
        fitted.predict_proba_samples(split[1][:5], n_samples=n_samples)


def test_the_default_module_is_an_mlp_with_dropout_sized_from_the_data(split):
    X, y = split[0][:100], split[2][:100]
    clf = MCDropoutClassifier(max_epochs=1, random_state=0).fit(X, y)
    assert isinstance(clf.module_, MLP)
    assert clf.module_.body[0].in_features == 64 and clf.module_.head.out_features == 10
    assert [m.p for m in clf.module_.modules() if isinstance(m, nn.Dropout)] == [0.5]
    lighter = MCDropoutClassifier(MLP, module__dropout=0.2, max_epochs=1).fit(X, y)
    assert [m.p for m in lighter.module_.modules() if isinstance(m, nn.Dropout)] == [0.2]
