"""scikit-learn's own estimator checks on the deep estimators, every one of them."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skal.models import (
    BayesByBackpropClassifier,
    DeepEnsemble,
    DeepProbabilisticEnsemble,
    MCDropoutClassifier,
    SnapshotEnsemble,
)

# Small and quick, yet enough epochs to pass check_classifiers_train's
# accuracy bar on its blobs.
SMALL = dict(
    max_epochs=30,
    lr=1e-2,
    batch_size=64,
    module__hidden_units=(16,),
    random_state=0,
    device="cpu",
)


@parametrize_with_checks(
    [
        DeepProbabilisticEnsemble(n_estimators=2, beta=1.0, **SMALL),
        DeepEnsemble(n_estimators=2, **SMALL),
        MCDropoutClassifier(n_samples=4, **{**SMALL, "max_epochs": 10, "batch_size": 32}),
        BayesByBackpropClassifier(n_samples=4, **SMALL),
        SnapshotEnsemble(n_estimators=2, **SMALL),
    ]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
