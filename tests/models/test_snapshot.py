"""Snapshot ensemble: the cyclic schedule, the members, the ensemble contract."""

import math
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback

from skal import ActiveLearner, measures
from skal.models import GalCNN, SnapshotEnsemble, embed, predict_proba_samples
from skal.strategies import bald


def _small(**kw):
    params = dict(n_estimators=3, max_epochs=12, lr=0.01, batch_size=32, module__hidden_units=(32,),
                  random_state=0, device="cpu")
    params.update(kw)
    return SnapshotEnsemble(**params)


@pytest.fixture(scope="module")
def split(digits):
    X, y = digits
    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def fitted(split):
    X_train, _, y_train, _ = split
    return _small(n_estimators=4, max_epochs=40, lr=0.02).fit(X_train, y_train)


class _RecordLR(Callback):
    def initialize(self):
        self.lrs = []
        return self

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.lrs.append(net.optimizer_.param_groups[0]["lr"])


def test_the_learning_rate_follows_cosine_cycles_and_each_cycle_ends_in_a_snapshot(split):
    X_train, _, y_train, _ = split
    recorder = _RecordLR()
    # 120 rows in batches of 40: 3 steps an epoch, 12 steps in 4 epochs, 3 cycles of 4 steps
    clf = _small(n_estimators=3, max_epochs=4, lr=0.1, batch_size=40, callbacks=[recorder])
    clf.fit(X_train[:120], y_train[:120])
    # the schedule runs before the user's callbacks: they see each step's learning rate
    expected = [0.1 / 2 * (1 + math.cos(math.pi * t / 4)) for t in range(4)] * 3
    np.testing.assert_allclose(recorder.lrs, expected)
    snapshots = dict(clf.net_.callbacks_)["snapshots"]
    assert snapshots.boundaries_ == [4, 8, 12] and len(snapshots.snapshots_) == 3
    assert len(clf.estimators_) == len(clf) == 3


def test_members_differ_and_come_from_one_run(fitted, split):
    X = split[1]
    samples = fitted.predict_proba_samples(X)
    assert samples.shape == (4, len(X), 10)
    np.testing.assert_allclose(samples.sum(-1), 1.0, atol=1e-10)
    weights = [m.module_.head.weight.detach() for m in fitted.estimators_]
    assert all(not torch.equal(a, b) for a, b in zip(weights, weights[1:]))
    assert not np.allclose(samples[0], samples[-1])
    # the last member is the network the run ended with
    torch.testing.assert_close(weights[-1], fitted.net_.module_.head.weight.detach())
    # each exported member predicts as its row of the samples
    for s, member in enumerate(fitted.estimators_):
        np.testing.assert_allclose(member.predict_proba(X[:20]), samples[s, :20], atol=1e-5)
    np.testing.assert_allclose(fitted.predict_proba(X), samples.mean(0))
    assert measures.bald(samples).max() > 1e-3
    assert list(iter(fitted)) == fitted.estimators_


def test_digits_accuracy_beats_chance_by_far(fitted, split):
    _, X_test, _, y_test = split
    assert fitted.score(X_test, y_test) >= 0.9  # chance is 0.1


def test_same_random_state_same_members(split):
    X_train, X_test, y_train, _ = split
    a = _small(max_epochs=3, random_state=3).fit(X_train[:200], y_train[:200])
    b = _small(max_epochs=3, random_state=3).fit(X_train[:200], y_train[:200])
    c = _small(max_epochs=3, random_state=4).fit(X_train[:200], y_train[:200])
    pa, pb, pc = (m.predict_proba_samples(X_test[:40]) for m in (a, b, c))
    np.testing.assert_array_equal(pa, pb)
    assert not np.allclose(pa, pc)


def test_too_few_steps_for_the_cycles_is_an_error_naming_the_fix(split):
    X_train, _, y_train, _ = split
    with pytest.raises(ValueError, match=r"cannot make 5 learning-rate cycles: train longer \(max_epochs\)"):
        _small(n_estimators=5, max_epochs=1, batch_size=128).fit(X_train[:100], y_train[:100])


def test_warm_start_runs_new_cycles_from_the_current_weights(split):
    X_train, _, y_train, _ = split
    clf = _small(max_epochs=3, warm_start=True).fit(X_train[:200], y_train[:200])
    first = [m.module_.head.weight.detach().clone() for m in clf.estimators_]
    module = clf.net_.module_
    clf.set_params(n_estimators=2).fit(X_train[:200], y_train[:200])
    assert clf.net_.module_ is module and len(clf.estimators_) == 2
    assert not torch.equal(first[-1], clf.estimators_[-1].module_.head.weight)


def test_pipeline_grid_search_clone_pickle_and_embed(split):
    X_train, X_test, y_train, _ = split
    pipe = make_pipeline(StandardScaler(), _small(max_epochs=6))
    grid = GridSearchCV(pipe, {"snapshotensemble__n_estimators": [2, 3]}, cv=2)
    grid.fit(X_train[:300], y_train[:300])
    assert grid.best_score_ > 0.7
    best = grid.best_estimator_
    n = best.steps[-1][1].n_estimators
    assert predict_proba_samples(best, X_test[:7]).shape == (n, 7, 10)
    assert embed(best, X_test[:7]).shape == (7, n * 32)
    model = best.steps[-1][1]
    assert model.embed(best[:-1].transform(X_test[:7]), member=0).shape == (7, 32)
    assert clone(model).get_params()["n_estimators"] == n
    restored = pickle.loads(pickle.dumps(model))
    Xs = best[:-1].transform(X_test[:10])
    np.testing.assert_array_equal(restored.predict_proba_samples(Xs), model.predict_proba_samples(Xs))


def test_string_labels_images_and_bald_in_an_active_learner():
    rng = np.random.RandomState(0)
    X = rng.rand(60, 1, 28, 28).astype(np.float32)
    y = np.array(["cat", "dog", "eel"])[np.arange(60) % 3]
    clf = SnapshotEnsemble(module=GalCNN, n_estimators=2, max_epochs=2, batch_size=8,
                           random_state=0, device="cpu")
    learner = ActiveLearner(estimator=clf, query_strategy=bald, X_training=X[:16], y_training=y[:16])
    idx, instances = learner.query(X[16:], n_instances=4)
    assert len(idx) == 4 and instances.shape == (4, 1, 28, 28)  # modAL's (idx, X_pool[idx])
    learner.teach(X[16:][idx], y[16:][idx])
    assert set(learner.predict(X[:5])) <= {"cat", "dog", "eel"}
    assert clf.embed(X[:3]).shape == (3, 2 * 128)


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"n_estimators": 1}, ValueError, "n_estimators == 1, must be >= 2"),
        ({"n_estimators": 2.0}, TypeError, "n_estimators must be an instance of int"),
    ],
)
def test_bad_parameters_name_themselves(blobs, params, error, match):
    with pytest.raises(error, match=match):
        SnapshotEnsemble(max_epochs=3, **params).fit(*blobs)


@pytest.mark.gpu
def test_trains_and_predicts_on_cuda(blobs):
    clf = SnapshotEnsemble(n_estimators=2, max_epochs=4, batch_size=16, device="cuda", random_state=0)
    clf.fit(*blobs)
    assert clf.predict_proba_samples(blobs[0]).shape == (2, 60, 3)
    assert clf.estimators_[0].device == "cuda"
