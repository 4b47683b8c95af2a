"""Every strategy on skal's own deep estimators (tiny nets, a few epochs)."""

import inspect

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skal.strategies import STRATEGIES, bald, batch_bald

UNIQUE = sorted({fn: name for name, fn in reversed(list(STRATEGIES.items()))}.values())


@pytest.fixture(scope="module")
def deep_models(digits_split):
    from skal.models import DeepProbabilisticEnsemble, MCDropoutClassifier

    X_l, y_l, _ = digits_split
    dpe = make_pipeline(
        StandardScaler(),
        DeepProbabilisticEnsemble(n_estimators=2, max_epochs=2, random_state=0),
    ).fit(X_l, y_l)
    mcd = MCDropoutClassifier(n_samples=4, max_epochs=2, random_state=0).fit(X_l, y_l)
    return {"dpe": dpe, "mc_dropout": mcd}


@pytest.mark.parametrize("name", UNIQUE)
@pytest.mark.parametrize("model", ["dpe", "mc_dropout"])
def test_strategy_on_deep_estimators(name, model, deep_models, digits_split):
    X_l, _, X_pool = digits_split
    strategy = STRATEGIES[name]
    # the labeled set, as skal's learners pass it to strategies that name it
    extra = {"X_labeled": X_l} if "X_labeled" in inspect.signature(strategy).parameters else {}
    idx, scores = strategy(deep_models[model], X_pool, n_instances=3, random_state=0, **extra)
    assert len(set(idx.tolist())) == 3 and np.isfinite(scores).all()
    again, _ = strategy(deep_models[model], X_pool, n_instances=3, random_state=0, **extra)
    np.testing.assert_array_equal(idx, again)


def test_mc_dropout_n_samples_passes_through(deep_models, digits_split):
    _, _, X_pool = digits_split
    mcd = deep_models["mc_dropout"]
    # S = 1 makes every BALD score 0, S = 6 does not
    _, one = bald(mcd, X_pool, n_instances=2, random_state=0, n_samples=1)
    _, six = bald(mcd, X_pool, n_instances=2, random_state=0, n_samples=6)
    np.testing.assert_allclose(one, 0, atol=1e-12)
    assert (six > 0).all()


def test_batch_bald_b1_equals_bald_on_dpe(deep_models, digits_split):
    _, _, X_pool = digits_split
    a = batch_bald(deep_models["dpe"], X_pool, random_state=0)
    b = bald(deep_models["dpe"], X_pool, random_state=0)
    np.testing.assert_array_equal(a[0], b[0])
