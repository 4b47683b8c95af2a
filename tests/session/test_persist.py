"""Estimators and fitted models as JSON and NumPy archives: round trips, and what is refused."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skal.session._persist import build_estimator, dump_fitted, estimator_spec, load_fitted


@pytest.fixture(scope="module")
def data():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X[:300] / 16.0).astype(np.float32), y[:300]


def test_estimator_spec_round_trip():
    estimator = make_pipeline(
        StandardScaler(with_mean=False),
        LogisticRegression(C=0.5, class_weight={"0": 2.0}, tol=float("inf"), random_state=3),
    )
    spec = estimator_spec(estimator)
    import json

    rebuilt = build_estimator(json.loads(json.dumps(spec)))
    assert estimator_spec(rebuilt) == spec
    assert rebuilt.steps[1][1].get_params() == estimator.steps[1][1].get_params()
    assert isinstance(rebuilt.steps[0][1], StandardScaler)


def test_estimators_with_code_in_their_parameters_are_not_stored():
    from sklearn.preprocessing import FunctionTransformer

    assert estimator_spec(make_pipeline(FunctionTransformer(np.log1p), GaussianNB())) is None


@pytest.mark.parametrize("make", [
    lambda: LogisticRegression(max_iter=300),
    lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)),
    lambda: GaussianNB(),
])
def test_fitted_arrays_round_trip(data, make):
    X, y = data
    labels = np.array([f"d{v}" for v in y], dtype=object)  # object-dtype classes_ too
    for target in (y, labels):
        model = make().fit(X, target)
        blob = dump_fitted(model)
        restored = load_fitted(clone(model), blob)
        np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
        np.testing.assert_array_equal(restored.predict(X), model.predict(X))


def test_models_that_are_not_plain_arrays_store_nothing(data):
    X, y = data
    assert dump_fitted(RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)) is None


def test_a_skorch_net_is_stored_as_its_state_dict(data):
    import torch
    from skorch import NeuralNetClassifier
    from torch import nn

    X, y = data
    torch.manual_seed(0)
    net = NeuralNetClassifier(nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10)),
                              max_epochs=2, train_split=None, verbose=0).fit(X, y)
    blob = dump_fitted(net)
    restored = load_fitted(clone(net), blob)
    np.testing.assert_allclose(restored.predict_proba(X), net.predict_proba(X))
    unsafe = clone(net).set_params(torch_load_kwargs={"weights_only": False}).fit(X, y)
    assert dump_fitted(unsafe) is None


def test_archives_are_read_without_pickle(data):
    import io

    X, y = data
    buffer = io.BytesIO()
    np.savez(buffer, __meta__=np.asarray('{"#coef_": "array"}'), **{"#coef_": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ValueError, match="allow_pickle"):
        load_fitted(LogisticRegression(), buffer.getvalue())
